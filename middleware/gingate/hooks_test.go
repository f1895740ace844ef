package gingate_test

import (
	"net/http"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/middleware/gingate"
)

const invalidToken = `Bearer realm="test", error="invalid_token", error_description="the access token is invalid or expired"`

// TestErrorHandler: Config.ErrorHandler sees the refusal with its headers
// set and the chain aborted; what it writes is the answer, the refusal is
// written when it writes nothing, and nothing it does lets the request
// through.
func TestErrorHandler(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler func(c *gin.Context, err error)
		status  int
		body    string
	}{
		{"answers itself", func(c *gin.Context, _ error) {
			c.JSON(http.StatusUnauthorized, gin.H{"message": "custom"})
		}, 401, `{"message":"custom"}`},
		{"another status", func(c *gin.Context, _ error) { c.AbortWithStatus(http.StatusTeapot) }, http.StatusTeapot, ""},
		{"writes nothing: the refusal stands", func(*gin.Context, error) {}, 401,
			`{"error":"invalid_token","error_description":"the access token is invalid or expired"}` + "\n"},
		{"only sets a status: the refusal stands", func(c *gin.Context, _ error) { c.Status(http.StatusTeapot) }, 401,
			`{"error":"invalid_token","error_description":"the access token is invalid or expired"}` + "\n"},
		{"calls c.Next: still aborted", func(c *gin.Context, _ error) { c.Next() }, 401,
			`{"error":"invalid_token","error_description":"the access token is invalid or expired"}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen error
			aborted := false
			gate := newGate(t, gingate.Config{Realm: "test", ErrorHandler: func(c *gin.Context, err error) {
				seen, aborted = err, c.IsAborted()
				assert.Equal(t, invalidToken, c.Writer.Header().Get("WWW-Authenticate"), "the headers are set before the handler")
				assert.Len(t, c.Errors, 1)
				tc.handler(c, err)
			}})
			called := false
			r := gin.New()
			r.GET("/", gate.Authenticate(), func(c *gin.Context) { called = true; c.Status(http.StatusOK) })
			w := get(r, "GET", "/", "Bearer nope")

			assert.False(t, called, "the handler ran for a refused request")
			assert.True(t, aborted, "the chain is aborted before the error handler")
			assert.Equal(t, tc.status, w.Code)
			assert.Equal(t, tc.body, w.Body.String())
			assert.Equal(t, invalidToken, w.Header().Get("WWW-Authenticate"))
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			var me *middleware.Error
			require.ErrorAs(t, seen, &me)
			assert.Equal(t, 401, me.Status)
			assert.ErrorIs(t, seen, introspect.ErrInvalidToken)
		})
	}
}

// TestSuccessHandlerAndContextKey: the success hook runs once per verified
// token, not again on a route's Require behind a group's Authenticate, and
// never for anonymous requests; ContextKey stores the TokenInfo for c.Get.
func TestSuccessHandlerAndContextKey(t *testing.T) {
	successes := 0
	gate := newGate(t, gingate.Config{
		Optional: true,
		SuccessHandler: func(c *gin.Context) {
			successes++
			assert.NotNil(t, introspect.FromContext(c.Request.Context()), "the TokenInfo is in the context")
		},
		ContextKey: "token",
	})
	reply := func(c *gin.Context) {
		v, _ := c.Get("token")
		info, _ := v.(*introspect.TokenInfo)
		if info != introspect.FromContext(c.Request.Context()) {
			c.String(500, "c.Get and FromContext disagree")
			return
		}
		if info == nil {
			c.String(200, "anonymous")
			return
		}
		c.String(200, info.ClientID)
	}
	r := gin.New()
	g := r.Group("/g", gate.Authenticate())
	g.GET("/maps", gate.Require(middleware.AllOf("MapRequest")), reply)
	r.GET("/maps", gate.Require(middleware.AllOf("MapRequest")), reply)
	r.GET("/anon", gate.Authenticate(), reply)
	for _, tc := range []struct {
		path, auth string
		status     int
		body       string
		successes  int
	}{
		{"/g/maps", "Bearer map-token", 200, "38890", 1},
		{"/maps", "Bearer map-token", 200, "38890", 1},
		{"/g/maps", "", 401, "", 0},
		{"/g/maps", "Bearer nope", 401, "", 0},
		{"/anon", "", 200, "anonymous", 0},
	} {
		successes = 0
		w := get(r, "GET", tc.path, tc.auth)
		assert.Equal(t, tc.status, w.Code, tc.path+" "+tc.auth)
		if tc.body != "" {
			assert.Equal(t, tc.body, w.Body.String(), tc.path+" "+tc.auth)
		}
		assert.Equal(t, tc.successes, successes, tc.path+" "+tc.auth)
	}
}
