package mcpgate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/jwt"
	"github.com/tokengate/tokengate/introspect/rfc7662"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/middleware/mcpgate"
)

// env is an MCP server behind a Gate on a loopback port.
type env struct {
	resource string
	gate     *mcpgate.Gate
	seen     chan *auth.TokenInfo // what the whoami tool saw
}

// serve starts an MCP server with the tools whoami (Policy only) and write
// (needs "gipod_pdo_write"), behind a Gate built by configure from a
// Config whose Verifier is v.
func serve(t *testing.T, v introspect.Verifier, configure func(*mcpgate.Config)) *env {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	e := &env{resource: "http://" + ts.Listener.Addr().String() + "/mcp", seen: make(chan *auth.TokenInfo, 16)}
	cfg := mcpgate.Config{
		Middleware: middleware.Config{Verifier: v, ResourceMetadata: &middleware.ResourceMetadata{
			Resource: e.resource, AuthorizationServers: []string{"http://127.0.0.1/op"},
			ScopesSupported: []string{"gipod_pdo_read", "gipod_pdo_write", "vo_info"},
		}},
		Policy: middleware.AllOf("gipod_pdo_read"),
		Tools:  map[string]middleware.Policy{"write": middleware.AllOf("gipod_pdo_write")},
	}
	if configure != nil {
		configure(&cfg)
	}
	gate, err := mcpgate.New(cfg)
	require.NoError(t, err)
	e.gate = gate

	server := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	server.AddReceivingMiddleware(gate.ToolMiddleware())
	server.AddTool(&mcp.Tool{Name: "whoami", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			e.seen <- req.Extra.TokenInfo
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: req.Extra.TokenInfo.UserID}}}, nil
		})
	server.AddTool(&mcp.Tool{Name: "write", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "written"}}}, nil
		})
	mux := http.NewServeMux()
	mux.Handle("/mcp", gate.Handler(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))
	mux.Handle(gate.ResourceMetadataHandler())
	ts.Config.Handler = mux
	ts.Start()
	t.Cleanup(ts.Close)
	return e
}

// rfc7662Verifier returns a cached introspector of as.
func rfc7662Verifier(t *testing.T, as *introspecttest.Server) introspect.Verifier {
	t.Helper()
	v, err := rfc7662.New(rfc7662.Config{Issuer: as.Issuer(), ClientID: as.ClientID, ClientSecret: as.ClientSecret})
	require.NoError(t, err)
	cache, err := introspect.NewCache(v, introspect.CacheConfig{})
	require.NoError(t, err)
	t.Cleanup(cache.Close)
	return cache
}

type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(req)
}

// connect opens a session with the SDK's client.
func (e *env) connect(t *testing.T, token string) (*mcp.ClientSession, error) {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: e.resource, HTTPClient: &http.Client{Transport: bearerTransport{token}},
		MaxRetries: -1, DisableStandaloneSSE: true,
	}, nil)
	if err == nil {
		t.Cleanup(func() { _ = cs.Close() })
	}
	return cs, err
}

