package middleware

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tokengate/tokengate/introspect"
)

// The windows of the log's summaries (see Config.Logger): at most one line
// per window and outcome at the outcome's level.
const (
	// unavailableWindow is the window of the warn lines of 503s: an
	// outage refuses every request.
	unavailableWindow = time.Second
	// mistakeWindow is the window of the info lines of the client's
	// mistakes (400, 401, 403): under attack, every request is one.
	mistakeWindow = time.Minute
)

// maxRequestIDLength is the longest X-Request-Id that a log line carries.
const maxRequestIDLength = 128

// refusalMessage is the message of every refusal's log line.
const refusalMessage = "tokengate: request refused"

// logWindow limits the lines of one outcome at its level to one per
// window, without a lock: a refusal that finds the window open takes it
// with a compare-and-swap, and every other counts itself as suppressed.
type logWindow struct {
	// next is when the window opens again, in nanoseconds of
	// [Authenticator.elapsed].
	next atomic.Int64
	// suppressed counts the refusals not logged at the level since the
	// last line that was.
	suppressed atomic.Int64
}

// take reports whether a refusal at now gets a line at the window's level,
// and how many refusals were suppressed since the last line; or counts it
// as one more suppressed. A refusal counted while another takes the
// window goes to that line's count or to the next's: none is lost or
// counted twice.
func (w *logWindow) take(now int64, window time.Duration) (suppressed int64, ok bool) {
	next := w.next.Load()
	if now < next || !w.next.CompareAndSwap(next, now+int64(window)) {
		w.suppressed.Add(1)
		return 0, false
	}
	return w.suppressed.Swap(0), true
}

// elapsed returns the nanoseconds since a was made, read off the monotonic
// clock (or the clock a test set), so that the windows ignore changes of
// the wall clock.
func (a *Authenticator) elapsed() int64 {
	if a.now != nil {
		return int64(a.now().Sub(a.epoch))
	}
	return int64(time.Since(a.epoch))
}

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
	level, w, window := slog.LevelInfo, &a.windows[windowOf(o)], mistakeWindow
	if o == introspect.OutcomeUnavailable {
		level, window = slog.LevelWarn, unavailableWindow
	}
	if logger.Enabled(ctx, level) {
		if suppressed, ok := w.take(a.elapsed(), window); ok {
			a.logRefusal(ctx, logger, level, r, e, o, token, info, suppressed)
			return e
		}
	}
	if logger.Enabled(ctx, slog.LevelDebug) {
		a.logRefusal(ctx, logger, slog.LevelDebug, r, e, o, token, info, -1)
	}
	return e
}

// windowOf returns the index in Authenticator.windows of o, a refusal.
func windowOf(o introspect.Outcome) int {
	switch o {
	case introspect.OutcomeNoToken:
		return 0
	case introspect.OutcomeMalformed:
		return 1
	case introspect.OutcomeInvalidToken:
		return 2
	case introspect.OutcomeInsufficientScope:
		return 3
	default:
		return 4
	}
}

// logRefusal logs the line of the refusal e, with suppressed unless it is
// negative. Kept apart from refuse so that its attributes cost nothing
// when no line is logged.
func (a *Authenticator) logRefusal(ctx context.Context, logger *slog.Logger, level slog.Level,
	r *http.Request, e *Error, o introspect.Outcome, token string, info *introspect.TokenInfo, suppressed int64) {
	if info != nil && token == "" {
		// A route's check of the facts a group's Authenticate put in
		// the context: the token is found again, for its fingerprint
		// only, as Authenticator.Token would find it.
		token, _, _ = a.extract(r)
	}
	reason := e.Description
	if e.Err != nil {
		reason = e.Err.Error() // the Verifier's error, the token taken out (see authorize)
	}
	var buf [10]slog.Attr
	attrs := append(buf[:0],
		slog.Int("status", e.Status),
		slog.String("outcome", string(o)),
		slog.String("reason", reason),
		slog.String("method", r.Method),
		slog.String("path", logPath(r.URL.Path)),
	)
	if e.Status == http.StatusForbidden {
		attrs = append(attrs, slog.String("required_scope", e.Scope))
	}
	if info != nil {
		attrs = append(attrs, slog.String("client_id", info.ClientID))
	}
	if token != "" {
		attrs = append(attrs, slog.String("token", introspect.Fingerprint(token)))
	}
	if id := requestID(r); id != "" {
		attrs = append(attrs, slog.String("request_id", id))
	}
	if suppressed >= 0 {
		attrs = append(attrs, slog.Int64("suppressed", suppressed))
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

// maxLoggedPath bounds the path a refusal line gives: the client chooses
// it, and a line per refusal must not be as long as it likes.
const maxLoggedPath = 256

// logPath returns path, cut to maxLoggedPath bytes (at a rune boundary)
// and marked as cut.
func logPath(path string) string {
	if len(path) <= maxLoggedPath {
		return path
	}
	cut := maxLoggedPath
	for cut > 0 && !utf8.RuneStart(path[cut]) {
		cut--
	}
	return path[:cut] + "…"
}
