package middleware

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// Sources is a set of places in a request where a bearer token may travel
// (RFC 6750 §2, and two more). Combine them with |.
//
// Every enabled source is looked at, in the order of the constants: a token
// found in more than one of them makes the request malformed
// (invalid_request), and so does a source that holds something that is not
// a valid token. A source that holds nothing adds nothing.
type Sources uint8

// The token sources of RFC 6750 §2, a cookie, and an extractor of the
// application's. In the form body and the query, a parameter's name counts
// once decoded as [url.ParseQuery] decodes it, so "access%5Ftoken" is the
// access_token a handler's FormValue would see.
const (
	// FromHeader is the Authorization request header field (§2.1), the one
	// source resource servers must support and the default.
	FromHeader Sources = 1 << iota
	// FromForm is an "access_token" parameter in an
	// application/x-www-form-urlencoded body of a POST, PUT or PATCH
	// request (§2.2).
	FromForm
	// FromQuery is an "access_token" parameter in the URI query (§2.3).
	// RFC 6750 discourages it: URIs end up in logs and browser history.
	// Successful responses to such requests get "Cache-Control: private".
	FromQuery
	// FromCookie is the cookie named by Config.Cookie, for browser
	// applications on the same site behind a backend-for-frontend. Its value
	// must be a b64token, optionally between double quotes (RFC 6265
	// §4.1.1); the cookie sent twice (say, once for a parent domain) makes
	// the request malformed. Cookies are parsed as net/http's
	// [http.Request.Cookie] parses them, so the token is the value a handler
	// would read. Successful responses get "Cache-Control: private": shared
	// caches do not know that a cookie is a credential. A cookie is sent by
	// the browser on its own, so protect state-changing routes against
	// cross-site requests, for instance with [http.CrossOriginProtection].
	FromCookie
	// FromExtractor is the token Config.Extractor returns, for any other
	// place: a header of the application's, a WebSocket subprotocol, … It is
	// held to the rules of the other sources: a b64token no longer than
	// Config.MaxTokenLength, and not found in another enabled source too.
	// Successful responses get "Cache-Control: private", since the token's
	// place is unknown to shared caches.
	FromExtractor
)

// allSources are the sources this package knows.
const allSources = FromHeader | FromForm | FromQuery | FromCookie | FromExtractor

// privateSources are the sources whose successful answers get
// "Cache-Control: private": the token travels where shared caches do not
// see a credential (RFC 9111 §3.5 spares only Authorization).
const privateSources = FromQuery | FromCookie | FromExtractor

// String lists the sources in s, comma-separated.
func (s Sources) String() string {
	var names []string
	for _, src := range []struct {
		bit  Sources
		name string
	}{{FromHeader, "header"}, {FromForm, "form"}, {FromQuery, "query"}, {FromCookie, "cookie"}, {FromExtractor, "extractor"}} {
		if s&src.bit != 0 {
			names = append(names, src.name)
		}
	}
	return strings.Join(names, ",")
}

// errNoToken means the request carries no bearer token in any enabled
// source. It is not a malformed request: RFC 6750 §3.1 answers it with a
// bare challenge.
var errNoToken = errors.New("no bearer token")

// malformed describes why a request is malformed. Its text is a fixed,
// client-safe description.
type malformed string

func (m malformed) Error() string { return string(m) }

const paramName = "access_token"

// extract finds the bearer token of r in the enabled sources. It returns the
// token and its source, errNoToken, or a malformed error.
func (a *Authenticator) extract(r *http.Request) (string, Sources, error) {
	var token string
	var from Sources
	for src := FromHeader; src <= FromExtractor; src <<= 1 {
		if a.sources&src == 0 {
			continue
		}
		t, err := a.extractFrom(r, src)
		switch {
		case err == errNoToken:
			continue
		case err != nil:
			return "", 0, err
		case from != 0:
			return "", 0, malformed("token sent in more than one way")
		}
		token, from = t, src
	}
	if from == 0 {
		return "", 0, errNoToken
	}
	return token, from, nil
}

// extractFrom finds the bearer token of r in src, one source.
func (a *Authenticator) extractFrom(r *http.Request, src Sources) (string, error) {
	switch src {
	case FromHeader:
		return a.fromHeader(r)
	case FromForm:
		return a.fromForm(r)
	case FromQuery:
		return a.fromQuery(r)
	case FromCookie:
		return a.fromCookie(r)
	default:
		return a.fromExtractor(r)
	}
}

