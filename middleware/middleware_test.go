package middleware_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/scopes"
)

func verifierOf(tokens map[string]*introspect.TokenInfo) introspect.Verifier {
	return introspect.VerifierFunc(func(_ context.Context, token string) (*introspect.TokenInfo, error) {
		switch token {
		case "down":
			return nil, &introspect.UnavailableError{StatusCode: 502, Reason: "unexpected status"}
		case "broken":
			return nil, nil
		}
		if info, ok := tokens[token]; ok {
			return info, nil
		}
		return nil, introspect.ErrInvalidToken
	})
}

var quiet = slog.New(slog.DiscardHandler)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })

func TestNewValidatesConfig(t *testing.T) {
	v := verifierOf(nil)
	for name, tc := range map[string]struct {
		cfg  middleware.Config
		want string
	}{
		"no verifier":      {middleware.Config{}, "Config.Verifier is required"},
		"unknown source":   {middleware.Config{Verifier: v, Sources: 1 << 7}, "unknown token sources"},
		"negative length":  {middleware.Config{Verifier: v, MaxTokenLength: -1}, "Config.MaxTokenLength is negative"},
		"negative form":    {middleware.Config{Verifier: v, MaxFormBytes: -1}, "Config.MaxFormBytes is negative"},
		"negative retry":   {middleware.Config{Verifier: v, RetryAfter: -time.Second}, "Config.RetryAfter is negative"},
		"realm with CR LF": {middleware.Config{Verifier: v, Realm: "a\r\nb"}, "Config.Realm holds control characters"},
	} {
		_, err := middleware.New(tc.cfg)
		assert.ErrorContains(t, err, "middleware: "+tc.want, name)
	}
	a, err := middleware.New(middleware.Config{Verifier: v})
	require.NoError(t, err)
	w := httptest.NewRecorder()
	a.Authenticate(okHandler).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, `Bearer realm="api"`, w.Header().Get("WWW-Authenticate"), "the default realm")
}

func TestLogsFingerprintsNotTokens(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := middleware.New(middleware.Config{
		Verifier: verifierOf(nil), Logger: logger,
		Sources: middleware.FromHeader | middleware.FromQuery,
	})
	require.NoError(t, err)
	h := a.Authenticate(okHandler)

	const secret = "secret-token-value"
	for _, target := range []string{"/?access_token=" + secret, "/"} {
		r := httptest.NewRequest("GET", target, nil)
		if target == "/" {
			r.Header.Set("Authorization", "Bearer "+secret)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer down")
	h.ServeHTTP(httptest.NewRecorder(), r)

	logs := buf.String()
	assert.NotContains(t, logs, secret)
	assert.Contains(t, logs, "token="+introspect.Fingerprint(secret))
	assert.Contains(t, logs, "level=WARN")
	assert.Contains(t, logs, "status=503")
	assert.Equal(t, 3, strings.Count(logs, "request refused"))
}

// TestDefaultLoggerAtLogTime: without Config.Logger, lines go to the
// default logger of the moment, which applications often set after
// building their routes.
func TestDefaultLoggerAtLogTime(t *testing.T) {
	a, err := middleware.New(middleware.Config{Verifier: verifierOf(nil)})
	require.NoError(t, err)

	var buf bytes.Buffer
	previous := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(previous) })

	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer unknown")
	a.Authenticate(okHandler).ServeHTTP(httptest.NewRecorder(), r)
	assert.Contains(t, buf.String(), "request refused")
}

func TestCustomErrorHandler(t *testing.T) {
	var got *middleware.Error
	a, err := middleware.New(middleware.Config{
		Verifier: verifierOf(nil),
		Logger:   quiet,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, e *middleware.Error) {
			got = e
			http.Error(w, "nope", e.Status)
		},
	})
	require.NoError(t, err)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer down")
	w := httptest.NewRecorder()
	a.Authenticate(okHandler).ServeHTTP(w, r)
	assert.Equal(t, 503, w.Code)
	require.NotNil(t, got)
	assert.ErrorIs(t, got, introspect.ErrUnavailable)
	assert.Equal(t, 5*time.Second, got.RetryAfter)
}

