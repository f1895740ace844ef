package echogate_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/rfc7662"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/middleware/echogate"
	"github.com/tokengate/tokengate/scopes"
)

// The tokens the stub authorization server knows.
var (
	longToken = strings.Repeat("L", 4096)
	known     = map[string]*introspect.TokenInfo{
		"map-token":   {Active: true, Scopes: scopes.New("MapRequest"), ClientID: "38890", Audience: []string{"38890"}},
		"pdo-read":    {Active: true, Scopes: scopes.New("gipod_pdo_read"), ClientID: "38890", Audience: []string{"38890"}},
		"pdo-rw":      {Active: true, Scopes: scopes.New("gipod_pdo_read", "gipod_pdo_write"), ClientID: "38890", Audience: []string{"38890"}},
		"other-aud":   {Active: true, Scopes: scopes.New("MapRequest"), ClientID: "99999", Audience: []string{"99999"}},
		"no-aud":      {Active: true, Scopes: scopes.New("MapRequest"), ClientID: "38890"},
		"padded+/t==": {Active: true, Scopes: scopes.New("MapRequest"), ClientID: "38890", Audience: []string{"38890"}},
		longToken:     {Active: true, Scopes: scopes.New("MapRequest"), ClientID: "38890", Audience: []string{"38890"}},
		"ovo-token": {Active: true, Scopes: scopes.New("dv_ar_adres_beheer"), ClientID: "38890", Audience: []string{"38890"},
			Claims: map[string]any{"vo_orgcode": "OVO002949"}},
		"kbo-token": {Active: true, Scopes: scopes.New("dv_ar_adres_beheer"), ClientID: "38890", Audience: []string{"38890"},
			Claims: map[string]any{"vo_orgcode": "0316381039"}},
	}
)

// stubServer answers as an authorization server would, from known, and
// counts calls per token.
type stubServer struct {
	mu    sync.Mutex
	calls map[string]int
}

func (s *stubServer) Verify(_ context.Context, token string) (*introspect.TokenInfo, error) {
	s.mu.Lock()
	s.calls[token]++
	s.mu.Unlock()
	switch token {
	case "down-token":
		return nil, &introspect.UnavailableError{StatusCode: 500, Reason: "unexpected status"}
	case "busy-token":
		return nil, &introspect.UnavailableError{StatusCode: 429, Reason: "unexpected status", RetryAfter: 30 * time.Second}
	}
	if info, ok := known[token]; ok {
		return info, nil
	}
	return nil, introspect.ErrInvalidToken
}

func (s *stubServer) callsFor(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[token]
}

func (s *stubServer) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// upstream is the authorization server behind a backend, as the tests see
// it.
type upstream interface {
	callsFor(token string) int
	total() int
}

// fakeUpstream is an introspecttest.Server as an upstream.
type fakeUpstream struct{ *introspecttest.Server }

func (f fakeUpstream) callsFor(token string) int { return f.Calls(token) }
func (f fakeUpstream) total() int                { return f.TotalCalls() }

// newFake starts a fake authorization server that knows what the stub
// knows, and fails as the stub fails.
func newFake(t *testing.T) *introspecttest.Server {
	srv := introspecttest.NewServer()
	t.Cleanup(srv.Close)
	for token, info := range known {
		srv.AddToken(token, introspecttest.Token{Scopes: info.Scopes.List(), ClientID: info.ClientID, Audience: info.Audience, Claims: info.Claims})
	}
	srv.AddToken("down-token", introspecttest.Token{Fault: introspecttest.Fault{Status: 500, Body: `{"error":"server_error"}`}})
	srv.AddToken("busy-token", introspecttest.Token{Fault: introspecttest.Fault{Status: 429, RetryAfter: "30"}})
	srv.AddClient(introspecttest.Client{ID: "rs-jwt", Key: clientKey().Public()})
	return srv
}

// clientKey is the RSA key of the resource server's private_key_jwt client.
var clientKey = sync.OnceValue(func() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return key
})

// fixture is one backend made for one run of a request: the verifier to put
// behind a cache, the authorization server behind it, and the backend's own
// tokens for the names the table uses.
type fixture struct {
	verifier introspect.Verifier
	upstream upstream
	// tokens turns the table's token names, wherever they appear in a
	// request, into this backend's tokens. Nil means the names are the
	// backend's tokens.
	tokens *strings.Replacer
	// secrets are further tokens that must never appear in a response or a
	// log line.
	secrets []string
}

// on returns tc with the table's token names replaced by f's tokens.
func (f fixture) on(tc requestCase) requestCase {
	if f.tokens == nil {
		return tc
	}
	tc.auth = slices.Clone(tc.auth)
	for i, v := range tc.auth {
		tc.auth[i] = f.tokens.Replace(v)
	}
	tc.target = f.tokens.Replace(tc.target)
	tc.body = f.tokens.Replace(tc.body)
	if tc.header != nil {
		header := make(map[string]string, len(tc.header))
		for k, v := range tc.header {
			header[k] = f.tokens.Replace(v)
		}
		tc.header = header
	}
	return tc
}

