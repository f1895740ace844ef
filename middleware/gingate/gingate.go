package gingate

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
)

// Config configures the gin adapter. Verifier is required; the zero value
// of every other field is a sensible default. The fields but Skipper are
// those of [middleware.Config], which says more about each; the net/http
// middleware's Skipper and ErrorHandler have no place here (this adapter
// answers refusals itself, in gin's way, see [Middleware.AbortWithError]).
type Config struct {
	// Verifier checks tokens: usually an [*introspect.Cache] in front of a
	// backend. Required.
	Verifier introspect.Verifier
	// Realm is the realm of WWW-Authenticate challenges. Empty means "api".
	Realm string
	// Sources are where tokens are looked for, combined with |. Zero means
	// [middleware.FromHeader].
	Sources middleware.Sources
	// MaxTokenLength is the longest token accepted, in bytes. Zero means
	// 4096; negative is an error.
	MaxTokenLength int
	// MaxFormBytes bounds the form body read to find a token with
	// [middleware.FromForm]. Zero means 1 MiB; negative is an error.
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
	// is a request without a token.
	AllowPreflight bool
	// RetryAfter is the Retry-After of a 503 when the authorization server
	// sent none. Zero means 5 s; negative is an error, since every 503
	// carries one.
	RetryAfter time.Duration
	// Logger receives a line for each refused request; tokens appear only
	// as fingerprints. Nil means [slog.Default] at the time of logging.
	Logger *slog.Logger
	// Skipper, when it returns true, lets a request through untouched, with
	// no token looked for and no TokenInfo: the middleware only calls
	// c.Next. Nil means never skip. It is the adapter's only skipper.
	Skipper func(c *gin.Context) bool
}

// Middleware makes gin middleware that authenticates requests with bearer
// tokens and authorizes them against per-route policies. It is safe for
// concurrent use.
type Middleware struct {
	auth    *middleware.Authenticator
	skipper func(*gin.Context) bool // nil: never skip
}

// New returns the gin adapter cfg describes, or an error when the
// configuration is unusable.
func New(cfg Config) (*Middleware, error) {
	auth, err := middleware.New(middleware.Config{
		Verifier:       cfg.Verifier,
		Realm:          cfg.Realm,
		Sources:        cfg.Sources,
		MaxTokenLength: cfg.MaxTokenLength,
		MaxFormBytes:   cfg.MaxFormBytes,
		Audiences:      cfg.Audiences,
		Optional:       cfg.Optional,
		AllowPreflight: cfg.AllowPreflight,
		RetryAfter:     cfg.RetryAfter,
		Logger:         cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("gingate: %w", err)
	}
	return &Middleware{auth: auth, skipper: cfg.Skipper}, nil
}

// Authenticate returns middleware that lets through requests with a valid
// token, putting its facts in the request's context, and refuses the
// others. With Config.Optional, requests without a token pass anonymously.
func (m *Middleware) Authenticate() gin.HandlerFunc {
	return m.handler(nil)
}

// Require returns middleware that lets through requests whose token
// satisfies p. Behind [Middleware.Authenticate] of the same Middleware (say,
// on a group) it checks the token already verified; on its own it verifies
// the token first. A nil p allows any verified token; Require always needs a
// token, whatever Config.Optional says.
func (m *Middleware) Require(p middleware.Policy) gin.HandlerFunc {
	if p == nil {
		p = middleware.Every()
	}
	return m.handler(p)
}

func (m *Middleware) handler(p middleware.Policy) gin.HandlerFunc {
	return func(c *gin.Context) {
		if m.skipper != nil && m.skipper(c) {
			c.Next()
			return
		}
		if m.auth.Preflight(c.Request) {
			// As in net/http: an Any route would otherwise run the
			// protected handler without a token.
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		res, err := m.auth.Authorize(c.Request, p)
		if err != nil {
			m.AbortWithError(c, err)
			return
		}
		if res.Info != nil {
			c.Request = res.Request
		}
		if res.Source == middleware.FromQuery {
			// RFC 6750 §2.3: the URI holds the token, so the answer must
			// not sit in shared caches.
			c.Writer.Header().Set("Cache-Control", "private")
		}
		c.Next()
	}
}

// Token returns the bearer token of the request, found as the middleware
// finds it, for handlers that must pass it on (to a profile endpoint, say).
// It reports false when the request has no valid token syntax in an enabled
// source. Handle the token with the care of a password: never log it.
func (m *Middleware) Token(c *gin.Context) (string, bool) {
	return m.auth.Token(c.Request)
}

// AbortWithError answers the request as the middleware answers a refusal,
// for err: an error of a call made with the token, such as
// [github.com/tokengate/tokengate/introspect/geosecure.ProfileClient.Profile] (401 invalid_token for
// [introspect.ErrInvalidToken], 503 with Retry-After for anything else), or
// a [*middleware.Error], answered as it is. It is gin's c.AbortWithError for
// tokengate's answers, and echogate's HTTPError in gin's shape: it writes
// the status, the headers ([middleware.Error.SetHeaders]) and the JSON body
// ([middleware.Body]) exactly as [middleware.WriteError] does, records the
// *middleware.Error in c.Errors as a private error, and aborts the chain.
// A nil err does nothing.
func (m *Middleware) AbortWithError(c *gin.Context, err error) {
	if err == nil {
		return
	}
	var e *middleware.Error
	if !errors.As(err, &e) {
		e = m.auth.ErrorFor(err)
	}
	abort(c, e)
}

// abort writes e as net/http's default error handler does, so that the
// answers are byte for byte the same on every stack: gin's own c.JSON would
// add "; charset=utf-8" to the Content-Type and drop the final newline.
func abort(c *gin.Context, e *middleware.Error) {
	_ = c.Error(e) // for the application's error middleware; private: never sent
	c.Abort()
	middleware.WriteError(c.Writer, c.Request, e)
}
