package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/middleware/mcpgate"
)

// fixture is the example's server on a loopback port, with its demo
// authorization server.
type fixture struct {
	as       *introspecttest.Server
	resource string
	metadata string
}

func start(t *testing.T) *fixture {
	t.Helper()
	as := introspecttest.NewServer()
	t.Cleanup(as.Close)
	ts := httptest.NewUnstartedServer(nil)
	resource := "http://" + ts.Listener.Addr().String() + "/mcp"
	a, err := newApp(options{resource: resource, issuer: as.Issuer(), clientID: as.ClientID, clientSecret: as.ClientSecret})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	ts.Config.Handler = a.handler
	ts.Start()
	t.Cleanup(ts.Close)
	return &fixture{as: as, resource: resource, metadata: a.metadataURL}
}

// token issues a token for the resource, for user, with scopes.
func (f *fixture) token(user string, scope ...string) string {
	return f.as.IssueToken(introspecttest.Token{Scopes: scope, Audience: []string{f.resource}, Subject: user})
}

// recorder is the MCP client's HTTP transport: it adds the bearer token
// and keeps what the server answered.
type recorder struct {
	token string
	mu    sync.Mutex
	seen  []answer
}

type answer struct {
	status     int
	challenge  string
	retryAfter string
	body       string
}

func (rt *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	if rt.token != "" {
		req.Header.Set("Authorization", "Bearer "+rt.token)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	a := answer{status: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate"), retryAfter: resp.Header.Get("Retry-After")}
	if resp.StatusCode >= 400 {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a.body = string(body)
		resp.Body = io.NopCloser(strings.NewReader(a.body))
	}
	rt.mu.Lock()
	rt.seen = append(rt.seen, a)
	rt.mu.Unlock()
	return resp, nil
}

// last returns the last answer with an error status.
func (rt *recorder) lastError(t *testing.T) answer {
	t.Helper()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for i := len(rt.seen) - 1; i >= 0; i-- {
		if rt.seen[i].status >= 400 {
			return rt.seen[i]
		}
	}
	t.Fatal("no error answer recorded")
	return answer{}
}

// connect opens a session with the SDK's own client and streamable
// transport, with token as the bearer token ("" for none).
func (f *fixture) connect(t *testing.T, token string) (*mcp.ClientSession, *recorder, error) {
	t.Helper()
	rt := &recorder{token: token}
	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1.0.0"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:             f.resource,
		HTTPClient:           &http.Client{Transport: rt},
		MaxRetries:           -1,
		DisableStandaloneSSE: true,
	}, nil)
	if err == nil {
		t.Cleanup(func() { _ = cs.Close() })
	}
	return cs, rt, err
}

// bearer parses a challenge with the SDK's own parser and returns its
// Bearer parameters.
func bearer(t *testing.T, challenge string) map[string]string {
	t.Helper()
	cs, err := oauthex.ParseWWWAuthenticate([]string{challenge})
	require.NoError(t, err, challenge)
	require.Len(t, cs, 1, challenge)
	require.Equal(t, "bearer", cs[0].Scheme)
	return cs[0].Params
}

func TestToolsListedWithAGoodToken(t *testing.T) {
	f := start(t)
	cs, _, err := f.connect(t, f.token("user-1", scopeRead))
	require.NoError(t, err)
	ctx := context.Background()

	tools, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	assert.ElementsMatch(t, []string{"list_occupations", "request_occupation"}, names)

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_occupations"})
	require.NoError(t, err)
	require.False(t, res.IsError)
	assert.Equal(t, "occupations for user-1 (scopes gipod_pdo_read, client demo-client): GIPOD-1, GIPOD-2",
		res.Content[0].(*mcp.TextContent).Text, "the SDK's TokenInfo: UserID from sub, the scopes, tokengate's facts in Extra")
}

func TestNoTokenIs401WithResourceMetadata(t *testing.T) {
	f := start(t)
	_, rt, err := f.connect(t, "")
	require.Error(t, err)
	a := rt.lastError(t)
	assert.Equal(t, http.StatusUnauthorized, a.status)
	params := bearer(t, a.challenge)
	assert.Equal(t, f.metadata, params["resource_metadata"])
	assert.Equal(t, scopeRead, params["scope"], "the MCP spec: a 401 SHOULD name the scopes to ask for")
	assert.Equal(t, "gipod", params["realm"])
	// RFC 6750 §3.1: a request without credentials gets no error code, as
	// the net/http and Echo adapters answer it.
	assert.NotContains(t, params, "error")
}