// difference is how a backend departs from a row of the table, and why.
type difference struct {
	// reason is written to the test log whenever the row runs.
	reason string
	// skip means the row cannot apply to the backend at all.
	skip bool
	// adjust changes the row's expectations for the backend. Its answers
	// are then compared across the two stacks, not with the stub's.
	adjust func(*requestCase)
}

// backends are the verifiers the request table runs with, behind a cache:
// a stub, the real Geosecure and RFC 7662 backends against the fake
// authorization server, and local JWT validation against the fake JWT
// issuer.
var backends = []struct {
	name  string
	start func(t *testing.T) fixture
	// differs lists, by row name, the rows the backend departs from.
	differs map[string]difference
}{
	{name: "stub", start: func(t *testing.T) fixture {
		stub := &stubServer{calls: map[string]int{}}
		return fixture{verifier: stub, upstream: stub}
	}},
	{name: "geosecure", start: func(t *testing.T) fixture {
		srv := newFake(t)
		v, err := geosecure.New(geosecure.Config{URL: srv.VerifyURL()})
		require.NoError(t, err)
		return fixture{verifier: v, upstream: fakeUpstream{srv}}
	}},
	{name: "rfc7662", start: func(t *testing.T) fixture {
		srv := newFake(t)
		v, err := rfc7662.New(rfc7662.Config{
			Issuer: srv.Issuer(), ClientID: "rs-jwt", ClientKey: &rfc7662.SigningKey{Key: clientKey()},
		})
		require.NoError(t, err)
		return fixture{verifier: v, upstream: fakeUpstream{srv}}
	}},
	{name: "jwt", start: startJWT, differs: jwtDifferences},
}

// payload is what every protected handler answers, on both stacks.
type payload struct {
	Client    string `json:"client"`
	Anonymous bool   `json:"anonymous"`
	Scopes    string `json:"scopes"`
	Name      string `json:"name,omitempty"`
}

func describe(info *introspect.TokenInfo, name string) payload {
	if info == nil {
		return payload{Anonymous: true, Name: name}
	}
	return payload{Client: info.ClientID, Scopes: info.Scopes.String(), Name: name}
}

// configs are the configurations the table exercises, by route prefix.
// Each stack builds one Authenticator (net/http) or Middleware (Echo) of
// each; Echo's gets the same settings through echoConfig.
type configs struct {
	strict, audience, all, optional, preflight middleware.Config
	// The reach issue's: RFC 9728 metadata, a cookie, an extractor.
	metadata, cookie, extractor middleware.Config
	// decisions records what every one of them reports to its Hooks.
	decisions *decisionLog
}

func newConfigs(v introspect.Verifier) configs {
	decisions := &decisionLog{}
	hooks := &introspect.Hooks{Decision: decisions.record}
	mk := func(cfg middleware.Config) middleware.Config {
		cfg.Verifier, cfg.Realm, cfg.Logger = v, "test", slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		cfg.Hooks = hooks
		return cfg
	}
	return configs{
		decisions: decisions,
		strict:    mk(middleware.Config{}),
		audience:  mk(middleware.Config{Audiences: []string{"38890"}}),
		all:       mk(middleware.Config{Sources: middleware.FromHeader | middleware.FromForm | middleware.FromQuery}),
		optional:  mk(middleware.Config{Optional: true}),
		preflight: mk(middleware.Config{AllowPreflight: true}),
		metadata: mk(middleware.Config{Sources: middleware.FromHeader | middleware.FromQuery, ResourceMetadata: &middleware.ResourceMetadata{
			Resource: "https://api.example/rm", AuthorizationServers: []string{"https://authenticatie.vlaanderen.be/op"},
		}}),
		cookie:    mk(middleware.Config{Sources: middleware.FromHeader | middleware.FromCookie, Cookie: "__Host-access_token"}),
		extractor: mk(middleware.Config{Sources: middleware.FromHeader | middleware.FromExtractor, Extractor: apiKeyHeader}),
	}
}

// decisionLog records the Decision events of Hooks.
type decisionLog struct {
	mu     sync.Mutex
	events []introspect.Decision
}

func (d *decisionLog) record(_ context.Context, dec introspect.Decision) {
	d.mu.Lock()
	d.events = append(d.events, dec)
	d.mu.Unlock()
}

func (d *decisionLog) get() []introspect.Decision {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]introspect.Decision{}, d.events...) // [] for none, as noDecision
}

// apiKeyHeader is the table's Config.Extractor: the token in an X-Api-Token
// header, which it refuses when it says "reject".
func apiKeyHeader(r *http.Request) (string, error) {
	v := r.Header.Get("X-Api-Token")
	if v == "reject" {
		return "", errors.New("the X-Api-Token header is rejected")
	}
	return v, nil
}

var (
	mapRequest = middleware.AllOf("MapRequest")
	readOrRW   = middleware.AnyOf("gipod_pdo_read", "gipod_pdo_write")
	readAndRW  = middleware.AllOf("gipod_pdo_read", "gipod_pdo_write")
	addresses  = middleware.Every(middleware.AllOf("dv_ar_adres_beheer"), middleware.OVOCodes("OVO002949", "OVO001833"))
)

