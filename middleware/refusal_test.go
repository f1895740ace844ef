package middleware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/scopes"
)

// logLine is a record a recorder handled.
type logLine struct {
	level slog.Level
	msg   string
	keys  []string // in order, so that a repeated key shows
	attrs map[string]any
}

// recorder is a slog.Handler that keeps the records at level and above.
type recorder struct {
	level slog.Level
	mu    sync.Mutex
	lines []logLine
}

func (h *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	line := logLine{level: r.Level, msg: r.Message, attrs: map[string]any{}}
	r.Attrs(func(a slog.Attr) bool {
		line.keys = append(line.keys, a.Key)
		line.attrs[a.Key] = a.Value.Any()
		return true
	})
	h.mu.Lock()
	h.lines = append(h.lines, line)
	h.mu.Unlock()
	return nil
}

func (h *recorder) WithAttrs([]slog.Attr) slog.Handler { panic("not used by the middleware") }
func (h *recorder) WithGroup(string) slog.Handler      { panic("not used by the middleware") }

// take returns the lines handled since the last take.
func (h *recorder) take() []logLine {
	h.mu.Lock()
	defer h.mu.Unlock()
	lines := h.lines
	h.lines = nil
	return lines
}

// The tokens of the log tests: long enough that finding one in a line
// cannot be chance.
const (
	mapToken   = "map-7f1c2e9a4b6d8035"
	pdoToken   = "pdo-3a9e5c7b1d2f4860"
	otherAud   = "aud-5d8b2f6a9c3e1047"
	badToken   = "bad-9c4e7a1f3b5d2068"
	downToken  = "down-2b6f8d3a5c9e1074"
	traceOK    = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	traceOKID  = "4bf92f3577b34da6a3ce929d0e0e4736"
	downReason = "introspect: authorization server unavailable: unexpected status (HTTP 502)"
)

var logTokens = []string{mapToken, pdoToken, otherAud, badToken, downToken}

// logged is an application whose Authenticator logs to a recorder at
// level, on a clock that stands still.
type logged struct {
	h     http.Handler
	rec   *recorder
	clock *testutil.Clock
}

func newLogged(t testing.TB, level slog.Level) *logged {
	known := map[string]*introspect.TokenInfo{
		mapToken: {Active: true, Scopes: scopes.New("MapRequest"), ClientID: "38890", Audience: []string{"38890"}},
		pdoToken: {Active: true, Scopes: scopes.New("gipod_pdo_read"), ClientID: "38890", Audience: []string{"38890"}},
		otherAud: {Active: true, Scopes: scopes.New("MapRequest"), ClientID: "99999", Audience: []string{"99999"}},
	}
	rec := &recorder{level: level}
	a, err := middleware.New(middleware.Config{
		Verifier: introspect.VerifierFunc(func(_ context.Context, token string) (*introspect.TokenInfo, error) {
			if token == downToken {
				return nil, &introspect.UnavailableError{StatusCode: 502, Reason: "unexpected status"}
			}
			if info, ok := known[token]; ok {
				return info, nil
			}
			return nil, introspect.ErrInvalidToken
		}),
		Audiences: []string{"38890"},
		Logger:    slog.New(rec),
	})
	require.NoError(t, err)
	clock := testutil.NewClock()
	middleware.SetNow(a, clock.Now)
	mux := http.NewServeMux()
	mux.Handle("/v1/maps", a.Require(middleware.AllOf("MapRequest"))(okHandler))
	mux.Handle("/v1/custom", a.Require(middleware.PolicyFunc(func(*introspect.TokenInfo) bool { return false }))(okHandler))
	group := http.NewServeMux()
	group.Handle("/group/maps", a.Require(middleware.AllOf("MapRequest"))(okHandler))
	mux.Handle("/group/", a.Authenticate(group))
	return &logged{h: mux, rec: rec, clock: clock}
}