func TestErrorsMatchTheirCauses(t *testing.T) {
	a, err := middleware.New(middleware.Config{
		Verifier:  verifierOf(map[string]*introspect.TokenInfo{"x": {Active: true, Audience: []string{"other"}}}),
		Audiences: []string{"mine"},
		Logger:    quiet,
	})
	require.NoError(t, err)
	tests := []struct {
		auth string
		want error
	}{
		{"", middleware.ErrNoToken},
		{"Bearer a b", middleware.ErrMalformed},
		{"Bearer nope", introspect.ErrInvalidToken},
		{"Bearer x", middleware.ErrAudience},
		{"Bearer x", introspect.ErrInvalidToken},
		{"Bearer down", introspect.ErrUnavailable},
		{"Bearer broken", nil},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		_, err := a.Authorize(r, nil)
		var e *middleware.Error
		require.ErrorAs(t, err, &e, tt.auth)
		if tt.want != nil {
			assert.ErrorIs(t, err, tt.want, tt.auth)
		} else {
			assert.Equal(t, 503, e.Status, "a verifier breaking its contract fails closed")
		}
	}
	_, err = a.Authorize(httptest.NewRequest("GET", "/", nil), middleware.AllOf("x"))
	assert.ErrorIs(t, err, middleware.ErrNoToken)
}

// TestAuthorizeAllowsWithANilError: an allowed request's error is a nil
// interface, not a nil *Error in one, so that err != nil means a refusal.
func TestAuthorizeAllowsWithANilError(t *testing.T) {
	info := &introspect.TokenInfo{Active: true, Scopes: scopes.New("MapRequest")}
	a, err := middleware.New(middleware.Config{Verifier: verifierOf(map[string]*introspect.TokenInfo{"t": info}), Optional: true})
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		auth string
		p    middleware.Policy
	}{
		{"verified", "Bearer t", middleware.AllOf("MapRequest")},
		{"anonymous", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			res, err := a.Authorize(r, tc.p)
			assert.True(t, err == nil, "err is %#v", err)
			assert.NotNil(t, res.Request)
		})
	}
}

func TestPolicyFuncAndSkipper(t *testing.T) {
	info := &introspect.TokenInfo{Active: true, ClientID: "38890", Scopes: scopes.New("vo_info")}
	a, err := middleware.New(middleware.Config{
		Verifier: verifierOf(map[string]*introspect.TokenInfo{"t": info}),
		Skipper:  func(r *http.Request) bool { return r.URL.Path == "/healthz" },
	})
	require.NoError(t, err)
	onlyClient := a.Require(middleware.PolicyFunc(func(i *introspect.TokenInfo) bool { return i.ClientID == "38890" }))(okHandler)
	otherClient := a.Require(middleware.PolicyFunc(func(i *introspect.TokenInfo) bool { return i.ClientID == "1" }))(okHandler)
	anyToken := a.Require(nil)(okHandler)

	do := func(h http.Handler, path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		if path != "/healthz" {
			r.Header.Set("Authorization", "Bearer t")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	assert.Equal(t, 200, do(onlyClient, "/x").Code)
	w := do(otherClient, "/x")
	assert.Equal(t, 403, w.Code)
	assert.Equal(t, `Bearer realm="api", error="insufficient_scope", error_description="the access token does not grant what this request needs"`, w.Header().Get("WWW-Authenticate"))
	assert.Equal(t, 200, do(anyToken, "/x").Code)
	assert.Equal(t, 200, do(otherClient, "/healthz").Code, "skipped")
}

// TestRequireNilNeedsAToken: Require(nil) allows any verified token, and,
// unlike Authenticate, never an anonymous request.
func TestRequireNilNeedsAToken(t *testing.T) {
	a, err := middleware.New(middleware.Config{
		Verifier: verifierOf(map[string]*introspect.TokenInfo{"t": {Active: true}}), Logger: quiet, Optional: true,
	})
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		h      http.Handler
		auth   string
		status int
	}{
		{"Require(nil), token", a.Require(nil)(okHandler), "Bearer t", 200},
		{"Require(nil), no token", a.Require(nil)(okHandler), "", 401},
		{"Require(Every()), no token", a.Require(middleware.Every())(okHandler), "", 401},
		{"Authenticate, no token", a.Authenticate(okHandler), "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			tc.h.ServeHTTP(w, r)
			assert.Equal(t, tc.status, w.Code)
		})
	}
}