// stacks builds the same application on net/http and on Echo.
var stacks = map[string]func(t *testing.T, c configs) http.Handler{
	"nethttp": func(t *testing.T, c configs) http.Handler {
		mk := func(cfg middleware.Config) *middleware.Authenticator {
			a, err := middleware.New(cfg)
			require.NoError(t, err)
			return a
		}
		a := struct {
			strict, audience, all, optional, preflight *middleware.Authenticator
			metadata, cookie, extractor                *middleware.Authenticator
		}{
			mk(c.strict), mk(c.audience), mk(c.all), mk(c.optional), mk(c.preflight),
			mk(c.metadata), mk(c.cookie), mk(c.extractor),
		}
		reply := func(status int) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				_ = json.NewEncoder(w).Encode(describe(introspect.FromContext(r.Context()), r.FormValue("name")))
			}
		}
		mux := http.NewServeMux()
		mux.Handle("GET /v1/token", a.strict.Authenticate(reply(200)))
		mux.Handle("GET /v1/maps", a.strict.Require(mapRequest)(reply(200)))
		mux.Handle("GET /v1/occupations", a.strict.Require(readOrRW)(reply(200)))
		mux.Handle("POST /v1/occupations", a.all.Require(readAndRW)(reply(201)))
		mux.Handle("GET /aud/maps", a.audience.Require(mapRequest)(reply(200)))
		mux.Handle("GET /v1/addresses", a.strict.Require(addresses)(reply(200)))
		mux.Handle("/all/token", a.all.Authenticate(reply(200)))
		mux.Handle("GET /optional/token", a.optional.Authenticate(reply(200)))
		mux.Handle("/preflight/token", a.preflight.Authenticate(reply(200)))
		mux.Handle("/preflight/maps", a.preflight.Require(mapRequest)(reply(200)))
		group := http.NewServeMux()
		group.Handle("GET /group/maps", a.strict.Require(mapRequest)(reply(200)))
		group.Handle("GET /group/token", reply(200))
		group.Handle("GET /group/aud/maps", a.audience.Require(mapRequest)(reply(200)))
		mux.Handle("/group/", a.strict.Authenticate(group))
		mux.Handle("GET /rm/token", a.metadata.Authenticate(reply(200)))
		mux.Handle("GET /rm/maps", a.metadata.Require(mapRequest)(reply(200)))
		mux.Handle(a.metadata.ResourceMetadataHandler())
		mux.Handle("/cookie/token", a.cookie.Authenticate(reply(200)))
		mux.Handle("GET /extractor/token", a.extractor.Authenticate(reply(200)))
		return mux
	},
	"echo": func(t *testing.T, c configs) http.Handler {
		mk := func(cfg middleware.Config) *echogate.Middleware {
			gate, err := echogate.New(echoConfig(cfg))
			require.NoError(t, err)
			return gate
		}
		strict, audience, all, optional, preflight := mk(c.strict), mk(c.audience), mk(c.all), mk(c.optional), mk(c.preflight)
		metadata, cookie, extractor := mk(c.metadata), mk(c.cookie), mk(c.extractor)
		reply := func(status int) echo.HandlerFunc {
			return func(c echo.Context) error {
				return c.JSON(status, describe(introspect.FromContext(c.Request().Context()), c.FormValue("name")))
			}
		}
		e := echo.New()
		e.GET("/v1/token", reply(200), strict.Authenticate())
		e.GET("/v1/maps", reply(200), strict.Require(echogate.AllOf("MapRequest")))
		e.GET("/v1/occupations", reply(200), strict.Require(echogate.AnyOf("gipod_pdo_read", "gipod_pdo_write").Matching(scopes.Exact)))
		e.POST("/v1/occupations", reply(201), all.Require(readAndRW))
		e.GET("/aud/maps", reply(200), audience.Require(mapRequest))
		e.GET("/v1/addresses", reply(200), strict.Require(echogate.Every(echogate.AllOf("dv_ar_adres_beheer"), echogate.OVOCodes("OVO002949", "OVO001833"))))
		e.Any("/all/token", reply(200), all.Authenticate())
		e.GET("/optional/token", reply(200), optional.Authenticate())
		e.Any("/preflight/token", reply(200), preflight.Authenticate())
		e.Any("/preflight/maps", reply(200), preflight.Require(mapRequest))
		group := e.Group("/group", strict.Authenticate())
		group.GET("/maps", reply(200), strict.Require(mapRequest))
		group.GET("/token", reply(200))
		group.GET("/aud/maps", reply(200), audience.Require(mapRequest))
		e.GET("/rm/token", reply(200), metadata.Authenticate())
		e.GET("/rm/maps", reply(200), metadata.Require(mapRequest))
		e.Any(metadata.ResourceMetadataHandler())
		e.Any("/cookie/token", reply(200), cookie.Authenticate())
		e.GET("/extractor/token", reply(200), extractor.Authenticate())
		return e
	},
}

