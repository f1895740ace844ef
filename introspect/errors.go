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

// scrubbed is an error whose text has a token replaced by "[token]". It
// unwraps to the error it stands for, so that errors.Is and errors.As see
// what they would have.
type scrubbed struct {
	err  error
	text string
}

func (s *scrubbed) Error() string { return s.text }
func (s *scrubbed) Unwrap() error { return s.err }

// scrub returns err, or when err's text holds token, err with the token
// replaced: a Verifier must keep the token out of its errors, and one that
// does not must not get it into a log line or a readiness answer.
func scrub(err error, token string) error {
	if err == nil || token == "" {
		return err
	}
	text := err.Error()
	if !strings.Contains(text, token) {
		return err
	}
	return &scrubbed{err: err, text: strings.ReplaceAll(text, token, "[token]")}
}

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
