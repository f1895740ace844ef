package middleware

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/scopes"
)

func TestResourceMetadataURL(t *testing.T) {
	const wk = "/.well-known/oauth-protected-resource"
	for _, tc := range []struct{ resource, url, path, err string }{
		// RFC 9728 §3.1 and its example.
		{resource: "https://resource.example.com/resource1", url: "https://resource.example.com" + wk + "/resource1", path: wk + "/resource1"},
		{resource: "https://api.example", url: "https://api.example" + wk, path: wk},
		{resource: "https://api.example/", url: "https://api.example" + wk, path: wk},
		{resource: "https://api.example/v1/maps", url: "https://api.example" + wk + "/v1/maps", path: wk + "/v1/maps"},
		{resource: "https://api.example/v1/maps/", url: "https://api.example" + wk + "/v1/maps/", path: wk + "/v1/maps/"},
		{resource: "https://api.example:8443/v1?tenant=a", url: "https://api.example:8443" + wk + "/v1?tenant=a", path: wk + "/v1"},
		{resource: "https://api.example/?tenant=a", url: "https://api.example" + wk + "?tenant=a", path: wk},
		{resource: "https://api.example/v1/ma%70s", url: "https://api.example" + wk + "/v1/ma%70s", path: wk + "/v1/maps"},
		{resource: "https://API.example/V1", url: "https://API.example" + wk + "/V1", path: wk + "/V1"},
		{resource: "http://127.0.0.1:8080/api", url: "http://127.0.0.1:8080" + wk + "/api", path: wk + "/api"},
		{resource: "http://localhost/api", url: "http://localhost" + wk + "/api", path: wk + "/api"},
		{resource: "", err: "not an https URL"},
		{resource: "http://api.example/v1", err: "not an https URL"},
		{resource: "api.example/v1", err: "not an https URL"},
		{resource: "https:///v1", err: "has no host"},
		{resource: "https://api.example/v1#maps", err: "has a fragment"},
		{resource: "https://user@api.example/v1", err: "user information"},
	} {
		t.Run(tc.resource, func(t *testing.T) {
			got, err := (&ResourceMetadata{Resource: tc.resource}).URL()
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.url, got)
			_, path, err := metadataLocation(tc.resource)
			require.NoError(t, err)
			assert.Equal(t, tc.path, path)
		})
	}
}