type requestCase struct {
	name   string
	method string
	target string
	auth   []string // Authorization header values
	ctype  string
	body   string
	header map[string]string
	status int
	// challenge is the expected WWW-Authenticate, exactly; "" means none.
	challenge string
	// bodyHas must appear in the response body.
	bodyHas string
	retry   string
	cache   string
	// calls is how many upstream calls the request makes.
	calls int
	// decisions are the Decision events the request reports, in order;
	// nil means the one that status and challenge name (see
	// [wantDecisions]).
	decisions []introspect.Decision
}

// The Decision events of the table.
var (
	allowed      = introspect.Decision{Outcome: introspect.OutcomeAllowed}
	noDecision   = []introspect.Decision{}
	refusedScope = introspect.Decision{Outcome: introspect.OutcomeInsufficientScope, Status: http.StatusForbidden}
	refusedToken = introspect.Decision{Outcome: introspect.OutcomeInvalidToken, Status: http.StatusUnauthorized}
)

// wantDecisions returns the Decision events tc expects: its decisions, or
// the one its status and challenge name. A 204 is a preflight, answered
// without a decision.
func wantDecisions(tc requestCase) []introspect.Decision {
	if tc.decisions != nil {
		return tc.decisions
	}
	d := introspect.Decision{Status: tc.status}
	switch {
	case tc.status == http.StatusNoContent:
		return noDecision
	case tc.status < 300:
		return []introspect.Decision{allowed}
	case tc.status == http.StatusBadRequest:
		d.Outcome = introspect.OutcomeMalformed
	case tc.status == http.StatusUnauthorized && !strings.Contains(tc.challenge, "error="):
		d.Outcome = introspect.OutcomeNoToken
	case tc.status == http.StatusUnauthorized:
		d.Outcome = introspect.OutcomeInvalidToken
	case tc.status == http.StatusForbidden:
		d.Outcome = introspect.OutcomeInsufficientScope
	case tc.status == http.StatusServiceUnavailable:
		d.Outcome = introspect.OutcomeUnavailable
	}
	return []introspect.Decision{d}
}

const (
	bare          = `Bearer realm="test"`
	invalidReq    = `Bearer realm="test", error="invalid_request", error_description="`
	invalidToken  = `Bearer realm="test", error="invalid_token", error_description="the access token is invalid or expired"`
	wrongAudience = `Bearer realm="test", error="invalid_token", error_description="the access token is not meant for this service"`
	insufficient  = `Bearer realm="test", error="insufficient_scope", error_description="the access token does not grant what this request needs", scope=`
	formType      = "application/x-www-form-urlencoded"
)

