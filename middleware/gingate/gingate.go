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
// of every other field is a sensible default. The fields but the last four
// are those of [middleware.Config], which says more about each; the last
// four are gin's: the net/http middleware's Skipper and ErrorHandler have
// gin-shaped counterparts here, and SuccessHandler and ContextKey are
// echogate's, in gin's shape.
type Config struct {
	// Verifier checks tokens: usually an [*introspect.Cache] in front of a
	// backend. Required.
	Verifier introspect.Verifier
	// Realm is the realm of WWW-Authenticate challenges. Empty means "api".
	Realm string
	// Sources are where tokens are looked for, combined with |. Zero means
	// [middleware.FromHeader]. [middleware.FromCookie] needs Cookie,
	// [middleware.FromExtractor] needs Extractor.
	Sources middleware.Sources
	// Cookie is the name of the cookie that holds the token with
	// [middleware.FromCookie]. Empty means no cookie.
	Cookie string
	// Extractor finds the token with [middleware.FromExtractor], from
	// c.Request: the token, "" for none, or an error for a malformed
	// request (400 invalid_request, the error only logged). Nil means none.
	Extractor func(r *http.Request) (token string, err error)
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
	// ResourceMetadata describes the resource for RFC 9728: every
	// challenge then carries resource_metadata, and
	// [Middleware.ResourceMetadataHandler] serves the document. Nil means
	// none.
	ResourceMetadata *middleware.ResourceMetadata
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
	// no token looked for and no TokenInfo: the middleware only calls
	// c.Next. Nil means never skip. It is the adapter's only skipper.
	Skipper func(c *gin.Context) bool
	// ErrorHandler answers refused requests instead of the default: it is
	// given the [*middleware.Error] (as err), with the refusal's headers
	// (WWW-Authenticate, Retry-After, Cache-Control: no-store) already set
	// on c.Writer, the chain already aborted and the error already in
	// c.Errors. It writes the status and a body; when it writes nothing,
	// the refusal is written as without it. Whatever it does, no later
	// handler runs: a refusal never turns into access (let requests
	// without a token through with Optional instead). Nil means the
	// refusal is written as [middleware.WriteError] writes it.
	ErrorHandler func(c *gin.Context, err error)
	// SuccessHandler is called once the middleware has verified a request's
	// token, before c.Next, with the TokenInfo in c.Request's context: on a
	// group's Authenticate, not again on the route's Require behind it,
	// which only checks the token already verified. It is not called for
	// anonymous, skipped or preflight requests. Nil means none.
	SuccessHandler func(c *gin.Context)
	// ContextKey, when not empty, also stores the *introspect.TokenInfo of
	// each request let through with a token under this key, for c.Get and
	// c.MustGet. [introspect.FromContext] on c.Request.Context() remains
	// the way that works on every stack, and costs no allocation; c.Set
	// costs gin's map of keys per request. Empty means the request's
	// context only.
	ContextKey string
}

// Middleware makes gin middleware that authenticates requests with bearer
// tokens and authorizes them against per-route policies. It is safe for
// concurrent use.
type Middleware struct {
	auth         *middleware.Authenticator
	skipper      func(*gin.Context) bool // nil: never skip
	errorHandler func(*gin.Context, error)
	onSuccess    func(*gin.Context)
	contextKey   string
}

// New returns the gin adapter cfg describes, or an error when the
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
		return nil, fmt.Errorf("gingate: %w", err)
	}
	return &Middleware{
		auth: auth, skipper: cfg.Skipper,
		errorHandler: cfg.ErrorHandler, onSuccess: cfg.SuccessHandler, contextKey: cfg.ContextKey,
	}, nil
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
		res, err := m.auth.Admit(c.Writer, c.Request, p)
		switch {
		case err != nil:
			m.refuse(c, err)
		case res.Answered:
			// A preflight: Admit set the 204, which gin writes once the
			// chain returns.
			c.Abort()
		default:
			c.Request = res.Request
			if res.Info != nil {
				if m.contextKey != "" {
					c.Set(m.contextKey, res.Info)
				}
				if m.onSuccess != nil && res.Source != 0 {
					m.onSuccess(c)
				}
			}
			c.Next()
		}
	}
}

// refuse answers a refusal of Admit, whose headers are set. Kept out of the
// middleware's closure so that the *middleware.Error errors.As fills is
// allocated only on a refusal.
func (m *Middleware) refuse(c *gin.Context, err error) {
	var e *middleware.Error
	if !errors.As(err, &e) {
		// Not the refusal Admit promises: fail closed all the same, as an
		// outage, with the headers of one.
		e = m.auth.ErrorFor(err)
		e.SetHeaders(c.Writer.Header())
	}
	abort(c, e)
	if m.errorHandler != nil {
		m.errorHandler(c, e)
		if c.Writer.Written() {
			return
		}
	}
	writeError(c, e)
}

// ResourceMetadataHandler returns the path of the RFC 9728 metadata
// document of Config.ResourceMetadata and a handler that serves it, ready
// for gin's Any (it answers GET, HEAD and OPTIONS itself, and any other
// method with 405):
//
//	r.Any(gate.ResourceMetadataHandler())
//
// See [middleware.Authenticator.ResourceMetadataHandler] for what it
// answers. Register it outside the protected groups: the document is
// public. Without Config.ResourceMetadata it returns "" and nil.
func (m *Middleware) ResourceMetadataHandler() (path string, h gin.HandlerFunc) {
	path, handler := m.auth.ResourceMetadataHandler()
	if handler == nil {
		return "", nil
	}
	return path, gin.WrapH(handler)
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
	writeError(c, e)
}

// abort records e in c.Errors, for the application's error middleware (as
// a private error: gin never sends it), and aborts the chain.
func abort(c *gin.Context, e *middleware.Error) {
	_ = c.Error(e)
	c.Abort()
}

// writeError writes e as net/http's default error handler does, so that the
// answers are byte for byte the same on every stack: gin's own c.JSON would
// add "; charset=utf-8" to the Content-Type and drop the final newline.
func writeError(c *gin.Context, e *middleware.Error) {
	middleware.WriteError(c.Writer, c.Request, e)
}