// post sends one raw POST to the endpoint.
func (e *env) post(t *testing.T, token, sessionID, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.resource, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if sessionID != "" {
		req.Header.Set("Mcp-Session-Id", sessionID)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// open initializes a session with raw requests and returns its id.
func (e *env) open(t *testing.T, token string) string {
	t.Helper()
	resp, body := e.post(t, token, "", initialize)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	id := resp.Header.Get("Mcp-Session-Id")
	require.NotEmpty(t, id)
	resp, body = e.post(t, token, id, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, body)
	return id
}

func callTool(id int, name string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, id, name)
}

func TestTheSDKsTokenInfo(t *testing.T) {
	as := introspecttest.NewServer()
	defer as.Close()
	e := serve(t, rfc7662Verifier(t, as), nil)
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	token := as.IssueToken(introspecttest.Token{
		Scopes: []string{"gipod_pdo_read", "vo_info"}, Audience: []string{e.resource}, Subject: "user-7",
		ClientID: "mcp-client", ExpiresAt: exp, Claims: map[string]any{"vo_orgcode": "OVO002949"},
	})
	cs, err := e.connect(t, token)
	require.NoError(t, err)
	_, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "whoami"})
	require.NoError(t, err)

	ti := <-e.seen
	assert.Equal(t, "user-7", ti.UserID, "UserID is the token's sub")
	assert.Equal(t, []string{"gipod_pdo_read", "vo_info"}, ti.Scopes)
	assert.True(t, exp.Equal(ti.Expiration), "%v", ti.Expiration)
	assert.Equal(t, "mcp-client", ti.Extra[mcpgate.ExtraClientID])
	assert.Equal(t, "user-7", ti.Extra[mcpgate.ExtraSubject])
	assert.Equal(t, []string{e.resource}, ti.Extra[mcpgate.ExtraAudience])
	info := mcpgate.TokenInfo(ti)
	require.NotNil(t, info)
	assert.Equal(t, "OVO002949", info.StringClaim("vo_orgcode"))
	assert.Nil(t, mcpgate.TokenInfo(nil))
	assert.Nil(t, mcpgate.TokenInfo(&auth.TokenInfo{}))
	assert.Equal(t, 1, as.Calls(token), "the token is verified once for the session: tokengate's cache, not the SDK")
}

func TestUserIDFunc(t *testing.T) {
	as := introspecttest.NewServer()
	defer as.Close()
	e := serve(t, rfc7662Verifier(t, as), func(c *mcpgate.Config) {
		c.UserID = func(info *introspect.TokenInfo) string { return "client:" + info.ClientID }
	})
	token := as.IssueToken(introspecttest.Token{Scopes: []string{"gipod_pdo_read"}, Audience: []string{e.resource}, ClientID: "robot"})
	cs, err := e.connect(t, token)
	require.NoError(t, err)
	_, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "whoami"})
	require.NoError(t, err)
	assert.Equal(t, "client:robot", (<-e.seen).UserID)
}

func TestSessionBoundToItsUser(t *testing.T) {
	as := introspecttest.NewServer()
	defer as.Close()
	e := serve(t, rfc7662Verifier(t, as), nil)
	alice := as.IssueToken(introspecttest.Token{Scopes: []string{"gipod_pdo_read"}, Audience: []string{e.resource}, Subject: "alice"})
	mallory := as.IssueToken(introspecttest.Token{Scopes: []string{"gipod_pdo_read"}, Audience: []string{e.resource}, Subject: "mallory"})
	id := e.open(t, alice)

	resp, body := e.post(t, alice, id, callTool(2, "whoami"))
	assert.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Contains(t, body, "alice")
	resp, body = e.post(t, mallory, id, callTool(3, "whoami"))
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "the SDK refuses another user's token on alice's session: %s", body)
	assert.NotContains(t, body, "alice")
}