var requestCases = []requestCase{
	// No credentials.
	{name: "no header", target: "/v1/token", status: 401, challenge: bare, calls: 0},
	{name: "basic scheme", target: "/v1/token", auth: []string{"Basic dXNlcjpwYXNz"}, status: 401, challenge: bare},
	{name: "query token with query off", target: "/v1/token?access_token=map-token", status: 401, challenge: bare},
	{name: "form token with form off", method: "POST", target: "/preflight/token", ctype: formType, body: "access_token=map-token", status: 401, challenge: bare},

	// Malformed.
	{name: "bearer without token", target: "/v1/token", auth: []string{"Bearer"}, status: 400, challenge: invalidReq + `malformed bearer credentials"`},
	{name: "tab after scheme", target: "/v1/token", auth: []string{"Bearer\tmap-token"}, status: 400, challenge: invalidReq + `malformed bearer credentials"`},
	{name: "trailing garbage", target: "/v1/token", auth: []string{"Bearer map-token x"}, status: 400, challenge: invalidReq + `token is not a valid b64token"`},
	{name: "quoted token", target: "/v1/token", auth: []string{`Bearer "map-token"`}, status: 400, challenge: invalidReq + `token is not a valid b64token"`},
	{name: "comma", target: "/v1/token", auth: []string{"Bearer map-token,x"}, status: 400, challenge: invalidReq + `token is not a valid b64token"`},
	{name: "inner equals", target: "/v1/token", auth: []string{"Bearer map=token"}, status: 400, challenge: invalidReq + `token is not a valid b64token"`},
	{name: "two headers", target: "/v1/token", auth: []string{"Bearer map-token", "Bearer map-token"}, status: 400, challenge: invalidReq + `more than one Authorization header"`},
	{name: "too long", target: "/v1/token", auth: []string{"Bearer " + longToken + "L"}, status: 400, challenge: invalidReq + `token too long"`},
	{name: "in two sources", target: "/all/token?access_token=map-token", auth: []string{"Bearer map-token"}, status: 400, challenge: invalidReq + `token sent in more than one way"`},
	{name: "repeated query parameter", target: "/all/token?access_token=map-token&access_token=map-token", status: 400, challenge: invalidReq + `access_token parameter repeated"`},
	{name: "empty query parameter", target: "/all/token?access_token=", status: 400, challenge: invalidReq + `empty token"`},
	{name: "escaped parameter name and header", target: "/all/token?access%5ftoken=pdo-read", auth: []string{"Bearer map-token"}, status: 400, challenge: invalidReq + `token sent in more than one way"`},
	{name: "escaped and plain parameter names", target: "/all/token?access_token=map-token&access%5Ftoken=pdo-read", status: 400, challenge: invalidReq + `access_token parameter repeated"`},
	{name: "escaped form parameter name and header", method: "POST", target: "/all/token", ctype: formType, body: "access%5Ftoken=pdo-read", auth: []string{"Bearer map-token"}, status: 400, challenge: invalidReq + `token sent in more than one way"`},
	{name: "malformed beats optional", target: "/optional/token", auth: []string{"Bearer a b"}, status: 400, challenge: invalidReq + `token is not a valid b64token"`},

	// Valid tokens.
	{name: "bearer", target: "/v1/token", auth: []string{"Bearer map-token"}, status: 200, bodyHas: `"client":"38890"`, calls: 1},
	{name: "lower-case scheme, spaces", target: "/v1/token", auth: []string{"bearer    map-token"}, status: 200, calls: 1},
	{name: "padding and b64 characters", target: "/v1/token", auth: []string{"Bearer padded+/t=="}, status: 200, calls: 1},
	{name: "longest token", target: "/v1/token", auth: []string{"Bearer " + longToken}, status: 200, calls: 1},
	{name: "query token", target: "/all/token?access_token=map-token", status: 200, cache: "private", calls: 1},
	{name: "query token, escaped name", target: "/all/token?access%5Ftoken=map-token", status: 200, cache: "private", calls: 1},
	{name: "form token", method: "POST", target: "/all/token", ctype: formType, body: "access_token=map-token", status: 200, calls: 1},
	{name: "form token, charset, any case", method: "POST", target: "/all/token", ctype: "Application/X-WWW-Form-Urlencoded; charset=UTF-8", body: "access_token=map-token", status: 200, calls: 1},
	{name: "form token on GET is no token", method: "GET", target: "/all/token", ctype: formType, body: "access_token=map-token", status: 401, challenge: bare},
	{name: "multipart is no token", method: "POST", target: "/all/token", ctype: "multipart/form-data; boundary=x", body: "--x\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\nmap-token\r\n--x--\r\n", status: 401, challenge: bare},
	{name: "json is no token", method: "POST", target: "/all/token", ctype: "application/json", body: `{"access_token":"map-token"}`, status: 401, challenge: bare},
	{name: "handler reads the form after extraction", method: "POST", target: "/v1/occupations", ctype: formType, body: "access_token=pdo-rw&name=werf", status: 201, bodyHas: `"name":"werf"`, calls: 1},

	// Invalid tokens and the audience.
	{name: "unknown token", target: "/v1/token", auth: []string{"Bearer nope"}, status: 401, challenge: invalidToken, bodyHas: `"error":"invalid_token"`, calls: 1},
	{name: "audience allowed", target: "/aud/maps", auth: []string{"Bearer map-token"}, status: 200, calls: 1},
	{name: "audience not allowed", target: "/aud/maps", auth: []string{"Bearer other-aud"}, status: 401, challenge: wrongAudience, calls: 1},
	{name: "no audience, client id allowed", target: "/aud/maps", auth: []string{"Bearer no-aud"}, status: 200, calls: 1},

	// Scopes.
	{name: "scope present", target: "/v1/maps", auth: []string{"Bearer map-token"}, status: 200, calls: 1},
	{name: "scope missing", target: "/v1/maps", auth: []string{"Bearer pdo-read"}, status: 403, challenge: insufficient + `"MapRequest"`, bodyHas: `"error":"insufficient_scope"`, calls: 1},
	{name: "any of, one present", target: "/v1/occupations", auth: []string{"Bearer pdo-read"}, status: 200, calls: 1},
	{name: "any of, none present", target: "/v1/occupations", auth: []string{"Bearer map-token"}, status: 403, challenge: insufficient + `"gipod_pdo_read gipod_pdo_write"`, calls: 1},
	{name: "all of, one missing", method: "POST", target: "/v1/occupations", auth: []string{"Bearer pdo-read"}, status: 403, challenge: insufficient + `"gipod_pdo_read gipod_pdo_write"`, calls: 1},
	{name: "all of, both present", method: "POST", target: "/v1/occupations", auth: []string{"Bearer pdo-rw"}, status: 201, calls: 1},
	{name: "scope checks need a token", target: "/v1/maps", status: 401, challenge: bare},

	// Policies over claims: an OVO code with a scope.
	{name: "OVO code and scope", target: "/v1/addresses", auth: []string{"Bearer ovo-token"}, status: 200, calls: 1},
	{name: "no OVO code", target: "/v1/addresses", auth: []string{"Bearer kbo-token"}, status: 403, challenge: insufficient + `"dv_ar_adres_beheer"`, calls: 1},
	{name: "OVO policy, scope missing", target: "/v1/addresses", auth: []string{"Bearer map-token"}, status: 403, challenge: insufficient + `"dv_ar_adres_beheer"`, calls: 1},

	// The authorization server failing.
	{name: "unavailable", target: "/v1/token", auth: []string{"Bearer down-token"}, status: 503, retry: "5", bodyHas: `"error":"temporarily_unavailable"`, calls: 1},
	{name: "unavailable with retry-after", target: "/v1/maps", auth: []string{"Bearer busy-token"}, status: 503, retry: "30", calls: 1},

	// Optional authentication, preflight, groups.
	{name: "optional, no token", target: "/optional/token", status: 200, bodyHas: `"anonymous":true`},
	{name: "optional, valid token", target: "/optional/token", auth: []string{"Bearer map-token"}, status: 200, bodyHas: `"anonymous":false`, calls: 1},
	{name: "optional, bad token", target: "/optional/token", auth: []string{"Bearer nope"}, status: 401, challenge: invalidToken, calls: 1},
	// A preflight is answered by the middleware, never by the handler,
	// whatever the route's methods (mux.Handle, Echo Any).
	{name: "preflight is answered, not passed on", method: "OPTIONS", target: "/preflight/token", header: map[string]string{"Access-Control-Request-Method": "GET", "Origin": "https://x"}, status: 204},
	{name: "preflight to a route requirement", method: "OPTIONS", target: "/preflight/maps", header: map[string]string{"Access-Control-Request-Method": "GET", "Origin": "https://x"}, status: 204},
	{name: "preflight with a token", method: "OPTIONS", target: "/preflight/maps", auth: []string{"Bearer map-token"}, header: map[string]string{"Access-Control-Request-Method": "GET"}, status: 204},
	{name: "plain OPTIONS needs a token", method: "OPTIONS", target: "/preflight/token", status: 401, challenge: bare},
	{name: "preflight not allowed by default", method: "OPTIONS", target: "/all/token", header: map[string]string{"Access-Control-Request-Method": "GET"}, status: 401, challenge: bare},
	{name: "group authenticates once, route checks scope", target: "/group/maps", auth: []string{"Bearer map-token"}, status: 200, calls: 1},
	// The group's Authenticate reports the request allowed; the route's
	// check of the same Authenticator reports only a refusal.
	{name: "group, route scope missing", target: "/group/maps", auth: []string{"Bearer pdo-read"}, status: 403, challenge: insufficient + `"MapRequest"`, calls: 1,
		decisions: []introspect.Decision{allowed, refusedScope}},
	{name: "group, route without requirement", target: "/group/token", auth: []string{"Bearer pdo-read"}, status: 200, calls: 1},
	{name: "group, no token", target: "/group/maps", status: 401, challenge: bare},
	// Another Authenticator's route verifies the token again (a cache hit
	// here; middleware's TestOnlyOwnTokenInfoIsTrusted shows the call).
	// Each Authenticator reports its own decision.
	{name: "group, another authenticator's route", target: "/group/aud/maps", auth: []string{"Bearer map-token"}, status: 200, calls: 1,
		decisions: []introspect.Decision{allowed, allowed}},
	{name: "group, another authenticator's audience list", target: "/group/aud/maps", auth: []string{"Bearer other-aud"}, status: 401, challenge: wrongAudience, calls: 1,
		decisions: []introspect.Decision{allowed, refusedToken}},

	// The reach issue: RFC 9728 challenges and document, cookies, an
	// extractor, and the headers an adapter must not forget.
	{name: "metadata: no token", target: "/rm/token", status: 401, challenge: bare + `, resource_metadata="` + rmURL + `"`},
	{name: "metadata: malformed", target: "/rm/token", auth: []string{"Bearer a b"}, status: 400, challenge: invalidReq + `token is not a valid b64token", resource_metadata="` + rmURL + `"`},
	{name: "metadata: invalid token", target: "/rm/token", auth: []string{"Bearer nope"}, status: 401, challenge: invalidToken + `, resource_metadata="` + rmURL + `"`, calls: 1},
	{name: "metadata: scope missing", target: "/rm/maps", auth: []string{"Bearer pdo-read"}, status: 403, challenge: insufficient + `"MapRequest", resource_metadata="` + rmURL + `"`, calls: 1},
	{name: "metadata: unavailable has no challenge", target: "/rm/maps", auth: []string{"Bearer down-token"}, status: 503, retry: "5", calls: 1},
	{name: "metadata: allowed", target: "/rm/maps", auth: []string{"Bearer map-token"}, status: 200, calls: 1},
	{name: "metadata: query token is private", target: "/rm/token?access_token=map-token", status: 200, cache: "private", calls: 1},
	{name: "metadata: the document", target: "/.well-known/oauth-protected-resource/rm", status: 200, cache: "public, max-age=3600",
		bodyHas:   `{"resource":"https://api.example/rm","authorization_servers":["https://authenticatie.vlaanderen.be/op"],"bearer_methods_supported":["header","query"]}`,
		decisions: noDecision},
	{name: "metadata: the document's preflight", method: "OPTIONS", target: "/.well-known/oauth-protected-resource/rm", header: map[string]string{"Access-Control-Request-Method": "GET", "Origin": "https://x"}, status: 204},
	{name: "cookie", target: "/cookie/token", header: map[string]string{"Cookie": "theme=dark; __Host-access_token=map-token"}, status: 200, cache: "private", bodyHas: `"client":"38890"`, calls: 1},
	{name: "cookie, quoted", target: "/cookie/token", header: map[string]string{"Cookie": `__Host-access_token="map-token"`}, status: 200, cache: "private", calls: 1},
	{name: "cookie and header", target: "/cookie/token", auth: []string{"Bearer map-token"}, header: map[string]string{"Cookie": "__Host-access_token=map-token"}, status: 400, challenge: invalidReq + `token sent in more than one way"`},
	{name: "cookie repeated", target: "/cookie/token", header: map[string]string{"Cookie": "__Host-access_token=map-token; __Host-access_token=pdo-read"}, status: 400, challenge: invalidReq + `cookie __Host-access_token repeated"`},
	{name: "cookie not a b64token", target: "/cookie/token", header: map[string]string{"Cookie": "__Host-access_token=map,token"}, status: 400, challenge: invalidReq + `token is not a valid b64token"`},
	{name: "cookie too long", target: "/cookie/token", header: map[string]string{"Cookie": "__Host-access_token=" + longToken + "L"}, status: 400, challenge: invalidReq + `token too long"`},
	{name: "cookie empty", target: "/cookie/token", header: map[string]string{"Cookie": "__Host-access_token="}, status: 400, challenge: invalidReq + `empty token"`},
	{name: "other cookies are no token", target: "/cookie/token", header: map[string]string{"Cookie": "access_token=map-token; session=x"}, status: 401, challenge: bare},
	{name: "cookie, bad token", target: "/cookie/token", header: map[string]string{"Cookie": "__Host-access_token=nope"}, status: 401, challenge: invalidToken, calls: 1},
	{name: "header on the cookie route is not private", target: "/cookie/token", auth: []string{"Bearer map-token"}, status: 200, calls: 1},
	{name: "extractor", target: "/extractor/token", header: map[string]string{"X-Api-Token": "map-token"}, status: 200, cache: "private", calls: 1},
	{name: "extractor finds none", target: "/extractor/token", status: 401, challenge: bare},
	{name: "extractor error", target: "/extractor/token", header: map[string]string{"X-Api-Token": "reject"}, status: 400, challenge: invalidReq + `malformed credentials"`},
	{name: "extractor and header", target: "/extractor/token", auth: []string{"Bearer map-token"}, header: map[string]string{"X-Api-Token": "map-token"}, status: 400, challenge: invalidReq + `token sent in more than one way"`},
	{name: "extractor's token is a b64token", target: "/extractor/token", header: map[string]string{"X-Api-Token": "map token"}, status: 400, challenge: invalidReq + `token is not a valid b64token"`},
}

