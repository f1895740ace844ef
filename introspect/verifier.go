package introspect

import (
	"context"
	"time"
)

// Defaults the backends share.
const (
	// DefaultTimeout limits one call to the authorization server when a
	// configuration leaves its Timeout zero, and one shared upstream call
	// of a [Cache].
	DefaultTimeout = 5 * time.Second
	// DefaultLeeway is the clock skew tolerated when checking a token's
	// "exp" and "nbf", when a configuration leaves its Leeway zero.
	DefaultLeeway = 30 * time.Second
)

// Verifier asks an authorization server whether an access token is valid.
//
// Verify returns the token's facts, or an error that matches, with
// [errors.Is], exactly one of:
//   - [ErrInvalidToken]: the token is bad (unknown, expired, revoked,
//     inactive, not for this audience). The client should get a new one.
//   - [ErrUnavailable]: the authorization server could not give an answer
//     (network error, timeout, 5xx, 429, an answer that is not the documented
//     one). Nothing is known about the token; the request should be retried
//     later, and the token must not be treated as invalid.
//
// A returned TokenInfo is never nil without an error, and has Active set.
// Implementations must be safe for concurrent use, must not include the token
// in any error, and must honour ctx.
type Verifier interface {
	Verify(ctx context.Context, token string) (*TokenInfo, error)
}

// VerifierFunc adapts an ordinary function to the [Verifier] interface, which
// is handy in tests.
type VerifierFunc func(ctx context.Context, token string) (*TokenInfo, error)

// Verify calls f(ctx, token).
func (f VerifierFunc) Verify(ctx context.Context, token string) (*TokenInfo, error) {
	return f(ctx, token)
}
