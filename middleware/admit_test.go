package middleware_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/scopes"
)

// minimalAdapter is an adapter as a framework's would be written from
// Admit's documentation, doing only what Admit leaves to it; its answers
// must be the net/http middleware's, headers included.
func minimalAdapter(a *middleware.Authenticator, p middleware.Policy, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := a.Admit(w, r, p)
		var refused *middleware.Error
		switch {
		case errors.As(err, &refused):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(refused.Status)
			_ = json.NewEncoder(w).Encode(refused.Body())
		case res.Answered:
		default:
			next.ServeHTTP(w, res.Request)
		}
	})
}

// TestAdmitLeavesAdaptersNothingToForget: an adapter that calls Admit and
// writes a refusal's status and body answers as the net/http middleware
// does, with every header: the challenge with resource_metadata,
// Retry-After, Cache-Control: no-store on refusals, Cache-Control: private
// for a token from the query, a cookie or an extractor, and the
// preflight's 204.
func TestAdmitLeavesAdaptersNothingToForget(t *testing.T) {
	info := &introspect.TokenInfo{Active: true, Scopes: scopes.New("MapRequest")}
	a, err := middleware.New(middleware.Config{
		Verifier: verifierOf(map[string]*introspect.TokenInfo{"t": info, "r": {Active: true}}), Logger: quiet,
		Sources: middleware.FromHeader | middleware.FromQuery | middleware.FromCookie | middleware.FromExtractor,
		Cookie:  "at",
		Extractor: func(r *http.Request) (string, error) {
			return r.Header.Get("X-Api-Token"), nil
		},
		AllowPreflight:   true,
		ResourceMetadata: &middleware.ResourceMetadata{Resource: "https://api.example/v1"},
	})
	require.NoError(t, err)
	p := middleware.AllOf("MapRequest")
	stacks := map[string]http.Handler{
		"middleware": a.Require(p)(okHandler),
		"adapter":    minimalAdapter(a, p, okHandler),
	}
	for _, tc := range []struct {
		name          string
		method        string
		target        string
		header        map[string]string
		status        int
		cacheControl  string
		retryAfter    string
		wantChallenge bool
	}{
		{"header", "GET", "/", map[string]string{"Authorization": "Bearer t"}, 200, "", "", false},
		{"query", "GET", "/?access_token=t", nil, 200, "private", "", false},
		{"cookie", "GET", "/", map[string]string{"Cookie": "at=t"}, 200, "private", "", false},
		{"extractor", "GET", "/", map[string]string{"X-Api-Token": "t"}, 200, "private", "", false},
		{"no token", "GET", "/", nil, 401, "no-store", "", true},
		{"malformed", "GET", "/?access_token=t", map[string]string{"Authorization": "Bearer t"}, 400, "no-store", "", true},
		{"invalid", "GET", "/", map[string]string{"Authorization": "Bearer nope"}, 401, "no-store", "", true},
		{"scope", "GET", "/?access_token=r", nil, 403, "no-store", "", true},
		{"outage", "GET", "/", map[string]string{"Authorization": "Bearer down"}, 503, "no-store", "5", false},
		{"preflight", "OPTIONS", "/", map[string]string{"Access-Control-Request-Method": "GET"}, 204, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answers := map[string]*httptest.ResponseRecorder{}
			for name, h := range stacks {
				r := httptest.NewRequest(tc.method, tc.target, nil)
				for k, v := range tc.header {
					r.Header.Set(k, v)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				answers[name] = w
				assert.Equal(t, tc.status, w.Code, name)
				assert.Equal(t, tc.cacheControl, w.Header().Get("Cache-Control"), name)
				assert.Equal(t, tc.retryAfter, w.Header().Get("Retry-After"), name)
				if tc.wantChallenge {
					assert.Contains(t, w.Header().Get("WWW-Authenticate"),
						`resource_metadata="https://api.example/.well-known/oauth-protected-resource/v1"`, name)
				} else {
					assert.Empty(t, w.Header().Get("WWW-Authenticate"), name)
				}
			}
			assert.Equal(t, answers["middleware"].Header(), answers["adapter"].Header())
			assert.Equal(t, answers["middleware"].Body.String(), answers["adapter"].Body.String())
		})
	}
}

// TestCustomErrorHandlerGetsTheHeaders: Config.ErrorHandler writes only the
// status and body; the refusal's headers are already set.
func TestCustomErrorHandlerGetsTheHeaders(t *testing.T) {
	a, err := middleware.New(middleware.Config{
		Verifier: verifierOf(nil), Logger: quiet,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, e *middleware.Error) {
			http.Error(w, "refused", e.Status)
		},
	})
	require.NoError(t, err)
	for auth, want := range map[string][2]string{
		"Bearer nope": {`Bearer realm="api", error="invalid_token", error_description="the access token is invalid or expired"`, ""},
		"Bearer down": {"", "5"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		a.Authenticate(okHandler).ServeHTTP(w, r)
		assert.Equal(t, want[0], w.Header().Get("WWW-Authenticate"), auth)
		assert.Equal(t, want[1], w.Header().Get("Retry-After"), auth)
		assert.Equal(t, "no-store", w.Header().Get("Cache-Control"), auth)
	}
}
