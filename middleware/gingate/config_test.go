package gingate_test

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"

	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/middleware/gingate"
)

// netHTTPOnly are the fields of middleware.Config that gingate.Config
// leaves out on purpose: gin has its own skipper and error handler, with
// the *gin.Context.
var netHTTPOnly = map[string]bool{"Skipper": true, "ErrorHandler": true}

// ginOnly are the fields of gingate.Config that middleware.Config has not,
// or has with another type, and their types.
var ginOnly = map[string]reflect.Type{
	"Skipper":        reflect.TypeFor[func(*gin.Context) bool](),
	"ErrorHandler":   reflect.TypeFor[func(*gin.Context, error)](),
	"SuccessHandler": reflect.TypeFor[func(*gin.Context)](),
	"ContextKey":     reflect.TypeFor[string](),
}

// TestConfigHasEveryAuthenticatorSetting fails when middleware.Config gains
// a field that gingate.Config lacks, so that a gin application can set
// everything a net/http one can.
func TestConfigHasEveryAuthenticatorSetting(t *testing.T) {
	mw, gg := reflect.TypeFor[middleware.Config](), reflect.TypeFor[gingate.Config]()
	for i := range mw.NumField() {
		f := mw.Field(i)
		if netHTTPOnly[f.Name] {
			continue
		}
		g, ok := gg.FieldByName(f.Name)
		if assert.True(t, ok, "gingate.Config lacks middleware.Config.%s", f.Name) {
			assert.Equal(t, f.Type, g.Type, "gingate.Config.%s", f.Name)
		}
	}
	for i := range gg.NumField() {
		g := gg.Field(i)
		if typ, ok := ginOnly[g.Name]; ok {
			assert.Equal(t, typ, g.Type, "gingate.Config.%s", g.Name)
			continue
		}
		_, ok := mw.FieldByName(g.Name)
		assert.True(t, ok, "gingate.Config.%s is not a setting of middleware.Config", g.Name)
	}
}

// TestNewPassesTheSettingsOn: New builds its Authenticator from every
// setting, and refuses what middleware.New refuses.
func TestNewPassesTheSettingsOn(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  gingate.Config
		want string
	}{
		"no verifier":      {gingate.Config{}, "gingate: middleware: Config.Verifier is required"},
		"negative length":  {gingate.Config{Verifier: verifier, MaxTokenLength: -1}, "Config.MaxTokenLength is negative"},
		"negative form":    {gingate.Config{Verifier: verifier, MaxFormBytes: -1}, "Config.MaxFormBytes is negative"},
		"negative retry":   {gingate.Config{Verifier: verifier, RetryAfter: -time.Second}, "Config.RetryAfter is negative"},
		"realm with CR LF": {gingate.Config{Verifier: verifier, Realm: "a\r\nb"}, "Config.Realm holds control characters"},
		"unknown sources":  {gingate.Config{Verifier: verifier, Sources: 1 << 7}, "unknown token sources"},
		"cookie source without a cookie": {gingate.Config{Verifier: verifier, Sources: middleware.FromCookie},
			"Config.Sources has FromCookie but Config.Cookie names no cookie"},
		"extractor without its source": {gingate.Config{Verifier: verifier, Extractor: func(*http.Request) (string, error) { return "", nil }},
			"Config.Extractor is set but Config.Sources lacks FromExtractor"},
		"metadata over http": {gingate.Config{Verifier: verifier, ResourceMetadata: &middleware.ResourceMetadata{Resource: "http://api.example"}},
			"Config.ResourceMetadata"},
	} {
		_, err := gingate.New(tc.cfg)
		assert.ErrorContains(t, err, tc.want, name)
	}

	gate := newGate(t, gingate.Config{
		Realm: "gipod", Sources: middleware.FromHeader | middleware.FromForm, MaxTokenLength: 10, MaxFormBytes: 32,
		RetryAfter: 7 * time.Second, Audiences: []string{"99999"},
	})
	optional := newGate(t, gingate.Config{Optional: true})
	r := gin.New()
	r.Any("/", gate.Authenticate(), func(c *gin.Context) { c.Status(http.StatusOK) })
	r.Any("/optional", optional.Authenticate(), func(c *gin.Context) { c.Status(http.StatusOK) })
	for _, tc := range []struct {
		name, path, auth, form string
		status                 int
		header, want           string
	}{
		{"realm", "/", "", "", 401, "WWW-Authenticate", `Bearer realm="gipod"`},
		{"max token length", "/", "Bearer " + strings.Repeat("x", 11), "", 400, "WWW-Authenticate", `Bearer realm="gipod", error="invalid_request", error_description="token too long"`},
		{"retry after", "/", "Bearer down-token", "", 503, "Retry-After", "7"},
		{"audiences", "/", "Bearer map-token", "", 401, "WWW-Authenticate", `Bearer realm="gipod", error="invalid_token", error_description="the access token is not meant for this service"`},
		{"form source", "/", "", "access_token=nope", 401, "WWW-Authenticate", `Bearer realm="gipod", error="invalid_token", error_description="the access token is invalid or expired"`},
		{"max form bytes", "/", "", "access_token=map-token&padding=" + strings.Repeat("x", 32), 400, "WWW-Authenticate", `Bearer realm="gipod", error="invalid_request", error_description="form body too large"`},
		{"optional", "/optional", "", "", 200, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader(tc.form))
			if tc.form != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			assert.Equal(t, tc.status, w.Code)
			if tc.header != "" {
				assert.Equal(t, tc.want, w.Header().Get(tc.header))
			}
		})
	}
}
