package geosecure

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/tokengate/tokengate/internal/upstream"
	"github.com/tokengate/tokengate/introspect"
)

// The profile endpoints of Digitaal Vlaanderen's legacy Geosecure
// authorization server, for [ProfileConfig.URL].
const (
	ProfileProductionURL = "https://oauth.vlaanderen.be/authorization/ws/oauth/v2/authorization/profile"
	ProfileBetaURL       = "https://beta.oauth.vlaanderen.be/authorization/ws/oauth/v2/authorization/profile"
)

// Profile is what the Geosecure profile endpoint says about the resource
// owner of a token. Its JSON form is the endpoint's answer.
type Profile struct {
	// Name is the owner's user name; it is not unique.
	Name string `json:"name"`
	// GivenName is the owner's given name.
	GivenName string `json:"givenName"`
	// Surname is the owner's surname.
	Surname string `json:"surname"`
	// ContactID identifies the owner uniquely: a string of digits.
	ContactID string `json:"contactId"`
}

// ProfileConfig configures a [ProfileClient]. URL, ClientID and
// ClientSecret are required; the zero value of every other field is the
// default.
//
// Its String and LogValue methods leave ClientSecret out, so printing or
// logging a ProfileConfig does not leak it.
type ProfileConfig struct {
	// URL is the profile endpoint, such as [ProfileProductionURL]. It must
	// be https, except to a loopback address, and hold no credentials.
	URL string
	// ClientID and ClientSecret are the confidential client's credentials,
	// issued by Digitaal Vlaanderen. Both are required.
	ClientID     string
	ClientSecret string
	// HTTPClient sends the requests. Nil means a client of the profile
	// client's own with a transport tuned for the authorization server,
	// whose idle connections [ProfileClient.Close] closes. A client given
	// here is copied, and the copy never follows redirects; Timeout applies
	// as well as the client's own; Close leaves its connections alone.
	HTTPClient *http.Client
	// Timeout limits one call. Zero means [introspect.DefaultTimeout]; a
	// negative value is an error from [NewProfileClient], since a call
	// without a limit is not an option.
	Timeout time.Duration
	// Now tells the time, to read Retry-After dates. Nil means [time.Now].
	Now func() time.Time
}

// String describes c without its secret.
func (c ProfileConfig) String() string {
	return fmt.Sprintf("ProfileConfig{URL:%q ClientID:%q ClientSecret:%s Timeout:%v}",
		c.URL, c.ClientID, upstream.Redacted(c.ClientSecret), c.Timeout)
}

// GoString is String, so that %#v does not print the secret either.
func (c ProfileConfig) GoString() string { return c.String() }

// LogValue describes c to log/slog without its secret.
func (c ProfileConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", c.URL),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", upstream.Redacted(c.ClientSecret)),
		slog.Duration("timeout", c.Timeout),
	)
}

// ProfileClient fetches resource owners' profiles from the Geosecure profile
// endpoint (POST …/authorization/profile), authenticated with the client's
// id and secret. It is safe for concurrent use.
type ProfileClient struct {
	url          string
	clientID     string
	clientSecret string
	client       *upstream.Client
}

// NewProfileClient returns a ProfileClient, or an error when the
// configuration is unusable: no usable URL, no client id or secret, or a
// negative Timeout.
func NewProfileClient(cfg ProfileConfig) (*ProfileClient, error) {
	u, err := upstream.CheckEndpoint("profile", cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("geosecure: %w", err)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("geosecure: profile client needs a client id and a client secret")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("geosecure: negative Timeout %v", cfg.Timeout)
	}
	return &ProfileClient{
		url:          u.String(),
		clientID:     cfg.ClientID,
		clientSecret: cfg.ClientSecret,
		client:       upstream.NewClient(cfg.HTTPClient, cmp.Or(cfg.Timeout, introspect.DefaultTimeout), cfg.Now),
	}, nil
}

// Profile returns the profile of the resource owner of token. An answer of
// "invalid_token", with a status that is neither 5xx nor 429, is
// [introspect.ErrInvalidToken]; any other error answer (such as
// "invalid_client", which means this client's credentials are wrong), a 5xx
// or 429 whatever its body, and every failure is
// [introspect.ErrUnavailable].
func (p *ProfileClient) Profile(ctx context.Context, token string) (*Profile, error) {
	if err := upstream.CheckToken(token); err != nil {
		return nil, err
	}
	form := url.Values{
		"access_token":  {token},
		"client_id":     {p.clientID},
		"client_secret": {p.clientSecret},
	}
	return upstream.Call(ctx, p.client, upstream.Request{Method: http.MethodPost, URL: p.url, Form: form}, parseProfile)
}

// Close closes the idle connections of the transport the ProfileClient
// made for itself, so that they and their goroutines do not outlive it (an
// idle connection is otherwise kept for up to 90 s). It never touches the
// connections of a client given as [ProfileConfig.HTTPClient]: those are
// the caller's to close. A closed ProfileClient still works, but keeps no
// idle connection after a call. Close is safe to call more than once and
// concurrently with Profile.
func (p *ProfileClient) Close() { p.client.Close() }

// parseProfile turns a profile answer into a Profile.
func parseProfile(status int, body []byte, _ time.Time) (*Profile, error) {
	// As for the verify endpoint (see parseVerify), a failure page may have
	// an "error" member that says nothing about the token.
	if upstream.ServerFailed(status) {
		return nil, upstream.UnexpectedStatus(status)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return nil, &introspect.UnavailableError{Reason: "response is not a JSON object"}
	}
	if raw := members["error"]; !upstream.IsNull(raw) {
		return nil, oauthError(raw)
	}
	if status != http.StatusOK {
		return nil, upstream.UnexpectedStatus(status)
	}
	contactID, ok := upstream.StringOrNumber(members["contactId"])
	if !ok || contactID == "" {
		return nil, &introspect.UnavailableError{Reason: `response has no "contactId"`}
	}
	profile := &Profile{ContactID: contactID}
	for name, dst := range map[string]*string{"name": &profile.Name, "givenName": &profile.GivenName, "surname": &profile.Surname} {
		raw, ok := members[name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, &introspect.UnavailableError{Reason: fmt.Sprintf("%q is not a string", name)}
		}
	}
	return profile, nil
}

// String describes the ProfileClient by its URL and client, never its
// secret, so that printing one with %v or %+v reveals nothing.
func (c *ProfileClient) String() string {
	return fmt.Sprintf("geosecure.ProfileClient{URL:%q ClientID:%q}", c.url, c.clientID)
}

// GoString is String, so that %#v does not print the secret either.
func (c *ProfileClient) GoString() string { return c.String() }

// LogValue describes the ProfileClient to log/slog without its secret.
func (c *ProfileClient) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", c.url), slog.String("client_id", c.clientID))
}
