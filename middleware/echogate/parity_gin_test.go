package echogate_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/middleware/gingate"
)

// The request table of parity_test.go runs on gin as a third stack, next to
// net/http and Echo, with the same rows, backends and byte-for-byte
// comparison. The gin stack lives here, in echogate's tests, because the
// table is test code of this package and no other package's tests can see
// it; registering it from a file of its own leaves the table where it is.
// Only echogate's tests compile gin: package echogate does not.
func init() {
	gin.SetMode(gin.TestMode) // no route listing on stdout
	stacks["gin"] = ginStack
}

// ginStack builds the table's application on gin, route for route as the
// net/http and Echo stacks do.
func ginStack(t *testing.T, c configs) http.Handler {
	mk := func(cfg middleware.Config) *gingate.Middleware {
		gate, err := gingate.New(ginConfig(cfg))
		require.NoError(t, err)
		return gate
	}
	strict, audience, all, optional, preflight := mk(c.strict), mk(c.audience), mk(c.all), mk(c.optional), mk(c.preflight)
	metadata, cookie, extractor := mk(c.metadata), mk(c.cookie), mk(c.extractor)
	reply := func(status int) gin.HandlerFunc {
		// As net/http's reply writes it: gin's c.JSON would add a charset
		// and drop the final newline, a difference of the test
		// application, not of the middleware.
		return func(c *gin.Context) {
			c.Header("Content-Type", "application/json")
			c.Status(status)
			_ = json.NewEncoder(c.Writer).Encode(describe(introspect.FromContext(c.Request.Context()), c.Request.FormValue("name")))
		}
	}
	r := gin.New()
	r.GET("/v1/token", strict.Authenticate(), reply(200))
	r.GET("/v1/maps", strict.Require(mapRequest), reply(200))
	r.GET("/v1/occupations", strict.Require(readOrRW), reply(200))
	r.POST("/v1/occupations", all.Require(readAndRW), reply(201))
	r.GET("/aud/maps", audience.Require(mapRequest), reply(200))
	r.GET("/v1/addresses", strict.Require(addresses), reply(200))
	r.Any("/all/token", all.Authenticate(), reply(200))
	r.GET("/optional/token", optional.Authenticate(), reply(200))
	r.Any("/preflight/token", preflight.Authenticate(), reply(200))
	r.Any("/preflight/maps", preflight.Require(mapRequest), reply(200))
	group := r.Group("/group", strict.Authenticate())
	group.GET("/maps", strict.Require(mapRequest), reply(200))
	group.GET("/token", reply(200))
	group.GET("/aud/maps", audience.Require(mapRequest), reply(200))
	r.GET("/rm/token", metadata.Authenticate(), reply(200))
	r.GET("/rm/maps", metadata.Require(mapRequest), reply(200))
	r.Any(metadata.ResourceMetadataHandler())
	r.Any("/cookie/token", cookie.Authenticate(), reply(200))
	r.GET("/extractor/token", extractor.Authenticate(), reply(200))
	return r
}

// ginConfig is cfg as a gingate.Config, field by field, without the
// net/http-only fields. A setting gingate.Config lacks is left out rather
// than panicking the whole table: gingate's
// TestConfigHasEveryAuthenticatorSetting names it, and the rows that need
// it fail on gin.
func ginConfig(cfg middleware.Config) gingate.Config {
	var out gingate.Config
	src, dst := reflect.ValueOf(cfg), reflect.ValueOf(&out).Elem()
	for i := range src.NumField() {
		name := src.Type().Field(i).Name
		if f := dst.FieldByName(name); !netHTTPOnly[name] && f.IsValid() {
			f.Set(src.Field(i))
		}
	}
	return out
}

// TestGinStackRuns: the gin stack is one of the table's, so that a change
// to init above cannot quietly take gin out of the comparison.
func TestGinStackRuns(t *testing.T) {
	assert.Contains(t, stacks, "gin")
}
