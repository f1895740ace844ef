package echogate

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
)

// Config configures the Echo adapter. Verifier is required; the zero value
// of every other field is a sensible default. The fields but the last four
// are those of [middleware.Config], which says more about each; the last
// four are Echo's: the net/http middleware's Skipper and ErrorHandler have
// Echo-shaped counterparts here, and SuccessHandler and ContextKey are what
// users of echo-jwt and keyauth know.
type Config struct {
	// Verifier checks tokens: usually an [*introspect.Cache] in front of a
	// backend. Required.
	Verifier introspect.Verifier
	// Realm is the realm of WWW-Authenticate challenges. Empty means "api".
	Realm string
	// Sources are where tokens are looked for, combined with |. Zero means
	// [FromHeader]. [FromCookie] needs Cookie, [FromExtractor] needs
	// Extractor.
	Sources Sources
	// Cookie is the name of the cookie that holds the token with
	// [FromCookie]. Empty means no cookie.
	Cookie string
	// Extractor finds the token with [FromExtractor], from c.Request():
	// the token, "" for none, or an error for a malformed request (400
	// invalid_request, the error only logged). Nil means none.
	Extractor func(r *http.Request) (token string, err error)
	// MaxTokenLength is the longest token accepted, in bytes. Zero means
	// 4096; negative is an error.
	MaxTokenLength int
	// MaxFormBytes bounds the form body read to find a token with
	// [FromForm]. Zero means 1 MiB; negative is an error.
	MaxFormBytes int64
	// Audiences, when not empty, is the allow-list of token audiences (or
	// client ids, for tokens that name no audience).
	Audiences []string
	// Optional lets requests without a token through
	// [Middleware.Authenticate] anonymously; a route with a requirement
	// always needs a token.
	Optional bool
	// AllowPreflight makes the middleware answer CORS preflights itself,
	// with 204 No Content, never calling the handler. False: a preflight
	// that reaches the middleware is a request without a token (see the
	// package doc for the OPTIONS requests Echo answers before route-level
	// middleware).
	AllowPreflight bool
	// RetryAfter is the Retry-After of a 503 when the authorization server
	// sent none. Zero means 5 s; negative is an error, since every 503
	// carries one.
	RetryAfter time.Duration
	// ResourceMetadata describes the resource for RFC 9728: every
	// challenge then carries resource_metadata, and
	// [Middleware.ResourceMetadataHandler] serves the document. Nil means
	// none.
	ResourceMetadata *ResourceMetadata
	// Logger receives the lines of refused requests, as
	// middleware.Config.Logger says: every one at debug, a summary per
	// outcome at info (once a minute) and warn (outages, once a second),
	// tokens only as fingerprints. Nil means [slog.Default] at the time of
	// logging.
	Logger *slog.Logger
	// Hooks receive the middleware's decisions (Hooks.Decision), one per
	// decision, as middleware.Config.Hooks says; give the same Hooks as to
	// the Cache. Nil means none.
	Hooks *introspect.Hooks
	// Skipper, when it returns true, lets a request through untouched, with
	// no token looked for and no TokenInfo, as in Echo's own middleware.
	// Nil means never skip. It is the adapter's only skipper.
	Skipper echomw.Skipper
	// ErrorHandler, as echo-jwt's, is given each refusal, an
	// [*echo.HTTPError] whose Internal is the [*middleware.Error] (so
	// errors.As and errors.Is see both), with the refusal's headers
	// (WWW-Authenticate, Retry-After, Cache-Control: no-store) already set
	// on the response; what it returns is the middleware's error. A nil
	// error means it has answered the request itself; the handler is not
	// called all the same, since a refusal never turns into access (let
	// requests without a token through with Optional instead), and when it
	// wrote nothing, the refusal is returned as without it. Nil returns the
	// refusal to Echo's error handler.
	ErrorHandler func(c echo.Context, err error) error
	// SuccessHandler is called once the middleware has verified a request's
	// token, before the next handler, with the TokenInfo in the request's
	// context: on a group's Authenticate, not again on the route's Require
	// behind it, which only checks the token already verified. It is not
	// called for anonymous, skipped or preflight requests. Nil means none.
	SuccessHandler func(c echo.Context)
	// ContextKey, when not empty, also stores the *introspect.TokenInfo of
	// each request let through with a token under this key, for c.Get, as
	// echo-jwt stores its token. [introspect.FromContext] on
	// c.Request().Context() remains the way that works on every stack, and
	// costs no allocation; c.Set costs one per request. Empty means the
	// request's context only.
	ContextKey string
}

// Middleware makes Echo middleware that authenticates requests with bearer
// tokens and authorizes them against per-route policies. It is safe for
// concurrent use.
type Middleware struct {
	auth         *middleware.Authenticator
	skipper      echomw.Skipper
	errorHandler func(echo.Context, error) error
	onSuccess    func(echo.Context)
	contextKey   string
}

