package gingate_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/middleware/gingate"
)

// TestResourceMetadataOnGin: the document is served with r.Any, challenges
// name it, and Middleware.ResourceMetadataHandler is nil without metadata.
func TestResourceMetadataOnGin(t *testing.T) {
	gate := newGate(t, gingate.Config{
		Realm:            "test",
		ResourceMetadata: &middleware.ResourceMetadata{Resource: "https://api.example/v1/maps", ResourceName: "Maps"},
	})
	r := gin.New()
	path, h := gate.ResourceMetadataHandler()
	assert.Equal(t, "/.well-known/oauth-protected-resource/v1/maps", path)
	r.Any(path, h)
	r.GET("/v1/maps", gate.Authenticate(), func(c *gin.Context) { c.Status(http.StatusOK) })

	w := get(r, "GET", path, "")
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, "*", w.Header().Get("Access-Control-Allow-Origin"))
	assert.JSONEq(t, `{"resource":"https://api.example/v1/maps","bearer_methods_supported":["header"],"resource_name":"Maps"}`, w.Body.String())
	assert.Equal(t, http.StatusMethodNotAllowed, get(r, "DELETE", path, "").Code)
	assert.Equal(t, `Bearer realm="test", resource_metadata="https://api.example`+path+`"`,
		get(r, "GET", "/v1/maps", "").Header().Get("WWW-Authenticate"))

	path, h = newGate(t, gingate.Config{}).ResourceMetadataHandler()
	assert.Empty(t, path)
	assert.Nil(t, h)
}

// TestCookieAndExtractor: the new sources reach gin's c.Request, and their
// answers stay out of shared caches.
func TestCookieAndExtractor(t *testing.T) {
	cookie := newGate(t, gingate.Config{Sources: middleware.FromCookie, Cookie: "__Host-access_token"})
	extractor := newGate(t, gingate.Config{Sources: middleware.FromExtractor, Extractor: func(r *http.Request) (string, error) {
		return r.Header.Get("X-Api-Token"), nil
	}})
	reply := func(c *gin.Context) { c.String(http.StatusOK, introspect.FromContext(c.Request.Context()).ClientID) }
	r := gin.New()
	r.GET("/cookie", cookie.Authenticate(), reply)
	r.GET("/extractor", extractor.Authenticate(), reply)
	for path, header := range map[string][2]string{
		"/cookie":    {"Cookie", "__Host-access_token=map-token"},
		"/extractor": {"X-Api-Token", "map-token"},
	} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set(header[0], header[1])
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		assert.Equal(t, 200, w.Code, path)
		assert.Equal(t, "38890", w.Body.String(), path)
		assert.Equal(t, "private", w.Header().Get("Cache-Control"), path)
	}
}
