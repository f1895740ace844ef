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

// A LocalVerifier is a [Verifier] that checks most tokens by itself,
// without waiting on anything: a JWT verifier with its keys loaded, which
// only computes. A [Cache] makes such a check on the goroutine of the
// first caller for the token, with a ctx from [NoWait] (the caller's,
// within the Cache's Timeout), and hands the call to a worker goroutine
// only when Verify answers [ErrWouldWait], or fails because the caller's
// ctx ended. That saves the two goroutine wake-ups of the hand-off, which
// on a busy or virtualised machine cost more than the check itself.
//
// A type that embeds a LocalVerifier to add to its Verify inherits the
// method, and so its Verify is called with NoWait contexts too. One that
// waits on something of its own (a call to a server, say) should override
// VerifiesLocally to report false: otherwise the first caller for a token
// makes that wait itself, bounded by its ctx and the Cache's Timeout.
type LocalVerifier interface {
	Verifier
	// VerifiesLocally reports whether Verify honours NoWait: given a
	// ctx from NoWait, it never blocks, and answers ErrWouldWait where it
	// would have waited, having started nothing it would then start
	// twice.
	VerifiesLocally() bool
}

// noWaitKey marks a context from NoWait.
type noWaitKey struct{}

// NoWait returns a copy of parent that tells a [LocalVerifier]'s Verify
// not to wait: see [MayWait].
func NoWait(parent context.Context) context.Context {
	return context.WithValue(parent, noWaitKey{}, true)
}

// MayWait reports whether a Verify called with ctx may wait, for a key
// set fetch say: false when ctx comes from [NoWait], and then the Verify
// answers [ErrWouldWait] instead.
func MayWait(ctx context.Context) bool {
	noWait, _ := ctx.Value(noWaitKey{}).(bool)
	return !noWait
}

// VerifierFunc adapts an ordinary function to the [Verifier] interface, which
// is handy in tests.
type VerifierFunc func(ctx context.Context, token string) (*TokenInfo, error)

// Verify calls f(ctx, token).
func (f VerifierFunc) Verify(ctx context.Context, token string) (*TokenInfo, error) {
	return f(ctx, token)
}
