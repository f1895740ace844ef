package middleware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
)

func newExtractor(t *testing.T, sources Sources) *Authenticator {
	t.Helper()
	a, err := New(Config{Verifier: introspect.VerifierFunc(nil), Sources: sources})
	require.NoError(t, err)
	return a
}

func TestExtractHeader(t *testing.T) {
	long := strings.Repeat("a", defaultMaxTokenLength)
	tests := []struct {
		name    string
		headers []string
		want    string
		wantErr string // "" ok, "none" errNoToken, else malformed text
	}{
		{"none", nil, "", "none"},
		{"bearer", []string{"Bearer abc"}, "abc", ""},
		{"lower case scheme", []string{"bearer abc"}, "abc", ""},
		{"upper case scheme", []string{"BEARER abc"}, "abc", ""},
		{"several spaces", []string{"Bearer    abc"}, "abc", ""},
		{"all b64token characters", []string{"Bearer aZ09-._~+/=="}, "aZ09-._~+/==", ""},
		{"padding only at the end", []string{"Bearer LTgaAik7F-smmQ65_nVfag=="}, "LTgaAik7F-smmQ65_nVfag==", ""},
		{"longest token", []string{"Bearer " + long}, long, ""},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, "", "none"},
		{"other scheme alone", []string{"Negotiate"}, "", "none"},
		{"scheme prefix", []string{"Bearerabc"}, "", "none"},
		{"empty header", []string{""}, "", "malformed Authorization header"},
		{"no scheme", []string{" abc"}, "", "malformed Authorization header"},
		{"bearer alone", []string{"Bearer"}, "", "malformed bearer credentials"},
		{"tab", []string{"Bearer\tabc"}, "", "malformed bearer credentials"},
		{"comma after scheme", []string{"Bearer,abc"}, "", "malformed bearer credentials"},
		{"space inside", []string{"Bearer abc def"}, "", "not a valid b64token"},
		{"tab inside", []string{"Bearer abc\tdef"}, "", "not a valid b64token"},
		{"quoted", []string{`Bearer "abc"`}, "", "not a valid b64token"},
		{"comma", []string{"Bearer abc,def"}, "", "not a valid b64token"},
		{"inner equals", []string{"Bearer ab=cd"}, "", "not a valid b64token"},
		{"only padding", []string{"Bearer =="}, "", "not a valid b64token"},
		{"auth-param form", []string{"Bearer token=abc"}, "", "not a valid b64token"},
		{"non-ASCII", []string{"Bearer tök"}, "", "not a valid b64token"},
		{"too long", []string{"Bearer " + long + "a"}, "", "token too long"},
		{"too long and bad", []string{"Bearer " + long + "\""}, "", "token too long"},
		{"two headers", []string{"Bearer abc", "Bearer abc"}, "", "more than one Authorization header"},
		{"two headers, other scheme", []string{"Bearer abc", "Basic x"}, "", "more than one Authorization header"},
	}
	a := newExtractor(t, FromHeader)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			got, from, err := a.extract(r)
			checkExtract(t, got, from, err, tt.want, FromHeader, tt.wantErr)
		})
	}
}

func checkExtract(t *testing.T, got string, from Sources, err error, want string, wantFrom Sources, wantErr string) {
	t.Helper()
	switch wantErr {
	case "":
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.Equal(t, wantFrom, from)
	case "none":
		assert.Equal(t, errNoToken, err)
	default:
		require.Error(t, err)
		assert.IsType(t, malformed(""), err)
		assert.Contains(t, err.Error(), wantErr)
	}
}

// TestCharClasses checks the lookup table against the grammars spelled out:
// b64token (RFC 6750 §2.1) and tchar (RFC 9110 §5.6.2).
func TestCharClasses(t *testing.T) {
	const (
		alnum    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
		b64token = alnum + "-._~+/"
		tchars   = alnum + "!#$%&'*+-.^_`|~"
	)
	for c := range 256 {
		assert.Equal(t, strings.IndexByte(b64token, byte(c)) >= 0, isB64tokenChar(byte(c)), "b64token byte %#x", c)
		assert.Equal(t, strings.IndexByte(tchars, byte(c)) >= 0, isTchar(byte(c)), "tchar byte %#x", c)
	}
}

