package upstream

import (
	"encoding/json"
	"slices"
	"unicode/utf8"
)

// IsNull reports whether raw is absent or the JSON null, which servers send
// for members they have no value for.
func IsNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// StringOrNumber reads a JSON string, or a JSON number as its literal text.
// raw is a member of an object that decoded, so it is valid JSON.
func StringOrNumber(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	if c := raw[0]; c == '-' || ('0' <= c && c <= '9') {
		return string(raw), true
	}
	return JSONString(raw)
}

// JSONString decodes raw when it is a JSON string, without reflection when
// the string holds no escape: the members of an authorization server's
// answer are short and plain, and parsing them is on every miss's path.
func JSONString(raw json.RawMessage) (string, bool) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		inner := raw[1 : len(raw)-1]
		if plainJSONString(inner) {
			return string(inner), true
		}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// plainJSONString reports whether b, the inside of a JSON string, means
// itself: valid UTF-8, with no escape, quote or control character.
func plainJSONString(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.Valid(b)
}

// OtherClaims decodes the members not in known, for
// [introspect.TokenInfo.Claims]. It returns nil when there are none; a
// member that fails to decode is left out.
func OtherClaims(members map[string]json.RawMessage, known []string) map[string]any {
	var claims map[string]any
	for name, raw := range members {
		if slices.Contains(known, name) {
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			continue
		}
		if claims == nil {
			claims = make(map[string]any, len(members)-len(known))
		}
		claims[name] = v
	}
	return claims
}
