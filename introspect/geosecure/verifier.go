package geosecure

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tokengate/tokengate/internal/upstream"
	"github.com/tokengate/tokengate/introspect"
)

// The verify endpoints of Digitaal Vlaanderen's legacy Geosecure
// authorization server, for [Config.URL].
const (
	ProductionURL = "https://oauth.vlaanderen.be/authorization/ws/oauth/v2/authorization/verify"
	BetaURL       = "https://beta.oauth.vlaanderen.be/authorization/ws/oauth/v2/authorization/verify"
)

// Config configures a [Verifier]. URL is required; the zero value of every
// other field is the default.
type Config struct {
	// URL is the verify endpoint, such as [ProductionURL]. It must be
	// https, except to a loopback address, and hold no credentials.
	URL string
	// HTTPClient sends the requests. Nil means a client of the verifier's
	// own with a transport tuned for the authorization server, whose idle
	// connections [Verifier.Close] closes. A client given here is copied;
	// the copy never follows redirects; Timeout applies as well as the
	// client's own; Close leaves its connections alone.
	HTTPClient *http.Client
	// Timeout limits one call. Zero means [introspect.DefaultTimeout]; a
	// negative value is an error from [New], since a call without a limit
	// is not an option.
	Timeout time.Duration
	// Now tells the time, to turn "expires_in" into an expiry and to read
	// Retry-After dates. Nil means [time.Now].
	Now func() time.Time
}

// Verifier is an [introspect.Verifier] for the legacy Geosecure verify
// endpoint (GET …/authorization/ws/oauth/v2/authorization/verify). It sends
// the token in an Authorization header, never in the URL.
//
// The endpoint answers {"audience","scope","expires_in"} for a valid token,
// where audience is the client id of the token's holder; the Verifier sets
// both [introspect.TokenInfo.ClientID] and [introspect.TokenInfo.Audience]
// from it. A token is invalid only on the documented refusal,
// {"error":"invalid_token"}, with a status that is neither 5xx nor 429 (the
// documentation gives no status, so any other is accepted). A 5xx or 429 is
// [introspect.ErrUnavailable] whatever its body, with the server's
// Retry-After; so is an "error" member with any other code. Every other
// answer is [introspect.ErrUnavailable] too.
//
// A Verifier is safe for concurrent use.
type Verifier struct {
	url    string
	client *upstream.Client
}

// New returns a Verifier, or an error when the configuration is unusable:
// no URL, a URL that is not https to a host other than a loopback one, or a
// negative Timeout.
func New(cfg Config) (*Verifier, error) {
	u, err := upstream.CheckEndpoint("verify", cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("geosecure: %w", err)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("geosecure: negative Timeout %v", cfg.Timeout)
	}
	return &Verifier{
		url:    u.String(),
		client: upstream.NewClient(cfg.HTTPClient, cmp.Or(cfg.Timeout, introspect.DefaultTimeout), cfg.Now),
	}, nil
}

// Verify asks the verify endpoint about token.
func (v *Verifier) Verify(ctx context.Context, token string) (*introspect.TokenInfo, error) {
	if err := upstream.CheckToken(token); err != nil {
		return nil, err
	}
	return upstream.Call(ctx, v.client, upstream.Request{
		Method:        http.MethodGet,
		URL:           v.url,
		Authorization: "Bearer " + token,
	}, parseVerify)
}

// Close closes the idle connections of the transport the Verifier made for
// itself, so that they and their goroutines do not outlive it (an idle
// connection is otherwise kept for up to 90 s). It never touches the
// connections of a client given as [Config.HTTPClient]: those are the
// caller's to close. A closed Verifier still works, but keeps no idle
// connection after a call. Close is safe to call more than once and
// concurrently with Verify.
func (v *Verifier) Close() { v.client.Close() }

// BackendName returns "geosecure", the Verifier's name in metrics and
// spans.
func (v *Verifier) BackendName() string { return "geosecure" }

// AnswerScope returns the verify endpoint, which alone, with the token,
// decides the answer. An [introspect.Cache] with a shared tier shares
// answers only with Caches whose Verifiers have the same one (see
// [introspect.AnswerScoper]).
func (v *Verifier) AnswerScope() string { return "geosecure url=" + strconv.Quote(v.url) }
