package echogate_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/middleware/echogate"
)

// TestErrorHandler: Config.ErrorHandler sees the refusal with its headers
// set, its error is returned, and nothing it does lets the request through.
func TestErrorHandler(t *testing.T) {
	teapot := errors.New("teapot")
	for _, tc := range []struct {
		name      string
		handler   func(c echo.Context, err error) error
		status    int
		challenge string
	}{
		{"returns the refusal", func(_ echo.Context, err error) error { return err }, 401, invalidToken},
		{"returns its own error, headers stay", func(_ echo.Context, err error) error {
			return echo.NewHTTPError(http.StatusUnauthorized, "go away").SetInternal(err)
		}, 401, invalidToken},
		{"answers itself", func(c echo.Context, err error) error {
			return c.JSON(http.StatusUnauthorized, map[string]string{"message": "custom"})
		}, 401, invalidToken},
		{"returns nil without answering: the refusal stands", func(echo.Context, error) error { return nil }, 401, invalidToken},
		{"returns something else", func(echo.Context, error) error { return teapot }, 500, invalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen error
			gate, err := echogate.New(echogate.Config{
				Verifier: &stubServer{calls: map[string]int{}}, Logger: slog.New(slog.DiscardHandler), Realm: "test",
				ErrorHandler: func(c echo.Context, err error) error {
					seen = err
					return tc.handler(c, err)
				},
			})
			require.NoError(t, err)
			called := false
			e := echo.New()
			e.GET("/", func(c echo.Context) error { called = true; return c.NoContent(200) }, gate.Authenticate())
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "Bearer nope")
			w := httptest.NewRecorder()
			e.ServeHTTP(w, r)

			assert.False(t, called, "the handler ran for a refused request")
			assert.Equal(t, tc.status, w.Code)
			assert.Equal(t, tc.challenge, w.Header().Get("WWW-Authenticate"))
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			var he *echo.HTTPError
			require.ErrorAs(t, seen, &he)
			assert.Equal(t, 401, he.Code)
			var me *middleware.Error
			require.ErrorAs(t, seen, &me)
			assert.ErrorIs(t, seen, introspect.ErrInvalidToken)
		})
	}
}

// TestSuccessHandlerAndContextKey: the success hook runs once per verified
// token, not again on a route's Require behind a group's Authenticate, and
// never for anonymous requests; ContextKey stores the TokenInfo for c.Get.
func TestSuccessHandlerAndContextKey(t *testing.T) {
	successes := 0
	gate, err := echogate.New(echogate.Config{
		Verifier: &stubServer{calls: map[string]int{}}, Logger: slog.New(slog.DiscardHandler), Optional: true,
		SuccessHandler: func(c echo.Context) {
			successes++
			assert.NotNil(t, introspect.FromContext(c.Request().Context()), "the TokenInfo is in the context")
		},
		ContextKey: "token",
	})
	require.NoError(t, err)
	e := echo.New()
	reply := func(c echo.Context) error {
		info, _ := c.Get("token").(*introspect.TokenInfo)
		if info != introspect.FromContext(c.Request().Context()) {
			return c.String(500, "c.Get and FromContext disagree")
		}
		if info == nil {
			return c.String(200, "anonymous")
		}
		return c.String(200, info.ClientID)
	}
	g := e.Group("/g", gate.Authenticate())
	g.GET("/maps", reply, gate.Require(echogate.AllOf("MapRequest")))
	e.GET("/maps", reply, gate.Require(echogate.AllOf("MapRequest")))
	for _, tc := range []struct {
		path, auth string
		status     int
		body       string
		successes  int
	}{
		{"/g/maps", "Bearer map-token", 200, "38890", 1},
		{"/maps", "Bearer map-token", 200, "38890", 1},
		{"/g/maps", "", 401, "", 0},
		{"/g/maps", "Bearer pdo-read", 403, "", 1}, // verified by the group, refused by the route
		{"/g/maps", "Bearer nope", 401, "", 0},
	} {
		successes = 0
		r := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		assert.Equal(t, tc.status, w.Code, tc.path+" "+tc.auth)
		if tc.body != "" {
			assert.Equal(t, tc.body, w.Body.String())
		}
		assert.Equal(t, tc.successes, successes, tc.path+" "+tc.auth)
	}
	// Anonymous through Authenticate with Optional: no success, no value.
	successes = 0
	e.GET("/anon", reply, gate.Authenticate())
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/anon", nil))
	assert.Equal(t, "anonymous", w.Body.String())
	assert.Zero(t, successes)
}

// TestScopeRuleIsNamed: an Echo application names the rule type without
// importing middleware.
func TestScopeRuleIsNamed(t *testing.T) {
	var rule echogate.ScopeRule = echogate.AnyOf("gipod_pdo_read", "gipod_pdo_write")
	var p echogate.Policy = rule
	assert.Equal(t, "gipod_pdo_read gipod_pdo_write", p.Scope())
}

// TestResourceMetadataOnEcho: the document is served with e.Any, and
// Middleware.ResourceMetadataHandler is nil without metadata.
func TestResourceMetadataOnEcho(t *testing.T) {
	gate, err := echogate.New(echogate.Config{
		Verifier:         &stubServer{calls: map[string]int{}},
		ResourceMetadata: &echogate.ResourceMetadata{Resource: "https://api.example/v1/maps", ResourceName: "Maps"},
	})
	require.NoError(t, err)
	e := echo.New()
	path, h := gate.ResourceMetadataHandler()
	assert.Equal(t, "/.well-known/oauth-protected-resource/v1/maps", path)
	e.Any(path, h)
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, "*", w.Header().Get("Access-Control-Allow-Origin"))
	assert.JSONEq(t, `{"resource":"https://api.example/v1/maps","bearer_methods_supported":["header"],"resource_name":"Maps"}`, w.Body.String())

	plain, err := echogate.New(echogate.Config{Verifier: &stubServer{calls: map[string]int{}}})
	require.NoError(t, err)
	path, h = plain.ResourceMetadataHandler()
	assert.Empty(t, path)
	assert.Nil(t, h)
}