func TestHandlerChecksScopeItself(t *testing.T) {
	a, err := middleware.New(middleware.Config{Verifier: verifierOf(map[string]*introspect.TokenInfo{
		"t": {Active: true, Scopes: scopes.New("gipod_pdo_read")},
	})})
	require.NoError(t, err)
	h := a.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !introspect.FromContext(r.Context()).HasScope("gipod_pdo_write") {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer t")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, 403, w.Code)
	assert.Nil(t, introspect.FromContext(httptest.NewRequest("GET", "/", nil).Context()))
}

// TestOnlyOwnTokenInfoIsTrusted: a route-level Require skips verification
// only for a TokenInfo its own Authenticator put in the context.
func TestOnlyOwnTokenInfoIsTrusted(t *testing.T) {
	var calls map[string]int
	counting := func(name string, tokens map[string]*introspect.TokenInfo) *middleware.Authenticator {
		v := verifierOf(tokens)
		a, err := middleware.New(middleware.Config{Logger: quiet, Verifier: introspect.VerifierFunc(
			func(ctx context.Context, token string) (*introspect.TokenInfo, error) {
				calls[name]++
				return v.Verify(ctx, token)
			})})
		require.NoError(t, err)
		return a
	}
	maps := &introspect.TokenInfo{Active: true, Scopes: scopes.New("MapRequest")}
	geosecure := counting("geosecure", map[string]*introspect.TokenInfo{"t": maps})
	acm := counting("acm", nil) // knows no token
	need := middleware.AllOf("MapRequest")

	for _, tc := range []struct {
		name   string
		route  http.Handler
		token  bool
		status int
		calls  map[string]int
	}{
		{"same authenticator verifies once", geosecure.Authenticate(geosecure.Require(need)(okHandler)), true, 200,
			map[string]int{"geosecure": 1}},
		{"another authenticator verifies again", geosecure.Authenticate(acm.Require(need)(okHandler)), true, 401,
			map[string]int{"geosecure": 1, "acm": 1}},
		{"a TokenInfo from NewContext is not trusted", injected(maps, acm.Require(need)(okHandler)), true, 401,
			map[string]int{"acm": 1}},
		{"nor without a token", injected(maps, geosecure.Require(need)(okHandler)), false, 401,
			map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls = map[string]int{}
			r := httptest.NewRequest("GET", "/v1/maps", nil)
			if tc.token {
				r.Header.Set("Authorization", "Bearer t")
			}
			w := httptest.NewRecorder()
			tc.route.ServeHTTP(w, r)
			assert.Equal(t, tc.status, w.Code)
			assert.Equal(t, tc.calls, calls)
		})
	}
}

// injected puts info in the request's context, as code of the application
// might, before next.
func injected(info *introspect.TokenInfo, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(introspect.NewContext(r.Context(), info)))
	})
}

// cachedRoute returns one route, protected or not, a request for it, and
// the cache, which already holds the request's token.
func cachedRoute(tb testing.TB, protect bool) (http.Handler, *http.Request, *introspect.Cache) {
	v := introspect.VerifierFunc(func(context.Context, string) (*introspect.TokenInfo, error) {
		return &introspect.TokenInfo{Active: true, Scopes: scopes.New("MapRequest"), ExpiresAt: time.Now().Add(time.Hour)}, nil
	})
	cache, err := introspect.NewCache(v, introspect.CacheConfig{})
	require.NoError(tb, err)
	tb.Cleanup(cache.Close)
	a, err := middleware.New(middleware.Config{Verifier: cache})
	require.NoError(tb, err)

	var h http.Handler = okHandler
	if protect {
		h = a.Require(middleware.AllOf("MapRequest"))(okHandler)
	}
	r := httptest.NewRequest("GET", "/v1/maps", nil)
	r.Header.Set("Authorization", "Bearer "+strings.Repeat("A", 64))
	h.ServeHTTP(&testutil.DiscardWriter{}, r)
	return h, r, cache
}