// rmURL is the metadata URL of the table's RFC 9728 resource.
const rmURL = "https://api.example/.well-known/oauth-protected-resource/rm"

type answer struct {
	status                         int
	challenge, retry, cache, ctype string
	body                           string
}

func serve(h http.Handler, tc requestCase) answer {
	method := tc.method
	if method == "" {
		method = http.MethodGet
	}
	r := httptest.NewRequest(method, tc.target, strings.NewReader(tc.body))
	for _, v := range tc.auth {
		r.Header.Add("Authorization", v)
	}
	if tc.ctype != "" {
		r.Header.Set("Content-Type", tc.ctype)
	}
	for k, v := range tc.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return answer{
		status:    w.Code,
		challenge: w.Header().Get("WWW-Authenticate"),
		retry:     w.Header().Get("Retry-After"),
		cache:     w.Header().Get("Cache-Control"),
		ctype:     w.Header().Get("Content-Type"),
		body:      w.Body.String(),
	}
}

// TestRequestTable runs every request case on both stacks with every
// backend, and asserts that all of them answer alike.
//
// A backend may depart from a row for a reason it gives (see
// [difference]): the row is then skipped on it, or checked against
// adjusted expectations, and its two stacks must still answer alike.
func TestRequestTable(t *testing.T) {
	for _, tc := range requestCases {
		t.Run(tc.name, func(t *testing.T) {
			answers := map[string]answer{}
			var secrets []string
			for _, backend := range backends {
				want := tc
				d, differs := backend.differs[tc.name]
				if differs {
					t.Logf("%s: %s", backend.name, d.reason)
					if d.skip {
						continue
					}
					d.adjust(&want)
				}
				byStack := map[string]answer{}
				for stack, build := range stacks {
					f := backend.start(t)
					cache, err := introspect.NewCache(f.verifier, introspect.CacheConfig{})
					require.NoError(t, err)
					defer cache.Close()
					c := newConfigs(cache)
					got := serve(build(t, c), f.on(tc))
					where := backend.name + "/" + stack
					byStack[stack] = got
					checkAnswer(t, where, want, got)
					assert.Equal(t, wantDecisions(want), c.decisions.get(), "%s: decisions", where)
					assert.Equal(t, want.calls, f.upstream.total(), "%s: upstream calls", where)
					assertNoSecrets(t, where+" response", got.challenge+got.retry+got.body, f.secrets...)
					secrets = append(secrets, f.secrets...)
				}
				if differs {
					for stack, got := range byStack {
						assert.Equal(t, byStack["nethttp"], got, "%s: %s answers differently from nethttp", backend.name, stack)
					}
					continue
				}
				for stack, got := range byStack {
					answers[backend.name+"/"+stack] = got
				}
			}
			want := answers["stub/nethttp"]
			for where, got := range answers {
				assert.Equal(t, want, got, "%s answers differently from stub/nethttp", where)
			}
			assertNoSecrets(t, "log", logs.String(), secrets...)
		})
	}
	assert.Contains(t, logs.String(), `"msg":"tokengate: request refused"`, "the table's log lines were not captured")
}