// fromHeader reads "Authorization: Bearer <b64token>" (RFC 6750 §2.1). The
// scheme is case-insensitive and followed by one or more spaces; another
// scheme means no bearer token.
func (a *Authenticator) fromHeader(r *http.Request) (string, error) {
	// Direct map access: r.Header.Values would canonicalise the key on
	// every request.
	values := r.Header["Authorization"]
	switch len(values) {
	case 0:
		return "", errNoToken
	case 1:
	default:
		return "", malformed("more than one Authorization header")
	}
	v := values[0]
	// The scheme is a token (RFC 9110 §11.1) up to the first byte that
	// cannot be part of one.
	i := 0
	for i < len(v) && isTchar(v[i]) {
		i++
	}
	if i == 0 {
		return "", malformed("malformed Authorization header")
	}
	if !strings.EqualFold(v[:i], "Bearer") {
		return "", errNoToken // Basic, Negotiate, …: not ours to judge
	}
	if i == len(v) || v[i] != ' ' {
		return "", malformed("malformed bearer credentials")
	}
	for i < len(v) && v[i] == ' ' {
		i++
	}
	return a.checkToken(v[i:])
}

// fromForm reads the access_token parameter of a form-encoded body (RFC 6750
// §2.2). The body is read up to the form limit and put back, so handlers
// further on can still read it or call ParseForm.
func (a *Authenticator) fromForm(r *http.Request) (string, error) {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return "", errNoToken
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" || r.Body == nil || r.Body == http.NoBody {
		return "", errNoToken
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return "", errNoToken // multipart, JSON, …: RFC 6750 allows only this type
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, a.maxFormBytes+1))
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return "", malformed("request body could not be read")
	}
	if int64(len(body)) > a.maxFormBytes {
		return "", malformed("form body too large")
	}
	return a.fromParams(string(body))
}

// fromQuery reads the access_token parameter of the URI query (RFC 6750
// §2.3).
func (a *Authenticator) fromQuery(r *http.Request) (string, error) {
	return a.fromParams(r.URL.RawQuery)
}

// fromCookie reads the cookie named a.cookie from the Cookie header fields,
// split and trimmed as net/http's readCookies splits and trims them, so that
// the cookie found is the one [http.Request.Cookie] finds. Unlike it, a
// cookie of that name whose value is not a valid token is not skipped: it
// makes the request malformed, as a bad access_token parameter does. Parsing
// allocates nothing.
func (a *Authenticator) fromCookie(r *http.Request) (string, error) {
	var value string
	found := false
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			name, v, _ := strings.Cut(textproto.TrimString(part), "=")
			if textproto.TrimString(name) != a.cookie {
				continue
			}
			if found {
				return "", malformed("cookie " + a.cookie + " repeated")
			}
			value, found = v, true
		}
	}
	if !found {
		return "", errNoToken
	}
	// RFC 6265 §4.1.1: cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE ).
	if len(value) > 1 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	return a.checkToken(value)
}

// extractorError is an error of Config.Extractor. Its text is the fixed,
// client-safe description; the extractor's own error, which a client must
// not see, is its cause.
type extractorError struct{ err error }

func (e *extractorError) Error() string { return "malformed credentials" }
func (e *extractorError) Unwrap() error { return e.err }

// fromExtractor asks Config.Extractor for the token: an error makes the
// request malformed, "" means it holds none.
func (a *Authenticator) fromExtractor(r *http.Request) (string, error) {
	t, err := a.extractor(r)
	switch {
	case err != nil:
		return "", &extractorError{err}
	case t == "":
		return "", errNoToken
	}
	return a.checkToken(t)
}

// fromParams finds the one access_token in form-encoded params.
func (a *Authenticator) fromParams(params string) (string, error) {
	tokens, hidden := paramValues(params)
	switch {
	case hidden:
		// The parameter may be hidden behind a bad escape; it cannot be
		// told apart, so the request is malformed rather than anonymous.
		return "", malformed("malformed access_token parameter")
	case len(tokens) == 0:
		return "", errNoToken
	case len(tokens) > 1:
		return "", malformed("access_token parameter repeated")
	}
	return a.checkToken(tokens[0])
}

