package rfc7662

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/upstream"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/scopes"
)

// introspectionFields are the members of an introspection answer with a
// TokenInfo field.
var introspectionFields = []string{"active", "scope", "client_id", "aud", "sub", "iss", "token_type", "exp", "iat", "nbf"}

// parseIntrospection turns an introspection answer into a TokenInfo. now is
// when the answer arrived; issuer, when not empty, is the only "iss"
// accepted.
func parseIntrospection(status int, body []byte, now time.Time, issuer string, leeway time.Duration) (*introspect.TokenInfo, error) {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return nil, &introspect.UnavailableError{Reason: "the introspection endpoint refused this client's credentials"}
	case status != http.StatusOK:
		return nil, &introspect.UnavailableError{Reason: "unexpected status"}
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return nil, &introspect.UnavailableError{Reason: "response is not a JSON object"}
	}
	// RFC 7662 §2.2 makes "active" REQUIRED and a boolean. false is the
	// server's word that the token is bad, and then nothing else in the
	// answer counts. An answer without a boolean "active" ({}, an error
	// object, "active":"true") is from a broken server or something in
	// front of it, and says nothing about the token.
	switch string(members["active"]) {
	case "true":
	case "false":
		return nil, upstream.InvalidToken("token is not active")
	default:
		return nil, &introspect.UnavailableError{Reason: `response has no boolean "active"`}
	}

	info := &introspect.TokenInfo{Active: true, Claims: upstream.OtherClaims(members, introspectionFields)}
	var ok bool
	for _, m := range [...]struct {
		name string
		dst  *string
	}{
		{"client_id", &info.ClientID},
		{"sub", &info.Subject},
		{"iss", &info.Issuer},
		{"token_type", &info.TokenType},
	} {
		if raw := members[m.name]; !upstream.IsNull(raw) {
			if *m.dst, ok = upstream.JSONString(raw); !ok {
				return nil, &introspect.UnavailableError{Reason: fmt.Sprintf("%q is not a string", m.name)}
			}
		}
	}
	if info.Scopes, ok = scopeMember(members["scope"]); !ok {
		return nil, &introspect.UnavailableError{Reason: `"scope" is neither a string nor an array of strings`}
	}
	if info.Audience, ok = stringOrStrings(members["aud"]); !ok {
		return nil, &introspect.UnavailableError{Reason: `"aud" is neither a string nor an array of strings`}
	}
	for _, m := range [...]struct {
		name string
		dst  *time.Time
	}{
		{"exp", &info.ExpiresAt},
		{"iat", &info.IssuedAt},
		{"nbf", &info.NotBefore},
	} {
		if *m.dst, ok = numericDate(members[m.name]); !ok {
			return nil, &introspect.UnavailableError{Reason: fmt.Sprintf("%q is not a number of seconds", m.name)}
		}
	}

	switch {
	case issuer != "" && info.Issuer != "" && info.Issuer != issuer:
		return nil, upstream.InvalidToken("token from another issuer")
	case !info.ExpiresAt.IsZero() && !now.Before(info.ExpiresAt.Add(leeway)):
		return nil, upstream.InvalidToken("token expired")
	case !info.NotBefore.IsZero() && now.Before(info.NotBefore.Add(-leeway)):
		return nil, upstream.InvalidToken("token not valid yet")
	}
	return info, nil
}

// scopeMember reads "scope": a space-delimited string (RFC 7662) or, as some
// servers send, a JSON array of scopes.
func scopeMember(raw json.RawMessage) (scopes.Set, bool) {
	if upstream.IsNull(raw) {
		return scopes.Set{}, true
	}
	if s, ok := upstream.JSONString(raw); ok {
		return scopes.Parse(s), true
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return scopes.New(list...), true
	}
	return scopes.Set{}, false
}

// stringOrStrings reads a member that is a string or an array of strings,
// such as "aud" (RFC 7519 §4.1.3). Absent, null and "" give nil.
func stringOrStrings(raw json.RawMessage) ([]string, bool) {
	if upstream.IsNull(raw) {
		return nil, true
	}
	if s, ok := upstream.JSONString(raw); ok {
		if s == "" {
			return nil, true
		}
		return []string{s}, true
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, true
	}
	return nil, false
}

// numericDate reads a JWT NumericDate (seconds since the epoch), sent as a
// JSON number or a string of one. Absent and null give the zero time.
func numericDate(raw json.RawMessage) (time.Time, bool) {
	if upstream.IsNull(raw) {
		return time.Time{}, true
	}
	s, ok := upstream.StringOrNumber(raw)
	if !ok {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return time.Time{}, false
	}
	// Beyond the year 9999 is as good as forever; clamping keeps the
	// conversion to int64 defined.
	const maxDate = 253402300799
	return time.Unix(int64(min(f, maxDate)), 0), true
}
