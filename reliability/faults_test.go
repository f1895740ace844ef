package reliability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tokengate/tokengate/internal/upstream"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/rfc7662"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/middleware/echogate"
)

// upstreamTimeout is the cache's limit on one upstream call in the matrix;
// margin is how much later than that the 503 may come. A fault the timeout
// did not bound (a hang of an hour, a trickle of 64 MiB) would take far
// longer, and a second upstream attempt shows in the count of calls, so the
// margin can be generous enough for a loaded machine under -race.
const (
	upstreamTimeout = time.Second
	margin          = 10 * time.Second
)

// fault is one way the authorization server fails.
type fault struct {
	name string
	// rfc7662Only marks faults that only an RFC 7662 backend can meet:
	// Geosecure's verify endpoint takes no client credentials.
	rfc7662Only bool
	// upstream sets up the failure: a server-wide fault, or a URL or client
	// to use instead of the fake's.
	upstream introspecttest.Fault
	setup    func(t *testing.T, env *environment)
	// retryAfter is the Retry-After the client must get.
	retryAfter string
	// crowded fills the cache's one slot and its one place for a waiting
	// call with other tokens' calls, which the stalled upstream never
	// answers, before the request: it must be refused at once, without an
	// upstream call of its own.
	crowded bool
}

// environment is what a backend is built from.
type environment struct {
	srv       *introspecttest.Server
	url       string // replaces the fake's endpoint when not empty
	secret    string // the RFC 7662 client secret
	transport *http.Transport
}

var faults = []fault{
	{name: "500", upstream: introspecttest.Fault{Status: 500, Body: "{}"}, retryAfter: "5"},
	{name: "502 with HTML", upstream: introspecttest.Fault{Status: 502, Body: "<html>Bad Gateway</html>", ContentType: "text/html"}, retryAfter: "5"},
	{name: "503 with HTML", upstream: introspecttest.Fault{Status: 503, Body: "<html>Onderhoud</html>", ContentType: "text/html"}, retryAfter: "5"},
	{name: "429 with Retry-After: 42", upstream: introspecttest.Fault{Status: 429, RetryAfter: "42"}, retryAfter: "42"},
	{name: "401 to our client credentials", rfc7662Only: true, retryAfter: "5",
		setup: func(t *testing.T, env *environment) { env.secret = "wrong-secret" }},
	{name: "403 to our client credentials", rfc7662Only: true, upstream: introspecttest.Fault{Status: 403, Body: `{"error":"access_denied"}`}, retryAfter: "5"},
	{name: "connection refused", retryAfter: "5", setup: func(t *testing.T, env *environment) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		env.url = "http://" + ln.Addr().String() + "/verify"
		require.NoError(t, ln.Close()) // nothing listens there now
	}},
	{name: "unresolvable host", retryAfter: "5", setup: func(t *testing.T, env *environment) {
		// No test may leave loopback: a resolver that fails at once
		// stands in for a name that does not resolve.
		env.url = "https://authorization-server.invalid/verify"
		env.transport.DialContext = (&net.Dialer{Resolver: &net.Resolver{PreferGo: true,
			Dial: func(context.Context, string, string) (net.Conn, error) {
				return nil, errors.New("no name server reachable")
			}}}).DialContext
	}},
	{name: "connection reset mid-body", upstream: introspecttest.Fault{Reset: true}, retryAfter: "5"},
	{name: "body trickling at 1 byte/s", upstream: introspecttest.Fault{Trickle: time.Second, Body: `{"audience":"38890","scope":"MapRequest","expires_in":"3600","active":true}`}, retryAfter: "5"},
	{name: "no answer within the timeout", upstream: introspecttest.Fault{Delay: time.Hour}, retryAfter: "5"},
	{name: "truncated JSON", upstream: introspecttest.Fault{Status: 200, Body: `{"active":true,"audience":"38890","sco`}, retryAfter: "5"},
	{name: "wrong JSON types", upstream: introspecttest.Fault{Status: 200, Body: `{"active":true,"audience":["38890"],"scope":5,"expires_in":true}`}, retryAfter: "5"},
	{name: "not JSON at all", upstream: introspecttest.Fault{Status: 200, Body: "OK", ContentType: "text/plain"}, retryAfter: "5"},
	{name: "64 MiB body", upstream: introspecttest.Fault{BodySize: 64 << 20}, retryAfter: "5"},
	{name: "redirect to another host", upstream: introspecttest.Fault{Redirect: "https://elsewhere.example/verify"}, retryAfter: "5"},
	// Error bodies of real servers on a 5xx or 429: the status decides,
	// whatever "error" says.
	{name: "500 with Spring Boot's JSON error", upstream: introspecttest.Fault{Status: 500, Body: springError(500, "Internal Server Error")}, retryAfter: "5"},
	{name: "503 with Spring Boot's JSON error", upstream: introspecttest.Fault{Status: 503, Body: springError(503, "Service Unavailable")}, retryAfter: "5"},
	{name: `429 {"error":"too_many_requests"} with Retry-After: 42`, upstream: introspecttest.Fault{Status: 429, Body: `{"error":"too_many_requests"}`, RetryAfter: "42"}, retryAfter: "42"},
	{name: `502 {"error":"bad_gateway"}`, upstream: introspecttest.Fault{Status: 502, Body: `{"error":"bad_gateway"}`}, retryAfter: "5"},
	{name: "503 with an empty body", upstream: introspecttest.Fault{Status: 503, Body: " "}, retryAfter: "5"},
	// 200 answers that say nothing about the token.
	{name: `200 {"error":"server_error"}`, upstream: introspecttest.Fault{Status: 200, Body: `{"error":"server_error"}`}, retryAfter: "5"},
	{name: "200 {}", upstream: introspecttest.Fault{Status: 200, Body: `{}`}, retryAfter: "5"},
	{name: `200 {"message":"…"}`, upstream: introspecttest.Fault{Status: 200, Body: `{"message":"upstream timed out"}`}, retryAfter: "5"},
	{name: `200 {"active":"true"} (a string)`, rfc7662Only: true, upstream: introspecttest.Fault{Status: 200, Body: `{"active":"true"}`}, retryAfter: "5"},
	{name: "stalled upstream, calls waiting beyond the bound", upstream: introspecttest.Fault{Delay: time.Hour}, crowded: true, retryAfter: "5"},
}