func TestExtractFormAndQuery(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name     string
		method   string
		target   string
		ctype    string
		body     string
		header   string
		sources  Sources
		want     string
		wantFrom Sources
		wantErr  string
	}{
		{"form post", "POST", "/", form, "access_token=abc&x=1", "", FromForm, "abc", FromForm, ""},
		{"form put", "PUT", "/", form, "access_token=abc", "", FromForm, "abc", FromForm, ""},
		{"form patch", "PATCH", "/", form, "access_token=abc", "", FromForm, "abc", FromForm, ""},
		{"form with charset", "POST", "/", form + "; charset=UTF-8", "access_token=abc", "", FromForm, "abc", FromForm, ""},
		{"form type in capitals", "POST", "/", "Application/X-WWW-Form-URLEncoded", "access_token=abc", "", FromForm, "abc", FromForm, ""},
		{"form escaped token", "POST", "/", form, "access_token=ab%2Bc%3D", "", FromForm, "ab+c=", FromForm, ""},
		{"form on GET", "GET", "/", form, "access_token=abc", "", FromForm, "", 0, "none"},
		{"form on DELETE", "DELETE", "/", form, "access_token=abc", "", FromForm, "", 0, "none"},
		{"multipart", "POST", "/", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\nabc\r\n--x--", "", FromForm, "", 0, "none"},
		{"json", "POST", "/", "application/json", `{"access_token":"abc"}`, "", FromForm, "", 0, "none"},
		{"no content type", "POST", "/", "", "access_token=abc", "", FromForm, "", 0, "none"},
		{"form without token", "POST", "/", form, "x=1", "", FromForm, "", 0, "none"},
		{"form repeated", "POST", "/", form, "access_token=abc&access_token=abc", "", FromForm, "", 0, "repeated"},
		{"form empty", "POST", "/", form, "access_token=", "", FromForm, "", 0, "empty token"},
		{"form bad token", "POST", "/", form, "access_token=a%20b", "", FromForm, "", 0, "b64token"},
		{"form bad escape", "POST", "/", form, "access_token=%zz", "", FromForm, "", 0, "malformed access_token"},
		{"form source off", "POST", "/", form, "access_token=abc", "", FromHeader, "", 0, "none"},
		{"query", "GET", "/?access_token=abc", "", "", "", FromQuery, "abc", FromQuery, ""},
		{"query among others", "GET", "/?a=1&access_token=abc&b=2", "", "", "", FromQuery, "abc", FromQuery, ""},
		{"query repeated", "GET", "/?access_token=abc&access_token=def", "", "", "", FromQuery, "", 0, "repeated"},
		{"query empty", "GET", "/?access_token=", "", "", "", FromQuery, "", 0, "empty token"},
		{"query name in a value", "GET", "/?q=access_token", "", "", "", FromQuery, "", 0, "none"},
		{"query source off", "GET", "/?access_token=abc", "", "", "", FromHeader, "", 0, "none"},
		{"header and query", "GET", "/?access_token=abc", "", "", "Bearer abc", FromHeader | FromQuery, "", 0, "more than one way"},
		{"header and form", "POST", "/", form, "access_token=abc", "Bearer abc", FromHeader | FromForm, "", 0, "more than one way"},
		{"form and query", "POST", "/?access_token=abc", form, "access_token=abc", "", FromForm | FromQuery, "", 0, "more than one way"},
		{"header with query off", "GET", "/?access_token=abc", "", "", "Bearer def", FromHeader, "def", FromHeader, ""},
		// Names are decoded as url.ParseQuery, and so FormValue, decodes them.
		{"query escaped name", "GET", "/?access%5Ftoken=abc", "", "", "", FromQuery, "abc", FromQuery, ""},
		{"query escaped name, lower-case hex", "GET", "/?access%5ftoken=abc", "", "", "", FromQuery, "abc", FromQuery, ""},
		{"query name escaped throughout", "GET", "/?%61ccess_tok%65%6E=abc", "", "", "", FromQuery, "abc", FromQuery, ""},
		{"header and escaped query name", "GET", "/?access%5Ftoken=abc", "", "", "Bearer abc", FromHeader | FromQuery, "", 0, "more than one way"},
		{"plain and escaped names", "GET", "/?access_token=abc&access%5Ftoken=def", "", "", "", FromQuery, "", 0, "repeated"},
		{"escaped name, bad value", "GET", "/?access%5Ftoken=%zz", "", "", "", FromQuery, "", 0, "malformed access_token"},
		{"escaped name behind a semicolon", "GET", "/?x=1;access%5Ftoken=abc", "", "", "", FromQuery, "", 0, "malformed access_token"},
		{"bad escape elsewhere", "GET", "/?q=100%", "", "", "", FromQuery, "", 0, "none"},
		{"plus in a name is a space", "GET", "/?access+token=abc", "", "", "", FromQuery, "", 0, "none"},
		{"form escaped name", "POST", "/", form, "access%5Ftoken=abc", "", FromForm, "abc", FromForm, ""},
		{"header and escaped form name", "POST", "/", form, "access%5Ftoken=abc", "Bearer abc", FromHeader | FromForm, "", 0, "more than one way"},
		{"bad header beats a good query", "GET", "/?access_token=abc", "", "", "Bearer a b", FromHeader | FromQuery, "", 0, "b64token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newExtractor(t, tt.sources)
			r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			got, from, err := a.extract(r)
			checkExtract(t, got, from, err, tt.want, tt.wantFrom, tt.wantErr)

			// Whatever happened, the body is still there for the handler.
			body, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.body, string(body))
		})
	}
}

