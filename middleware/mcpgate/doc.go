// Package mcpgate protects a Model Context Protocol server built with the
// official Go SDK (github.com/modelcontextprotocol/go-sdk) with tokengate,
// so that its streamable HTTP endpoint is the OAuth 2.0 resource server
// that the MCP authorization specification (revision 2025-11-25) asks for,
// whichever backend checks the tokens (RFC 7662 introspection, Geosecure,
// local JWT validation, behind an [introspect.Cache]).
//
// It is a module of its own, so that users of tokengate's net/http and Echo
// middleware never download the SDK.
//
// Build one [Gate] with [New], wrap the SDK's handler with
// [Gate.Handler], serve the RFC 9728 document at the path
// [Gate.ResourceMetadataHandler] names, and add [Gate.ToolMiddleware] to
// the server when tools need scopes of their own:
//
//	gate, err := mcpgate.New(mcpgate.Config{
//		Middleware: middleware.Config{
//			Verifier: cache,
//			ResourceMetadata: &middleware.ResourceMetadata{
//				Resource:             "https://mcp.example/mcp",
//				AuthorizationServers: []string{"https://authenticatie.vlaanderen.be/op"},
//			},
//		},
//		Policy: middleware.AllOf("gipod_pdo_read"),
//		Tools:  map[string]middleware.Policy{"request_occupation": middleware.AllOf("gipod_pdo_write")},
//	})
//	server.AddReceivingMiddleware(gate.ToolMiddleware())
//	mux.Handle("/mcp", gate.Handler(mcp.NewStreamableHTTPHandler(getServer, nil)))
//	mux.Handle(gate.ResourceMetadataHandler())
//
// # What the specification asks, and where it is done
//
//   - Protected resource metadata (RFC 9728): Config.Middleware's
//     ResourceMetadata is required and must name at least one
//     authorization server. Its document is served at the path inserted
//     before the endpoint's path ("/.well-known/oauth-protected-resource/mcp"
//     for ".../mcp"), the first place an MCP client looks, and every
//     challenge names it in resource_metadata.
//   - Audience (RFC 8707): a token is accepted only if it was issued for
//     this server. Config.Middleware.Audiences, when empty, becomes the
//     resource identifier itself, ResourceMetadata.Resource: the value MCP
//     clients send as the resource parameter, which the authorization
//     server puts in the token's aud. Set Audiences only when the
//     authorization server names the server otherwise (Entra ID's
//     "api://…", a trailing slash it adds or drops), and list only names
//     of this server. A JWT verifier (introspect/jwt) checks its own
//     Config.Audiences as well; give it the same list.
//   - Challenges: 401 without a token (realm, resource_metadata and the
//     scope of Config.Policy, with no error code, as RFC 6750 §3.1 says),
//     401 invalid_token, 403 insufficient_scope with scope, 400
//     invalid_request, all with error_description. An authorization server
//     that is down, slow or answering nonsense is a 503 with Retry-After,
//     never a 500 and never its own words.
//   - Tokens only in the Authorization header: the specification forbids
//     the query string, so Config.Middleware.Sources may only be
//     FromHeader.
//
// # The SDK's view of the token
//
// Tool handlers see the token as the SDK does, in req.Extra.TokenInfo
// (and the HTTP handler's context has it for [auth.TokenInfoFromContext]):
// Scopes, Expiration, UserID (the token's "sub", or Config.UserID's
// answer) and Extra, which holds tokengate's [introspect.TokenInfo] for
// [TokenInfo]. The SDK exports no way to put a TokenInfo in a context, so
// the Gate hands the request on to [auth.RequireBearerToken] with a
// verifier that returns the facts tokengate has just checked: the token is
// verified once, and the SDK's own checks (a bearer header, an expiry) are
// configured never to disagree with tokengate's. The SDK binds each
// session to the UserID that opened it, so a token of another user cannot
// take a session over.
//
// # Per-tool scopes
//
// The specification wants a token that lacks a scope for an operation to
// get an HTTP 403 insufficient_scope whose scope names what to ask for
// (step-up authorization). A tool handler cannot answer so: by the time
// it runs the HTTP answer may already be a 200 event stream. So the Gate
// reads the body of each POST, once the token is verified, with the SDK's
// own JSON-RPC decoder, finds the tools/call requests in it and checks the
// policy of each tool named in Config.Tools before the SDK sees the
// request. The refusal is a 403 whose challenge names the scopes the
// request needs together with the scopes the token already holds that
// this server knows of, as the specification recommends so that a client
// does not lose them in the step-up; its body is a JSON-RPC error for the
// call's id ([CodeInsufficientScope]), so the SDK's client keeps its
// session. [Gate.ToolMiddleware] makes the same check inside the server,
// on the tool name the SDK itself decoded: add it, so that no request can
// reach a tool past its policy even if the two readings of a body could
// ever differ.
//
// # Security
//
// The Gate fails closed: a body it cannot read, under Config.Tools, is
// refused, and a tool call without tokengate's facts behind it is refused
// by the tool middleware. Tokens and upstream errors never reach a
// response; log lines name tokens only by fingerprint.
package mcpgate