// springError is Spring Boot's default error body.
func springError(status int, reason string) string {
	return fmt.Sprintf(`{"timestamp":"2026-11-30T10:00:00.000+00:00","status":%d,"error":%q,"path":"/verify"}`, status, reason)
}

// backends build a verifier against env.
var backends = []struct {
	name  string
	build func(env *environment) (introspect.Verifier, error)
}{
	{"geosecure", func(env *environment) (introspect.Verifier, error) {
		return geosecure.New(geosecure.Config{
			URL: firstOf(env.url, env.srv.VerifyURL()), HTTPClient: &http.Client{Transport: env.transport},
		})
	}},
	{"rfc7662", func(env *environment) (introspect.Verifier, error) {
		return rfc7662.New(rfc7662.Config{
			Issuer: env.srv.Issuer(), Endpoint: firstOf(env.url, env.srv.IntrospectionURL()),
			ClientID: "demo-client", ClientSecret: env.secret, HTTPClient: &http.Client{Transport: env.transport},
		})
	}},
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// stacks serve one route that needs MapRequest, its tokens checked by v.
var stacks = []struct {
	name  string
	build func(t *testing.T, v introspect.Verifier) http.Handler
}{
	{"nethttp", func(t *testing.T, v introspect.Verifier) http.Handler {
		a, err := middleware.New(middleware.Config{Verifier: v, Logger: discardLogger})
		require.NoError(t, err)
		mux := http.NewServeMux()
		mux.Handle("GET /v1/maps", a.Require(middleware.AllOf("MapRequest"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
		})))
		return mux
	}},
	{"echo", func(t *testing.T, v introspect.Verifier) http.Handler {
		gate, err := echogate.New(echogate.Config{Verifier: v, Logger: discardLogger})
		require.NoError(t, err)
		e := echo.New()
		e.GET("/v1/maps", func(c echo.Context) error { return c.NoContent(http.StatusOK) },
			gate.Require(echogate.AllOf("MapRequest")))
		return e
	}},
}

