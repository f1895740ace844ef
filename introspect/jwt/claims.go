package jwt

import (
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	josejson "github.com/go-jose/go-jose/v4/json"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/scopes"
)

// maxNumericDate is 9999-12-31T23:59:59Z: a later date is no date.
const maxNumericDate = 253402300799

// claims are a token's decoded claims, with the registered ones checked
// for type.
type claims struct {
	all           map[string]any
	iss, sub, jti string
	clientID      string // client_id, azp or appid
	aud           []string
	exp, iat, nbf time.Time // zero when absent
	hasIAT        bool
	scopes        [3][]string
}

// scopeNames are the scope claims, in the order of claims.scopes.
var scopeNames = [3]string{ScopeClaim, SCPClaim, RolesClaim}

// mapped are the claims that become fields of introspect.TokenInfo and
// are left out of its Claims: RFC 7662's names, so that a token validated
// here and one introspected give the same TokenInfo. "scope" is one of
// them only when it makes up Scopes (see tokenInfo). "scp", "roles",
// "azp" and "appid" also feed fields but stay in Claims, where they tell
// delegated scopes from app roles.
var mapped = []string{"iss", "sub", "aud", "exp", "iat", "nbf", "client_id"}

// parseClaims decodes a JWT's claims and checks the registered ones'
// types. A claim of the wrong type makes the token invalid: it was signed
// that way, so it is the token that is bad.
func parseClaims(payload []byte) (*claims, error) {
	// go-jose's decoder, as for the header, refuses a member named twice,
	// where encoding/json keeps the last: a claim has one value, not the
	// last for tokengate and the first for a gateway in front. Decoded
	// into an interface, a JSON object becomes a map[string]any without
	// reflection on each member: about a third cheaper than decoding into
	// the map, with the same values. JSON is UTF-8 (RFC 8259 §8.1); the
	// decoder would replace what is not.
	if !utf8.Valid(payload) {
		return nil, errPayload
	}
	var v any
	if err := josejson.Unmarshal(payload, &v); err != nil {
		return nil, errPayload
	}
	all, ok := v.(map[string]any)
	if !ok {
		return nil, errPayload
	}
	c := &claims{all: all}
	var err error
	for _, s := range []struct {
		name string
		dst  *string
	}{{"iss", &c.iss}, {"sub", &c.sub}, {"jti", &c.jti}} {
		if v, ok := all[s.name]; ok {
			if *s.dst, err = claimString(s.name, v); err != nil {
				return nil, err
			}
		}
	}
	for _, name := range []string{"client_id", "azp", "appid"} {
		v, ok := all[name]
		if !ok {
			continue
		}
		id, err := claimString(name, v)
		if err != nil {
			return nil, err
		}
		if c.clientID == "" {
			c.clientID = id
		}
	}
	if v, ok := all["aud"]; ok {
		if c.aud, err = stringOrList("aud", v); err != nil {
			return nil, err
		}
	}
	for _, d := range []struct {
		name string
		dst  *time.Time
	}{{"exp", &c.exp}, {"iat", &c.iat}, {"nbf", &c.nbf}} {
		if v, ok := all[d.name]; ok {
			if *d.dst, err = numericDate(d.name, v); err != nil {
				return nil, err
			}
		}
	}
	_, c.hasIAT = all["iat"]
	for i, name := range scopeNames {
		if v, ok := all[name]; ok {
			if c.scopes[i], err = stringOrList(name, v); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// claimString returns a claim that must be a JSON string.
func claimString(name string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", invalid(`claim "` + name + `" is not a string`)
	}
	return s, nil
}

// stringOrList reads a claim that is a space-delimited string (one value
// for "aud") or an array of strings.
func stringOrList(name string, v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		if name == "aud" {
			return []string{v}, nil
		}
		// As scopes.Parse reads a scope string: spaces only separate.
		return strings.FieldsFunc(v, func(r rune) bool { return r == ' ' }), nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, invalid(`claim "` + name + `" holds a member that is not a string`)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, invalid(`claim "` + name + `" is neither a string nor an array of strings`)
}

// numericDate reads an RFC 7519 NumericDate: a JSON number of seconds,
// possibly fractional, between 1970 and 9999.
func numericDate(name string, v any) (time.Time, error) {
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, invalid(`claim "` + name + `" is not a NumericDate`)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// tokenInfo maps c to an introspect.TokenInfo, taking the scopes from the
// claims use says (indexed as scopeNames). The TokenInfo's Claims is c's
// map, the mapped claims deleted from it: c is not to be used after.
func (c *claims) tokenInfo(use [3]bool) *introspect.TokenInfo {
	info := &introspect.TokenInfo{
		Active:    true,
		ClientID:  c.clientID,
		Audience:  c.aud,
		Subject:   c.sub,
		Issuer:    c.iss,
		ExpiresAt: c.exp,
		IssuedAt:  c.iat,
		NotBefore: c.nbf,
	}
	// scopes.New copies the scopes it is given, so a token's one scope
	// claim is given as it is, and only several are joined.
	var granted []string
	for i, on := range use {
		switch {
		case !on || len(c.scopes[i]) == 0:
		case granted == nil:
			granted = c.scopes[i]
		default:
			granted = append(slices.Clip(granted), c.scopes[i]...)
		}
	}
	info.Scopes = scopes.New(granted...)
	for _, name := range mapped {
		delete(c.all, name)
	}
	if use[0] {
		// In Scopes; otherwise it stays a claim like any other.
		delete(c.all, ScopeClaim)
	}
	if len(c.all) > 0 {
		info.Claims = c.all
	}
	return info
}
