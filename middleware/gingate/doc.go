// Package gingate is the gin adapter of the tokengate middleware: the same
// decisions, and byte for byte the same answers, as package middleware's
// net/http middleware and the Echo adapter, in gin's conventions.
//
// Build one [Middleware] with [New] and use its methods, which return
// [gin.HandlerFunc]s, on groups and routes; state each route's rule with
// package middleware's policies ([middleware.AllOf], [middleware.AnyOf],
// [middleware.OVOCodes], [middleware.Every] or a [middleware.PolicyFunc]):
//
//	gate, err := gingate.New(gingate.Config{Verifier: cache, Realm: "gipod"})
//	v1 := r.Group("/v1", gate.Authenticate())
//	v1.GET("/maps", gate.Require(middleware.AllOf("MapRequest")), maps)
//
// Unlike echogate, this package does not rename package middleware's
// identifiers: gin has no middleware package of its own that an application
// would import next to tokengate's.
//
// The middleware is [middleware.Authenticator.Admit], as on every stack,
// which makes the decision and sets every response header it calls for;
// what this package adds is gin's part. On an allowed request the
// middleware replaces c.Request with a copy whose context carries the
// token's facts, so handlers read them with [introspect.FromContext] on
// c.Request.Context(), as net/http handlers do on r.Context(); with
// Config.ContextKey it also stores them with c.Set. Then it calls
// Config.SuccessHandler, if any, and c.Next.
//
// A refused request is answered at once and the chain aborted: the
// [*middleware.Error] is recorded in c.Errors, as a private error, for an
// error middleware in front to see, and the status and the JSON body
// ([middleware.Body]) are written exactly as [middleware.WriteError] writes
// them, after the WWW-Authenticate, Retry-After and Cache-Control: no-store
// headers Admit set; Config.ErrorHandler, when set, writes the answer
// instead. A handler that makes a call of its own with the token
// ([Middleware.Token]), such as a profile lookup, answers its failure as the
// middleware would with [Middleware.AbortWithError].
//
// Config.Skipper is gin's: it is given the *gin.Context, and it is the only
// skipper this adapter runs.
//
// Tokens come from the sources of package middleware, cookies
// ([middleware.FromCookie]) and an extractor of the application's
// ([middleware.FromExtractor]) included. With Config.ResourceMetadata,
// challenges name the RFC 9728 document, and
// [Middleware.ResourceMetadataHandler] serves it:
//
//	r.Any(gate.ResourceMetadataHandler())
//
// With Config.AllowPreflight, a CORS preflight is answered with 204 No
// Content and no body, and the handler is not called, also on routes
// registered with Any and on groups. Put a CORS middleware in front: it
// answers preflights itself, with the Access-Control-* headers this answer
// lacks.
//
// # Security
//
// Everything package middleware says under Security holds here: the
// adapter fails closed, and neither tokens nor upstream messages reach a
// response. The error recorded in c.Errors holds no token or secret but may
// hold upstream detail, such as the authorization server's address: gin's
// Logger prints it, as it prints every private error; never send c.Errors
// to clients. Config.ErrorHandler is given the same error: answer with its
// Status and [middleware.Body], never with err.Error().
package gingate
