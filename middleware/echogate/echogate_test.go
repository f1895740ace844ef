package echogate_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/middleware/echogate"
	"github.com/tokengate/tokengate/scopes"
)

func TestReturnsHTTPErrorWithInternal(t *testing.T) {
	gate, err := echogate.New(echogate.Config{Verifier: &stubServer{calls: map[string]int{}}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	var seen error
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		seen = err
		e.DefaultHTTPErrorHandler(err, c)
	}
	e.GET("/", func(c echo.Context) error { return c.NoContent(200) }, gate.Authenticate())

	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer busy-token")
	w := httptest.NewRecorder()
	e.ServeHTTP(w, r)

	assert.Equal(t, 503, w.Code)
	assert.Equal(t, "30", w.Header().Get("Retry-After"))
	var he *echo.HTTPError
	require.ErrorAs(t, seen, &he)
	var me *middleware.Error
	require.ErrorAs(t, he.Internal, &me)
	assert.ErrorIs(t, me, introspect.ErrUnavailable)
}

func TestReturnsTheHandlersError(t *testing.T) {
	gate, err := echogate.New(echogate.Config{Verifier: &stubServer{calls: map[string]int{}}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	boom := errors.New("boom")
	h := gate.Authenticate()(func(echo.Context) error { return boom })
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer map-token")
	c := echo.New().NewContext(r, httptest.NewRecorder())
	assert.Same(t, boom, h(c))
}

func TestSkipper(t *testing.T) {
	gate, err := echogate.New(echogate.Config{
		Verifier: &stubServer{calls: map[string]int{}}, Logger: slog.New(slog.DiscardHandler),
		Skipper: func(c echo.Context) bool { return c.Path() == "/healthz" },
	})
	require.NoError(t, err)
	e := echo.New()
	ok := func(c echo.Context) error {
		if introspect.FromContext(c.Request().Context()) != nil {
			return c.String(500, "a skipped request has token facts")
		}
		return c.String(200, "ok")
	}
	e.GET("/healthz", ok, gate.Authenticate())
	e.GET("/private", ok, gate.Authenticate())
	for path, want := range map[string]int{"/healthz": 200, "/private": 401} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer nope")
		e.ServeHTTP(w, r)
		assert.Equal(t, want, w.Code, path)
	}
}

// TestOneSkipperPerStack: middleware.Config.Skipper skips on net/http only,
// echogate.Config.Skipper on Echo only.
func TestOneSkipperPerStack(t *testing.T) {
	healthz := func(path string) bool { return path == "/healthz" }
	for _, tc := range []struct {
		name                  string
		netSkips, echoSkips   bool
		netStatus, echoStatus int
	}{
		{"no skipper", false, false, 401, 401},
		{"net/http skipper", true, false, 200, 401},
		{"Echo skipper", false, true, 401, 200},
		{"both", true, true, 200, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := middleware.Config{Verifier: &stubServer{calls: map[string]int{}}, Logger: slog.New(slog.DiscardHandler)}
			if tc.netSkips {
				cfg.Skipper = func(r *http.Request) bool { return healthz(r.URL.Path) }
			}
			auth, err := middleware.New(cfg)
			require.NoError(t, err)
			echoCfg := echoConfig(cfg)
			if tc.echoSkips {
				echoCfg.Skipper = func(c echo.Context) bool { return healthz(c.Path()) }
			}
			gate, err := echogate.New(echoCfg)
			require.NoError(t, err)

			mux := http.NewServeMux()
			mux.Handle("GET /healthz", auth.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte("ok"))
			})))
			e := echo.New()
			e.GET("/healthz", func(c echo.Context) error { return c.String(200, "ok") }, gate.Authenticate())

			for stack, h := range map[string]http.Handler{"nethttp": mux, "echo": e} {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
				want := map[string]int{"nethttp": tc.netStatus, "echo": tc.echoStatus}[stack]
				assert.Equal(t, want, w.Code, stack)
			}
		})
	}
}