// outcome is what one fault did to one backend on one stack.
type outcome struct {
	status        int
	retryAfter    string
	challenge     string
	invalidToken  bool
	elapsed       time.Duration
	upstreamCalls uint64 // for two requests
	allocatedMiB  float64
	leaked        bool
}

func TestFaultMatrix(t *testing.T) {
	results := map[string]map[string]outcome{} // by fault, by backend/stack
	for _, f := range faults {
		results[f.name] = map[string]outcome{}
		for _, b := range backends {
			if f.rfc7662Only && b.name != "rfc7662" {
				continue
			}
			for _, s := range stacks {
				t.Run(f.name+"/"+b.name+"/"+s.name, func(t *testing.T) {
					results[f.name][b.name+"/"+s.name] = runFault(t, f, b.build, s.build)
				})
			}
		}
	}
	if path := os.Getenv("TOKENGATE_RELIABILITY_REPORT"); path != "" && !t.Failed() {
		require.NoError(t, writeReport(path, results))
	}
}

func runFault(t *testing.T, f fault, backend func(*environment) (introspect.Verifier, error), stack func(*testing.T, introspect.Verifier) http.Handler) outcome {
	ignore := goleak.IgnoreCurrent()
	srv := introspecttest.NewServer()
	token := srv.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "38890"})
	env := &environment{srv: srv, secret: srv.ClientSecret, transport: upstream.NewTransport()}
	if f.setup != nil {
		f.setup(t, env)
	}
	srv.SetFault(f.upstream)

	backendVerifier, err := backend(env)
	require.NoError(t, err)
	verifier := &tokenCalls{next: backendVerifier, token: token}
	cfg := introspect.CacheConfig{Timeout: upstreamTimeout}
	if f.crowded {
		cfg.MaxConcurrent, cfg.MaxWaiting = 1, 1
	}
	cache, err := introspect.NewCache(verifier, cfg)
	require.NoError(t, err)
	crowdCtx, endCrowd := context.WithCancel(context.Background())
	defer endCrowd()
	if f.crowded {
		for i, other := range []string{"in-flight", "waiting"} {
			go func() { _, _ = cache.Verify(crowdCtx, other+"-"+srv.IssueToken(introspecttest.Token{})) }()
			waitUntil(t, func() bool { s := cache.Stats(); return s.UpstreamCalls == 1 && s.Queued == int64(i) })
		}
	}
	h := stack(t, cache)

	var o outcome
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	w := serve(h, token)
	o.elapsed = time.Since(start)
	runtime.ReadMemStats(&after)
	o.allocatedMiB = float64(after.TotalAlloc-before.TotalAlloc) / (1 << 20)
	o.status = w.Code
	o.retryAfter = w.Header().Get("Retry-After")
	o.challenge = w.Header().Get("WWW-Authenticate")
	o.invalidToken = strings.Contains(w.Body.String(), "invalid_token") || strings.Contains(o.challenge, "invalid_token")

	// A second request asks again: failures are never cached.
	serve(h, token)
	o.upstreamCalls = uint64(verifier.calls.Load())
	wantCalls := 2
	if f.crowded {
		wantCalls = 0
	}

	assert.Equal(t, http.StatusServiceUnavailable, o.status, "status")
	assert.Equal(t, f.retryAfter, o.retryAfter, "Retry-After")
	assert.False(t, o.invalidToken, "an outage must never be an invalid_token")
	assert.Empty(t, o.challenge, "no challenge with a 503")
	assert.Less(t, o.elapsed, upstreamTimeout+margin, "the answer is bounded by the upstream timeout")
	assert.EqualValues(t, wantCalls, o.upstreamCalls, "upstream calls for the token (a failure is never cached)")
	assert.Less(t, o.allocatedMiB, 8.0, "memory per failed request is bounded")

	endCrowd()
	cache.Close()
	srv.Close()
	env.transport.CloseIdleConnections()
	o.leaked = goleak.Find(ignore) != nil
	assert.False(t, o.leaked, "a goroutine was left behind")
	return o
}

