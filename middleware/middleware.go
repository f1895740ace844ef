package middleware

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/redact"
	"github.com/tokengate/tokengate/internal/tokenctx"
	"github.com/tokengate/tokengate/introspect"
)

// Defaults of [Config], for its zero values.
const (
	defaultRealm          = "api"
	defaultMaxTokenLength = 4096
	defaultMaxFormBytes   = 1 << 20
	defaultRetryAfter     = 5 * time.Second
)

// Config configures an [Authenticator]. Verifier is required; the zero value
// of every other field is a sensible default. By the rule of every Config in
// this module, zero means the default and a negative number means "none"
// where none makes sense. Here it never does: MaxTokenLength and
// MaxFormBytes are bounds and RetryAfter is the delay every 503 carries, so
// a negative one is an error of [New].
type Config struct {
	// Verifier checks tokens: usually an [*introspect.Cache] in front of a
	// backend. Required.
	Verifier introspect.Verifier
	// Realm is the realm of WWW-Authenticate challenges. Empty means
	// "api".
	Realm string
	// Sources are where tokens are looked for. Zero means [FromHeader].
	// [FromCookie] needs Cookie and [FromExtractor] needs Extractor; New
	// refuses either without the other.
	Sources Sources
	// Cookie is the name of the cookie that holds the token with
	// [FromCookie], such as "__Host-access_token" (the __Host- prefix
	// makes browsers keep the cookie to this host, Secure, Path=/). It
	// must be an RFC 6265 cookie-name. Empty means no cookie.
	Cookie string
	// Extractor finds the token with [FromExtractor], wherever the
	// application's clients send it. It returns the token, "" when r holds
	// none there, or an error when what r holds there is malformed: that
	// request is answered 400 invalid_request with a fixed description,
	// the error being only logged (so it must not hold the token). The
	// token it returns is checked as any other: a b64token no longer than
	// MaxTokenLength, found in no other enabled source. It must not read
	// what an enabled source reads (the Authorization header with
	// FromHeader, say): the token would be found twice. It may be called
	// concurrently, and more than once per request (by
	// [Authenticator.Token] too). Nil means none.
	Extractor func(r *http.Request) (token string, err error)
	// MaxTokenLength is the longest token accepted; a longer one makes the
	// request malformed before anything else is done with it. Zero means
	// 4096 bytes. Negative is an error: a token's
	// length is always bounded.
	MaxTokenLength int
	// MaxFormBytes bounds the form body read to find a token when
	// [FromForm] is enabled. A form-encoded POST, PUT or PATCH body larger
	// than that makes the request malformed (400), whatever source holds
	// the token. Zero means 1 MiB.
	// Negative is an error: the body read is always bounded.
	MaxFormBytes int64
	// Audiences, when not empty, is the allow-list of token audiences: a
	// token is accepted only if one of its audiences is listed or, when it
	// names no audience, if its client id is. Otherwise it is an
	// invalid_token (401). For Geosecure, whose tokens name their holder's
	// client id as audience, list the clients this API serves.
	Audiences []string
	// Optional lets requests without a token through, anonymously:
	// [introspect.FromContext] returns nil for them. A malformed request or
	// a bad token is still refused. It applies to Authenticate only: a
	// route with a requirement always needs a token.
	Optional bool
	// Skipper is the skipper of the net/http middleware: when it returns
	// true, the request goes to the next handler untouched, with no token
	// looked for and no TokenInfo in its context. Nil means never skip.
	// The Echo adapter does not run it: it has its own, with Echo's
	// signature, in echogate.Config.
	Skipper func(r *http.Request) bool
	// AllowPreflight makes the middleware answer CORS preflight requests
	// (OPTIONS with an Access-Control-Request-Method header) itself, with
	// 204 No Content and no body, without asking for a token: browsers
	// never send credentials with a preflight. The protected handler is
	// never called for one, not even on a route registered without a
	// method, because it would run without a TokenInfo. The answer has no
	// Access-Control-* headers: they are the job of a CORS middleware in
	// front, which normally answers preflights itself; this answer is only
	// the fallback for preflights that get past it, and a browser given it
	// alone refuses the cross-origin request. False means a preflight is
	// treated as any other request, so without a token it gets a 401.
	AllowPreflight bool
	// ErrorHandler answers refused requests in the net/http middleware:
	// it is called with the refusal's headers (WWW-Authenticate,
	// Retry-After, Cache-Control: no-store) already set on w, and writes
	// the status and a body. Nil means [WriteError]. The Echo adapter has
	// its own, with Echo's signature, in echogate.Config.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err *Error)
	// RetryAfter is the Retry-After of a 503 when the authorization server
	// sent none; it is rounded up to whole seconds, at least 1. Zero means
	// 5 s. Negative is an error: every 503 carries a
	// Retry-After, so that clients back off instead of retrying at once
	// (RFC 9110 allows a 503 without one; this module does not).
	RetryAfter time.Duration
	// ResourceMetadata describes the resource for RFC 9728 (OAuth 2.0
	// Protected Resource Metadata). When set, every challenge (401, 403
	// and 400) carries resource_metadata="<its URL>", derived from
	// ResourceMetadata.Resource (see [ResourceMetadata.URL]), and
	// [Authenticator.ResourceMetadataHandler] serves the document. New
	// refuses one that breaks RFC 9728 or disagrees with Sources. Nil
	// means none.
	ResourceMetadata *ResourceMetadata
	// Logger receives the lines of refused requests, "tokengate: request
	// refused", with the request's context and these attributes:
	//
	//   - status, the refusal's HTTP status;
	//   - outcome, as Hooks reports it: no_token, malformed,
	//     invalid_token, insufficient_scope or unavailable;
	//   - reason, the cause ([Error].Err) as text: what was malformed,
	//     why the token was refused, what the authorization server did;
	//   - method and path (the path only: a query may hold a token);
	//   - required_scope, on a 403: the scopes the route's policy names
	//     ([Error].Scope), empty for a policy that names none;
	//   - client_id, when the token was verified (a 403, a wrong
	//     audience): the token's client, empty when it names none;
	//   - token, when the request had one: its [introspect.Fingerprint],
	//     never the token;
	//   - request_id, when the request has one: its X-Request-Id header
	//     (sent once, 1 to 128 printable ASCII characters, else ignored),
	//     or else the trace id of a valid W3C traceparent header;
	//   - suppressed, on a line at info or warn (below).
	//
	// So that an outage or an attack, which refuse every request, cannot
	// flood the log, the first refusal of each outcome in a window is
	// logged at that outcome's level: warn, at most once a second, when
	// the authorization server fails (503); info, at most once a minute
	// per outcome, for the client's mistakes (400, 401, 403). Such a line
	// carries suppressed, the number of refusals of its outcome since the
	// previous such line that were not logged at its level. Every other
	// refusal is logged at debug, when debug is enabled. So at debug
	// every refusal has a line; at info, a summary of each outcome per
	// minute and of outages per second; at warn, outages only. The windows
	// are the Authenticator's own, kept without a lock or a goroutine, on
	// the monotonic clock; a refusal whose levels are disabled costs an
	// Enabled call each, and allocates nothing.
	//
	// Nil means [slog.Default], as it is when a line is logged.
	Logger *slog.Logger
	// Hooks receive the middleware's decisions, for metrics and traces:
	// give the same Hooks as to the Cache (introspect.CacheConfig.Hooks),
	// so that one set counts everything. Of its fields the middleware
	// calls only Decision, read once by New, once for each decision of
	// [Authenticator.Authorize] (and so of Admit, the net/http middleware
	// and every adapter built on them), with the request's context as the
	// middleware received it:
	//
	//   - allowed, with Status 0: a valid token that meets the route's
	//     policy, and also a request let through anonymously with Optional;
	//   - a refusal, with its Status and the outcome that status names:
	//     no_token (401 without an error code), malformed (400),
	//     invalid_token (401, a wrong audience included),
	//     insufficient_scope (403) or unavailable (503).
	//
	// A CORS preflight that Admit answers itself, and a request a skipper
	// lets through, are no decision and report nothing; neither does
	// [Authenticator.ErrorFor], nor a refusal a handler makes itself. A
	// route-level check behind a group-level Authenticate of the same
	// Authenticator, which trusts the token already verified, reports a
	// refusal but not a second allowed: so the metric of decisions
	// (tokengate_requests_total) counts one event per request and
	// Authenticator, except that a request refused at the route after
	// passing the group's Authenticate counts as allowed and as refused.
	// Each Authenticator reports its own decisions: a request checked by
	// two of them counts once for each.
	//
	// Nil means none; a nil Hooks or Decision costs one nil check per
	// request.
	Hooks *introspect.Hooks
}

