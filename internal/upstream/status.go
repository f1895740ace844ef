package upstream

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/introspect"
)

// ServerFailed reports whether status says the server, not the request,
// failed: a 5xx, or 429 Too Many Requests, which is about load and never
// about the token.
func ServerFailed(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests
}

// UnexpectedStatus is the failure of an answer whose status does not fit
// its body, or has none.
func UnexpectedStatus(status int) error {
	return &introspect.UnavailableError{Reason: "unexpected status " + strconv.Itoa(status)}
}

// unavailable builds an *introspect.UnavailableError for a response (which
// may be nil).
func unavailable(resp *http.Response, now time.Time, reason string, err error) error {
	e := &introspect.UnavailableError{Reason: reason, Err: err}
	if resp != nil {
		e.StatusCode = resp.StatusCode
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return e
}

// annotate completes an [*introspect.UnavailableError] from parsing an
// answer with the answer's status and Retry-After. Other errors pass
// through.
func annotate(err error, status int, header http.Header, now time.Time) error {
	if err == nil {
		return nil // without the allocation errors.As's target costs
	}
	var ue *introspect.UnavailableError
	if errors.As(err, &ue) {
		ue.StatusCode = status
		ue.RetryAfter = parseRetryAfter(header.Get("Retry-After"), now)
	}
	return err
}

// maxRetryAfter caps what an upstream may ask for, so that a broken header
// cannot tell clients to go away for days.
const maxRetryAfter = time.Hour

// parseRetryAfter reads a Retry-After value (RFC 9110 §10.2.3): either
// delay-seconds or an HTTP-date. Anything else, and a date in the past, give
// 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}
