package middleware

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/tokengate/tokengate/introspect"
)

// maxRequestIDLength is the longest X-Request-Id that a log line carries.
const maxRequestIDLength = 128

// refusalMessage is the message of every refusal's log line.
const refusalMessage = "tokengate: request refused"

// refuse reports the refusal e to Config.Hooks and logs it. token is the
// request's token, "" when it has none or, with info, when info came from
// the request's context; info is the token's facts when it was verified.
func (a *Authenticator) refuse(r *http.Request, e *Error, token string, info *introspect.TokenInfo) *Error {
	o := e.outcome()
	ctx := r.Context()
	a.decide(ctx, o, e.Status)

	logger := a.logger
	if logger == nil {
		// Looked up now, not in New, so that an application may set its
		// default logger after building its Authenticators.
		logger = slog.Default()
	}
	level := slog.LevelDebug
	if o == introspect.OutcomeUnavailable {
		level = slog.LevelWarn
	}
	if logger.Enabled(ctx, level) {
		a.logRefusal(ctx, logger, level, r, e, o, token, info)
	}
	return e
}

// logRefusal logs the line of the refusal e. Kept apart from refuse so that its attributes cost nothing
// when no line is logged.
func (a *Authenticator) logRefusal(ctx context.Context, logger *slog.Logger, level slog.Level,
	r *http.Request, e *Error, o introspect.Outcome, token string, info *introspect.TokenInfo) {
	reason := e.Description
	if e.Err != nil {
		reason = e.Err.Error()
	}
	var buf [10]slog.Attr
	attrs := append(buf[:0],
		slog.Int("status", e.Status),
		slog.String("outcome", string(o)),
		slog.String("reason", reason),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
	)
	if e.Status == http.StatusForbidden {
		attrs = append(attrs, slog.String("required_scope", e.Scope))
	}
	if info != nil {
		attrs = append(attrs, slog.String("client_id", info.ClientID))
		if token == "" {
			// A route's check of the facts a group's Authenticate put in
			// the context: the token is found again, for its fingerprint
			// only, as Authenticator.Token would find it.
			token, _, _ = a.extract(r)
		}
	}
	if token != "" {
		attrs = append(attrs, slog.String("token", introspect.Fingerprint(token)))
	}
	if id := requestID(r); id != "" {
		attrs = append(attrs, slog.String("request_id", id))
	}
	logger.LogAttrs(ctx, level, refusalMessage, attrs...)
}

// requestID returns the id of r for its log line: its X-Request-Id header
// when it has one of at most maxRequestIDLength printable ASCII
// characters, or else the trace id of a valid W3C traceparent header
// (Trace Context, §3.2), or "". A header sent more than once is ignored.
func requestID(r *http.Request) string {
	// Direct map access: the keys are canonical, and Values would
	// canonicalise them again.
	if v := r.Header["X-Request-Id"]; len(v) == 1 && printable(v[0], maxRequestIDLength) {
		return v[0]
	}
	if v := r.Header["Traceparent"]; len(v) == 1 {
		return traceID(v[0])
	}
	return ""
}

// printable reports whether s has 1 to max bytes, each printable ASCII.
func printable(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// traceID returns the trace id of tp, a traceparent header's value,
// version "-" trace-id "-" parent-id "-" trace-flags in lower-case hex
// digits (2, 32, 16 and 2 of them), or "" when tp is not valid: version ff,
// an all-zero trace id or parent id, or, for version 00, anything after
// the flags. A later version may add fields after a "-".
func traceID(tp string) string {
	const size = 55 // version 00's
	if len(tp) < size || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' {
		return ""
	}
	version, trace, parent, flags := tp[:2], tp[3:35], tp[36:52], tp[53:55]
	switch {
	case !lowerHex(version) || version == "ff" || !lowerHex(flags),
		!lowerHex(trace) || zeros(trace),
		!lowerHex(parent) || zeros(parent),
		version == "00" && len(tp) != size,
		len(tp) > size && tp[size] != '-':
		return ""
	}
	return trace
}

func lowerHex(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func zeros(s string) bool {
	for i := range len(s) {
		if s[i] != '0' {
			return false
		}
	}
	return true
}