func TestWrongAudienceIs401InvalidToken(t *testing.T) {
	f := start(t)
	other := f.as.IssueToken(introspecttest.Token{Scopes: []string{scopeRead}, Audience: []string{"https://other.example/mcp"}, Subject: "user-1"})
	_, rt, err := f.connect(t, other)
	require.Error(t, err)
	a := rt.lastError(t)
	assert.Equal(t, http.StatusUnauthorized, a.status)
	params := bearer(t, a.challenge)
	assert.Equal(t, "invalid_token", params["error"])
	assert.Equal(t, "the access token is not meant for this service", params["error_description"])
	assert.Equal(t, f.metadata, params["resource_metadata"])
}

func TestToolNeedingMoreIs403InsufficientScope(t *testing.T) {
	f := start(t)
	cs, rt, err := f.connect(t, f.token("user-1", scopeRead))
	require.NoError(t, err)
	ctx := context.Background()

	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "request_occupation", Arguments: map[string]any{"location": "Gent"}})
	require.Error(t, err)
	var jerr *jsonrpc.Error
	require.True(t, errors.As(err, &jerr), "%v", err)
	assert.EqualValues(t, mcpgate.CodeInsufficientScope, jerr.Code)

	a := rt.lastError(t)
	assert.Equal(t, http.StatusForbidden, a.status)
	params := bearer(t, a.challenge)
	assert.Equal(t, "insufficient_scope", params["error"])
	assert.Equal(t, "gipod_pdo_read gipod_pdo_write", params["scope"], "what the call needs, the scope already held included")
	assert.Equal(t, f.metadata, params["resource_metadata"])
	assert.NotEmpty(t, params["error_description"])

	// The answer is a JSON-RPC error, so the session goes on.
	_, err = cs.ListTools(ctx, nil)
	require.NoError(t, err, "the session survives a refused tool call")

	// With the scope, the same call goes through.
	cs2, _, err := f.connect(t, f.token("user-1", scopeRead, scopeWrite))
	require.NoError(t, err)
	res, err := cs2.CallTool(ctx, &mcp.CallToolParams{Name: "request_occupation", Arguments: map[string]any{"location": "Gent"}})
	require.NoError(t, err)
	assert.Equal(t, "occupation requested at Gent by user-1", res.Content[0].(*mcp.TextContent).Text)
}

func TestAuthorizationServerDownIs503(t *testing.T) {
	f := start(t)
	token := f.token("user-1", scopeRead)
	f.as.SetFault(introspecttest.Fault{Status: http.StatusInternalServerError, Body: `{"error":"database on fire at db-7.internal"}`})
	_, rt, err := f.connect(t, token)
	require.Error(t, err)
	a := rt.lastError(t)
	assert.Equal(t, http.StatusServiceUnavailable, a.status)
	assert.NotEmpty(t, a.retryAfter)
	assert.Empty(t, a.challenge, "a 503 is no challenge")
	assert.NotContains(t, a.body, "db-7", "the upstream's words never reach the client")
	assert.JSONEq(t, `{"error":"temporarily_unavailable","error_description":"the authorization server is unavailable; try again later"}`, a.body)
}

func TestMetadataServedForTheEndpoint(t *testing.T) {
	f := start(t)
	assert.True(t, strings.HasSuffix(f.metadata, "/.well-known/oauth-protected-resource/mcp"), f.metadata)

	// The SDK's client fetches it from the path of the MCP endpoint and
	// checks that its resource is the endpoint (RFC 9728 §3.3).
	prm, err := oauthex.GetProtectedResourceMetadata(context.Background(), f.metadata, f.resource, http.DefaultClient)
	require.NoError(t, err)
	assert.Equal(t, f.resource, prm.Resource)
	assert.Equal(t, []string{f.as.Issuer()}, prm.AuthorizationServers)
	assert.Equal(t, []string{scopeRead, scopeWrite}, prm.ScopesSupported)

	resp, err := http.Get(f.metadata)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var doc map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	assert.Equal(t, []any{"header"}, doc["bearer_methods_supported"])
}

func TestPathOf(t *testing.T) {
	for resource, want := range map[string]string{
		"https://mcp.example/mcp":      "/mcp",
		"http://127.0.0.1:8090/v1/mcp": "/v1/mcp",
		"https://mcp.example":          "/",
	} {
		got, err := pathOf(resource)
		require.NoError(t, err)
		assert.Equal(t, want, got, resource)
	}
	_, err := pathOf("ftp://x/mcp")
	assert.Error(t, err)
}