// New returns the Echo adapter cfg describes, or an error when the
// configuration is unusable.
func New(cfg Config) (*Middleware, error) {
	auth, err := middleware.New(middleware.Config{
		Verifier:         cfg.Verifier,
		Realm:            cfg.Realm,
		Sources:          cfg.Sources,
		Cookie:           cfg.Cookie,
		Extractor:        cfg.Extractor,
		MaxTokenLength:   cfg.MaxTokenLength,
		MaxFormBytes:     cfg.MaxFormBytes,
		Audiences:        cfg.Audiences,
		Optional:         cfg.Optional,
		AllowPreflight:   cfg.AllowPreflight,
		RetryAfter:       cfg.RetryAfter,
		ResourceMetadata: cfg.ResourceMetadata,
		Logger:           cfg.Logger,
		Hooks:            cfg.Hooks,
	})
	if err != nil {
		return nil, fmt.Errorf("echogate: %w", err)
	}
	skipper := cfg.Skipper
	if skipper == nil {
		skipper = echomw.DefaultSkipper
	}
	return &Middleware{
		auth: auth, skipper: skipper,
		errorHandler: cfg.ErrorHandler, onSuccess: cfg.SuccessHandler, contextKey: cfg.ContextKey,
	}, nil
}

// Authenticate returns middleware that lets through requests with a valid
// token, putting its facts in the request's context, and refuses the
// others. With Config.Optional, requests without a token pass anonymously.
func (m *Middleware) Authenticate() echo.MiddlewareFunc {
	return m.middleware(nil)
}

// Require returns middleware that lets through requests whose token
// satisfies p. Behind [Middleware.Authenticate] of the same Middleware (say,
// on a group) it checks the token already verified; on its own it verifies
// the token first. A nil p allows any verified token; Require always needs a
// token, whatever Config.Optional says.
func (m *Middleware) Require(p Policy) echo.MiddlewareFunc {
	if p == nil {
		p = Every()
	}
	return m.middleware(p)
}

func (m *Middleware) middleware(p Policy) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if m.skipper(c) {
				return next(c)
			}
			res, err := m.auth.Admit(c.Response(), c.Request(), p)
			switch {
			case err != nil:
				return m.refusal(c, err)
			case res.Answered:
				return nil
			case res.Info != nil:
				c.SetRequest(res.Request)
				if m.contextKey != "" {
					c.Set(m.contextKey, res.Info)
				}
				if m.onSuccess != nil && res.Source != 0 {
					m.onSuccess(c)
				}
			}
			return next(c)
		}
	}
}

// refusal is the Echo error for an error of Admit, whose headers are set.
// Kept out of the middleware's closure so that the *middleware.Error
// errors.As fills is allocated only on a refusal.
func (m *Middleware) refusal(c echo.Context, err error) error {
	var e *middleware.Error
	if !errors.As(err, &e) {
		return err // not the refusal Admit promises: Echo answers 500
	}
	he := &echo.HTTPError{Code: e.Status, Message: e.Body(), Internal: e}
	if m.errorHandler == nil {
		return he
	}
	if err := m.errorHandler(c, he); err != nil || c.Response().Committed {
		return err
	}
	return he // the handler answered nothing: the refusal stands
}

// ResourceMetadataHandler returns the path of the RFC 9728 metadata
// document of Config.ResourceMetadata and a handler that serves it, ready
// for Echo's Any (it answers GET, HEAD and OPTIONS itself):
//
//	e.Any(gate.ResourceMetadataHandler())
//
// See [middleware.Authenticator.ResourceMetadataHandler] for what it
// answers. Register it outside the protected groups: the document is
// public. Without Config.ResourceMetadata it returns "" and nil.
func (m *Middleware) ResourceMetadataHandler() (path string, h echo.HandlerFunc) {
	path, handler := m.auth.ResourceMetadataHandler()
	if handler == nil {
		return "", nil
	}
	return path, echo.WrapHandler(handler)
}

// Token returns the bearer token of the request, found as the middleware
// finds it, for handlers that must pass it on (to a profile endpoint, say).
// It reports false when the request has no valid token syntax in an enabled
// source. Handle the token with the care of a password: never log it.
func (m *Middleware) Token(c echo.Context) (string, bool) {
	return m.auth.Token(c.Request())
}

// HTTPError returns the error with which a handler refuses its request as
// the middleware would, for err: an error of a call made with the token,
// such as geosecure.ProfileClient.Profile (401 invalid_token for
// [introspect.ErrInvalidToken], 503 with Retry-After for anything else), or
// a [*middleware.Error]. It sets the answer's headers on the response and
// returns an [*echo.HTTPError] with its status, its [middleware.Body] as
// Message and the *middleware.Error as Internal. A nil err gives nil.
//
// Echo's default error handler sends only Message, except in Debug mode,
// where it sends the whole error, Internal included: upstream detail such as
// the authorization server's address then reaches the client (never a token
// or a secret). Leave Debug off in production.
func (m *Middleware) HTTPError(c echo.Context, err error) error {
	if err == nil {
		return nil
	}
	var e *middleware.Error
	if !errors.As(err, &e) {
		e = m.auth.ErrorFor(err)
	}
	return httpError(c, e)
}

func httpError(c echo.Context, e *middleware.Error) error {
	e.SetHeaders(c.Response().Header())
	return &echo.HTTPError{Code: e.Status, Message: e.Body(), Internal: e}
}