// checkAnswer checks what one stack answered to tc.
func checkAnswer(t *testing.T, stack string, tc requestCase, got answer) {
	t.Helper()
	assert.Equal(t, tc.status, got.status, "%s: status", stack)
	if strings.HasSuffix(tc.challenge, `error_description="`) {
		assert.True(t, strings.HasPrefix(got.challenge, tc.challenge), "%s: challenge %q", stack, got.challenge)
	} else {
		assert.Equal(t, tc.challenge, got.challenge, "%s: challenge", stack)
	}
	assert.Equal(t, tc.retry, got.retry, "%s: Retry-After", stack)
	if tc.cache != "" {
		assert.Equal(t, tc.cache, got.cache, "%s: Cache-Control", stack)
	}
	if got.status >= 400 {
		assert.Equal(t, "no-store", got.cache, "%s: error answers are not cached", stack)
		assert.True(t, strings.HasPrefix(got.ctype, "application/json"), "%s: content type %q", stack, got.ctype)
	}
	assert.Contains(t, got.body, tc.bodyHas, "%s: body", stack)
	if tc.status == http.StatusNoContent {
		assert.Empty(t, got.body, "%s: body", stack)
	}
	for token := range known {
		if len(token) > 20 {
			continue
		}
		assert.NotContains(t, got.body, `"`+token+`"`, "%s: the token is in the body", stack)
	}
}