// Authenticator authenticates requests with bearer tokens and authorizes
// them against per-route policies. It is the core of the net/http middleware
// ([Authenticator.Authenticate], [Authenticator.Require]) and of the Echo
// adapter.
//
// An Authenticator is safe for concurrent use.
type Authenticator struct {
	verifier       introspect.Verifier
	realm          string
	sources        Sources
	cookie         string
	extractor      func(*http.Request) (string, error)
	maxTokenLength int
	maxFormBytes   int64
	audiences      []string
	optional       bool
	skipper        func(*http.Request) bool
	allowPreflight bool
	errorHandler   func(http.ResponseWriter, *http.Request, *Error)
	retryAfter     time.Duration
	logger         *slog.Logger // nil: slog.Default()
	// decision is Config.Hooks.Decision; nil without one.
	decision func(context.Context, introspect.Decision)
	// windows limit the log's lines at info and warn, one per outcome
	// refused, in the order of windowOf.
	windows [5]logWindow
	// epoch is when the Authenticator was made, the origin of elapsed;
	// now, when set by a test, is its clock.
	epoch time.Time
	now   func() time.Time
	// metadata is Config.ResourceMetadata, checked; nil without one.
	metadata *metadata
	// resourceMetadata is the resource_metadata attribute of challenges;
	// "" without Config.ResourceMetadata.
	resourceMetadata string
	// noToken is the challenge of a request without a token, built once.
	noToken string
}