// TestHitAllocations guards the hot path: over the bare route, a cache hit
// allocates only the copy of the request that carries the token's facts.
func TestHitAllocations(t *testing.T) {
	allocs := func(protect bool) float64 {
		h, r, _ := cachedRoute(t, protect)
		w := &testutil.DiscardWriter{}
		return testing.AllocsPerRun(1000, func() { h.ServeHTTP(w, r) })
	}
	// Ristretto allocates a buffer for 64 lookups now and then, which
	// averages well under one allocation per request.
	assert.LessOrEqual(t, allocs(true)-allocs(false), 1.0)
}

func benchmarkRoute(b *testing.B, protect bool) {
	h, r, cache := cachedRoute(b, protect)
	w := &testutil.DiscardWriter{}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
	if protect && cache.Stats().UpstreamCalls != 1 {
		b.Fatal("the token was not served from the cache")
	}
}

func BenchmarkRoute(b *testing.B) {
	b.Run("unprotected", func(b *testing.B) { benchmarkRoute(b, false) })
	b.Run("protected-hit", func(b *testing.B) { benchmarkRoute(b, true) })
}

// TestPreflightNeverRunsTheHandler: with AllowPreflight, the middleware
// answers a CORS preflight itself, also on routes that accept every method,
// so a protected handler never runs without a token.
func TestPreflightNeverRunsTheHandler(t *testing.T) {
	info := &introspect.TokenInfo{Active: true, Scopes: scopes.New("MapRequest")}
	build := func(allow, optional bool) (http.Handler, *int) {
		a, err := middleware.New(middleware.Config{
			Verifier: verifierOf(map[string]*introspect.TokenInfo{"t": info}), Logger: quiet,
			AllowPreflight: allow, Optional: optional,
		})
		require.NoError(t, err)
		calls := new(int)
		protected := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			*calls++
			_, _ = w.Write([]byte("protected"))
		})
		mux := http.NewServeMux()
		mux.Handle("/token", a.Authenticate(protected))
		mux.Handle("/maps", a.Require(middleware.AllOf("MapRequest"))(protected))
		return mux, calls
	}
	preflight := map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
	for _, tc := range []struct {
		name            string
		allow, optional bool
		method, path    string
		header          map[string]string
		status, calls   int
	}{
		{"preflight to Authenticate", true, false, "OPTIONS", "/token", preflight, 204, 0},
		{"preflight to Require", true, false, "OPTIONS", "/maps", preflight, 204, 0},
		{"preflight to an optional route", true, true, "OPTIONS", "/token", preflight, 204, 0},
		{"preflight with a token", true, false, "OPTIONS", "/maps", map[string]string{"Access-Control-Request-Method": "GET", "Authorization": "Bearer t"}, 204, 0},
		{"plain OPTIONS needs a token", true, false, "OPTIONS", "/maps", nil, 401, 0},
		{"plain OPTIONS with a token", true, false, "OPTIONS", "/maps", map[string]string{"Authorization": "Bearer t"}, 200, 1},
		{"preflight not allowed", false, false, "OPTIONS", "/maps", preflight, 401, 0},
		{"preflight not allowed, optional route", false, true, "OPTIONS", "/token", preflight, 200, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, calls := build(tc.allow, tc.optional)
			r := httptest.NewRequest(tc.method, tc.path, nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			assert.Equal(t, tc.status, w.Code)
			assert.Equal(t, tc.calls, *calls, "calls of the protected handler")
			if tc.status == http.StatusNoContent {
				assert.Empty(t, w.Body.String())
				assert.Empty(t, w.Header().Get("Access-Control-Allow-Origin"), "CORS headers are a CORS middleware's job")
			}
		})
	}
}
