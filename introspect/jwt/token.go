package jwt

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tokengate/tokengate/introspect"
)

// invalid returns an error matching introspect.ErrInvalidToken that gives
// reason, a fixed text: never the token, never text from it.
func invalid(reason string) error {
	return fmt.Errorf("%w: %s", introspect.ErrInvalidToken, reason)
}

// The reasons a token is refused before its claims are read.
var (
	errEmpty        = invalid("empty token")
	errTooLong      = invalid("token longer than the limit")
	errJWE          = invalid("token is an encrypted JWT (JWE, five segments), which is not supported")
	errNotCompact   = invalid("token is not a JWT in compact serialization")
	errAlphabet     = invalid("token holds a character outside base64url")
	errNoSignature  = invalid("token has no signature")
	errEncoding     = invalid("token segment is not canonical base64url (RFC 7515 §2): one token has one string")
	errHeader       = invalid("token header is not a JSON object of strings")
	errAlg          = invalid("token is signed with an algorithm that is not allowed")
	errCrit         = invalid("token header names critical extensions, none of which is supported")
	errHeaderMember = invalid("token header has b64 or zip, which a JWT never has")
	errEncHeader    = invalid("token header has enc: it is a JWE, which is not supported")
	errTyp          = invalid(`token type is not "at+jwt"`)
	errPayload      = invalid("token claims are not a JSON object")
)

// header holds the members of a JWS protected header that matter. jku,
// x5u, jwk and x5c are not among them: they never select a key.
type header struct {
	alg, kid, typ string
}

// split checks a token's shape and returns its three segments: at most
// maxBytes, base64url and dots only, exactly three segments, a signature.
func split(token string, maxBytes int) (h, p, sig string, err error) {
	if token == "" {
		return "", "", "", errEmpty
	}
	if len(token) > maxBytes {
		return "", "", "", errTooLong
	}
	dots := 0
	first, second := -1, -1
	for i := range len(token) {
		c := token[i]
		switch {
		case c == '.':
			switch dots {
			case 0:
				first = i
			case 1:
				second = i
			}
			dots++
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return "", "", "", errAlphabet
		}
	}
	switch dots {
	case 2:
	case 4:
		return "", "", "", errJWE
	default:
		return "", "", "", errNotCompact
	}
	h, p, sig = token[:first], token[first+1:second], token[second+1:]
	if sig == "" {
		return "", "", "", errNoSignature
	}
	if h == "" || p == "" {
		return "", "", "", errNotCompact
	}
	return h, p, sig, nil
}

// strictBase64URL refuses the encodings of a segment other than the one
// RFC 7515 §2 defines: unpadded, with the unused low bits of the last
// character zero.
var strictBase64URL = base64.RawURLEncoding.Strict()

// decodeSegment decodes one segment of a compact JWS, refusing any text
// that does not re-encode to itself. Otherwise flipping the unused bits
// of the last character would make a second string for the same token:
// another cache key, another entry past a deny list of token strings.
// The length check catches the CR and LF the decoder skips.
func decodeSegment(seg string) ([]byte, error) {
	b, err := strictBase64URL.DecodeString(seg)
	if err != nil || base64.RawURLEncoding.EncodedLen(len(b)) != len(seg) {
		return nil, errEncoding
	}
	return b, nil
}

// parseHeader decodes a protected header. Members are matched exactly, as
// go-jose matches them, so the two read the same alg.
func parseHeader(seg string) (header, error) {
	raw, err := decodeSegment(seg)
	if err != nil {
		return header{}, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return header{}, errHeader
	}
	// No extension is understood, so any critical one must be refused
	// (RFC 7515 §4.1.11).
	if _, ok := m["crit"]; ok {
		return header{}, errCrit
	}
	if _, ok := m["enc"]; ok {
		return header{}, errEncHeader
	}
	for _, name := range []string{"b64", "zip"} {
		if _, ok := m[name]; ok {
			return header{}, errHeaderMember
		}
	}
	var h header
	for _, f := range []struct {
		name string
		dst  *string
	}{{"alg", &h.alg}, {"kid", &h.kid}, {"typ", &h.typ}} {
		if v, ok := m[f.name]; ok {
			if err := json.Unmarshal(v, f.dst); err != nil {
				return header{}, errHeader
			}
		}
	}
	return h, nil
}

// isATJWT reports whether typ is RFC 9068's, compared as media types are:
// without case, with or without the "application/" prefix (RFC 7515
// §4.1.9).
func isATJWT(typ string) bool {
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}