// TestPreflightNeverRunsTheHandler: with AllowPreflight, the middleware
// answers a CORS preflight itself on Any routes and groups, so a protected
// handler never runs without a token; a CORS middleware in front answers
// first, with its headers.
func TestPreflightNeverRunsTheHandler(t *testing.T) {
	gate, err := echogate.New(echogate.Config{
		Verifier: &stubServer{calls: map[string]int{}}, Logger: slog.New(slog.DiscardHandler), AllowPreflight: true,
	})
	require.NoError(t, err)
	calls := 0
	protected := func(c echo.Context) error {
		calls++
		return c.String(http.StatusOK, "protected")
	}
	e := echo.New()
	e.Any("/token", protected, gate.Authenticate())
	e.Any("/maps", protected, gate.Require(echogate.AllOf("MapRequest")))
	group := e.Group("/group", gate.Authenticate())
	group.Any("/maps", protected, gate.Require(echogate.AllOf("MapRequest")))
	withCORS := e.Group("/cors", echomw.CORSWithConfig(echomw.CORSConfig{AllowOrigins: []string{"https://app.example"}}))
	withCORS.Any("/maps", protected, gate.Require(echogate.AllOf("MapRequest")))

	for _, tc := range []struct {
		name, path string
		header     map[string]string
		status     int
		calls      int
		allowed    string // Access-Control-Allow-Origin
	}{
		{"Any route, Authenticate", "/token", nil, 204, 0, ""},
		{"Any route, Require", "/maps", nil, 204, 0, ""},
		{"group", "/group/maps", nil, 204, 0, ""},
		{"with a token", "/maps", map[string]string{"Authorization": "Bearer map-token"}, 204, 0, ""},
		{"CORS middleware in front", "/cors/maps", nil, 204, 0, "https://app.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls = 0
			r := httptest.NewRequest(http.MethodOptions, tc.path, nil)
			r.Header.Set("Origin", "https://app.example")
			r.Header.Set("Access-Control-Request-Method", "GET")
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			e.ServeHTTP(w, r)
			assert.Equal(t, tc.status, w.Code)
			assert.Empty(t, w.Body.String())
			assert.Equal(t, tc.calls, calls, "calls of the protected handler")
			assert.Equal(t, tc.allowed, w.Header().Get("Access-Control-Allow-Origin"))
		})
	}
}

// cachedRoute returns an Echo app with one route, protected or not, a
// request for it, and the cache, which already holds the request's token.
func cachedRoute(tb testing.TB, protect bool) (*echo.Echo, *http.Request, *introspect.Cache) {
	v := introspect.VerifierFunc(func(context.Context, string) (*introspect.TokenInfo, error) {
		return &introspect.TokenInfo{Active: true, Scopes: scopes.New("MapRequest"), ExpiresAt: time.Now().Add(time.Hour)}, nil
	})
	cache, err := introspect.NewCache(v, introspect.CacheConfig{})
	require.NoError(tb, err)
	tb.Cleanup(cache.Close)
	gate, err := echogate.New(echogate.Config{Verifier: cache})
	require.NoError(tb, err)

	e := echo.New()
	ok := func(c echo.Context) error { return c.NoContent(http.StatusOK) }
	if protect {
		e.GET("/v1/maps", ok, gate.Require(echogate.AllOf("MapRequest")))
	} else {
		e.GET("/v1/maps", ok)
	}
	r := httptest.NewRequest("GET", "/v1/maps", nil)
	r.Header.Set("Authorization", "Bearer "+strings.Repeat("A", 64))
	e.ServeHTTP(&testutil.DiscardWriter{}, r)
	return e, r, cache
}

// TestHitAllocations guards the hot path. Over the bare route, a cache hit
// allocates only the copy of the request that carries the token's facts,
// as in net/http (and one more under the race detector): the handler Echo
// has the middleware build on every request is built once. Nothing goes
// through c.Set, whose map would cost one more.
func TestHitAllocations(t *testing.T) {
	allocs := func(protect bool) float64 {
		e, r, _ := cachedRoute(t, protect)
		w := &testutil.DiscardWriter{}
		return testing.AllocsPerRun(1000, func() { e.ServeHTTP(w, r) })
	}
	assert.LessOrEqual(t, allocs(true)-allocs(false), 1.0+raceAllocs)
}