func serve(h http.Handler, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/v1/maps", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// The generated part of RELIABILITY.md lies between these markers.
const (
	beginMarker = "<!-- fault matrix: generated by TestFaultMatrix -->"
	endMarker   = "<!-- end of fault matrix -->"
)

// writeReport replaces the generated table in the file at path.
func writeReport(path string, results map[string]map[string]outcome) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	before, rest, ok1 := strings.Cut(string(old), beginMarker)
	_, after, ok2 := strings.Cut(rest, endMarker)
	if !ok1 || !ok2 {
		return fmt.Errorf("%s lacks the fault matrix markers", path)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nRun on %s/%s, %s, upstream timeout %v. Each cell is the same on net/http and Echo unless it says otherwise.\n\n",
		beginMarker, runtime.GOOS, runtime.GOARCH, runtime.Version(), upstreamTimeout)
	b.WriteString("| fault | backend | status | Retry-After | `invalid_token` | answered within | upstream calls for the token for 2 requests (nothing cached) | allocated by the first request | goroutines left |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, f := range faults {
		for _, be := range backends {
			var cells [][]string
			for _, s := range stacks {
				o, ok := results[f.name][be.name+"/"+s.name]
				if !ok {
					continue
				}
				cells = append(cells, []string{
					fmt.Sprint(o.status), o.retryAfter, yesNo(o.invalidToken),
					roundUp(o.elapsed), fmt.Sprint(o.upstreamCalls), fmt.Sprintf("< %.0f MiB", max(1, roundMiB(o.allocatedMiB))), fmt.Sprint(boolCount(o.leaked)),
				})
			}
			if len(cells) == 0 {
				continue
			}
			row := cells[0]
			for i := range row {
				for j, c := range cells[1:] {
					if c[i] != row[i] {
						row[i] += fmt.Sprintf(" (%s: %s)", stacks[j+1].name, c[i])
					}
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", f.name, be.name, strings.Join(row, " | "))
		}
	}
	b.WriteString("\n" + endMarker)
	return os.WriteFile(path, []byte(before+b.String()+after), 0o644)
}

func yesNo(v bool) string {
	if v {
		return "**yes**"
	}
	return "no"
}

func boolCount(v bool) int {
	if v {
		return 1
	}
	return 0
}

// roundUp gives an elapsed time as an upper bound a reader can compare
// with the timeout: "< 10 ms", "< 1.1 s".
func roundUp(d time.Duration) string {
	for _, bound := range []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond} {
		if d < bound {
			return "< " + bound.String()
		}
	}
	steps := []time.Duration{1100 * time.Millisecond, 1500 * time.Millisecond, 2 * time.Second, 5 * time.Second}
	if i := slices.IndexFunc(steps, func(s time.Duration) bool { return d < s }); i >= 0 {
		return "< " + steps[i].String()
	}
	return d.Round(time.Second).String()
}

func roundMiB(v float64) float64 {
	for _, bound := range []float64{1, 2, 4, 8, 16, 32, 64} {
		if v < bound {
			return bound
		}
	}
	return v
}

// discardLogger keeps the matrix's expected warnings out of the test log.
var discardLogger = slog.New(slog.DiscardHandler)

// tokenCalls counts the calls for one token to the Verifier it wraps.
type tokenCalls struct {
	next  introspect.Verifier
	token string
	calls atomic.Int64
}

func (v *tokenCalls) Verify(ctx context.Context, token string) (*introspect.TokenInfo, error) {
	if token == v.token {
		v.calls.Add(1)
	}
	return v.next.Verify(ctx, token)
}

// waitUntil polls cond until it holds, failing the test after a generous
// time that only a broken cache reaches.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the cache")
		}
		time.Sleep(time.Millisecond)
	}
}
