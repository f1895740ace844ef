package jwt

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/introspect"
)

// LooksLikeJWT reports whether token has the shape of a JWT in compact
// serialization, signed (JWS) or encrypted (JWE): three or five
// base64url segments, the first of which decodes to a JSON object with a
// string "alg" member, as every JWS and JWE header has (RFC 7515 §4.1.1,
// RFC 7516 §4.1.1). It says nothing about validity. Every token a
// [Verifier] could accept has this shape, and so does every JWE, which
// the Verifier refuses.
//
// An opaque token almost always costs one byte comparison: the first
// character of a JWT is 'e' ('{' encoded) or, for a header that starts
// with whitespace, 'I' (space), 'C' (tab, line feed) or 'D' (carriage
// return), which leaves 4 in 64 random tokens to scan for dots. Only a
// token with two or four dots, all in base64url, has its first segment
// decoded, and only one whose first byte other than whitespace is '{'
// read as JSON: a random segment passes that far once in some 250, and
// never further.
//
// LooksLikeJWT is safe for concurrent use.
func LooksLikeJWT(token string) bool {
	if token == "" {
		return false
	}
	switch token[0] {
	case 'e', 'I', 'C', 'D':
	default:
		return false
	}
	first := strings.IndexByte(token, '.')
	if first <= 0 {
		return false
	}
	if dots := 1 + strings.Count(token[first+1:], "."); dots != 2 && dots != 4 {
		return false
	}
	for i := range len(token) {
		if !compactByte[token[i]] {
			return false
		}
	}
	return headerLike(token[:first])
}

// compactByte holds the bytes of a compact serialization: base64url and
// the dot.
var compactByte = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") {
		t[c] = true
	}
	return t
}()

// opensObject reports whether seg decodes to JSON whitespace and then
// '{', a character at a time, up to its first byte other than whitespace.
// It decodes leniently, in either base64 alphabet, and stops at padding or
// any other character: it must say yes to whatever the Verifier's strict
// decoding would accept, and to a padded or standard encoding of it.
func opensObject(seg string) bool {
	var acc uint
	bits := 0
	for i := range len(seg) {
		v := base64URL[seg[i]]
		switch {
		case v != notBase64URL:
		case seg[i] == '+':
			v = 62
		case seg[i] == '/':
			v = 63
		default:
			return false
		}
		acc = acc<<6 | uint(v)
		if bits += 6; bits < 8 {
			continue
		}
		bits -= 8
		c := byte(acc >> bits)
		acc &= 1<<bits - 1
		switch c {
		case ' ', '\t', '\n', '\r':
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}

// headerLike reports whether seg decodes to a JSON object with a string
// "alg" member, as a JWS or JWE header does. It reads seg leniently, in
// either base64 alphabet, padded or not, and only when opensObject says
// it may be one. The member's name is matched as encoding/json matches a
// field, whatever its case: a stricter reading would only hand more to
// the verifier of other tokens.
func headerLike(seg string) bool {
	if !opensObject(seg) {
		return false
	}
	seg = strings.TrimRight(seg, "=")
	enc := base64.RawURLEncoding
	if strings.ContainsAny(seg, "+/") {
		enc = base64.RawStdEncoding
	}
	raw, err := enc.DecodeString(seg)
	if err != nil {
		return false
	}
	var header struct {
		Alg json.RawMessage `json:"alg"`
	}
	if json.Unmarshal(raw, &header) != nil {
		return false
	}
	return len(header.Alg) > 0 && header.Alg[0] == '"'
}

// nearlyJWT reports whether token holds what would be a JWT but for its
// encoding: a segment other than the last that is headerLike. A client
// that pads base64url or writes the standard alphabet, adds a character
// or a segment, or drops or doubles a dot after the header, makes one:
// most of a JWT all the same. A JWT with characters put before it, or
// its header and claims joined, is not caught.
func nearlyJWT(token string) bool {
	for {
		dot := strings.IndexByte(token, '.')
		if dot < 0 {
			return false
		}
		if headerLike(token[:dot]) {
			return true
		}
		token = token[dot+1:]
	}
}

// errNearlyJWT refuses a token that is nearlyJWT, rather than hand most of
// a JWT to the verifier of other tokens.
var errNearlyJWT = invalid("token resembles a JWT, but is not one in compact serialization; it is not sent to the verifier of other tokens")

// Fallback is an [introspect.Verifier] for deployments that see both JWT
// and opaque access tokens: a token that [LooksLikeJWT] is validated by
// the local Verifier, any other by the opaque one (an RFC 7662
// Introspector, say). The choice is by shape alone, and every token the
// local Verifier could accept has the shape: a JWT it refuses, or a JWE
// (refused as such), is never sent to the other, so a JWT never leaves
// the resource server. Nor is a token that holds what would be one but
// for its encoding (padding, the standard base64 alphabet, a dot more or
// less, characters or segments after the header): it is refused as
// invalid. An opaque token would be taken for a JWT only if one of its
// segments decoded to a JSON object with an "alg" member.
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

// Verify validates token with the Verifier its shape calls for. Given a
// ctx from [introspect.NoWait], it answers [introspect.ErrWouldWait] for
// an opaque token, unless the opaque Verifier verifies locally too.
func (f *Fallback) Verify(ctx context.Context, token string) (*introspect.TokenInfo, error) {
	if LooksLikeJWT(token) {
		return f.local.Verify(ctx, token)
	}
	if nearlyJWT(token) {
		return nil, errNearlyJWT
	}
	if f.opaque == nil {
		return nil, errOpaque
	}
	if !introspect.MayWait(ctx) && !verifiesLocally(f.opaque) {
		return nil, introspect.ErrWouldWait
	}
	return f.opaque.Verify(ctx, token)
}

// VerifiesLocally reports true: Verify honours [introspect.NoWait] for
// both kinds of token, which makes the Fallback an
// [introspect.LocalVerifier]. An [introspect.Cache] in front checks JWTs
// on the caller's goroutine, and hands an opaque token's call to a worker
// at once.
func (f *Fallback) VerifiesLocally() bool { return true }

// verifiesLocally reports whether v is an [introspect.LocalVerifier] that
// verifies locally.
func verifiesLocally(v introspect.Verifier) bool {
	l, ok := v.(introspect.LocalVerifier)
	return ok && l.VerifiesLocally()
}

// BackendName returns the Fallback's name in metrics and spans: "jwt+"
// and the name of the Verifier for other tokens (see
// [introspect.BackendName]), or "jwt" without one.
func (f *Fallback) BackendName() string {
	if f.opaque == nil {
		return f.local.BackendName()
	}
	return f.local.BackendName() + "+" + introspect.BackendName(f.opaque)
}

// AnswerScope returns the local Verifier's AnswerScope and the other's
// type and AnswerScope (see [introspect.AnswerScoper]), so that a shared
// tier holds the answers of a Fallback apart from those of any Verifier
// set up otherwise. An opaque Verifier that is not an AnswerScoper is told
// apart from another by its type alone.
func (f *Fallback) AnswerScope() string {
	if f.opaque == nil {
		return f.local.AnswerScope()
	}
	return strconv.Quote(f.local.AnswerScope()) + " " + strconv.Quote(fmt.Sprintf("%T", f.opaque)) + " " + strconv.Quote(introspect.AnswerScope(f.opaque))
}

// Ready reports whether both Verifiers are ready (see
// [introspect.Ready]): the local one first.
func (f *Fallback) Ready(ctx context.Context) error {
	if err := f.local.Ready(ctx); err != nil {
		return err
	}
	if f.opaque == nil {
		return nil
	}
	return introspect.Ready(ctx, f.opaque)
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
