// Package echogate is the Echo v4 adapter of the tokengate middleware: the
// same decisions as package middleware, in Echo's conventions, under names
// of its own, so that an Echo application, which already imports Echo's
// middleware package, need not import tokengate's next to it.
//
// Build one [Middleware] with [New] and use its methods on groups and
// routes; state each route's rule with [AllOf], [AnyOf], [OVOCodes],
// [Every] or a [PolicyFunc]:
//
//	gate, err := echogate.New(echogate.Config{Verifier: cache, Realm: "gipod"})
//	api := e.Group("/v1", gate.Authenticate())
//	api.GET("/maps", maps, gate.Require(echogate.AllOf("MapRequest")))
//
// Handlers read the token's facts with [introspect.FromContext] on
// c.Request().Context(), as net/http handlers do on r.Context().
//
// A refused request becomes an [*echo.HTTPError] whose Message is the JSON
// body ([middleware.Body]) and whose Internal is the [*middleware.Error], so
// the application's error handler sees the cause. The WWW-Authenticate,
// Retry-After and Cache-Control headers are set on the response before the
// error is returned, so Echo's default error handler sends them; a custom
// handler should not reset the response headers. Config.ErrorHandler, as
// echo-jwt's, sees the refusal first; Config.SuccessHandler and
// Config.ContextKey are echo-jwt's too. A handler that makes a call of its own with
// the token ([Middleware.Token]), such as a profile lookup, answers its
// failure as the middleware would with [Middleware.HTTPError].
//
// Config.Skipper is Echo's: it is given the echo.Context, and it is the
// only skipper this adapter runs.
//
// With Config.AllowPreflight, a CORS preflight is answered with 204 No
// Content and no body, and the handler is not called, also on routes
// registered with Any and on groups. Put Echo's CORS middleware in front: it
// answers preflights itself, with the Access-Control-* headers this answer
// lacks.
//
// The middleware sees only requests Echo routes to it. An OPTIONS request
// for a path whose routes have no OPTIONS handler never reaches route-level
// middleware (e.GET(path, h, m.Require(…))): Echo's router answers it
// itself, 204 with an Allow header, whatever AllowPreflight says, and no
// handler runs. Group middleware (e.Group(prefix, m.Authenticate())),
// middleware added with e.Use, and an OPTIONS route do see it.
//
// # Security
//
// Everything package middleware says under Security holds here: the
// adapter fails closed, and neither tokens nor upstream messages reach a
// response. Echo's default error handler in Debug mode sends the whole
// error, Internal included, which may carry upstream detail (never a token
// or a secret); leave Debug off in production.
package echogate
