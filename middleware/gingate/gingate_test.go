package gingate_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/middleware/gingate"
	"github.com/tokengate/tokengate/scopes"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode) // no route listing on stdout
	os.Exit(m.Run())
}

// verifier knows "map-token"; "down-token" finds the authorization server
// down, "busy-token" busy with a Retry-After; every other token is invalid.
var verifier = introspect.VerifierFunc(func(_ context.Context, token string) (*introspect.TokenInfo, error) {
	switch token {
	case "map-token":
		return &introspect.TokenInfo{Active: true, Scopes: scopes.New("MapRequest"), ClientID: "38890"}, nil
	case "down-token":
		return nil, &introspect.UnavailableError{StatusCode: 500, Reason: "unexpected status"}
	case "busy-token":
		return nil, &introspect.UnavailableError{StatusCode: 429, Reason: "unexpected status", RetryAfter: 30 * time.Second}
	}
	return nil, introspect.ErrInvalidToken
})

var quiet = slog.New(slog.DiscardHandler)

func newGate(t *testing.T, cfg gingate.Config) *gingate.Middleware {
	t.Helper()
	if cfg.Verifier == nil {
		cfg.Verifier = verifier
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	gate, err := gingate.New(cfg)
	require.NoError(t, err)
	return gate
}

func get(h http.Handler, method, target, auth string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestRefusalAbortsTheChain: a refused request runs no later handler, the
// handlers before see the refusal in c.Errors once the chain returns, and
// the answer is net/http's, byte for byte.
func TestRefusalAbortsTheChain(t *testing.T) {
	gate := newGate(t, gingate.Config{Realm: "gipod"})
	var seen []error
	r := gin.New()
	r.Use(func(c *gin.Context) {
		c.Next()
		for _, e := range c.Errors {
			seen = append(seen, e.Err)
		}
	})
	called := false
	r.Match([]string{"GET", "HEAD"}, "/v1/maps", gate.Require(middleware.AllOf("MapRequest")), func(c *gin.Context) {
		called = true
		c.Status(http.StatusOK)
	})
	auth, err := middleware.New(middleware.Config{Verifier: verifier, Realm: "gipod", Logger: quiet})
	require.NoError(t, err)
	net := auth.Require(middleware.AllOf("MapRequest"))(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		called = true
	}))

	for _, tc := range []struct {
		name, method, auth string
		status             int
		is                 error
	}{
		{"no token", "GET", "", 401, middleware.ErrNoToken},
		{"malformed", "GET", "Bearer a b", 400, middleware.ErrMalformed},
		{"invalid", "GET", "Bearer nope", 401, introspect.ErrInvalidToken},
		{"unavailable", "GET", "Bearer busy-token", 503, introspect.ErrUnavailable},
		{"HEAD has no body", "HEAD", "Bearer nope", 401, introspect.ErrInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called, seen = false, nil
			w := get(r, tc.method, "/v1/maps", tc.auth)
			assert.False(t, called, "the handler ran for a refused request")
			assert.Equal(t, tc.status, w.Code)
			if assert.Len(t, seen, 1) {
				var me *middleware.Error
				require.ErrorAs(t, seen[0], &me)
				assert.ErrorIs(t, me, tc.is)
			}

			want := get(net, tc.method, "/v1/maps", tc.auth)
			assert.False(t, called)
			assert.Equal(t, want.Code, w.Code)
			assert.Equal(t, want.Header(), w.Header())
			assert.Equal(t, want.Body.String(), w.Body.String())
			if tc.method == "HEAD" {
				assert.Empty(t, w.Body.String())
			}
		})
	}
}

// TestAllowedRequestCarriesTheFacts: handlers after the middleware find the
// token's facts in c.Request's context, and gin's own handlers that read
// the request (c.Query) still work.
func TestAllowedRequestCarriesTheFacts(t *testing.T) {
	gate := newGate(t, gingate.Config{Sources: middleware.FromHeader | middleware.FromQuery})
	r := gin.New()
	r.GET("/v1/maps", gate.Require(middleware.AllOf("MapRequest")), func(c *gin.Context) {
		info := introspect.FromContext(c.Request.Context())
		c.String(http.StatusOK, "%s %s", info.ClientID, c.Query("bbox"))
	})

	w := get(r, "GET", "/v1/maps?bbox=1,2,3,4", "Bearer map-token")
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, "38890 1,2,3,4", w.Body.String())
	assert.Empty(t, w.Header().Get("Cache-Control"))

	w = get(r, "GET", "/v1/maps?bbox=1&access_token=map-token", "")
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, "private", w.Header().Get("Cache-Control"), "a query token's answer stays out of shared caches")
}

