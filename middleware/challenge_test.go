package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChallenge(t *testing.T) {
	tests := []struct {
		realm, code, desc, scope string
		want                     string
	}{
		{"example", "", "", "", `Bearer realm="example"`},
		{"example", "invalid_token", "expired", "", `Bearer realm="example", error="invalid_token", error_description="expired"`},
		{"example", "insufficient_scope", "", "gipod_pdo_read gipod_pdo_write", `Bearer realm="example", error="insufficient_scope", scope="gipod_pdo_read gipod_pdo_write"`},
		{`a"b\c`, "", "", "", `Bearer realm="a\"b\\c"`},
		{"line\r\nX-Injected: 1", "", "", "", `Bearer realm="line??X-Injected: 1"`},
		{"", "", "", "", `Bearer realm=""`},
	}
	// RFC 9728 §5.1: resource_metadata comes after RFC 6750's attributes.
	const md = "https://api.example/.well-known/oauth-protected-resource/v1/maps"
	assert.Equal(t, `Bearer realm="api", resource_metadata="`+md+`"`, challenge("api", "", "", "", md))
	assert.Equal(t, `Bearer realm="api", error="insufficient_scope", error_description="d", scope="MapRequest", resource_metadata="`+md+`"`,
		challenge("api", "insufficient_scope", "d", "MapRequest", md))
	for _, tt := range tests {
		got := challenge(tt.realm, tt.code, tt.desc, tt.scope, "")
		assert.Equal(t, tt.want, got)
		params, err := parseChallenge(got)
		require.NoError(t, err, got)
		assert.Equal(t, sanitize(tt.realm), params["realm"])
	}
}

// sanitize is what writeQuoted does to bytes no quoted-string may hold.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c != '\t' && (c < 0x20 || c == 0x7f) {
			b[i] = '?'
		}
	}
	return string(b)
}

// parseChallenge parses a single Bearer challenge per RFC 9110 §11.6.1, with
// every auth-param value a quoted-string, and returns its parameters.
func parseChallenge(h string) (map[string]string, error) {
	rest, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return nil, errors.New("not a Bearer challenge")
	}
	params := map[string]string{}
	for rest != "" {
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("no '=' in %q", rest)
		}
		name := rest[:eq]
		for i := range len(name) {
			if !isTchar(name[i]) {
				return nil, fmt.Errorf("bad parameter name %q", name)
			}
		}
		rest = rest[eq+1:]
		if rest == "" || rest[0] != '"' {
			return nil, fmt.Errorf("value of %s is not quoted", name)
		}
		var val strings.Builder
		i := 1
		for ; i < len(rest) && rest[i] != '"'; i++ {
			c := rest[i]
			if c == '\\' {
				i++
				if i == len(rest) {
					return nil, errors.New("dangling escape")
				}
				c = rest[i]
			}
			if c != '\t' && (c < 0x20 || c == 0x7f) {
				return nil, fmt.Errorf("control byte %#x in %s", c, name)
			}
			val.WriteByte(c)
		}
		if i == len(rest) {
			return nil, fmt.Errorf("unterminated value of %s", name)
		}
		if _, dup := params[name]; dup {
			return nil, fmt.Errorf("parameter %s repeated", name)
		}
		params[name] = val.String()
		rest = rest[i+1:]
		if rest == "" {
			break
		}
		var cut bool
		if rest, cut = strings.CutPrefix(rest, ", "); !cut {
			return nil, fmt.Errorf("bad separator before %q", rest)
		}
	}
	return params, nil
}

func FuzzChallenge(f *testing.F) {
	f.Add("example", "invalid_token", "expired", "a b", "")
	f.Add(`"\`, "", "\r\n", "\x00\x7f\xff", `https://x/"\`)
	f.Add("api", "insufficient_scope", "", "MapRequest", "https://api.example/.well-known/oauth-protected-resource/v1/maps")
	f.Fuzz(func(t *testing.T, realm, code, desc, scope, resourceMetadata string) {
		h := challenge(realm, code, desc, scope, resourceMetadata)
		params, err := parseChallenge(h)
		if err != nil {
			t.Fatalf("challenge(%q, %q, %q, %q, %q) = %q does not parse: %v", realm, code, desc, scope, resourceMetadata, h, err)
		}
		for name, in := range map[string]string{
			"realm": realm, "error": code, "error_description": desc, "scope": scope, "resource_metadata": resourceMetadata,
		} {
			got, present := params[name]
			if name != "realm" && in == "" {
				if present {
					t.Fatalf("empty %s was sent", name)
				}
				continue
			}
			if got != sanitize(in) {
				t.Fatalf("%s = %q, want %q", name, got, sanitize(in))
			}
		}
		// The header must be one a server can send.
		if strings.ContainsAny(h, "\r\n\x00") {
			t.Fatalf("header %q would break the response", h)
		}
	})
}

func TestWriteError(t *testing.T) {
	e := &Error{Status: 503, Description: "down", RetryAfter: 1500 * time.Millisecond, Err: errors.New("upstream detail")}
	w := httptest.NewRecorder()
	WriteError(w, httptest.NewRequest("GET", "/", nil), e)
	assert.Equal(t, 503, w.Code)
	assert.Equal(t, "2", w.Header().Get("Retry-After"))
	assert.Empty(t, w.Header().Get("WWW-Authenticate"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.Equal(t, `{"error":"temporarily_unavailable","error_description":"down"}`+"\n", w.Body.String())
	assert.NotContains(t, w.Body.String(), "upstream detail")

	w = httptest.NewRecorder()
	WriteError(w, httptest.NewRequest("HEAD", "/", nil), &Error{Status: 401, Description: "a bearer token is required", Challenge: `Bearer realm="x"`})
	assert.Equal(t, 401, w.Code)
	assert.Equal(t, `Bearer realm="x"`, w.Header().Get("WWW-Authenticate"))
	assert.Empty(t, w.Body.String())

	assert.Equal(t, "1", retryAfterSeconds(0))
	assert.Equal(t, "120", retryAfterSeconds(2*time.Minute))
	assert.Equal(t, "middleware: down: upstream detail", e.Error())
	assert.Equal(t, "middleware: x", (&Error{Description: "x"}).Error())
	assert.Equal(t, http.StatusServiceUnavailable, e.Status)
}