// metadataAuth returns an Authenticator with RFC 9728 metadata for
// resource, and a loopback server with its document and one protected
// route, /maps, that needs MapRequest.
func metadataAuth(t *testing.T, resource string) (*Authenticator, *httptest.Server) {
	info := &introspect.TokenInfo{Active: true, Scopes: scopes.New("gipod_pdo_read")}
	a, err := New(Config{
		Verifier: introspect.VerifierFunc(func(_ context.Context, token string) (*introspect.TokenInfo, error) {
			if token == "pdo-read" {
				return info, nil
			}
			return nil, introspect.ErrInvalidToken
		}),
		Realm: "gipod", Sources: FromHeader | FromForm, Logger: quietLogger,
		ResourceMetadata: &ResourceMetadata{
			Resource:              resource,
			AuthorizationServers:  []string{"https://authenticatie.vlaanderen.be/op", "https://authenticatie-ti.vlaanderen.be/op"},
			ScopesSupported:       []string{"MapRequest", "gipod_pdo_read"},
			ResourceName:          "GIPOD API",
			ResourceDocumentation: "https://docs.example/gipod?lang=nl&v=1",
		},
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle(a.ResourceMetadataHandler())
	mux.Handle("/maps", a.Require(AllOf("MapRequest"))(http.NotFoundHandler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return a, srv
}

// TestResourceMetadataDocument checks the document field by field against
// RFC 9728 §2 and §3, for a resource at the root of its host and one with
// a path, fetched at the URL §3.1 derives from the identifier.
func TestResourceMetadataDocument(t *testing.T) {
	for _, tc := range []struct{ resource, path string }{
		{"https://api.example", "/.well-known/oauth-protected-resource"},
		{"https://api.example/v1/maps", "/.well-known/oauth-protected-resource/v1/maps"},
	} {
		t.Run(tc.resource, func(t *testing.T) {
			a, srv := metadataAuth(t, tc.resource)
			path, _ := a.ResourceMetadataHandler()
			assert.Equal(t, tc.path, path)
			resp, err := http.Get(srv.URL + tc.path)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			resp.Body.Close()

			// §3.2: 200, application/json; readable cross-origin; cacheable.
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
			assert.Equal(t, "public, max-age=3600", resp.Header.Get("Cache-Control"))
			etag := resp.Header.Get("ETag")
			assert.NotEmpty(t, etag)

			var doc map[string]any
			require.NoError(t, json.Unmarshal(body, &doc))
			// §2, field by field; nothing else is sent, and no field is
			// empty (§3.2: parameters with zero values are omitted).
			assert.Equal(t, map[string]any{
				"resource":                 tc.resource,
				"authorization_servers":    []any{"https://authenticatie.vlaanderen.be/op", "https://authenticatie-ti.vlaanderen.be/op"},
				"scopes_supported":         []any{"MapRequest", "gipod_pdo_read"},
				"bearer_methods_supported": []any{"header", "body"},
				"resource_name":            "GIPOD API",
				"resource_documentation":   "https://docs.example/gipod?lang=nl&v=1",
			}, doc)
			// §3.3: the resource is identical to the identifier the URL was
			// derived from, so a client that derives it again finds this URL.
			again, err := (&ResourceMetadata{Resource: doc["resource"].(string)}).URL()
			require.NoError(t, err)
			assert.True(t, strings.HasSuffix(again, tc.path), again)

			// Revalidation, HEAD, the CORS preflight, other methods.
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
			req.Header.Set("If-None-Match", etag)
			resp = do(t, req)
			assert.Equal(t, http.StatusNotModified, resp.StatusCode)
			resp = do(t, mustRequest(http.MethodHead, srv.URL+tc.path))
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			req = mustRequest(http.MethodOptions, srv.URL+tc.path)
			req.Header.Set("Origin", "https://app.example")
			req.Header.Set("Access-Control-Request-Method", "GET")
			req.Header.Set("Access-Control-Request-Headers", "mcp-protocol-version")
			resp = do(t, req)
			assert.Equal(t, http.StatusNoContent, resp.StatusCode)
			assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
			assert.Equal(t, "GET, HEAD, OPTIONS", resp.Header.Get("Access-Control-Allow-Methods"))
			assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Headers"))
			resp = do(t, mustRequest(http.MethodPost, srv.URL+tc.path))
			assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
			assert.Equal(t, "GET, HEAD, OPTIONS", resp.Header.Get("Allow"))
		})
	}
}

// TestResourceMetadataChallenges parses every challenge back (RFC 9110
// §11.6.1) and finds RFC 6750's attributes with RFC 9728's resource_metadata.
func TestResourceMetadataChallenges(t *testing.T) {
	for _, resource := range []string{"https://api.example", "https://api.example/v1/maps"} {
		t.Run(resource, func(t *testing.T) {
			_, srv := metadataAuth(t, resource)
			want, err := (&ResourceMetadata{Resource: resource}).URL()
			require.NoError(t, err)
			for _, tc := range []struct {
				auth   string
				status int
				params map[string]string
			}{
				{"", 401, map[string]string{"realm": "gipod"}},
				{"Bearer a b", 400, map[string]string{"realm": "gipod", "error": "invalid_request", "error_description": "token is not a valid b64token"}},
				{"Bearer nope", 401, map[string]string{"realm": "gipod", "error": "invalid_token", "error_description": "the access token is invalid or expired"}},
				{"Bearer pdo-read", 403, map[string]string{"realm": "gipod", "error": "insufficient_scope",
					"error_description": "the access token does not grant what this request needs", "scope": "MapRequest"}},
			} {
				req := mustRequest(http.MethodGet, srv.URL+"/maps")
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				resp := do(t, req)
				assert.Equal(t, tc.status, resp.StatusCode, tc.auth)
				params, err := parseChallenge(resp.Header.Get("WWW-Authenticate"))
				require.NoError(t, err, tc.auth)
				tc.params["resource_metadata"] = want
				assert.Equal(t, tc.params, params, tc.auth)
			}
		})
	}
	// ErrorFor, for a handler's own call with the token, carries it too.
	a, _ := metadataAuth(t, "https://api.example/v1/maps")
	params, err := parseChallenge(a.ErrorFor(introspect.ErrInvalidToken).Challenge)
	require.NoError(t, err)
	assert.Equal(t, "https://api.example/.well-known/oauth-protected-resource/v1/maps", params["resource_metadata"])
}

func TestResourceMetadataValidation(t *testing.T) {
	v := introspect.VerifierFunc(nil)
	for name, tc := range map[string]struct {
		sources Sources
		md      ResourceMetadata
		want    string
	}{
		"no resource":            {0, ResourceMetadata{}, "Resource \"\" is not an https URL"},
		"issuer with a query":    {0, ResourceMetadata{Resource: "https://a.example", AuthorizationServers: []string{"https://as.example/op?x=1"}}, "AuthorizationServers \"https://as.example/op?x=1\" has a query"},
		"issuer over http":       {0, ResourceMetadata{Resource: "https://a.example", AuthorizationServers: []string{"http://as.example"}}, "not an https URL"},
		"scope with a space":     {0, ResourceMetadata{Resource: "https://a.example", ScopesSupported: []string{"a b"}}, "not a scope token"},
		"empty scope":            {0, ResourceMetadata{Resource: "https://a.example", ScopesSupported: []string{""}}, "not a scope token"},
		"documentation":          {0, ResourceMetadata{Resource: "https://a.example", ResourceDocumentation: "docs"}, "ResourceDocumentation"},
		"method not enabled":     {FromHeader, ResourceMetadata{Resource: "https://a.example", BearerMethodsSupported: []string{"query"}}, `lists "query", which Config.Sources does not enable`},
		"unknown method":         {FromHeader, ResourceMetadata{Resource: "https://a.example", BearerMethodsSupported: []string{"cookie"}}, `unknown method "cookie"`},
		"method listed twice":    {FromHeader, ResourceMetadata{Resource: "https://a.example", BearerMethodsSupported: []string{"header", "header"}}, "twice"},
		"resource with fragment": {0, ResourceMetadata{Resource: "https://a.example/#x"}, "fragment"},
	} {
		_, err := New(Config{Verifier: v, Sources: tc.sources, ResourceMetadata: &tc.md})
		assert.ErrorContains(t, err, "middleware: Config.ResourceMetadata", name)
		assert.ErrorContains(t, err, tc.want, name)
	}
}

// TestResourceMetadataBearerMethods: the methods follow Config.Sources
// unless listed; a cookie or an extractor alone is "[]", and the document
// is New's copy.
func TestResourceMetadataBearerMethods(t *testing.T) {
	document := func(cfg Config) map[string]any {
		cfg.Verifier = introspect.VerifierFunc(nil)
		a, err := New(cfg)
		require.NoError(t, err)
		_, h := a.ResourceMetadataHandler()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		var doc map[string]any
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &doc))
		return doc
	}
	md := &ResourceMetadata{Resource: "https://a.example"}
	assert.Equal(t, []any{"header"}, document(Config{ResourceMetadata: md})["bearer_methods_supported"])
	assert.Equal(t, []any{"header", "body", "query"}, document(Config{ResourceMetadata: md, Sources: FromHeader | FromForm | FromQuery})["bearer_methods_supported"])
	assert.Equal(t, []any{}, document(Config{ResourceMetadata: md, Sources: FromCookie, Cookie: "at"})["bearer_methods_supported"])
	assert.Equal(t, []any{"header"}, document(Config{ResourceMetadata: &ResourceMetadata{Resource: "https://a.example", BearerMethodsSupported: []string{"header"}},
		Sources: FromHeader | FromQuery})["bearer_methods_supported"])

	cfg := Config{Verifier: introspect.VerifierFunc(nil), ResourceMetadata: &ResourceMetadata{Resource: "https://a.example", ScopesSupported: []string{"vo_info"}}}
	a, err := New(cfg)
	require.NoError(t, err)
	cfg.ResourceMetadata.Resource, cfg.ResourceMetadata.ScopesSupported[0] = "https://b.example", "changed"
	_, h := a.ResourceMetadataHandler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.JSONEq(t, `{"resource":"https://a.example","scopes_supported":["vo_info"],"bearer_methods_supported":["header"]}`, w.Body.String())

	none, err := New(Config{Verifier: introspect.VerifierFunc(nil)})
	require.NoError(t, err)
	path, h := none.ResourceMetadataHandler()
	assert.Empty(t, path)
	assert.Nil(t, h)
}

var quietLogger = slog.New(slog.DiscardHandler)

func mustRequest(method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		panic(err)
	}
	return req
}

func do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}
