// Command example is an MCP server with two GIPOD-like tools, protected by
// tokengate through mcpgate, as a team would copy it.
//
// With no -issuer it starts an embedded demo authorization server (an
// ACM/IDM-style OpenID Provider with RFC 7662 introspection) on a loopback
// port and prints demo tokens, so
//
//	go run ./example
//
// works on a machine without network. Against ACM/IDM:
//
//	go run ./example -issuer https://authenticatie.vlaanderen.be/op \
//	    -client-id "$CLIENT_ID" -client-secret "$SECRET" \
//	    -resource https://mcp.example.be/mcp
//
// Every request needs gipod_pdo_read; the tool request_occupation needs
// gipod_pdo_write too, and a token without it gets 403 insufficient_scope
// with the scopes to ask for. Tokens must be issued for the -resource URL
// (their audience), which is the URL MCP clients connect to.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/rfc7662"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/middleware/mcpgate"
)

// The scopes of the example, real GIPOD scope names.
const (
	scopeRead  = "gipod_pdo_read"
	scopeWrite = "gipod_pdo_write"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// options are the example's flags.
type options struct {
	addr         string
	resource     string
	issuer       string
	clientID     string
	clientSecret string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("example", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8090", "address to listen on")
	fs.StringVar(&o.resource, "resource", "", "the MCP endpoint's URL, the tokens' audience (default http://ADDR/mcp)")
	fs.StringVar(&o.issuer, "issuer", "", "OpenID Provider whose introspection endpoint checks tokens (default: an embedded demo server)")
	fs.StringVar(&o.clientID, "client-id", "", "client id for the introspection endpoint")
	fs.StringVar(&o.clientSecret, "client-secret", "", "client secret for the introspection endpoint")
	if err := fs.Parse(args); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if o.resource == "" {
		o.resource = "http://" + ln.Addr().String() + "/mcp"
	}

	var demo *introspecttest.Server
	if o.issuer == "" {
		demo = introspecttest.NewServer()
		defer demo.Close()
		o.issuer, o.clientID, o.clientSecret = demo.Issuer(), demo.ClientID, demo.ClientSecret
	}
	a, err := newApp(o)
	if err != nil {
		return err
	}
	defer a.Close()

	fmt.Fprintf(stdout, "MCP endpoint: %s (listening on http://%s)\n", o.resource, ln.Addr())
	fmt.Fprintf(stdout, "metadata:     %s\n", a.metadataURL)
	if demo != nil {
		printDemoTokens(stdout, demo, o.resource)
	}

	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// printDemoTokens issues demo tokens for the resource and prints them.
func printDemoTokens(w io.Writer, demo *introspecttest.Server, resource string) {
	issue := func(scope ...string) string {
		return demo.IssueToken(introspecttest.Token{
			Scopes: scope, Audience: []string{resource}, Subject: "demo-user", ClientID: "demo-mcp-client",
		})
	}
	fmt.Fprintln(w, "-----")
	fmt.Fprintln(w, "demo tokens (Authorization: Bearer …), for an MCP client such as the SDK's:")
	fmt.Fprintf(w, "  # %s\n  %s\n", scopeRead, issue(scopeRead))
	fmt.Fprintf(w, "  # %s %s\n  %s\n", scopeRead, scopeWrite, issue(scopeRead, scopeWrite))
	fmt.Fprintf(w, "  # %s, for another resource: 401 invalid_token\n  %s\n", scopeRead, demo.IssueToken(introspecttest.Token{
		Scopes: []string{scopeRead}, Audience: []string{"https://other.example/mcp"}, Subject: "demo-user",
	}))
	fmt.Fprintln(w, "try:")
	fmt.Fprintf(w, "  curl -i %s -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d '{}'\n", resource)
	fmt.Fprintln(w, "-----")
}

// app is the example's HTTP handler and what it holds.
type app struct {
	handler     http.Handler
	metadataURL string
	cache       *introspect.Cache
}

// Close releases the token cache.
func (a *app) Close() { a.cache.Close() }

// newApp builds the MCP server behind mcpgate, checking tokens with the
// introspection endpoint of o.issuer.
func newApp(o options) (*app, error) {
	introspector, err := rfc7662.New(rfc7662.Config{
		Issuer: o.issuer, ClientID: o.clientID, ClientSecret: o.clientSecret,
	})
	if err != nil {
		return nil, err
	}
	cache, err := introspect.NewCache(introspector, introspect.CacheConfig{})
	if err != nil {
		return nil, err
	}
	md := &middleware.ResourceMetadata{
		Resource:             o.resource,
		AuthorizationServers: []string{o.issuer},
		ScopesSupported:      []string{scopeRead, scopeWrite},
		ResourceName:         "GIPOD MCP example",
	}
	gate, err := mcpgate.New(mcpgate.Config{
		Middleware: middleware.Config{Verifier: cache, Realm: "gipod", ResourceMetadata: md},
		Policy:     middleware.AllOf(scopeRead),
		Tools:      map[string]middleware.Policy{"request_occupation": middleware.AllOf(scopeWrite)},
	})
	if err != nil {
		cache.Close()
		return nil, err
	}
	server := newMCPServer()
	server.AddReceivingMiddleware(gate.ToolMiddleware())

	endpoint, err := pathOf(o.resource)
	if err != nil {
		cache.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(endpoint, gate.Handler(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))
	mux.Handle(gate.ResourceMetadataHandler())
	u, _ := md.URL()
	return &app{handler: mux, metadataURL: u, cache: cache}, nil
}

// pathOf returns the path the endpoint is served at on this host.
func pathOf(resource string) (string, error) {
	rest, ok := strings.CutPrefix(resource, "http://")
	if !ok {
		rest, ok = strings.CutPrefix(resource, "https://")
	}
	if !ok {
		return "", fmt.Errorf("-resource %q is not an http(s) URL", resource)
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:], nil
	}
	return "/", nil
}

type listInput struct{}

type requestInput struct {
	Location string `json:"location" jsonschema:"where the works take place"`
}

// newMCPServer returns the server with its two tools. Handlers read the
// token as the SDK sees it in req.Extra.TokenInfo, and tokengate's facts
// behind it with mcpgate.TokenInfo.
func newMCPServer() *mcp.Server {
	server := mcp.NewServer(&mcp.Implementation{Name: "gipod-example", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "list_occupations", Description: "List the public domain occupations (needs " + scopeRead + ")."},
		func(_ context.Context, req *mcp.CallToolRequest, _ listInput) (*mcp.CallToolResult, any, error) {
			ti := req.Extra.TokenInfo
			return text(fmt.Sprintf("occupations for %s (scopes %s, client %s): GIPOD-1, GIPOD-2",
				ti.UserID, strings.Join(ti.Scopes, " "), mcpgate.TokenInfo(ti).ClientID)), nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "request_occupation", Description: "Request an occupation (needs " + scopeWrite + ")."},
		func(_ context.Context, req *mcp.CallToolRequest, in requestInput) (*mcp.CallToolResult, any, error) {
			return text(fmt.Sprintf("occupation requested at %s by %s", in.Location, req.Extra.TokenInfo.UserID)), nil, nil
		})
	return server
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}