func TestReturnsTheHandlersError(t *testing.T) {
	gate := newGate(t, gingate.Config{})
	boom := errors.New("boom")
	r := gin.New()
	var seen []*gin.Error
	r.Use(func(c *gin.Context) { c.Next(); seen = c.Errors })
	r.GET("/", gate.Authenticate(), func(c *gin.Context) { _ = c.AbortWithError(http.StatusTeapot, boom) })
	w := get(r, "GET", "/", "Bearer map-token")
	assert.Equal(t, http.StatusTeapot, w.Code)
	require.Len(t, seen, 1)
	assert.Same(t, boom, seen[0].Err)
}

func TestSkipper(t *testing.T) {
	gate := newGate(t, gingate.Config{Skipper: func(c *gin.Context) bool { return c.FullPath() == "/healthz" }})
	r := gin.New()
	ok := func(c *gin.Context) {
		if introspect.FromContext(c.Request.Context()) != nil {
			c.String(500, "a skipped request has token facts")
			return
		}
		c.String(200, "ok")
	}
	r.GET("/healthz", gate.Authenticate(), ok)
	r.GET("/private", gate.Authenticate(), ok)
	for path, want := range map[string]int{"/healthz": 200, "/private": 401} {
		assert.Equal(t, want, get(r, "GET", path, "Bearer nope").Code, path)
	}
}

// TestPreflightNeverRunsTheHandler: with AllowPreflight, the middleware
// answers a CORS preflight itself on Any routes and groups, so a protected
// handler never runs without a token.
func TestPreflightNeverRunsTheHandler(t *testing.T) {
	gate := newGate(t, gingate.Config{AllowPreflight: true})
	calls := 0
	protected := func(c *gin.Context) {
		calls++
		c.String(http.StatusOK, "protected")
	}
	r := gin.New()
	r.Any("/token", gate.Authenticate(), protected)
	r.Any("/maps", gate.Require(middleware.AllOf("MapRequest")), protected)
	group := r.Group("/group", gate.Authenticate())
	group.Any("/maps", gate.Require(middleware.AllOf("MapRequest")), protected)

	for _, tc := range []struct{ name, path, auth string }{
		{"Any route, Authenticate", "/token", ""},
		{"Any route, Require", "/maps", ""},
		{"group", "/group/maps", ""},
		{"with a token", "/maps", "Bearer map-token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls = 0
			req := httptest.NewRequest(http.MethodOptions, tc.path, nil)
			req.Header.Set("Origin", "https://app.example")
			req.Header.Set("Access-Control-Request-Method", "GET")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			assert.Equal(t, http.StatusNoContent, w.Code)
			assert.Empty(t, w.Body.String())
			assert.Empty(t, w.Header())
			assert.Zero(t, calls, "calls of the protected handler")
		})
	}
	assert.Equal(t, 401, get(r, http.MethodOptions, "/maps", "").Code, "a plain OPTIONS needs a token")
}