func TestRawRefusals(t *testing.T) {
	as := introspecttest.NewServer()
	defer as.Close()
	var mu sync.Mutex
	var decisions []introspect.Decision
	taken := func() []introspect.Decision {
		mu.Lock()
		defer mu.Unlock()
		d := decisions
		decisions = nil
		return d
	}
	e := serve(t, rfc7662Verifier(t, as), func(c *mcpgate.Config) {
		c.MaxRequestBodyBytes = 4096
		c.Middleware.Hooks = &introspect.Hooks{Decision: func(_ context.Context, d introspect.Decision) {
			mu.Lock()
			decisions = append(decisions, d)
			mu.Unlock()
		}}
	})
	read := as.IssueToken(introspecttest.Token{Scopes: []string{"gipod_pdo_read", "vo_info"}, Audience: []string{e.resource}, Subject: "u"})
	id := e.open(t, read)
	md, _ := (&middleware.ResourceMetadata{Resource: e.resource}).URL()
	_ = taken()

	allowed := introspect.Decision{Outcome: introspect.OutcomeAllowed}
	// A refused tool call is a second decision, a refusal, after the
	// request's own; a body the Gate cannot read is none.
	refusedCall := []introspect.Decision{allowed, {Outcome: introspect.OutcomeInsufficientScope, Status: 403}}
	for _, tc := range []struct {
		name, token, body string
		status            int
		challenge         string
		inBody            string
		decisions         []introspect.Decision
	}{
		{"no token", "", initialize, 401,
			`Bearer realm="api", resource_metadata="` + md + `", scope="gipod_pdo_read"`, `"error_description":"a bearer token is required"`,
			[]introspect.Decision{{Outcome: introspect.OutcomeNoToken, Status: 401}}},
		{"unknown token", "nope", initialize, 401,
			`Bearer realm="api", error="invalid_token", error_description="the access token is invalid or expired", resource_metadata="` + md + `", scope="gipod_pdo_read"`, `"error":"invalid_token"`,
			[]introspect.Decision{{Outcome: introspect.OutcomeInvalidToken, Status: 401}}},
		{"one tool call", read, callTool(5, "write"), 403,
			`Bearer realm="api", error="insufficient_scope", error_description="the access token does not grant what this request needs", scope="gipod_pdo_read gipod_pdo_write vo_info", resource_metadata="` + md + `"`,
			`{"jsonrpc":"2.0","id":5,"error":{"code":403,`, refusedCall},
		{"a batch", read, "[" + callTool(6, "whoami") + "," + callTool(7, "write") + "]", 403,
			`Bearer realm="api", error="insufficient_scope", error_description="the access token does not grant what this request needs", scope="gipod_pdo_read gipod_pdo_write vo_info", resource_metadata="` + md + `"`,
			`{"error":"insufficient_scope",`, refusedCall},
		{"the name spelt otherwise", read, `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"write","NAME":"whoami"}}`, 403, "", `"id":8`, refusedCall},
		{"not JSON-RPC", read, `{"method":"tools/call"`, 400, "", `"code":-32700`, []introspect.Decision{allowed}},
		{"too long", read, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"whoami","arguments":{"x":"` + strings.Repeat("x", 5000) + `"}}}`, 413, "", `"code":-32600`,
			[]introspect.Decision{allowed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.post(t, tc.token, id, tc.body)
			assert.Equal(t, tc.status, resp.StatusCode, body)
			if tc.challenge != "" {
				assert.Equal(t, tc.challenge, resp.Header.Get("WWW-Authenticate"))
			}
			assert.Contains(t, body, tc.inBody)
			assert.Equal(t, tc.decisions, taken(), "decisions")
		})
	}
}

func TestToolMiddlewareHoldsWithoutTheGate(t *testing.T) {
	as := introspecttest.NewServer()
	defer as.Close()
	gate, err := mcpgate.New(mcpgate.Config{
		Middleware: middleware.Config{Verifier: rfc7662Verifier(t, as), ResourceMetadata: &middleware.ResourceMetadata{
			Resource: "http://127.0.0.1/mcp", AuthorizationServers: []string{"http://127.0.0.1/op"},
		}},
		Tools: map[string]middleware.Policy{"write": middleware.AllOf("gipod_pdo_write")},
	})
	require.NoError(t, err)
	server := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	server.AddReceivingMiddleware(gate.ToolMiddleware())
	var called atomic.Bool
	server.AddTool(&mcp.Tool{Name: "write", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			called.Store(true)
			return &mcp.CallToolResult{}, nil
		})
	// Mounted without the Gate, by mistake.
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	defer ts.Close()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: ts.URL, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	defer cs.Close()
	_, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "write"})
	var jerr *jsonrpc.Error
	require.True(t, errors.As(err, &jerr), "%v", err)
	assert.EqualValues(t, mcpgate.CodeInsufficientScope, jerr.Code)
	assert.Contains(t, string(jerr.Data), `"scope":"gipod_pdo_write"`)
	assert.False(t, called.Load())
}

func TestJWTBackend(t *testing.T) {
	iss := introspecttest.NewIssuer()
	defer iss.Close()
	// The resource identifier is known only once the listener is: the
	// verifier's audience is that identifier, as the Gate's default is.
	var resource string
	var v *jwt.Verifier
	e := serve(t, verifierFunc(func(ctx context.Context, token string) (*introspect.TokenInfo, error) {
		return v.Verify(ctx, token)
	}), func(c *mcpgate.Config) {
		resource = c.Middleware.ResourceMetadata.Resource
		var err error
		v, err = jwt.New(jwt.Config{Issuer: iss.Issuer(), Audiences: []string{resource}})
		require.NoError(t, err)
	})
	defer v.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, v.WaitReady(ctx))

	good := iss.IssueJWT(introspecttest.JWT{Subject: "user-9", Audience: []string{resource}, Scopes: []string{"gipod_pdo_read"}})
	cs, err := e.connect(t, good)
	require.NoError(t, err)
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	require.NoError(t, err)
	assert.Equal(t, "user-9", res.Content[0].(*mcp.TextContent).Text)
	<-e.seen

	other := iss.IssueJWT(introspecttest.JWT{Subject: "user-9", Audience: []string{"https://other.example/mcp"}, Scopes: []string{"gipod_pdo_read"}})
	resp, _ := e.post(t, other, "", initialize)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
}

type verifierFunc func(ctx context.Context, token string) (*introspect.TokenInfo, error)

func (f verifierFunc) Verify(ctx context.Context, token string) (*introspect.TokenInfo, error) {
	return f(ctx, token)
}

func TestNewRefuses(t *testing.T) {
	as := introspecttest.NewServer()
	defer as.Close()
	v := rfc7662Verifier(t, as)
	md := func() *middleware.ResourceMetadata {
		return &middleware.ResourceMetadata{Resource: "https://mcp.example/mcp", AuthorizationServers: []string{"https://as.example"}}
	}
	for _, tc := range []struct {
		name string
		cfg  mcpgate.Config
		want string
	}{
		{"no metadata", mcpgate.Config{Middleware: middleware.Config{Verifier: v}}, "ResourceMetadata is required"},
		{"no authorization server", mcpgate.Config{Middleware: middleware.Config{Verifier: v,
			ResourceMetadata: &middleware.ResourceMetadata{Resource: "https://mcp.example/mcp"}}}, "AuthorizationServers is empty"},
		{"query tokens", mcpgate.Config{Middleware: middleware.Config{Verifier: v, ResourceMetadata: md(),
			Sources: middleware.FromHeader | middleware.FromQuery}}, "Sources must be FromHeader"},
		{"optional", mcpgate.Config{Middleware: middleware.Config{Verifier: v, ResourceMetadata: md(), Optional: true}}, "Optional"},
		{"negative body", mcpgate.Config{Middleware: middleware.Config{Verifier: v, ResourceMetadata: md()}, MaxRequestBodyBytes: -1}, "negative"},
		{"nil tool policy", mcpgate.Config{Middleware: middleware.Config{Verifier: v, ResourceMetadata: md()},
			Tools: map[string]middleware.Policy{"x": nil}}, `Tools["x"] is nil`},
		{"scope with a quote", mcpgate.Config{Middleware: middleware.Config{Verifier: v, ResourceMetadata: md()},
			Policy: middleware.AllOf(`a"b`)}, "not a scope token"},
		{"no verifier", mcpgate.Config{Middleware: middleware.Config{ResourceMetadata: md()}}, "Verifier is required"},
		{"bad resource", mcpgate.Config{Middleware: middleware.Config{Verifier: v,
			ResourceMetadata: &middleware.ResourceMetadata{Resource: "ftp://x", AuthorizationServers: []string{"https://as.example"}}}}, "not an https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mcpgate.New(tc.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "mcpgate: "), err.Error())
		})
	}
}