// paramValues returns the values of the access_token parameters of the
// form-encoded params, with names decoded as [url.ParseQuery] decodes them:
// what a handler's Request.FormValue or Echo's QueryParam sees, so that a
// name spelt "access%5Ftoken" cannot carry a second token past the checks.
// hidden reports that there is none, but a part that could not be decoded
// may be one.
func paramValues(params string) (values []string, hidden bool) {
	// Decoding a name without a '%' only turns '+' into a space, which
	// access_token has none of, so a plain search finds every spelling of
	// the name and the usual query costs no allocation.
	if strings.IndexByte(params, '%') < 0 && !strings.Contains(params, paramName) {
		return nil, false
	}
	parsed, err := url.ParseQuery(params)
	values = parsed[paramName]
	return values, len(values) == 0 && err != nil && mayHideParam(params)
}

// mayHideParam reports whether params has a part that names access_token,
// raw or escaped; url.ParseQuery dropped it when it is not among the values.
// Parts are split on ';' too, as some servers split them.
func mayHideParam(params string) bool {
	if strings.Contains(params, paramName) {
		return true
	}
	for pair := range strings.SplitSeq(params, "&") {
		for part := range strings.SplitSeq(pair, ";") {
			name, _, _ := strings.Cut(part, "=")
			if decoded, err := url.QueryUnescape(name); err == nil && decoded == paramName {
				return true
			}
		}
	}
	return false
}

// checkToken applies the length limit, then the b64token syntax of RFC 6750
// §2.1: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func (a *Authenticator) checkToken(t string) (string, error) {
	if len(t) > a.maxTokenLength {
		return "", malformed("token too long")
	}
	if t == "" {
		return "", malformed("empty token")
	}
	i := b64tokenPrefix(t)
	if i == 0 {
		return "", malformed("token is not a valid b64token")
	}
	for i < len(t) && t[i] == '=' {
		i++
	}
	if i != len(t) {
		return "", malformed("token is not a valid b64token")
	}
	return t, nil
}

// b64tokenPrefix returns the length of t's longest prefix of b64token
// characters. It looks at eight bytes a round, two at a time in
// b64tokenPairs, without a branch between them: a JWT access token is
// several hundred bytes long, and a byte at a time showed as a third of a
// cache hit for one; a byte per lookup, as a fifth.
func b64tokenPrefix(t string) int {
	i := 0
	for ; i+8 <= len(t); i += 8 {
		s := t[i : i+8]
		if b64tokenPairs[uint16(s[0])|uint16(s[1])<<8]&b64tokenPairs[uint16(s[2])|uint16(s[3])<<8]&
			b64tokenPairs[uint16(s[4])|uint16(s[5])<<8]&b64tokenPairs[uint16(s[6])|uint16(s[7])<<8] == 0 {
			break
		}
	}
	for i < len(t) && isB64tokenChar(t[i]) {
		i++
	}
	return i
}

// b64tokenPairs is 1 at a pair of bytes, the first in the low byte of the
// index, when both are b64token characters, and 0 elsewhere. Of its 64 KiB,
// the 68 × 68 pairs of b64token characters, the only ones set, lie in 136
// cache lines.
var b64tokenPairs = func() *[1 << 16]uint8 {
	t := new([1 << 16]uint8)
	for hi := range 256 {
		for lo := range 256 {
			if isB64tokenChar(byte(lo)) && isB64tokenChar(byte(hi)) {
				t[lo|hi<<8] = 1
			}
		}
	}
	return t
}()

// isB64tokenChar reports whether c may appear in a b64token before its
// padding.
func isB64tokenChar(c byte) bool { return charClass[c]&b64tokenChar != 0 }

// isTchar reports whether c may appear in an RFC 9110 token.
func isTchar(c byte) bool { return charClass[c]&tchar != 0 }

// The classes of charClass.
const (
	b64tokenChar = 1 << iota
	tchar
)

// charClass holds the grammar classes of every byte, so that checking a
// token costs one load per byte; tokens are checked on every request.
var charClass = func() (t [256]uint8) {
	for c := range 256 {
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if alnum || strings.IndexByte("-._~+/", byte(c)) >= 0 {
			t[c] |= b64tokenChar
		}
		if alnum || strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0 {
			t[c] |= tchar
		}
	}
	return t
}()
