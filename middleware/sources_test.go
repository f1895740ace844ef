package middleware

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
)

func TestSourceSettings(t *testing.T) {
	v := introspect.VerifierFunc(nil)
	extractor := func(*http.Request) (string, error) { return "", nil }
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"cookie source, no name":   {Config{Verifier: v, Sources: FromCookie}, "Config.Sources has FromCookie but Config.Cookie names no cookie"},
		"cookie name, no source":   {Config{Verifier: v, Cookie: "at"}, "Config.Cookie is set but Config.Sources lacks FromCookie"},
		"cookie name not a token":  {Config{Verifier: v, Sources: FromCookie, Cookie: "a t"}, `Config.Cookie "a t" is not a cookie name`},
		"cookie name with a ';'":   {Config{Verifier: v, Sources: FromCookie, Cookie: "a;b"}, `Config.Cookie "a;b" is not a cookie name`},
		"cookie name not ASCII":    {Config{Verifier: v, Sources: FromCookie, Cookie: "tök"}, `Config.Cookie "tök" is not a cookie name`},
		"extractor source, no fn":  {Config{Verifier: v, Sources: FromExtractor}, "Config.Sources has FromExtractor but Config.Extractor is nil"},
		"extractor fn, no source":  {Config{Verifier: v, Extractor: extractor}, "Config.Extractor is set but Config.Sources lacks FromExtractor"},
		"unknown source beside us": {Config{Verifier: v, Sources: FromExtractor << 1}, "unknown token sources"},
	} {
		_, err := New(tc.cfg)
		assert.ErrorContains(t, err, "middleware: "+tc.want, name)
	}
	_, err := New(Config{Verifier: v, Sources: FromCookie | FromExtractor, Cookie: "__Host-access_token", Extractor: extractor})
	assert.NoError(t, err)
}

func TestExtractCookie(t *testing.T) {
	long := strings.Repeat("a", defaultMaxTokenLength)
	for _, tt := range []struct {
		name    string
		cookies []string // Cookie header fields
		auth    string
		want    string
		wantErr string
	}{
		{"none", nil, "", "", "none"},
		{"alone", []string{"at=abc"}, "", "abc", ""},
		{"among others", []string{"theme=dark; at=abc; lang=nl"}, "", "abc", ""},
		{"in the second field", []string{"theme=dark", "at=abc"}, "", "abc", ""},
		{"spaces around", []string{"  at=abc  ;x=1"}, "", "abc", ""},
		{"quoted", []string{`at="abc=="`}, "", "abc==", ""},
		{"b64token characters", []string{"at=aZ09-._~+/=="}, "", "aZ09-._~+/==", ""},
		{"longest", []string{"at=" + long}, "", long, ""},
		{"name is case-sensitive", []string{"AT=abc"}, "", "", "none"},
		{"prefix of another name", []string{"att=abc; xat=abc"}, "", "", "none"},
		{"name in a value", []string{"x=at"}, "", "", "none"},
		{"repeated", []string{"at=abc; at=def"}, "", "", "cookie at repeated"},
		{"repeated across fields", []string{"at=abc", "at=abc"}, "", "", "cookie at repeated"},
		{"empty", []string{"at="}, "", "", "empty token"},
		{"no '='", []string{"at"}, "", "", "empty token"},
		{"quotes only", []string{`at=""`}, "", "", "empty token"},
		{"one quote", []string{`at="abc`}, "", "", "not a valid b64token"},
		{"space inside", []string{"at=a b"}, "", "", "not a valid b64token"},
		{"comma", []string{"at=a,b"}, "", "", "not a valid b64token"},
		{"percent-encoded", []string{"at=a%2Bb"}, "", "", "not a valid b64token"},
		{"too long", []string{"at=" + long + "a"}, "", "", "token too long"},
		{"and a header", []string{"at=abc"}, "Bearer abc", "", "more than one way"},
		{"header, other cookies", []string{"x=abc"}, "Bearer abc", "abc", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(Config{Verifier: introspect.VerifierFunc(nil), Sources: FromHeader | FromCookie, Cookie: "at"})
			require.NoError(t, err)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, c := range tt.cookies {
				r.Header.Add("Cookie", c)
			}
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			got, from, err := a.extract(r)
			wantFrom := FromCookie
			if len(tt.cookies) > 0 && tt.cookies[0] == "x=abc" {
				wantFrom = FromHeader
			}
			checkExtract(t, got, from, err, tt.want, wantFrom, tt.wantErr)
		})
	}
}

// TestExtractCookieDoesNotAllocate: looking for the cookie costs nothing
// but the scan.
func TestExtractCookieDoesNotAllocate(t *testing.T) {
	a, err := New(Config{Verifier: introspect.VerifierFunc(nil), Sources: FromCookie, Cookie: "at"})
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", "theme=dark; at=abc; lang=nl")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = a.fromCookie(r) }))
}