func TestExtractFormKeepsFormReadable(t *testing.T) {
	a := newExtractor(t, FromForm)
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("access_token=abc&name=werf"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, _, err := a.extract(r)
	require.NoError(t, err)
	assert.Equal(t, "werf", r.FormValue("name"))
}

func TestExtractFormBodyLimit(t *testing.T) {
	a, err := New(Config{Verifier: introspect.VerifierFunc(nil), Sources: FromForm, MaxFormBytes: 16})
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("access_token=abc&padding=xxxxxxxxx"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, _, err = a.extract(r)
	assert.ErrorContains(t, err, "form body too large")
}

func TestSourcesString(t *testing.T) {
	for want, s := range map[string]Sources{
		"header,form,query": FromHeader | FromForm | FromQuery,
		"query":             FromQuery,
		"header,query":      FromQuery | FromHeader,
		"":                  0,
	} {
		assert.Equal(t, want, s.String())
	}
}

func FuzzExtractHeader(f *testing.F) {
	for _, seed := range []string{"Bearer abc", "bearer  a==", "Bearer\tabc", "Basic x", "Bearer a=b", "", "Bearer", `Bearer "x"`} {
		f.Add(seed)
	}
	a, err := New(Config{Verifier: introspect.VerifierFunc(nil)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := &http.Request{Method: "GET", Header: http.Header{"Authorization": {header}}}
		token, from, err := a.extract(r)
		if err != nil {
			if token != "" || from != 0 {
				t.Fatalf("error %v came with a token", err)
			}
			return
		}
		if from != FromHeader || token == "" || len(token) > defaultMaxTokenLength {
			t.Fatalf("extract(%q) = %q, %v", header, token, from)
		}
		if _, err := a.checkToken(token); err != nil {
			t.Fatalf("extract(%q) accepted %q, which is not a b64token", header, token)
		}
		if !strings.HasSuffix(header, " "+token) || !strings.EqualFold(header[:6], "bearer") {
			t.Fatalf("extract(%q) = %q is not the credentials of the header", header, token)
		}
	})
}

func FuzzExtractParams(f *testing.F) {
	for _, seed := range []string{"access_token=abc", "access_token=a&access_token=b", "access_token=%zz", "x=1", "access_token=", "access_token=a%3D"} {
		f.Add(seed)
	}
	a, err := New(Config{Verifier: introspect.VerifierFunc(nil), Sources: FromQuery})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query string) {
		token, err := a.fromParams(query)
		if err != nil {
			return
		}
		if _, err := a.checkToken(token); err != nil {
			t.Fatalf("fromParams(%q) accepted %q, which is not a b64token", query, token)
		}
	})
}

