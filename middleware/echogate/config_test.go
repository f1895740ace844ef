package echogate_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/middleware/echogate"
)

// netHTTPOnly are the fields of middleware.Config that echogate.Config
// leaves out on purpose: Echo has its own skipper and error handler, with
// the echo.Context.
var netHTTPOnly = map[string]bool{"Skipper": true, "ErrorHandler": true}

// echoOnly are the fields of echogate.Config that middleware.Config has not,
// or has with another type, and their types.
var echoOnly = map[string]reflect.Type{
	"Skipper":        reflect.TypeFor[echomw.Skipper](),
	"ErrorHandler":   reflect.TypeFor[func(echo.Context, error) error](),
	"SuccessHandler": reflect.TypeFor[func(echo.Context)](),
	"ContextKey":     reflect.TypeFor[string](),
}

// TestConfigHasEveryAuthenticatorSetting fails when middleware.Config gains
// a field that echogate.Config lacks, so that an Echo application can set
// everything a net/http one can.
func TestConfigHasEveryAuthenticatorSetting(t *testing.T) {
	mw, eg := reflect.TypeFor[middleware.Config](), reflect.TypeFor[echogate.Config]()
	for i := range mw.NumField() {
		f := mw.Field(i)
		if netHTTPOnly[f.Name] {
			continue
		}
		g, ok := eg.FieldByName(f.Name)
		if assert.True(t, ok, "echogate.Config lacks middleware.Config.%s", f.Name) {
			assert.Equal(t, f.Type, g.Type, "echogate.Config.%s", f.Name)
		}
	}
	for i := range eg.NumField() {
		g := eg.Field(i)
		if typ, ok := echoOnly[g.Name]; ok {
			assert.Equal(t, typ, g.Type, "echogate.Config.%s", g.Name)
			continue
		}
		_, ok := mw.FieldByName(g.Name)
		assert.True(t, ok, "echogate.Config.%s is not a setting of middleware.Config", g.Name)
	}
}

// echoConfig is cfg as an echogate.Config, field by field, without the
// net/http-only fields.
func echoConfig(cfg middleware.Config) echogate.Config {
	var out echogate.Config
	src, dst := reflect.ValueOf(cfg), reflect.ValueOf(&out).Elem()
	for i := range src.NumField() {
		if name := src.Type().Field(i).Name; !netHTTPOnly[name] {
			dst.FieldByName(name).Set(src.Field(i))
		}
	}
	return out
}

// TestNewPassesTheSettingsOn: New builds its Authenticator from every
// setting, and refuses what middleware.New refuses.
func TestNewPassesTheSettingsOn(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	stub := &stubServer{calls: map[string]int{}}
	for name, tc := range map[string]struct {
		cfg  echogate.Config
		want string
	}{
		"no verifier":      {echogate.Config{}, "echogate: middleware: Config.Verifier is required"},
		"negative length":  {echogate.Config{Verifier: stub, MaxTokenLength: -1}, "Config.MaxTokenLength is negative"},
		"negative form":    {echogate.Config{Verifier: stub, MaxFormBytes: -1}, "Config.MaxFormBytes is negative"},
		"negative retry":   {echogate.Config{Verifier: stub, RetryAfter: -time.Second}, "Config.RetryAfter is negative"},
		"realm with CR LF": {echogate.Config{Verifier: stub, Realm: "a\r\nb"}, "Config.Realm holds control characters"},
		"unknown sources":  {echogate.Config{Verifier: stub, Sources: 1 << 7}, "unknown token sources"},
	} {
		_, err := echogate.New(tc.cfg)
		assert.ErrorContains(t, err, tc.want, name)
	}

	gate, err := echogate.New(echogate.Config{
		Verifier: stub, Logger: quiet, Realm: "gipod",
		Sources: echogate.FromHeader | echogate.FromForm, MaxTokenLength: 10, MaxFormBytes: 32,
		RetryAfter: 7 * time.Second,
	})
	require.NoError(t, err)
	e := echo.New()
	e.Any("/", func(c echo.Context) error { return c.NoContent(http.StatusOK) }, gate.Authenticate())
	for _, tc := range []struct {
		name, auth, form string
		status           int
		header, want     string
	}{
		{"realm", "", "", 401, "WWW-Authenticate", `Bearer realm="gipod"`},
		{"max token length", "Bearer " + strings.Repeat("x", 11), "", 400, "WWW-Authenticate", `Bearer realm="gipod", error="invalid_request", error_description="token too long"`},
		{"retry after", "Bearer down-token", "", 503, "Retry-After", "7"},
		{"form source", "", "access_token=map-token", 200, "", ""},
		{"max form bytes", "", "access_token=map-token&padding=" + strings.Repeat("x", 32), 400, "WWW-Authenticate", `Bearer realm="gipod", error="invalid_request", error_description="form body too large"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.form))
			if tc.form != "" {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			e.ServeHTTP(w, r)
			assert.Equal(t, tc.status, w.Code)
			if tc.header != "" {
				assert.Equal(t, tc.want, w.Header().Get(tc.header))
			}
		})
	}
}
