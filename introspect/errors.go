package introspect

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidToken is matched, with [errors.Is], by every error that means the
// token itself is bad: unknown, expired, revoked, inactive, or not meant for
// this resource server. Errors that match it may say why after a colon; they
// never contain the token.
var ErrInvalidToken = errors.New("introspect: invalid token")

// ErrUnavailable is matched, with [errors.Is], by every [*UnavailableError]:
// the authorization server could not tell whether the token is valid.
var ErrUnavailable = errors.New("introspect: authorization server unavailable")

// ErrWouldWait is what a [LocalVerifier]'s Verify answers, given a ctx
// from [NoWait], when the answer needs a wait. It says nothing about the
// token, matches neither ErrInvalidToken nor ErrUnavailable, and is never
// an answer to cache.
var ErrWouldWait = errors.New("introspect: verification would wait")

// invalidToken returns an error matching [ErrInvalidToken] that gives reason.
// reason must be a fixed text: never the token, never text from upstream.
func invalidToken(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, reason)
}

// UnavailableError reports that the authorization server failed to answer
// usefully. It matches [ErrUnavailable] with [errors.Is] and unwraps to its
// cause, such as a [*url.Error] or [context.DeadlineExceeded].
type UnavailableError struct {
	// StatusCode is the HTTP status the server answered with, or 0 when no
	// response arrived.
	StatusCode int
	// RetryAfter is the delay the server asked for in a Retry-After header,
	// or 0 when it sent none.
	RetryAfter time.Duration
	// Reason is a short fixed description, such as "unexpected status" or
	// "response is not JSON".
	Reason string
	// Err is the underlying cause, or nil.
	Err error
	// TokenOnly reports that the failure concerns this token alone, not
	// the authorization server: a JWT naming a key that the issuer may
	// have published since its key set was last fetched, which may not be
	// fetched again yet. Anyone can make such a token, so it is no sign
	// that the server is failing, and [Cache.Ready] does not count it.
	TokenOnly bool
}

// Error describes the failure. It never contains a token or a secret: causes
// come from the transport and the URL of the endpoint, which holds neither.
func (e *UnavailableError) Error() string {
	var b strings.Builder
	b.WriteString("introspect: authorization server unavailable: ")
	b.WriteString(e.Reason)
	if e.StatusCode != 0 {
		b.WriteString(" (HTTP ")
		b.WriteString(strconv.Itoa(e.StatusCode))
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Is reports whether target is [ErrUnavailable].
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns the cause.
func (e *UnavailableError) Unwrap() error { return e.Err }