// do sends a GET for path with auth as its Authorization header, if any,
// and header, and returns the status.
func (l *logged) do(path, auth string, header map[string]string) int {
	r := httptest.NewRequest("GET", path, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	l.h.ServeHTTP(w, r)
	return w.Code
}

// assertNoToken fails when a line holds one of the raw tokens.
func assertNoToken(t *testing.T, lines []logLine) {
	t.Helper()
	for _, line := range lines {
		text := line.msg + fmt.Sprint(line.attrs)
		for _, token := range logTokens {
			assert.NotContains(t, text, token, "a log line holds a token")
		}
	}
}

// TestRefusalLines: each refusal's line has exactly the attributes that
// say why, at info or warn with suppressed for the first of its outcome,
// and at debug without it for the next.
func TestRefusalLines(t *testing.T) {
	fp := introspect.Fingerprint
	for _, tc := range []struct {
		name, path, auth string
		header           map[string]string
		status           int
		level            slog.Level // of the first line
		attrs            map[string]any
	}{
		{name: "no token", path: "/v1/maps", status: 401, level: slog.LevelInfo, attrs: map[string]any{
			"status": int64(401), "outcome": "no_token", "reason": "middleware: no bearer token",
			"method": "GET", "path": "/v1/maps",
		}},
		{name: "malformed", path: "/v1/maps", auth: "Bearer a b", status: 400, level: slog.LevelInfo, attrs: map[string]any{
			"status": int64(400), "outcome": "malformed", "reason": "middleware: malformed request: token is not a valid b64token",
			"method": "GET", "path": "/v1/maps",
		}},
		{name: "invalid token", path: "/v1/maps", auth: "Bearer " + badToken, status: 401, level: slog.LevelInfo, attrs: map[string]any{
			"status": int64(401), "outcome": "invalid_token", "reason": "introspect: invalid token",
			"method": "GET", "path": "/v1/maps", "token": fp(badToken),
		}},
		{name: "wrong audience", path: "/v1/maps", auth: "Bearer " + otherAud, status: 401, level: slog.LevelInfo, attrs: map[string]any{
			"status": int64(401), "outcome": "invalid_token", "reason": "middleware: token audience not allowed (introspect: invalid token)",
			"method": "GET", "path": "/v1/maps", "client_id": "99999", "token": fp(otherAud),
		}},
		{name: "scope missing", path: "/v1/maps", auth: "Bearer " + pdoToken, status: 403, level: slog.LevelInfo, attrs: map[string]any{
			"status": int64(403), "outcome": "insufficient_scope", "reason": "middleware: insufficient scope",
			"method": "GET", "path": "/v1/maps", "required_scope": "MapRequest", "client_id": "38890", "token": fp(pdoToken),
		}},
		{name: "scope missing at the route behind a group", path: "/group/maps", auth: "Bearer " + pdoToken, status: 403, level: slog.LevelInfo, attrs: map[string]any{
			"status": int64(403), "outcome": "insufficient_scope", "reason": "middleware: insufficient scope",
			"method": "GET", "path": "/group/maps", "required_scope": "MapRequest", "client_id": "38890", "token": fp(pdoToken),
		}},
		{name: "a policy that names no scope", path: "/v1/custom", auth: "Bearer " + mapToken, status: 403, level: slog.LevelInfo, attrs: map[string]any{
			"status": int64(403), "outcome": "insufficient_scope", "reason": "middleware: insufficient scope",
			"method": "GET", "path": "/v1/custom", "required_scope": "", "client_id": "38890", "token": fp(mapToken),
		}},
		{name: "unavailable", path: "/v1/maps", auth: "Bearer " + downToken, status: 503, level: slog.LevelWarn, attrs: map[string]any{
			"status": int64(503), "outcome": "unavailable", "reason": downReason,
			"method": "GET", "path": "/v1/maps", "token": fp(downToken),
		}},
		{name: "with a request id", path: "/v1/maps", auth: "Bearer " + pdoToken, header: map[string]string{"X-Request-Id": "req-42"},
			status: 403, level: slog.LevelInfo, attrs: map[string]any{
				"status": int64(403), "outcome": "insufficient_scope", "reason": "middleware: insufficient scope",
				"method": "GET", "path": "/v1/maps", "required_scope": "MapRequest", "client_id": "38890", "token": fp(pdoToken),
				"request_id": "req-42",
			}},
		{name: "with a traceparent", path: "/v1/maps", auth: "Bearer " + badToken, header: map[string]string{"Traceparent": traceOK},
			status: 401, level: slog.LevelInfo, attrs: map[string]any{
				"status": int64(401), "outcome": "invalid_token", "reason": "introspect: invalid token",
				"method": "GET", "path": "/v1/maps", "token": fp(badToken), "request_id": traceOKID,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLogged(t, slog.LevelDebug)
			require.Equal(t, tc.status, l.do(tc.path, tc.auth, tc.header))
			require.Equal(t, tc.status, l.do(tc.path, tc.auth, tc.header))
			lines := l.rec.take()
			require.Len(t, lines, 2)
			assertNoToken(t, lines)

			first := map[string]any{"suppressed": int64(0)}
			for k, v := range tc.attrs {
				first[k] = v
			}
			assert.Equal(t, tc.level, lines[0].level)
			assert.Equal(t, "tokengate: request refused", lines[0].msg)
			assert.Equal(t, first, lines[0].attrs)
			assert.Len(t, lines[0].keys, len(first), "a key repeated: %v", lines[0].keys)

			assert.Equal(t, slog.LevelDebug, lines[1].level, "the second of the outcome in its window")
			assert.Equal(t, tc.attrs, lines[1].attrs)
			assert.Len(t, lines[1].keys, len(tc.attrs), "a key repeated: %v", lines[1].keys)
		})
	}
}

// TestRequestID: request_id is a sound X-Request-Id, or else the trace id
// of a valid traceparent; anything else is left out.
func TestRequestID(t *testing.T) {
	long := strings.Repeat("r", 128)
	for _, tc := range []struct {
		name   string
		header http.Header
		want   string // "" means no request_id
	}{
		{"none", nil, ""},
		{"X-Request-Id", http.Header{"X-Request-Id": {"0b7e4a7c-2d1f-4e8a-9c3b-5f6d7e8a9b0c"}}, "0b7e4a7c-2d1f-4e8a-9c3b-5f6d7e8a9b0c"},
		{"X-Request-Id of 128 bytes", http.Header{"X-Request-Id": {long}}, long},
		{"X-Request-Id with a space", http.Header{"X-Request-Id": {"a b"}}, "a b"},
		{"X-Request-Id too long", http.Header{"X-Request-Id": {long + "r"}}, ""},
		{"X-Request-Id with a control character", http.Header{"X-Request-Id": {"a\x1bb"}}, ""},
		{"X-Request-Id with a tab", http.Header{"X-Request-Id": {"a\tb"}}, ""},
		{"X-Request-Id not ASCII", http.Header{"X-Request-Id": {"réq"}}, ""},
		{"X-Request-Id empty", http.Header{"X-Request-Id": {""}}, ""},
		{"X-Request-Id twice", http.Header{"X-Request-Id": {"a", "b"}}, ""},
		{"traceparent", http.Header{"Traceparent": {traceOK}}, traceOKID},
		{"X-Request-Id before traceparent", http.Header{"X-Request-Id": {"req-1"}, "Traceparent": {traceOK}}, "req-1"},
		{"traceparent after an unsound X-Request-Id", http.Header{"X-Request-Id": {long + "r"}, "Traceparent": {traceOK}}, traceOKID},
		{"traceparent of a later version, with more fields", http.Header{"Traceparent": {"01-" + traceOKID + "-00f067aa0ba902b7-01-what-comes-next"}}, traceOKID},
		{"traceparent twice", http.Header{"Traceparent": {traceOK, traceOK}}, ""},
		{"traceparent, zero trace id", http.Header{"Traceparent": {"00-00000000000000000000000000000000-00f067aa0ba902b7-01"}}, ""},
		{"traceparent, zero parent id", http.Header{"Traceparent": {"00-" + traceOKID + "-0000000000000000-01"}}, ""},
		{"traceparent, upper case", http.Header{"Traceparent": {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"}}, ""},
		{"traceparent, version ff", http.Header{"Traceparent": {"ff-" + traceOKID + "-00f067aa0ba902b7-01"}}, ""},
		{"traceparent, version 00 with more", http.Header{"Traceparent": {traceOK + "-00"}}, ""},
		{"traceparent, later version, no dash after the flags", http.Header{"Traceparent": {"01-" + traceOKID + "-00f067aa0ba902b7-01x"}}, ""},
		{"traceparent, short", http.Header{"Traceparent": {traceOK[:54]}}, ""},
		{"traceparent, bad separator", http.Header{"Traceparent": {"00_" + traceOKID + "-00f067aa0ba902b7-01"}}, ""},
		{"traceparent, bad flags", http.Header{"Traceparent": {"00-" + traceOKID + "-00f067aa0ba902b7-0g"}}, ""},
		{"traceparent, not hex", http.Header{"Traceparent": {"00-" + strings.Repeat("z", 32) + "-00f067aa0ba902b7-01"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLogged(t, slog.LevelDebug)
			r := httptest.NewRequest("GET", "/v1/maps", nil)
			for k, v := range tc.header {
				r.Header[k] = v
			}
			l.h.ServeHTTP(httptest.NewRecorder(), r)
			lines := l.rec.take()
			require.Len(t, lines, 1)
			id, ok := lines[0].attrs["request_id"]
			if tc.want == "" {
				assert.False(t, ok, "request_id %q", id)
			} else {
				assert.Equal(t, tc.want, id)
			}
		})
	}
}

// TestNoTokenInTheLog runs every kind of refusal at debug into slog's JSON
// handler, and finds no token in what it wrote.
func TestNoTokenInTheLog(t *testing.T) {
	var buf bytes.Buffer
	a, err := middleware.New(middleware.Config{
		Verifier: verifierOf(map[string]*introspect.TokenInfo{
			pdoToken: {Active: true, Scopes: scopes.New("gipod_pdo_read"), ClientID: "38890"},
			otherAud: {Active: true, ClientID: "99999", Audience: []string{"99999"}},
		}),
		Sources:   middleware.FromHeader | middleware.FromQuery,
		Audiences: []string{"38890"},
		Logger:    slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	h := a.Authenticate(a.Require(middleware.AllOf("MapRequest"))(okHandler))
	for _, target := range []string{
		"/?access_token=" + badToken, "/?access_token=" + pdoToken, "/?access_token=" + otherAud,
		"/?access_token=" + pdoToken + "&access_token=" + badToken,
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
	}
	for _, auth := range []string{badToken, pdoToken, otherAud, "down", pdoToken + " " + badToken} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+auth)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 9)
	for _, line := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		assert.Equal(t, "tokengate: request refused", m["msg"])
		for _, token := range logTokens {
			assert.NotContains(t, line, token)
		}
	}
}

// TestInfoSummarises: at info, the first refusal of each outcome in a
// minute has a line, and the next one after the minute counts the others.
func TestInfoSummarises(t *testing.T) {
	l := newLogged(t, slog.LevelInfo)
	for range 100 {
		require.Equal(t, 401, l.do("/v1/maps", "Bearer "+badToken, nil))
		l.clock.Advance(500 * time.Millisecond) // 50 s in all
	}
	lines := l.rec.take()
	require.Len(t, lines, 1, "100 invalid tokens within a minute")
	assert.Equal(t, slog.LevelInfo, lines[0].level)
	assert.Equal(t, int64(0), lines[0].attrs["suppressed"])

	// Another outcome has a window of its own.
	require.Equal(t, 401, l.do("/v1/maps", "", nil))
	require.Equal(t, 403, l.do("/v1/maps", "Bearer "+pdoToken, nil))
	lines = l.rec.take()
	require.Len(t, lines, 2)
	assert.Equal(t, "no_token", lines[0].attrs["outcome"])
	assert.Equal(t, "insufficient_scope", lines[1].attrs["outcome"])

	l.clock.Advance(9*time.Second + 999*time.Millisecond) // 59.999 s after the first
	require.Equal(t, 401, l.do("/v1/maps", "Bearer "+badToken, nil))
	assert.Empty(t, l.rec.take(), "within the minute")
	l.clock.Advance(time.Millisecond)
	require.Equal(t, 401, l.do("/v1/maps", "Bearer "+badToken, nil))
	lines = l.rec.take()
	require.Len(t, lines, 1)
	assert.Equal(t, "invalid_token", lines[0].attrs["outcome"])
	assert.Equal(t, int64(100), lines[0].attrs["suppressed"], "99, and the one at 59.999 s")
	assertNoToken(t, lines)

	l.clock.Advance(time.Hour)
	require.Equal(t, 401, l.do("/v1/maps", "Bearer "+badToken, nil))
	lines = l.rec.take()
	require.Len(t, lines, 1)
	assert.Equal(t, int64(0), lines[0].attrs["suppressed"])
}

// TestInfoSummaryOfAMinute is the operator's case: 100 invalid tokens in a
// minute give 1 line, and the next line after the minute says 99 were
// left out.
func TestInfoSummaryOfAMinute(t *testing.T) {
	l := newLogged(t, slog.LevelInfo)
	for range 100 {
		l.do("/v1/maps", "Bearer "+badToken, nil)
	}
	assert.Len(t, l.rec.take(), 1)
	l.clock.Advance(time.Minute)
	l.do("/v1/maps", "Bearer "+badToken, nil)
	lines := l.rec.take()
	require.Len(t, lines, 1)
	assert.Equal(t, int64(99), lines[0].attrs["suppressed"])
}

// TestDebugLogsEveryRefusal: at debug, every refusal has a line; the
// summary's at info, the others at debug.
func TestDebugLogsEveryRefusal(t *testing.T) {
	l := newLogged(t, slog.LevelDebug)
	for range 100 {
		l.do("/v1/maps", "Bearer "+badToken, nil)
	}
	lines := l.rec.take()
	require.Len(t, lines, 100)
	assert.Equal(t, slog.LevelInfo, lines[0].level)
	for _, line := range lines[1:] {
		assert.Equal(t, slog.LevelDebug, line.level)
		assert.NotContains(t, line.attrs, "suppressed")
	}
}

// TestUnavailableAtWarn: the authorization server failing is logged at
// warn, once a second at most, each line counting those left out; at warn
// the client's mistakes are not logged.
func TestUnavailableAtWarn(t *testing.T) {
	l := newLogged(t, slog.LevelWarn)
	down := func(n int) {
		for range n {
			require.Equal(t, 503, l.do("/v1/maps", "Bearer "+downToken, nil))
		}
	}
	suppressed := func() []int64 {
		var s []int64
		for _, line := range l.rec.take() {
			assert.Equal(t, slog.LevelWarn, line.level)
			assert.Equal(t, "unavailable", line.attrs["outcome"])
			s = append(s, line.attrs["suppressed"].(int64))
		}
		return s
	}
	l.do("/v1/maps", "Bearer "+badToken, nil)
	l.do("/v1/maps", "", nil)
	assert.Empty(t, l.rec.take(), "client mistakes at warn")

	down(10)
	assert.Equal(t, []int64{0}, suppressed())
	l.clock.Advance(500 * time.Millisecond)
	down(5)
	assert.Empty(t, suppressed())
	l.clock.Advance(500 * time.Millisecond)
	down(3)
	assert.Equal(t, []int64{14}, suppressed(), "9 then 5 left out")
	l.clock.Advance(999 * time.Millisecond)
	down(1)
	assert.Empty(t, suppressed())
	l.clock.Advance(3 * time.Second)
	down(1)
	assert.Equal(t, []int64{3}, suppressed(), "2 after the last line, and 1 more")
	for range 5 {
		l.clock.Advance(time.Second)
		down(1)
	}
	assert.Equal(t, []int64{0, 0, 0, 0, 0}, suppressed(), "one a second, none left out")
}

// TestSummaryUnderConcurrency: refusals racing for a window are each
// logged or counted once. One counted while another takes the window may
// land in that line's count or the next's, so the two lines' counts are
// checked together.
func TestSummaryUnderConcurrency(t *testing.T) {
	l := newLogged(t, slog.LevelInfo)
	const goroutines, each = 8, 250
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				l.do("/v1/maps", "Bearer "+badToken, nil)
			}
		})
	}
	wg.Wait()
	first := l.rec.take()
	require.Len(t, first, 1)
	l.clock.Advance(time.Minute)
	l.do("/v1/maps", "Bearer "+badToken, nil)
	lines := l.rec.take()
	require.Len(t, lines, 1)
	early, late := first[0].attrs["suppressed"].(int64), lines[0].attrs["suppressed"].(int64)
	assert.Equal(t, int64(goroutines*each-1), early+late, "%d in the first line, %d in the next", early, late)
}

