// Package middleware protects net/http handlers with OAuth 2.0 bearer
// tokens (RFC 6750): it finds the token in the request, has an
// [introspect.Verifier] check it, and enforces each route's [Policy].
//
// Build one [Authenticator] with [New] and use its methods as middleware,
// either per route or as a group-level Authenticate plus route-level
// requirements:
//
//	auth, err := middleware.New(middleware.Config{Verifier: cache, Realm: "gipod"})
//	mux.Handle("GET /v1/maps", auth.Require(middleware.AllOf("MapRequest"))(maps))
//	mux.Handle("GET /v1/token", auth.Authenticate(tokenInfo))
//
// A route states what it needs with a Policy: [AllOf] or [AnyOf] scopes (a
// [ScopeRule], whose Matching method chooses scopes.Hierarchic or
// scopes.Wildcard over exact comparison), [OVOCodes], [Every] one of
// several, or a [PolicyFunc]. Require(nil) allows any verified token.
//
// Handlers read the token's facts with [introspect.FromContext], on every
// stack, and may check a scope themselves:
//
//	if introspect.FromContext(r.Context()).HasScope("gipod_pdo_write") { … }
//
// A handler that calls the authorization server itself with the token
// ([Authenticator.Token]) answers a failure as the middleware would with
// [Authenticator.ErrorFor] and [WriteError]. Adapters to other frameworks
// call [Authenticator.Admit], which makes the whole decision and sets every
// response header it calls for; they write a refusal's status and body and
// call the next handler, nothing more.
//
// Tokens come from the Authorization header by default; Config.Sources
// adds the form body, the query, a cookie ([FromCookie]) and an extractor
// of the application's ([FromExtractor]), under the same rules. With
// Config.ResourceMetadata, the resource describes itself as RFC 9728 asks:
// challenges carry resource_metadata, and
// [Authenticator.ResourceMetadataHandler] serves the document.
//
// The Echo v4 adapter, in package echogate below this one, makes the same
// decisions in Echo's conventions and names what an Echo application needs
// itself, so that it need not import this package next to Echo's own
// middleware; net/http users never compile Echo. The gin adapter, in
// package gingate, makes them in gin's conventions with this package's
// policies; net/http and Echo users never compile gin. Each stack has its
// own skipper and error handler: Config.Skipper and Config.ErrorHandler are
// net/http's, and echogate and gingate run only the ones of their own
// Config.
//
// # Responses
//
// Refusals follow RFC 6750 §3, with a JSON body
// {"error":…,"error_description":…} ({"error_description":…} alone for
// the 401 of a request without a token, whose challenge has no error):
//
//	no token in any enabled source   401  WWW-Authenticate: Bearer realm="…"
//	malformed request                400  … error="invalid_request"
//	invalid, expired, wrong audience 401  … error="invalid_token"
//	policy not met                   403  … error="insufficient_scope", scope="…"
//	authorization server failing     503  Retry-After: … (no challenge)
//
// A request is malformed when its token breaks the b64token syntax, is
// longer than Config.MaxTokenLength, is empty, is sent twice (two
// Authorization headers, a repeated parameter) or in more than one way,
// and, with [FromForm], when a form-encoded POST, PUT or PATCH body is
// larger than Config.MaxFormBytes, whatever source holds the token.
// Parameter names are decoded as net/url decodes them, so that an escaped
// spelling such as "access%5Ftoken" is the parameter the handler's
// FormValue sees, and escapes none of these checks.
// Malformed requests never reach the authorization server. An authorization
// server that fails is answered with 503, never 401: telling a client that
// its good token is bad makes it throw the token away.
//
// # CORS preflight
//
// Browsers send a CORS preflight (OPTIONS with Access-Control-Request-Method)
// without credentials. A CORS middleware in front of this one should answer
// it, with the Access-Control-* headers. For a preflight that gets this far,
// Config.AllowPreflight makes the middleware answer 204 No Content itself,
// with no body and no Access-Control-* headers; the protected handler is
// never called, not even on a route registered without a method, where it
// would otherwise run without a TokenInfo. Without AllowPreflight a
// preflight is a request without a token: 401.
//
// # Logs and decisions
//
// Every refusal is logged to Config.Logger, with attributes that say why:
// status, outcome, reason, method and path, and, where they apply, the
// route's required_scope, the token's client_id and fingerprint, and the
// request's request_id (X-Request-Id, or a traceparent's trace id). At
// debug every refusal has a line; at info, the first of each outcome in a
// minute, and at warn the first 503 in a second, each such line counting
// in suppressed the refusals of its outcome left out since the one before,
// so that an attack or an outage cannot flood the log. Config.Hooks
// receives every decision, allowed or refused, for metrics and traces.
//
// # Security
//
// The middleware fails closed: every error that is not understood is a
// refusal. Error descriptions are fixed texts; neither a token nor an
// upstream error message ever reaches a response. Log lines name tokens only
// by [introspect.Fingerprint]. Tokens in the query string (opt-in, and
// discouraged by RFC 6750) are in the request URI: keep them out of access
// logs, and note that successful answers carry "Cache-Control: private".
//
// A route-level requirement trusts a TokenInfo in the request's context only
// when its own Authenticator put it there; one that another Authenticator
// or [introspect.NewContext] put there does not let a request skip
// verification.
package middleware