// TestAbortWithError: a handler's own call with the token is answered as
// the middleware answers Authorize's refusals.
func TestAbortWithError(t *testing.T) {
	gate := newGate(t, gingate.Config{Realm: "gipod", RetryAfter: 9 * time.Second})
	forbidden := &middleware.Error{Status: 403, Code: "insufficient_scope", Description: "no", Challenge: `Bearer realm="x"`, Err: middleware.ErrInsufficientScope}
	for _, tc := range []struct {
		name             string
		err              error
		status           int
		challenge, retry string
		body             string
		is               error
	}{
		{"invalid token", fmt.Errorf("profile: %w", introspect.ErrInvalidToken), 401,
			`Bearer realm="gipod", error="invalid_token", error_description="the access token is invalid or expired"`, "",
			`{"error":"invalid_token","error_description":"the access token is invalid or expired"}`, introspect.ErrInvalidToken},
		{"anything else is an outage", errors.New("connection refused"), 503, "", "9",
			`{"error":"temporarily_unavailable","error_description":"the authorization server is unavailable; try again later"}`, nil},
		{"outage with the server's Retry-After", &introspect.UnavailableError{StatusCode: 429, RetryAfter: 30 * time.Second}, 503, "", "30",
			`{"error":"temporarily_unavailable","error_description":"the authorization server is unavailable; try again later"}`, introspect.ErrUnavailable},
		{"a *middleware.Error as it is", fmt.Errorf("wrapped: %w", forbidden), 403, `Bearer realm="x"`, "",
			`{"error":"insufficient_scope","error_description":"no"}`, middleware.ErrInsufficientScope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest("GET", "/", nil)
			gate.AbortWithError(c, tc.err)
			c.Writer.WriteHeaderNow()
			assert.True(t, c.IsAborted())
			assert.Equal(t, tc.status, w.Code)
			assert.Equal(t, tc.challenge, w.Header().Get("WWW-Authenticate"))
			assert.Equal(t, tc.retry, w.Header().Get("Retry-After"))
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			assert.Equal(t, tc.body+"\n", w.Body.String())
			require.Len(t, c.Errors, 1)
			assert.Equal(t, gin.ErrorTypePrivate, c.Errors[0].Type)
			var me *middleware.Error
			require.ErrorAs(t, c.Errors[0].Err, &me)
			if tc.is != nil {
				assert.ErrorIs(t, me, tc.is)
			}
			assert.NotContains(t, w.Body.String(), "connection refused", "upstream detail reached the client")
		})
	}

	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest("GET", "/", nil)
	gate.AbortWithError(c, nil)
	assert.False(t, c.IsAborted())
	assert.Empty(t, c.Errors)
}

func TestToken(t *testing.T) {
	gate := newGate(t, gingate.Config{})
	var token string
	var ok bool
	r := gin.New()
	r.GET("/", func(c *gin.Context) { token, ok = gate.Token(c) })
	get(r, "GET", "/", "Bearer map-token")
	assert.True(t, ok)
	assert.Equal(t, "map-token", token)
	get(r, "GET", "/", "Bearer a b")
	assert.False(t, ok)
}

// cachedRoute returns a gin engine with one route, protected or not, a
// request for it, and the cache, which already holds the request's token.
func cachedRoute(tb testing.TB, protect bool) (*gin.Engine, *http.Request, *introspect.Cache) {
	v := introspect.VerifierFunc(func(context.Context, string) (*introspect.TokenInfo, error) {
		return &introspect.TokenInfo{Active: true, Scopes: scopes.New("MapRequest"), ExpiresAt: time.Now().Add(time.Hour)}, nil
	})
	cache, err := introspect.NewCache(v, introspect.CacheConfig{})
	require.NoError(tb, err)
	tb.Cleanup(cache.Close)
	gate, err := gingate.New(gingate.Config{Verifier: cache})
	require.NoError(tb, err)

	r := gin.New()
	ok := func(c *gin.Context) { c.Status(http.StatusOK) }
	if protect {
		r.GET("/v1/maps", gate.Require(middleware.AllOf("MapRequest")), ok)
	} else {
		r.GET("/v1/maps", ok)
	}
	req := httptest.NewRequest("GET", "/v1/maps", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("A", 64))
	w := &testutil.DiscardWriter{}
	r.ServeHTTP(w, req)
	require.Equal(tb, http.StatusOK, w.Code)
	return r, req, cache
}

// TestHitAllocations guards the hot path. Over the bare route, a cache hit
// allocates only the copy of the request that carries the token's facts:
// gin builds a route's handler chain once and pools its contexts, and
// nothing goes through c.Set, whose map would cost more. See raceAllocs
// for the race detector.
func TestHitAllocations(t *testing.T) {
	allocs := func(protect bool) float64 {
		r, req, _ := cachedRoute(t, protect)
		w := &testutil.DiscardWriter{}
		return testing.AllocsPerRun(1000, func() { r.ServeHTTP(w, req) })
	}
	assert.LessOrEqual(t, allocs(true)-allocs(false), 1.0+raceAllocs)
}

func benchmarkGin(b *testing.B, protect bool) {
	r, req, cache := cachedRoute(b, protect)
	w := &testutil.DiscardWriter{}
	b.ReportAllocs()
	for b.Loop() {
		r.ServeHTTP(w, req)
	}
	if protect && cache.Stats().UpstreamCalls != 1 {
		b.Fatal("the token was not served from the cache")
	}
}

func BenchmarkRoute(b *testing.B) {
	b.Run("unprotected", func(b *testing.B) { benchmarkGin(b, false) })
	b.Run("protected-hit", func(b *testing.B) { benchmarkGin(b, true) })
}