// TestBuiltHandlersAreReused: a group's Authenticate and a route's Require
// cost no allocation of their own either, and a middleware shared by
// routes, or wrapped around closures of one function literal, still calls
// each route's own handler.
func TestBuiltHandlersAreReused(t *testing.T) {
	gate, err := echogate.New(echogate.Config{Verifier: &stubServer{calls: map[string]int{}}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	e := echo.New()
	named := func(name string) echo.HandlerFunc { // closures of one literal
		return func(c echo.Context) error { return c.String(http.StatusOK, name) }
	}
	shared := gate.Require(echogate.AllOf("MapRequest"))
	g := e.Group("/g", gate.Authenticate())
	for _, name := range []string{"a", "b", "c"} {
		e.GET("/"+name, named(name), shared)
		g.GET("/"+name, named("g"+name), gate.Require(echogate.AllOf("MapRequest")))
	}
	for range 3 {
		for _, path := range []string{"/a", "/b", "/c", "/g/a", "/g/b", "/g/c", "/a"} {
			r := httptest.NewRequest(http.MethodGet, path, nil)
			r.Header.Set("Authorization", "Bearer map-token")
			w := httptest.NewRecorder()
			e.ServeHTTP(w, r)
			assert.Equal(t, strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", ""), w.Body.String(), path)
		}
	}

	cache, err := introspect.NewCache(&stubServer{calls: map[string]int{}}, introspect.CacheConfig{})
	require.NoError(t, err)
	defer cache.Close()
	gate, err = echogate.New(echogate.Config{Verifier: cache})
	require.NoError(t, err)
	e = echo.New()
	ok := func(c echo.Context) error { return c.NoContent(http.StatusOK) }
	e.GET("/bare", ok)
	e.Group("/g", gate.Authenticate()).GET("/maps", ok, gate.Require(echogate.AllOf("MapRequest")))
	allocs := func(path string) float64 {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set("Authorization", "Bearer map-token")
		w := &testutil.DiscardWriter{}
		e.ServeHTTP(w, r)
		return testing.AllocsPerRun(1000, func() { e.ServeHTTP(w, r) })
	}
	assert.LessOrEqual(t, allocs("/g/maps")-allocs("/bare"), 1.0+raceAllocs)
}

func benchmarkEcho(b *testing.B, protect bool) {
	e, r, cache := cachedRoute(b, protect)
	w := &testutil.DiscardWriter{}
	b.ReportAllocs()
	for b.Loop() {
		e.ServeHTTP(w, r)
	}
	if protect && cache.Stats().UpstreamCalls != 1 {
		b.Fatal("the token was not served from the cache")
	}
}

func BenchmarkRoute(b *testing.B) {
	b.Run("unprotected", func(b *testing.B) { benchmarkEcho(b, false) })
	b.Run("protected-hit", func(b *testing.B) { benchmarkEcho(b, true) })
}

// TestHTTPError: a handler's own call with the token is answered as the
// middleware answers Authorize's refusals.
func TestHTTPError(t *testing.T) {
	gate, err := echogate.New(echogate.Config{Verifier: &stubServer{calls: map[string]int{}}, Realm: "gipod", RetryAfter: 9 * time.Second})
	require.NoError(t, err)
	forbidden := &middleware.Error{Status: 403, Code: "insufficient_scope", Challenge: `Bearer realm="x"`, Err: middleware.ErrInsufficientScope}
	for _, tc := range []struct {
		name             string
		err              error
		status           int
		challenge, retry string
		internalIs       error
		same             bool
	}{
		{"invalid token", fmt.Errorf("profile: %w", introspect.ErrInvalidToken), 401,
			`Bearer realm="gipod", error="invalid_token", error_description="the access token is invalid or expired"`, "", introspect.ErrInvalidToken, false},
		{"anything else is an outage", errors.New("connection refused"), 503, "", "9", nil, false},
		{"outage with the server's Retry-After", &introspect.UnavailableError{StatusCode: 429, RetryAfter: 30 * time.Second}, 503, "", "30", introspect.ErrUnavailable, false},
		{"a *middleware.Error as it is", fmt.Errorf("wrapped: %w", forbidden), 403, `Bearer realm="x"`, "", middleware.ErrInsufficientScope, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			c := echo.New().NewContext(httptest.NewRequest("GET", "/", nil), w)
			var he *echo.HTTPError
			require.ErrorAs(t, gate.HTTPError(c, tc.err), &he)
			assert.Equal(t, tc.status, he.Code)
			assert.Equal(t, tc.challenge, w.Header().Get("WWW-Authenticate"))
			assert.Equal(t, tc.retry, w.Header().Get("Retry-After"))
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			var me *middleware.Error
			require.ErrorAs(t, he.Internal, &me)
			if tc.internalIs != nil {
				assert.ErrorIs(t, me, tc.internalIs)
			}
			if tc.same {
				assert.Same(t, forbidden, me)
			}
		})
	}
	assert.NoError(t, gate.HTTPError(echo.New().NewContext(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder()), nil))
}
