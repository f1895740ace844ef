package middleware

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Errors the middleware reports, besides [introspect.ErrInvalidToken] and
// [introspect.ErrUnavailable]. Match them with [errors.Is] on an [*Error].
var (
	// ErrNoToken: the request carries no bearer token (RFC 6750 §3.1,
	// answered 401 with a bare challenge).
	ErrNoToken = errors.New("middleware: no bearer token")
	// ErrMalformed: the request is malformed (invalid_request, 400).
	ErrMalformed = errors.New("middleware: malformed request")
	// ErrInsufficientScope: the token does not meet the route's
	// requirement (insufficient_scope, 403).
	ErrInsufficientScope = errors.New("middleware: insufficient scope")
	// ErrAudience: the token is not meant for this resource server. It is
	// answered as invalid_token (401) and also matches
	// [introspect.ErrInvalidToken].
	ErrAudience = errors.New("middleware: token audience not allowed")
)

// The error codes of RFC 6750 §3.1.
const (
	codeInvalidRequest    = "invalid_request"
	codeInvalidToken      = "invalid_token"
	codeInsufficientScope = "insufficient_scope"
	// codeTemporarilyUnavailable is RFC 6749's code for a server that
	// cannot answer now. It goes in the body of a 503, never in a
	// challenge.
	codeTemporarilyUnavailable = "temporarily_unavailable"
)

// Error is a refused request: what the middleware hands to an ErrorHandler
// and, in the Echo adapter, the Internal error of the [echo.HTTPError] it
// returns. Its fields say what to answer; [WriteError] answers exactly that.
//
// Description is a short fixed text, safe to show to a client. Err, the cause,
// may hold an upstream failure: log it, but do not send it.
type Error struct {
	// Status is the HTTP status to answer with: 400, 401, 403 or 503.
	Status int
	// Code is the RFC 6750 error code: "invalid_request" (400),
	// "invalid_token" (401) or "insufficient_scope" (403); "" when the
	// request had no token (401) and for a 503, whose body says
	// "temporarily_unavailable". Match the category with [errors.Is] on
	// the sentinel errors rather than with Code.
	Code string
	// Description is a short, fixed, client-safe explanation.
	Description string
	// Scope lists the scopes the route needs, space-delimited, for
	// insufficient_scope.
	Scope string
	// RetryAfter is when to try again, for a 503: the authorization
	// server's own Retry-After when it sent one.
	RetryAfter time.Duration
	// Challenge is the WWW-Authenticate value to send; empty for a 503.
	// With Config.ResourceMetadata, it names the metadata document in a
	// resource_metadata attribute (RFC 9728 §5.1).
	Challenge string
	// Err is the cause. It matches one of [ErrNoToken], [ErrMalformed],
	// [ErrInsufficientScope], [ErrAudience], [introspect.ErrInvalidToken]
	// or [introspect.ErrUnavailable].
	Err error
}

// Error returns "middleware: " with the description and the cause. It holds
// no token and no secret, but may hold upstream detail: do not send it to
// clients.
func (e *Error) Error() string {
	if e.Err == nil {
		return "middleware: " + e.Description
	}
	return "middleware: " + e.Description + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// SetHeaders sets the response headers e calls for on h: WWW-Authenticate,
// Retry-After for a 503, and Cache-Control: no-store (RFC 6750 §3 wants
// error answers not to be cached). [Authenticator.Admit] has already set
// them on the refusals it returns; SetHeaders is for an Error made
// otherwise, such as [Authenticator.ErrorFor]'s.
func (e *Error) SetHeaders(h http.Header) {
	if e.Challenge != "" {
		h.Set("WWW-Authenticate", e.Challenge)
	}
	if e.Status == http.StatusServiceUnavailable {
		h.Set("Retry-After", retryAfterSeconds(e.RetryAfter))
	}
	h.Set("Cache-Control", "no-store")
}

// Body is the JSON body of an error answer: {"error":…,"error_description":…},
// without "error" when the request had no token.
type Body struct {
	Error       string `json:"error,omitempty"`
	Description string `json:"error_description"`
}

// Body returns the JSON body for e.
func (e *Error) Body() Body {
	code := e.Code
	if e.Status == http.StatusServiceUnavailable {
		code = codeTemporarilyUnavailable
	}
	return Body{Error: code, Description: e.Description}
}

// WriteError answers a refused request as RFC 6750 asks: e's status, its
// headers (see [Error.SetHeaders]) and its [Body] as JSON. It is the default
// ErrorHandler.
func WriteError(w http.ResponseWriter, r *http.Request, e *Error) {
	e.SetHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(e.Body())
}

// retryAfterSeconds formats d as delay-seconds, rounding up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	secs := int64(math.Ceil(d.Seconds()))
	return strconv.FormatInt(max(secs, 1), 10)
}

// challenge builds a Bearer challenge (RFC 6750 §3) with the attributes
// that have values, in the order realm, error, error_description, scope and
// resource_metadata (RFC 9728 §5.1).
func challenge(realm, code, description, scope, resourceMetadata string) string {
	var b strings.Builder
	b.Grow(len("Bearer realm=\"\", error=\"\", error_description=\"\", scope=\"\", resource_metadata=\"\"") +
		len(realm) + len(code) + len(description) + len(scope) + len(resourceMetadata))
	b.WriteString("Bearer")
	sep := " "
	attr := func(name, value string) {
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteString(`="`)
		writeQuoted(&b, value)
		b.WriteByte('"')
		sep = ", "
	}
	attr("realm", realm)
	if code != "" {
		attr("error", code)
	}
	if description != "" {
		attr("error_description", description)
	}
	if scope != "" {
		attr("scope", scope)
	}
	if resourceMetadata != "" {
		attr("resource_metadata", resourceMetadata)
	}
	return b.String()
}

// writeQuoted writes s as the inside of an RFC 9110 §5.6.4 quoted-string:
// '"' and '\' are escaped with '\'; bytes that no quoted-string may hold
// (controls other than tab, and DEL) are replaced by '?', so a header can
// never be split or broken.
func writeQuoted(b *strings.Builder, s string) {
	for i := range len(s) {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\t' || (c >= 0x20 && c != 0x7f):
			b.WriteByte(c)
		default:
			b.WriteByte('?')
		}
	}
}