// New returns an Authenticator, or an error when the configuration is
// unusable.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("middleware: Config.Verifier is required")
	}
	if cfg.Sources&^allSources != 0 {
		return nil, fmt.Errorf("middleware: unknown token sources %#x", uint8(cfg.Sources))
	}
	if err := checkSourceSettings(cfg); err != nil {
		return nil, err
	}
	switch {
	case cfg.MaxTokenLength < 0:
		return nil, errors.New("middleware: Config.MaxTokenLength is negative; a token's length is always bounded (0 means 4096)")
	case cfg.MaxFormBytes < 0:
		return nil, errors.New("middleware: Config.MaxFormBytes is negative; the form body read is always bounded (0 means 1 MiB)")
	case cfg.RetryAfter < 0:
		return nil, errors.New("middleware: Config.RetryAfter is negative; every 503 carries a Retry-After (0 means 5s)")
	}
	realm := cmp.Or(cfg.Realm, defaultRealm)
	if strings.ContainsFunc(realm, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, errors.New("middleware: Config.Realm holds control characters")
	}
	a := &Authenticator{
		verifier:       cfg.Verifier,
		realm:          realm,
		sources:        cmp.Or(cfg.Sources, FromHeader),
		cookie:         cfg.Cookie,
		extractor:      cfg.Extractor,
		maxTokenLength: cmp.Or(cfg.MaxTokenLength, defaultMaxTokenLength),
		maxFormBytes:   cmp.Or(cfg.MaxFormBytes, defaultMaxFormBytes),
		audiences:      slices.Clone(cfg.Audiences),
		optional:       cfg.Optional,
		skipper:        cfg.Skipper,
		allowPreflight: cfg.AllowPreflight,
		errorHandler:   cfg.ErrorHandler,
		retryAfter:     cmp.Or(cfg.RetryAfter, defaultRetryAfter),
		logger:         cfg.Logger,
		epoch:          time.Now(),
	}
	if a.errorHandler == nil {
		a.errorHandler = WriteError
	}
	if cfg.Hooks != nil {
		a.decision = cfg.Hooks.Decision
	}
	if cfg.ResourceMetadata != nil {
		md, err := newMetadata(cfg.ResourceMetadata, a.sources)
		if err != nil {
			return nil, err
		}
		a.metadata, a.resourceMetadata = md, md.url
	}
	a.noToken = challenge(a.realm, "", "", "", a.resourceMetadata)
	return a, nil
}

// checkSourceSettings checks that the sources that need a setting have it,
// and that no such setting is left without its source.
func checkSourceSettings(cfg Config) error {
	cookie, extractor := cfg.Sources&FromCookie != 0, cfg.Sources&FromExtractor != 0
	switch {
	case cookie && cfg.Cookie == "":
		return errors.New("middleware: Config.Sources has FromCookie but Config.Cookie names no cookie")
	case !cookie && cfg.Cookie != "":
		return errors.New("middleware: Config.Cookie is set but Config.Sources lacks FromCookie")
	case cookie && strings.ContainsFunc(cfg.Cookie, func(r rune) bool { return r >= 0x80 || !isTchar(byte(r)) }):
		return fmt.Errorf("middleware: Config.Cookie %q is not a cookie name (an RFC 9110 token)", cfg.Cookie)
	case extractor && cfg.Extractor == nil:
		return errors.New("middleware: Config.Sources has FromExtractor but Config.Extractor is nil")
	case !extractor && cfg.Extractor != nil:
		return errors.New("middleware: Config.Extractor is set but Config.Sources lacks FromExtractor")
	}
	return nil
}