// TestCacheHitRechecksRoute: the cache stores the server's facts, not a
// route's decision, so every route re-checks them on a hit.
func TestCacheHitRechecksRoute(t *testing.T) {
	for _, backend := range backends {
		for stack, build := range stacks {
			t.Run(backend.name+"/"+stack, func(t *testing.T) {
				f := backend.start(t)
				cache, err := introspect.NewCache(f.verifier, introspect.CacheConfig{})
				require.NoError(t, err)
				defer cache.Close()
				h := build(t, newConfigs(cache))
				status := func(target, token string) int {
					return serve(h, f.on(requestCase{target: target, auth: []string{"Bearer " + token}})).status
				}

				steps := []struct {
					target string
					status int
				}{
					{"/v1/occupations", 200},
					{"/v1/maps", 403},
					{"/v1/token", 200},
					{"/aud/maps", 403},
					{"/v1/occupations", 200},
				}
				for _, s := range steps {
					assert.Equal(t, s.status, status(s.target, "pdo-read"), s.target)
				}
				assert.Equal(t, 401, status("/aud/maps", "other-aud"))
				assert.Equal(t, 200, status("/v1/maps", "other-aud"), "the audience is a route's decision too")

				assert.Equal(t, 1, f.upstream.callsFor("pdo-read"))
				assert.Equal(t, 1, f.upstream.callsFor("other-aud"))
				st := cache.Stats()
				assert.EqualValues(t, 5, st.Hits)
				assert.EqualValues(t, 2, st.UpstreamCalls)

				// Invalid answers are cached too; failures are not.
				var down []int
				for range 3 {
					assert.Equal(t, 401, status("/v1/token", "nope"))
					down = append(down, status("/v1/token", "down-token"))
				}
				assert.Equal(t, 1, f.upstream.callsFor("nope"))
				assert.Equal(t, []int{503, 503, 503}, down)
				assert.Equal(t, 3, f.upstream.callsFor("down-token"))
			})
		}
	}
}

// logs collects every log line of the request table's authenticators, at
// debug level, so that TestRequestTable can check them for secrets.
var logs testutil.SyncBuffer

// assertNoSecrets fails when text holds a token the table uses, one of
// tokens (a backend's own), the fake's client secret, or the client's
// private key. A JWT's signature alone counts as the token.
func assertNoSecrets(t *testing.T, what, text string, tokens ...string) {
	t.Helper()
	for token := range known {
		assert.NotContains(t, text, token, "%s holds a token", what)
	}
	for _, token := range tokens {
		assert.NotContains(t, text, token[strings.LastIndexByte(token, '.')+1:], "%s holds a token", what)
	}
	for _, secret := range []string{"down-token", "busy-token", "nope", "demo-secret", clientKey().D.String()[:24]} {
		assert.NotContains(t, text, secret, "%s holds a secret", what)
	}
	jwkD := base64.RawURLEncoding.EncodeToString(clientKey().D.Bytes())[:24]
	assert.NotContains(t, text, jwkD, "%s holds private key material", what)
}
