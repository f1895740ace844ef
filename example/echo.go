package main

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware/echogate"
)

// newEchoHandler serves the API with Echo v4, its tokens checked by
// verifier: the same routes, requirements and answers as newHTTPHandler,
// without tokengate's middleware package.
func newEchoHandler(a *api, cfg *config, verifier introspect.Verifier, logger *slog.Logger) (http.Handler, error) {
	gate, err := echogate.New(echogate.Config{
		Verifier:  verifier,
		Realm:     cfg.realm,
		Sources:   cfg.sources,
		Audiences: cfg.audiences,
		Logger:    logger,
		Hooks:     a.hooks,

		ResourceMetadata: resourceMetadata(cfg),
	})
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		var p *problem
		if errors.As(err, &p) {
			err = &echo.HTTPError{Code: p.status, Message: p.body}
		}
		e.DefaultHTTPErrorHandler(err, c)
	}
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		// Logs the path, never the query string, which may hold an
		// access_token.
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			logRequest(logger, c.Request().Method, c.Request().URL.Path, c.Response().Status, time.Since(start))
			return nil
		}
	})
	e.Use(echomw.Recover())

	// Echo routes HEAD only where it is registered; net/http's ServeMux
	// answers it for every GET route. get registers both, so that the two
	// stacks answer alike.
	get := func(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
		e.Match([]string{http.MethodGet, http.MethodHead}, path, h, m...)
	}
	// The RFC 9728 document is public: no gate.
	e.Any(gate.ResourceMetadataHandler())
	get("/healthz", func(c echo.Context) error {
		return c.String(http.StatusOK, "ok")
	})
	// Metrics hold no token, client or subject; a real deployment serves
	// them on an internal port or behind its own access control.
	get("/metrics", echo.WrapHandler(a.metrics))
	get("/readyz", func(c echo.Context) error {
		status, body := a.ready(c.Request().Context())
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.String(status, body)
	})
	get("/v1/token", func(c echo.Context) error {
		return c.JSON(http.StatusOK, a.token(introspect.FromContext(c.Request().Context())))
	}, gate.Authenticate())
	get("/v1/maps", func(c echo.Context) error {
		return c.JSON(http.StatusOK, a.maps())
	}, gate.Require(echogate.AllOf(scopesMaps...)))
	get("/v1/occupations", func(c echo.Context) error {
		return c.JSON(http.StatusOK, a.listOccupations())
	}, gate.Require(echogate.AnyOf(scopesOccupations...)))
	e.POST("/v1/occupations", func(c echo.Context) error {
		occ, err := a.createOccupation(c.Request(), introspect.FromContext(c.Request().Context()))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, occ)
	}, gate.Require(echogate.AllOf(scopesOccupations...)))
	e.POST("/v1/logout", func(c echo.Context) error {
		token, _ := gate.Token(c) // there is one: the middleware verified it
		a.logout(token)
		return c.NoContent(http.StatusNoContent)
	}, gate.Authenticate())
	get("/v1/profile", func(c echo.Context) error {
		token, _ := gate.Token(c) // there is one: the middleware verified it
		p, err := a.profile(c.Request().Context(), token)
		var pr *problem
		if err != nil && !errors.As(err, &pr) {
			return gate.HTTPError(c, err) // answered as the middleware would
		}
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, p)
	}, gate.Authenticate())
	return e, nil
}