// FuzzExtractCookie checks the cookie found against net/http's parser: the
// token is the value a handler's r.Cookie reads, none is found only when
// r.Cookie finds none, and whatever is accepted is a bounded b64token.
func FuzzExtractCookie(f *testing.F) {
	for _, seed := range []string{
		"at=abc", "x=1; at=abc", `at="abc"`, "at=abc; at=def", "at=", "at", " at = abc ", "at=a b", "AT=abc",
		"at=\"", ";;at=abc;;", "at=a=b", "\tat=abc\t", "at=abc\r\n", "at=tök",
	} {
		f.Add(seed, "")
	}
	f.Add("at=abc", "at=def")
	a, err := New(Config{Verifier: introspect.VerifierFunc(nil), Sources: FromCookie, Cookie: "at"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line1, line2 string) {
		h := http.Header{"Cookie": {line1}}
		if line2 != "" {
			h["Cookie"] = append(h["Cookie"], line2)
		}
		r := &http.Request{Method: http.MethodGet, Header: h}
		if strings.Count(line1+line2, ";") > 2000 {
			t.Skip("net/http ignores so many cookies")
		}
		token, err := a.fromCookie(r)
		seen := r.CookiesNamed("at")
		switch {
		case err == nil:
			if _, cerr := a.checkToken(token); cerr != nil || len(token) > defaultMaxTokenLength {
				t.Fatalf("fromCookie(%q) accepted %q, which is not a bounded b64token", h["Cookie"], token)
			}
			if len(seen) != 1 || seen[0].Value != token {
				t.Fatalf("fromCookie(%q) = %q, net/http sees %v", h["Cookie"], token, seen)
			}
		case errors.Is(err, errNoToken):
			if len(seen) != 0 {
				t.Fatalf("fromCookie(%q) found no token, net/http sees %v", h["Cookie"], seen)
			}
		default:
			if _, ok := err.(malformed); !ok {
				t.Fatalf("fromCookie(%q): error %v is not malformed", h["Cookie"], err)
			}
		}
	})
}

func TestExtractor(t *testing.T) {
	boom := errors.New("the token " + "secret-value" + " is bad")
	extractor := func(r *http.Request) (string, error) {
		switch v := r.Header.Get("X-Api-Token"); v {
		case "fail":
			return "", boom
		default:
			return v, nil
		}
	}
	for _, tt := range []struct {
		name     string
		sources  Sources
		header   string
		auth     string
		want     string
		wantFrom Sources
		wantErr  string
	}{
		{"token", FromExtractor, "abc", "", "abc", FromExtractor, ""},
		{"none", FromExtractor, "", "", "", 0, "none"},
		{"error", FromExtractor, "fail", "", "", 0, "malformed credentials"},
		{"not a b64token", FromExtractor, "a,b", "", "", 0, "not a valid b64token"},
		{"too long", FromExtractor, strings.Repeat("a", defaultMaxTokenLength+1), "", "", 0, "token too long"},
		{"extractor alone ignores the header", FromExtractor, "", "Bearer abc", "", 0, "none"},
		{"with the header, header only", FromHeader | FromExtractor, "", "Bearer abc", "abc", FromHeader, ""},
		{"with the header, both", FromHeader | FromExtractor, "abc", "Bearer abc", "", 0, "more than one way"},
		{"a bad header is not passed over", FromHeader | FromExtractor, "abc", "Bearer a b", "", 0, "not a valid b64token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(Config{Verifier: introspect.VerifierFunc(nil), Sources: tt.sources, Extractor: extractor})
			require.NoError(t, err)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.header != "" {
				r.Header.Set("X-Api-Token", tt.header)
			}
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			got, from, err := a.extract(r)
			if tt.wantErr == "malformed credentials" {
				assert.ErrorIs(t, err, boom)
				assert.Equal(t, "malformed credentials", err.Error(), "the extractor's error is never described to the client")
				return
			}
			checkExtract(t, got, from, err, tt.want, tt.wantFrom, tt.wantErr)
		})
	}

	// The refusal: 400 invalid_request, the cause kept for the log only.
	a, err := New(Config{Verifier: introspect.VerifierFunc(nil), Sources: FromExtractor, Extractor: extractor, Logger: quietLogger})
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Api-Token", "fail")
	_, err = a.Authorize(r, nil)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 400, e.Status)
	assert.Equal(t, `Bearer realm="api", error="invalid_request", error_description="malformed credentials"`, e.Challenge)
	assert.ErrorIs(t, err, ErrMalformed)
	assert.ErrorIs(t, err, boom)
	assert.NotContains(t, e.Challenge+e.Description, "secret-value")
}

func TestSourcesStringNew(t *testing.T) {
	assert.Equal(t, "header,cookie,extractor", (FromHeader | FromCookie | FromExtractor).String())
}
