package jwt

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/tokengate/tokengate/introspect"
)

// maxHeaderBytes bounds the header LooksLikeJWT decodes.
const maxHeaderBytes = 1024

// LooksLikeJWT reports whether token has the shape of a signed JWT: three
// base64url segments, the first decoding to a JSON object with a string
// "alg". It says nothing about validity. An opaque token costs a
// three-byte comparison: a JSON object's base64url starts with "eyJ"
// (`{"`), and an opaque token almost never does; only a token that does
// is scanned for dots and has its header decoded.
//
// A JWE (five segments) does not look like a JWT here. LooksLikeJWT is
// safe for concurrent use.
func LooksLikeJWT(token string) bool {
	if len(token) < 5 || token[0] != 'e' || token[1] != 'y' || token[2] != 'J' {
		return false
	}
	first := strings.IndexByte(token, '.')
	if first < 0 || first > maxHeaderBytes {
		return false
	}
	rest := token[first+1:]
	second := strings.IndexByte(rest, '.')
	if second < 0 || strings.IndexByte(rest[second+1:], '.') >= 0 {
		return false
	}
	var buf [maxHeaderBytes]byte
	n, err := base64.RawURLEncoding.Decode(buf[:], []byte(token[:first]))
	if err != nil {
		return false
	}
	var h struct {
		Alg *string `json:"alg"`
	}
	if json.Unmarshal(buf[:n], &h) != nil || h.Alg == nil {
		return false
	}
	return true
}

// Fallback is an [introspect.Verifier] for deployments that see both JWT
// and opaque access tokens: a token that [LooksLikeJWT] is validated by
// the local Verifier, any other by the opaque one (an RFC 7662
// Introspector, say). The choice is by shape alone: a JWT the local
// Verifier refuses is never sent to the other, so a JWT never leaves the
// resource server.
//
// A Fallback is safe for concurrent use if its Verifiers are.
type Fallback struct {
	local  *Verifier
	opaque introspect.Verifier
}

// errOpaque refuses a token that is not a JWT when there is no verifier
// for those.
var errOpaque = invalid("token is not a JWT, and no verifier for other tokens is configured")

// WithFallback returns a Fallback that sends JWTs to local, which must
// not be nil, and other tokens to opaque. A nil opaque refuses them as
// invalid.
func WithFallback(local *Verifier, opaque introspect.Verifier) *Fallback {
	return &Fallback{local: local, opaque: opaque}
}

// Verify validates token with the Verifier its shape calls for.
func (f *Fallback) Verify(ctx context.Context, token string) (*introspect.TokenInfo, error) {
	if LooksLikeJWT(token) {
		return f.local.Verify(ctx, token)
	}
	if f.opaque == nil {
		return nil, errOpaque
	}
	return f.opaque.Verify(ctx, token)
}

// Leeway returns the smaller of the two Verifiers' leeways (0 for an
// opaque Verifier without a Leeway method; the local one's when opaque is
// nil), so that an [introspect.Cache]
// in front never keeps a result past what either would accept.
func (f *Fallback) Leeway() time.Duration {
	if f.opaque == nil {
		return f.local.Leeway()
	}
	l, ok := f.opaque.(interface{ Leeway() time.Duration })
	if !ok {
		return 0
	}
	return max(min(f.local.Leeway(), l.Leeway()), 0)
}
