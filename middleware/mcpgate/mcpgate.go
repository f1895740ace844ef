package mcpgate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/scopes"
)

// Config configures a [Gate]. Middleware.Verifier and
// Middleware.ResourceMetadata are required; the zero value of every other
// field is a sensible default.
type Config struct {
	// Middleware configures the tokengate Authenticator behind the Gate,
	// as for net/http. For MCP:
	//
	//   - ResourceMetadata is required, its Resource is the MCP endpoint's
	//     URL exactly as clients are told it (such as
	//     "https://mcp.example/mcp"), and its AuthorizationServers must
	//     name at least one issuer;
	//   - Audiences empty means []string{ResourceMetadata.Resource}: only
	//     tokens issued for this server are accepted (RFC 8707);
	//   - Sources must be zero or FromHeader (MCP forbids tokens in the
	//     query string), and Optional must be false;
	//   - ErrorHandler, when set, answers every refusal, the 403 of a tool
	//     call included; nil means [middleware.WriteError], and a JSON-RPC
	//     error body for a refused tool call;
	//   - Skipper, when it returns true, hands the request to the SDK
	//     untouched: no token is looked for, the SDK sees no TokenInfo,
	//     and [Gate.ToolMiddleware] refuses the tools of Tools.
	//   - Hooks.Decision reports the decision on each request; a POST
	//     whose tool call a policy of Tools refuses then reports that
	//     refusal too (allowed, then insufficient_scope), as a route-level
	//     check behind a group does. A body the Gate cannot read (400, 413)
	//     is no decision of the middleware's and reports nothing more.
	Middleware middleware.Config
	// Policy is what every request to the endpoint needs, such as
	// middleware.AllOf("gipod_pdo_read"). Its scopes are named in the
	// scope attribute of 401 challenges, as the MCP specification
	// recommends. Nil means any token valid for this server.
	Policy middleware.Policy
	// Tools maps a tool's name to what calling it needs, on top of Policy.
	// A tool not listed needs Policy only. Nil means no tool needs more.
	Tools map[string]middleware.Policy
	// UserID returns the user id the SDK keeps in its TokenInfo, to which
	// it binds each session. Nil means the token's subject ("sub"), which
	// is empty for client-credentials tokens and for Geosecure's: such
	// sessions are bound to no user.
	UserID func(info *introspect.TokenInfo) string
	// MaxRequestBodyBytes bounds the POST body read to find tool calls,
	// which is read only when Tools is not empty and the token is valid. A
	// longer body is answered 413. Zero means
	// [mcp.DefaultMaxRequestBodyBytes], the SDK's own default; keep it no
	// smaller than the handler's StreamableHTTPOptions.MaxRequestBodyBytes.
	// Negative is an error.
	MaxRequestBodyBytes int64
}

// Gate protects an MCP server's streamable HTTP handler with tokengate. It
// is safe for concurrent use.
type Gate struct {
	auth         *middleware.Authenticator
	policy       middleware.Policy // never nil
	tools        map[string]middleware.Policy
	userID       func(*introspect.TokenInfo) string
	maxBody      int64
	errorHandler func(http.ResponseWriter, *http.Request, *middleware.Error) // nil: the default
	skipper      func(*http.Request) bool
	// scopeAttr is `, scope="…"` for 401 challenges; "" when Policy names
	// no scope.
	scopeAttr string
	// known are the scopes this server knows: Policy's, every tool's and
	// the metadata's scopes_supported. A step-up challenge keeps those
	// the token already holds.
	known []string
	// requireBearer is the SDK's middleware with a verifier that returns
	// what tokengate verified.
	requireBearer func(http.Handler) http.Handler
}

// sdkClockSkew switches the SDK's own expiry check off: tokengate decided
// the token is valid (with its verifier's leeway), and the SDK must not
// refuse it a moment later with an answer of its own, a 401 without
// tokengate's challenge.
const sdkClockSkew = 100 * 365 * 24 * time.Hour