// Result is what [Authenticator.Authorize] learnt about an allowed request.
type Result struct {
	// Request is the request with the token's facts in its context, for
	// [introspect.FromContext]; the request itself when there is nothing
	// new to carry.
	Request *http.Request
	// Info is the token's facts; nil for a request let through
	// anonymously.
	Info *introspect.TokenInfo
	// Source is where the token was found; zero when this Authenticator
	// had already put Info in the request's context, or the request is
	// anonymous.
	Source Sources
	// Answered reports that [Authenticator.Admit] has answered the request
	// itself (a CORS preflight, with 204 No Content): call no handler.
	// Request is nil then. Authorize never sets it.
	Answered bool
}

// Authorize authenticates r and checks it against p: the decision of the
// middleware, and nothing else. A nil p allows any valid token; with a nil p
// and Config.Optional, a request without a token is allowed anonymously.
//
// Adapters to other frameworks call [Authenticator.Admit], not Authorize:
// Admit also sets the response headers the decision calls for
// (WWW-Authenticate, Retry-After, Cache-Control) and answers CORS
// preflights, which Authorize leaves undone. Authorize is for code that
// wants the decision without answering, such as a test or a check made
// inside a handler.
//
// A refused request gets the zero Result and an error that is always an
// [*Error], for [errors.As], saying what to answer; an allowed one gets a
// nil error (an untyped nil, never a nil *Error in an error). Each decision
// is reported to Config.Hooks, and each refusal logged to Config.Logger.
//
// When r's context already holds a TokenInfo that a put there (a
// group-level Authenticate of the same Authenticator), the token is not
// verified again: only the audience list and p are checked, and only a
// refusal is reported, the group's Authenticate having reported the
// request allowed (see Config.Hooks). A TokenInfo that
// another Authenticator or [introspect.NewContext] put there is not trusted;
// the token is verified as if it were not there. Skipping is the caller's
// business (Config.Skipper is net/http's, each adapter has its own).
func (a *Authenticator) Authorize(r *http.Request, p Policy) (Result, error) {
	res, e := a.authorize(r, p)
	if e != nil {
		return Result{}, e
	}
	return res, nil
}

// authorize is Authorize with the refusal's type, for this package's
// middleware: it returns a nil *Error when it allows r.
func (a *Authenticator) authorize(r *http.Request, p Policy) (Result, *Error) {
	if info := introspect.FromContext(r.Context()); info != nil && tokenctx.VerifiedBy(r.Context(), info) == a {
		if e := a.check(r, info, p); e != nil {
			return Result{}, a.refuse(r, e, "", info)
		}
		// Not reported: the Authenticate that put info there reported
		// this request allowed.
		return Result{Request: r, Info: info}, nil
	}

	token, from, err := a.extract(r)
	switch {
	case err == errNoToken && a.optional && p == nil:
		a.decide(r.Context(), introspect.OutcomeAllowed, 0)
		return Result{Request: r}, nil
	case err == errNoToken:
		return Result{}, a.refuse(r, &Error{
			Status: http.StatusUnauthorized, Description: "a bearer token is required",
			Challenge: a.noToken, Err: ErrNoToken,
		}, "", nil)
	case err != nil:
		cause := fmt.Errorf("%w: %w", ErrMalformed, err)
		if xe := (*extractorError)(nil); errors.As(err, &xe) {
			cause = fmt.Errorf("%w: Config.Extractor: %w", ErrMalformed, xe.err)
		}
		return Result{}, a.refuse(r, a.newError(http.StatusBadRequest, codeInvalidRequest, err.Error(), "", cause), "", nil)
	}

	info, err := a.verifier.Verify(r.Context(), token)
	if err == nil && info == nil {
		err = errors.New("middleware: verifier returned no result")
	}
	if err != nil {
		// A Verifier must keep the token out of its errors; the refusal's
		// Err, which its caller may log, keeps it out all the same.
		return Result{}, a.refuse(r, a.ErrorFor(redact.Error(err, token)), token, nil)
	}
	if e := a.check(r, info, p); e != nil {
		return Result{}, a.refuse(r, e, token, info)
	}
	a.decide(r.Context(), introspect.OutcomeAllowed, 0)
	return Result{Request: tokenctx.WithRequest(r, info, a), Info: info, Source: from}, nil
}

// decide reports a decision to Config.Hooks.
func (a *Authenticator) decide(ctx context.Context, o introspect.Outcome, status int) {
	if a.decision != nil {
		a.decision(ctx, introspect.Decision{Outcome: o, Status: status})
	}
}