// TestParamsWithoutEscapesDoNotAllocate guards the fast path: a query
// without '%' and without the parameter's name is not parsed.
func TestParamsWithoutEscapesDoNotAllocate(t *testing.T) {
	a := newExtractor(t, FromQuery)
	for _, params := range []string{"", "page=2", "q=gipod+werf&page=2&sort=-date"} {
		allocs := testing.AllocsPerRun(100, func() { _, _ = a.fromParams(params) })
		assert.Zero(t, allocs, params)
	}
}

// FuzzParamNames checks that the access_token parameters found are the ones
// url.ParseQuery, and so a handler's FormValue, finds, whatever the
// spelling of their names.
func FuzzParamNames(f *testing.F) {
	for _, seed := range []string{
		"access_token=abc", "access%5Ftoken=abc", "access%5ftoken=a&access_token=b", "%61ccess_token=x",
		"access+token=x", "q=100%", "x=1;access%5Ftoken=y", "access_token=%zz", "a=b&c=d", "",
	} {
		f.Add(seed)
	}
	a, err := New(Config{Verifier: introspect.VerifierFunc(nil), Sources: FromQuery})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, params string) {
		parsed, parseErr := url.ParseQuery(params)
		values, hidden := paramValues(params)
		if !slices.Equal(values, parsed[paramName]) {
			t.Fatalf("paramValues(%q) = %q, url.ParseQuery finds %q", params, values, parsed[paramName])
		}
		if hidden && (len(values) > 0 || parseErr == nil) {
			t.Fatalf("paramValues(%q) reports a hidden parameter beside %q, parse error %v", params, values, parseErr)
		}
		token, err := a.fromParams(params)
		switch {
		case err == nil && token != parsed.Get(paramName):
			t.Fatalf("fromParams(%q) = %q, FormValue would see %q", params, token, parsed.Get(paramName))
		case err == errNoToken && parsed.Has(paramName):
			t.Fatalf("fromParams(%q) found no token, FormValue would see %q", params, parsed.Get(paramName))
		}
	})
}

func TestB64tokenPrefix(t *testing.T) {
	const long = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl-_~+/"
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"a", 1},
		{"abcdefgh", 8},
		{"abcdefg=", 7},
		{"abcdefgh=", 8},
		{long, len(long)},
		{long + "==", len(long)},
		{long[:13] + " " + long[14:], 13},
		{long[:24] + "\x00" + long[25:], 24},
		{long[:31] + "é", 31},
	} {
		assert.Equal(t, tc.want, b64tokenPrefix(tc.in), "%q", tc.in)
		// The same as a byte at a time.
		n := 0
		for n < len(tc.in) && isB64tokenChar(tc.in[n]) {
			n++
		}
		assert.Equal(t, n, b64tokenPrefix(tc.in), "%q", tc.in)
	}
}

// TestB64tokenPrefixEveryByte puts every byte at every place of a round of
// b64tokenPrefix, and of the tail after it.
func TestB64tokenPrefixEveryByte(t *testing.T) {
	for c := range 256 {
		for at := range 11 {
			s := []byte(strings.Repeat("A", 11))
			s[at] = byte(c)
			want := 11
			if !isB64tokenChar(byte(c)) {
				want = at
			}
			if got := b64tokenPrefix(string(s)); got != want {
				t.Fatalf("b64tokenPrefix(%q) = %d, want %d", s, got, want)
			}
		}
	}
}

func FuzzB64tokenPrefix(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln")
	f.Add("abc def")
	f.Fuzz(func(t *testing.T, s string) {
		n := 0
		for n < len(s) && isB64tokenChar(s[n]) {
			n++
		}
		if got := b64tokenPrefix(s); got != n {
			t.Fatalf("b64tokenPrefix(%q) = %d, want %d", s, got, n)
		}
	})
}

// BenchmarkB64tokenPrefix checks a token as long as a JWT access token.
func BenchmarkB64tokenPrefix(b *testing.B) {
	token := strings.Repeat("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.-_", 20)[:701]
	b.SetBytes(int64(len(token)))
	for b.Loop() {
		if b64tokenPrefix(token) != len(token) {
			b.Fatal("not a b64token")
		}
	}
}
