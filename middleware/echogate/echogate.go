// Package echogate is the Echo v4 adapter of the tokengate middleware: the
// same decisions as package middleware, in Echo's conventions.
//
// Build an [middleware.Authenticator] once, wrap it with [New], and use the
// [Middleware]'s methods on groups and routes:
//
//	auth, err := middleware.New(middleware.Config{Verifier: cache, Realm: "gipod"})
//	gate := echogate.New(auth, echogate.Config{})
//	api := e.Group("/v1", gate.Authenticate())
//	api.GET("/maps", maps, gate.Require(middleware.AllOf("MapRequest")))
//
// A refused request becomes an [*echo.HTTPError] whose Message is the JSON
// body ([middleware.Body]) and whose Internal is the [*middleware.Error], so
// the application's error handler sees the cause. The WWW-Authenticate and
// Retry-After headers are set on the response before the error is returned,
// so Echo's default error handler sends them; a custom handler should not
// reset the response headers.
//
// Handlers read the token's facts with [introspect.FromContext] on
// c.Request().Context(), as net/http handlers do on r.Context().
//
// With [middleware.Config.AllowPreflight], a CORS preflight is answered with
// 204 No Content and no body, and the handler is not called, also on routes
// registered with Any and on groups. Put Echo's CORS middleware in front: it
// answers preflights itself, with the Access-Control-* headers this answer
// lacks.
package echogate

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/tokengate/tokengate/middleware"
)

// Config configures the Echo adapter. The zero value is ready to use.
type Config struct {
	// Skipper, when it returns true, lets a request through untouched, with
	// no token looked for and no TokenInfo, as in Echo's own middleware.
	// Nil means never skip. It is the adapter's only skipper:
	// [middleware.Config.Skipper] belongs to the net/http middleware and is
	// not run here, so a route is skipped by the skipper of its own stack.
	Skipper echomw.Skipper
}

// Middleware makes Echo middleware from an Authenticator. It is safe for
// concurrent use.
type Middleware struct {
	auth    *middleware.Authenticator
	skipper echomw.Skipper
}

// New returns the Echo adapter of auth.
func New(auth *middleware.Authenticator, cfg Config) *Middleware {
	skipper := cfg.Skipper
	if skipper == nil {
		skipper = echomw.DefaultSkipper
	}
	return &Middleware{auth: auth, skipper: skipper}
}

// Authenticate returns middleware that lets through requests with a valid
// token and refuses the others (see [middleware.Authenticator.Authenticate]).
func (m *Middleware) Authenticate() echo.MiddlewareFunc {
	return m.middleware(nil)
}

// Require returns middleware that lets through requests whose token
// satisfies p (see [middleware.Authenticator.Require]).
func (m *Middleware) Require(p middleware.Policy) echo.MiddlewareFunc {
	if p == nil {
		p = middleware.Every()
	}
	return m.middleware(p)
}

func (m *Middleware) middleware(p middleware.Policy) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if m.skipper(c) {
				return next(c)
			}
			if m.auth.Preflight(c.Request()) {
				// As in net/http: an Any route would otherwise run the
				// protected handler without a token.
				return c.NoContent(http.StatusNoContent)
			}
			res, err := m.auth.Authorize(c.Request(), p)
			if err != nil {
				return refusal(c, err)
			}
			if res.Info != nil {
				c.SetRequest(res.Request)
			}
			if res.Source == middleware.FromQuery {
				c.Response().Header().Set("Cache-Control", "private")
			}
			return next(c)
		}
	}
}

// refusal is the Echo error for an error of Authorize. Kept out of the
// middleware's closure so that the *middleware.Error errors.As fills is
// allocated only on a refusal.
func refusal(c echo.Context, err error) error {
	var e *middleware.Error
	if errors.As(err, &e) {
		return HTTPError(c, e)
	}
	return err // not the refusal Authorize promises: Echo answers 500
}

// HTTPError turns a refusal into the error an Echo handler returns: it sets
// e's headers on the response and returns an [*echo.HTTPError] with e's
// status, its [middleware.Body] as Message and e as Internal. Handlers use
// it with [middleware.Authenticator.ErrorFor] to answer as the middleware
// would.
//
// Echo's default error handler sends only Message, except in Debug mode,
// where it sends the whole error, Internal included: upstream detail such as
// the authorization server's address then reaches the client (never a token
// or a secret). Leave Debug off in production.
func HTTPError(c echo.Context, e *middleware.Error) error {
	e.SetHeaders(c.Response().Header())
	return &echo.HTTPError{Code: e.Status, Message: e.Body(), Internal: e}
}
