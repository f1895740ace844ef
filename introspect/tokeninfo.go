package introspect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
	"unsafe"

	"github.com/tokengate/tokengate/internal/tokenctx"
	"github.com/tokengate/tokengate/scopes"
)

// TokenInfo is what an authorization server says about an access token,
// normalised across backends: Geosecure's verify answer and RFC 7662's
// introspection response fill the same fields.
//
// A TokenInfo returned by a [Verifier] may be shared with other requests (the
// [Cache] hands the same value to every request for one token), so treat it
// as read-only. The methods are safe for concurrent use and accept a nil
// receiver, which has no scopes, no audience and no claims.
type TokenInfo struct {
	// Active is true for a token the authorization server accepts. A
	// Verifier never returns an inactive TokenInfo without an error.
	Active bool
	// Scopes are the scopes granted to the token.
	Scopes scopes.Set
	// ClientID is the OAuth 2.0 client that holds the token. For Geosecure
	// this is the verify answer's "audience".
	ClientID string
	// Audience lists the token's intended audiences (RFC 7662 "aud"). For
	// Geosecure it is the holder's client id, as the verify answer names it.
	Audience []string
	// Subject is the resource owner the token stands for ("sub"); empty for
	// tokens issued to a client on its own behalf, and always empty for
	// Geosecure, whose verify answer does not name one.
	Subject string
	// Issuer identifies the authorization server ("iss"), when it says so.
	Issuer string
	// TokenType is RFC 7662's "token_type", such as "Bearer", when sent.
	TokenType string
	// ExpiresAt is when the token stops being valid; zero when the
	// authorization server did not say.
	ExpiresAt time.Time
	// IssuedAt is when the token was issued; zero when not sent.
	IssuedAt time.Time
	// NotBefore is when the token starts being valid; zero when not sent.
	NotBefore time.Time
	// Claims holds every member of the answer that has no field above,
	// decoded from JSON (strings, float64, bool, []any, map[string]any).
	// The Flemish "vo_*" claims of ACM/IDM arrive here. Nil when there were
	// none.
	Claims map[string]any
}

// HasScope reports whether the token was granted scope, compared exactly.
func (t *TokenInfo) HasScope(scope string) bool {
	return t != nil && t.Scopes.Has(scope)
}

// HasAudience reports whether aud is one of the token's audiences.
func (t *TokenInfo) HasAudience(aud string) bool {
	return t != nil && slices.Contains(t.Audience, aud)
}

// Claim returns the claim called name and whether it was present.
func (t *TokenInfo) Claim(name string) (any, bool) {
	if t == nil {
		return nil, false
	}
	v, ok := t.Claims[name]
	return v, ok
}

// StringClaim returns the claim called name when it is a JSON string, and ""
// otherwise.
func (t *TokenInfo) StringClaim(name string) string {
	v, _ := t.Claim(name)
	s, _ := v.(string)
	return s
}

// ExpiresIn returns how long the token stays valid after now, or zero when
// its expiry is unknown or past.
func (t *TokenInfo) ExpiresIn(now time.Time) time.Duration {
	if t == nil || t.ExpiresAt.IsZero() {
		return 0
	}
	return max(t.ExpiresAt.Sub(now), 0)
}

// NewContext returns a copy of ctx that carries info, for tests and for
// code that authenticates requests itself. Handlers read it with
// [FromContext]; the middleware package does not take it as proof of a
// verified token and verifies the request's token itself.
func NewContext(ctx context.Context, info *TokenInfo) context.Context {
	return tokenctx.NewContext(ctx, info)
}

// FromContext returns the TokenInfo carried by ctx, or nil when the request
// was not authenticated (or was let through anonymously).
func FromContext(ctx context.Context) *TokenInfo {
	info, _ := tokenctx.Value(ctx).(*TokenInfo)
	return info
}

// Fingerprint returns a short, stable, non-reversible name for token, for
// log lines and metrics that must tell tokens apart without revealing them:
// the first 8 bytes of its SHA-256, in hex.
func Fingerprint(token string) string {
	sum := tokenSum(token)
	return hex.EncodeToString(sum[:8])
}

// tokenSum returns the SHA-256 of token without copying it: converting a
// 64-byte token to a []byte would allocate on every request, and Sum256 only
// reads its input.
func tokenSum(token string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}