// New returns a Gate, or an error when the configuration is unusable or
// would not meet the MCP authorization specification.
func New(cfg Config) (*Gate, error) {
	mc := cfg.Middleware
	md := mc.ResourceMetadata
	switch {
	case md == nil:
		return nil, errors.New("mcpgate: Config.Middleware.ResourceMetadata is required: MCP servers must serve RFC 9728 metadata")
	case len(md.AuthorizationServers) == 0:
		return nil, errors.New("mcpgate: Config.Middleware.ResourceMetadata.AuthorizationServers is empty: MCP requires at least one")
	case mc.Sources != 0 && mc.Sources != middleware.FromHeader:
		return nil, errors.New("mcpgate: Config.Middleware.Sources must be FromHeader: MCP clients send tokens in the Authorization header only")
	case mc.Optional:
		return nil, errors.New("mcpgate: Config.Middleware.Optional is not supported: every request to a protected MCP server needs a token")
	case cfg.MaxRequestBodyBytes < 0:
		return nil, errors.New("mcpgate: Config.MaxRequestBodyBytes is negative; the body read is always bounded (0 means the SDK's default)")
	}
	if len(mc.Audiences) == 0 {
		mc.Audiences = []string{md.Resource}
	}
	a, err := middleware.New(mc)
	if err != nil {
		return nil, fmt.Errorf("mcpgate: %w", err)
	}
	g := &Gate{
		auth:         a,
		policy:       cfg.Policy,
		tools:        make(map[string]middleware.Policy, len(cfg.Tools)),
		userID:       cfg.UserID,
		maxBody:      cfg.MaxRequestBodyBytes,
		errorHandler: mc.ErrorHandler,
		skipper:      mc.Skipper,
	}
	if g.policy == nil {
		g.policy = middleware.Every()
	}
	if g.userID == nil {
		g.userID = func(info *introspect.TokenInfo) string { return info.Subject }
	}
	if g.maxBody == 0 {
		g.maxBody = mcp.DefaultMaxRequestBodyBytes
	}
	known := slices.Clone(md.ScopesSupported)
	if err := checkScopes("Policy", g.policy.Scope()); err != nil {
		return nil, err
	}
	known = append(known, strings.Fields(g.policy.Scope())...)
	for name, p := range cfg.Tools {
		if p == nil {
			return nil, fmt.Errorf("mcpgate: Config.Tools[%q] is nil", name)
		}
		if err := checkScopes(fmt.Sprintf("Tools[%q]", name), p.Scope()); err != nil {
			return nil, err
		}
		known = append(known, strings.Fields(p.Scope())...)
		g.tools[name] = p
	}
	g.known = scopes.New(known...).List()
	if s := g.policy.Scope(); s != "" {
		g.scopeAttr = `, scope="` + s + `"`
	}
	g.requireBearer = auth.RequireBearerToken(g.verified, &auth.RequireBearerTokenOptions{
		ResourceMetadataURL:    mustURL(md),
		AllowMissingExpiration: true,
		ClockSkew:              sdkClockSkew,
	})
	return g, nil
}

// checkScopes checks that a policy's scopes are RFC 6749 §3.3 scope tokens,
// so that they can go in a challenge's quoted scope attribute as they are.
func checkScopes(field, s string) error {
	for _, scope := range strings.Fields(s) {
		if strings.ContainsFunc(scope, func(r rune) bool { return r < 0x21 || r == '"' || r == '\\' || r > 0x7e }) {
			return fmt.Errorf("mcpgate: Config.%s: %q is not a scope token (RFC 6749 §3.3)", field, scope)
		}
	}
	return nil
}

// mustURL returns the metadata document's URL; middleware.New has checked
// that there is one.
func mustURL(md *middleware.ResourceMetadata) string {
	u, _ := md.URL()
	return u
}

// Authenticator returns the tokengate Authenticator behind g, for handlers
// that need [middleware.Authenticator.Token] or
// [middleware.Authenticator.ErrorFor].
func (g *Gate) Authenticator() *middleware.Authenticator { return g.auth }

// ResourceMetadataHandler returns the path of the RFC 9728 document of the
// MCP endpoint and a handler that serves it, for [http.ServeMux.Handle]:
// "/.well-known/oauth-protected-resource/mcp" for an endpoint at "/mcp".
// Mount it outside the Gate: the document is public.
func (g *Gate) ResourceMetadataHandler() (path string, h http.Handler) {
	return g.auth.ResourceMetadataHandler()
}

// Handler returns next, the SDK's streamable HTTP handler
// ([mcp.NewStreamableHTTPHandler]), behind the Gate: every request needs a
// token valid for this server that satisfies Config.Policy, and a POST
// that calls a tool of Config.Tools needs that tool's policy too. An
// allowed request reaches next with tokengate's facts in its context, for
// [introspect.FromContext], and the SDK's, for [auth.TokenInfoFromContext]
// and the tool handlers' req.Extra.TokenInfo.
func (g *Gate) Handler(next http.Handler) http.Handler {
	sdk := g.requireBearer(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.skipper != nil && g.skipper(r) {
			next.ServeHTTP(w, r)
			return
		}
		res, err := g.auth.Admit(w, r, g.policy)
		if err != nil {
			e := g.refusal(err)
			if e.Status == http.StatusUnauthorized && g.scopeAttr != "" {
				e.Challenge += g.scopeAttr
			}
			g.refuse(w, r, e, nil)
			return
		}
		if res.Answered {
			return
		}
		r = res.Request
		if len(g.tools) > 0 && r.Method == http.MethodPost {
			var ok bool
			if r, ok = g.admitToolCalls(w, r, res.Info); !ok {
				return
			}
		}
		sdk.ServeHTTP(w, r)
	})
}

// refusal returns the *middleware.Error that Admit's refusals always are;
// anything else would be answered as a failure, 503, never as a 500.
func (g *Gate) refusal(err error) *middleware.Error {
	var e *middleware.Error
	if errors.As(err, &e) {
		return e
	}
	return g.auth.ErrorFor(err)
}

// verified is the SDK's TokenVerifier: it verifies nothing, and returns
// the facts that tokengate verified for this very request, which Handler
// has just put in its context.
func (g *Gate) verified(_ context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
	info := introspect.FromContext(r.Context())
	if info == nil {
		// Handler never lets a request without facts reach the SDK.
		return nil, auth.ErrInvalidToken
	}
	return g.sdkTokenInfo(info), nil
}