// TestRefusalLogAllocations: a refusal that is not logged, its level
// disabled or its window closed, allocates nothing for the log.
func TestRefusalLogAllocations(t *testing.T) {
	allocs := func(level slog.Level, token string) float64 {
		l := newLogged(t, level)
		r := httptest.NewRequest("GET", "/v1/maps", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := &testutil.DiscardWriter{}
		l.h.ServeHTTP(w, r) // the first of its window is logged
		n := testing.AllocsPerRun(100, func() { l.h.ServeHTTP(w, r) })
		assert.LessOrEqual(t, len(l.rec.take()), 1)
		return n
	}
	for _, token := range []string{badToken, downToken} {
		off := allocs(slog.LevelError, token)
		assert.InDelta(t, off, allocs(slog.LevelWarn, token), allocSlack, token)
		assert.InDelta(t, off, allocs(slog.LevelInfo, token), allocSlack, token)
	}
}

// BenchmarkRefused measures a refused request, an invalid token or an
// authorization server failing, with the log at each level: under attack
// or during an outage, every request is one.
func BenchmarkRefused(b *testing.B) {
	for _, token := range []string{"nope", "down"} {
		for _, level := range []struct {
			name    string
			handler slog.Handler
		}{
			{"discard", slog.DiscardHandler},
			{"warn", slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})},
			{"info", slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})},
			{"debug", slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})},
		} {
			b.Run(token+"/"+level.name, func(b *testing.B) {
				a, err := middleware.New(middleware.Config{Verifier: verifierOf(nil), Logger: slog.New(level.handler)})
				if err != nil {
					b.Fatal(err)
				}
				h := a.Require(middleware.AllOf("MapRequest"))(okHandler)
				r := httptest.NewRequest("GET", "/v1/maps", nil)
				r.Header.Set("Authorization", "Bearer "+token)
				w := &testutil.DiscardWriter{}
				b.ReportAllocs()
				for b.Loop() {
					h.ServeHTTP(w, r)
				}
			})
		}
	}
}

