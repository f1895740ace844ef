package geosecure

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/upstream"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/scopes"
)

// verifyFields are the members of a verify answer with a TokenInfo field,
// and "error", which is read and, when null, means nothing.
var verifyFields = []string{"audience", "scope", "expires_in", "error"}

// parseVerify turns a verify answer into a TokenInfo. now is when the
// answer arrived.
func parseVerify(status int, body []byte, now time.Time) (*introspect.TokenInfo, error) {
	// The status comes first: servers and the proxies in front of them put
	// "error" members in their failure pages too (Spring Boot's default
	// {"status":500,"error":"Internal Server Error"}, a gateway's
	// {"error":"too_many_requests"}), and none of those says a word about
	// the token.
	if upstream.ServerFailed(status) {
		return nil, upstream.UnexpectedStatus(status)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return nil, &introspect.UnavailableError{Reason: "response is not a JSON object"}
	}
	if raw := members["error"]; !upstream.IsNull(raw) {
		return nil, oauthError(raw)
	}
	if status != http.StatusOK {
		return nil, upstream.UnexpectedStatus(status)
	}

	audience, ok := upstream.StringOrNumber(members["audience"])
	if !ok || audience == "" {
		return nil, &introspect.UnavailableError{Reason: `response has no "audience"`}
	}
	var scope string
	if raw, ok := members["scope"]; ok {
		if scope, ok = upstream.JSONString(raw); !ok {
			return nil, &introspect.UnavailableError{Reason: `"scope" is not a string`}
		}
	}
	secs, ok := seconds(members["expires_in"])
	if !ok {
		return nil, &introspect.UnavailableError{Reason: `"expires_in" is not a number of seconds`}
	}
	if secs <= 0 {
		return nil, upstream.InvalidToken("token expired")
	}

	return &introspect.TokenInfo{
		Active:    true,
		Scopes:    scopes.Parse(scope),
		ClientID:  audience,
		Audience:  []string{audience},
		ExpiresAt: now.Add(time.Duration(secs) * time.Second),
		Claims:    upstream.OtherClaims(members, verifyFields),
	}, nil
}

// seconds reads a count of seconds sent as a JSON number or as a string of
// one ("14556"), as Geosecure's documentation shows. Fractions are dropped.
func seconds(raw json.RawMessage) (int64, bool) {
	s, ok := upstream.StringOrNumber(raw)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	// A token valid for more than a hundred years is as good as forever;
	// clamping keeps time.Duration from overflowing.
	const maxSeconds = 100 * 365 * 24 * 3600
	return int64(min(max(f, -1), maxSeconds)), true
}