// outcome returns the outcome of a refusal, as Config.Hooks reports it.
func (e *Error) outcome() introspect.Outcome {
	switch {
	case e.Status == http.StatusBadRequest:
		return introspect.OutcomeMalformed
	case e.Status == http.StatusUnauthorized && e.Code == "":
		return introspect.OutcomeNoToken
	case e.Status == http.StatusUnauthorized:
		return introspect.OutcomeInvalidToken
	case e.Status == http.StatusForbidden:
		return introspect.OutcomeInsufficientScope
	default:
		return introspect.OutcomeUnavailable
	}
}

// ErrorFor returns the refusal for err, an error of an [introspect.Verifier]
// or of another call made with the token (such as a Geosecure profile
// lookup): 401 invalid_token for
// [introspect.ErrInvalidToken], and 503 with Retry-After for anything else,
// so that no failure passes for an answer about the token. Handlers use it
// to answer as the middleware would.
func (a *Authenticator) ErrorFor(err error) *Error {
	if errors.Is(err, introspect.ErrInvalidToken) {
		return a.newError(http.StatusUnauthorized, codeInvalidToken,
			"the access token is invalid or expired", "", err)
	}
	retry := a.retryAfter
	if ue := (*introspect.UnavailableError)(nil); errors.As(err, &ue) && ue.RetryAfter > 0 {
		retry = ue.RetryAfter
	}
	return &Error{
		Status:      http.StatusServiceUnavailable,
		Description: "the authorization server is unavailable; try again later",
		RetryAfter:  retry, Err: err,
	}
}

// Token returns the bearer token of r, found as the middleware finds it, for
// handlers that must pass it on (to a profile endpoint, say). It reports
// false when r has no valid token syntax in an enabled source. Handle the
// token with the care of a password: never log it.
func (a *Authenticator) Token(r *http.Request) (string, bool) {
	token, _, err := a.extract(r)
	return token, err == nil
}

// check applies the audience allow-list and p to a verified token.
func (a *Authenticator) check(r *http.Request, info *introspect.TokenInfo, p Policy) *Error {
	if !a.audienceAllowed(info) {
		return a.newError(http.StatusUnauthorized, codeInvalidToken,
			"the access token is not meant for this service", "",
			fmt.Errorf("%w (%w)", ErrAudience, introspect.ErrInvalidToken))
	}
	if p != nil && !p.Allow(info) {
		scope := p.Scope()
		return a.newError(http.StatusForbidden, codeInsufficientScope,
			"the access token does not grant what this request needs", scope, ErrInsufficientScope)
	}
	return nil
}

func (a *Authenticator) audienceAllowed(info *introspect.TokenInfo) bool {
	if len(a.audiences) == 0 {
		return true
	}
	if len(info.Audience) == 0 {
		return slices.Contains(a.audiences, info.ClientID)
	}
	for _, aud := range info.Audience {
		if slices.Contains(a.audiences, aud) {
			return true
		}
	}
	return false
}

func (a *Authenticator) newError(status int, code, description, scope string, cause error) *Error {
	return &Error{
		Status: status, Code: code, Description: description, Scope: scope,
		Challenge: challenge(a.realm, code, description, scope, a.resourceMetadata), Err: cause,
	}
}

// Preflight reports whether r is a CORS preflight that the middleware
// answers itself, with 204 No Content and without calling the next handler:
// always false unless Config.AllowPreflight is set. [Authenticator.Admit]
// answers such a request.
func (a *Authenticator) Preflight(r *http.Request) bool {
	return a.allowPreflight && r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
}

// Authenticate is net/http middleware that lets through requests with a
// valid token, putting its facts in the request context, and refuses the
// others. With Config.Optional, requests without a token pass anonymously.
func (a *Authenticator) Authenticate(next http.Handler) http.Handler {
	return a.handler(next, nil)
}

// Require returns net/http middleware that lets through requests whose token
// satisfies p. Behind [Authenticator.Authenticate] (say, on a route group)
// it checks the token already verified; on its own it verifies the token
// first. A nil p allows any verified token; unlike Authenticate, Require
// always needs a token, whatever Config.Optional says.
func (a *Authenticator) Require(p Policy) func(http.Handler) http.Handler {
	if p == nil {
		p = Every()
	}
	return func(next http.Handler) http.Handler { return a.handler(next, p) }
}

func (a *Authenticator) handler(next http.Handler, p Policy) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.skipper != nil && a.skipper(r) {
			next.ServeHTTP(w, r)
			return
		}
		res, e := a.admit(w, r, p)
		switch {
		case e != nil:
			a.errorHandler(w, r, e)
		case !res.Answered:
			next.ServeHTTP(w, res.Request)
		}
	})
}