// TestRefusalLineRedactsTheToken: a Verifier that breaks its contract and
// puts the token in its error does not get it logged.
func TestRefusalLineRedactsTheToken(t *testing.T) {
	const token = "leaky-8e2d4c6a0b1f3957"
	rec := &recorder{level: slog.LevelDebug}
	a, err := middleware.New(middleware.Config{
		Verifier: introspect.VerifierFunc(func(_ context.Context, tok string) (*introspect.TokenInfo, error) {
			return nil, fmt.Errorf("%w: no such token %q", introspect.ErrInvalidToken, tok)
		}),
		Logger: slog.New(rec),
	})
	require.NoError(t, err)
	r := httptest.NewRequest("GET", "/v1/maps", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	a.Require(middleware.AllOf("MapRequest"))(okHandler).ServeHTTP(w, r)
	require.Equal(t, http.StatusUnauthorized, w.Code)
	assert.NotContains(t, w.Body.String(), token)
	lines := rec.take()
	require.NotEmpty(t, lines)
	for _, l := range lines {
		for k, v := range l.attrs {
			assert.NotContains(t, fmt.Sprint(v), token, "attribute %s", k)
		}
		assert.Equal(t, `introspect: invalid token: no such token "[token]"`, l.attrs["reason"])
	}

	// Nor does the error Authorize returns, which its caller may log.
	_, err = a.Authorize(r, middleware.AllOf("MapRequest"))
	require.ErrorIs(t, err, introspect.ErrInvalidToken)
	assert.NotContains(t, err.Error(), token)
	assert.Contains(t, err.Error(), "[token]")
}

// TestRefusalLineCutsALongPath: the client chooses the path; the line
// gives at most maxLoggedPath bytes of it.
func TestRefusalLineCutsALongPath(t *testing.T) {
	l := newLogged(t, slog.LevelInfo)
	long := "/group/" + strings.Repeat("é", 400) // no token: refused, and logged
	r := httptest.NewRequest("GET", "/group/", nil)
	r.URL.Path = long
	l.h.ServeHTTP(httptest.NewRecorder(), r)
	lines := l.rec.take()
	require.Len(t, lines, 1)
	path := lines[0].attrs["path"].(string)
	assert.LessOrEqual(t, len(path), 256+len("…"))
	assert.True(t, strings.HasPrefix(long, strings.TrimSuffix(path, "…")))
	assert.True(t, utf8.ValidString(path))
}
