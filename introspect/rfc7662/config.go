package rfc7662

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tokengate/tokengate/internal/upstream"
)

// The issuers of Digitaal Vlaanderen's ACM/IDM OpenID Provider, for
// [Config.Issuer]: the introspection endpoint is found by discovery.
const (
	ACMProductionIssuer = "https://authenticatie.vlaanderen.be/op"
	ACMTestIssuer       = "https://authenticatie-ti.vlaanderen.be/op"
)

// Defaults and limits of [Config].
const (
	// DefaultAssertionLifetime is how long a client assertion is valid.
	DefaultAssertionLifetime = 2 * time.Minute
	// MaxAssertionLifetime is the longest allowed: ACM/IDM refuses
	// assertions that expire more than 10 minutes after they are made.
	MaxAssertionLifetime = 10 * time.Minute
	// DefaultDiscoveryRetry is the longest a failed discovery is
	// remembered before a request tries again.
	DefaultDiscoveryRetry = 10 * time.Second
)

// Config configures an [Introspector]. Issuer or Endpoint, and the client's
// credentials, are required; the zero value of every other field is the
// default.
//
// Its String, GoString and LogValue methods leave the secret and the key
// out, so printing or logging a Config does not leak them.
type Config struct {
	// Issuer is the authorization server's issuer identifier, such as
	// [ACMProductionIssuer]. When Endpoint is empty, the introspection
	// endpoint is read from the issuer's discovery document
	// ({Issuer}/.well-known/openid-configuration). When set, an answer
	// whose "iss" differs from it is an invalid token.
	Issuer string
	// Endpoint is the introspection endpoint (RFC 7662). Setting it skips
	// discovery. It must be https, except to a loopback address, and hold
	// no credentials.
	Endpoint string

	// ClientID identifies this resource server to the authorization
	// server. Required.
	ClientID string
	// ClientSecret is the client's secret, for [ClientSecretBasic] and
	// [ClientSecretPost].
	ClientSecret string
	// ClientKey is the client's private key, for [PrivateKeyJWT]. Nil
	// means none.
	ClientKey *SigningKey
	// AuthMethod is how the client authenticates. Empty means
	// [PrivateKeyJWT] when ClientKey is set and [ClientSecretBasic]
	// otherwise.
	AuthMethod AuthMethod
	// AssertionAudience is the "aud" of client assertions. Empty means the
	// Issuer, which is what ACM/IDM requires, or the Endpoint when there is
	// no Issuer. Set it to the endpoint URL for servers that want that.
	AssertionAudience string
	// AssertionLifetime is how long after signing a client assertion
	// expires. Zero means [DefaultAssertionLifetime]; at most
	// [MaxAssertionLifetime]. A negative value is an error from [New]: an
	// assertion without a lifetime is not an option.
	AssertionLifetime time.Duration

	// CredentialManager sends ACM/IDM's own form parameter
	// token_endpoint_auth=credential_manager with every introspection
	// request. ACM/IDM then adds the member "credential_manager"
	// ({"code": …, "name": …}: who manages the user's credentials) to its
	// answers, which [introspect.TokenInfo.VO] reads as
	// [introspect.VOClaims.CredentialManager]. False, the default, sends
	// no such parameter, as RFC 7662 knows none: leave it off for servers
	// other than ACM/IDM.
	CredentialManager bool

	// Leeway is the clock skew tolerated when checking "exp" and "nbf".
	// Zero means [introspect.DefaultLeeway]; a negative value means no
	// leeway at all.
	Leeway time.Duration
	// DiscoveryRetry is the longest a failed discovery is remembered.
	// Until the next attempt, requests fail at once (as
	// [introspect.ErrUnavailable], with the time until that attempt as
	// Retry-After) instead of each asking again. The first retry comes a
	// second after a failure, and the wait doubles while failures persist,
	// up to DiscoveryRetry; a longer Retry-After from the provider is
	// honoured up to DiscoveryRetry too. Zero means
	// [DefaultDiscoveryRetry]; a negative value is an error from [New],
	// since asking again on every request is what the wait prevents.
	DiscoveryRetry time.Duration

	// HTTPClient sends the requests. Nil means a client of the
	// introspector's own with a transport tuned for the authorization
	// server, whose idle connections [Introspector.Close] closes. A client
	// given here is copied, and the copy never follows redirects; Timeout
	// applies as well as the client's own; Close leaves its connections
	// alone.
	HTTPClient *http.Client
	// Timeout limits one call, to the introspection endpoint or for the
	// discovery document. Zero means [introspect.DefaultTimeout]; a
	// negative value is an error from [New], since a call without a limit
	// is not an option.
	Timeout time.Duration
	// Now tells the time, for checking expiry, dating assertions and
	// reading Retry-After. Nil means [time.Now].
	Now func() time.Time
}

// String describes c without its secret or key.
func (c Config) String() string {
	key := "<nil>"
	if c.ClientKey != nil {
		key = c.ClientKey.String()
	}
	return fmt.Sprintf("Config{Issuer:%q Endpoint:%q ClientID:%q ClientSecret:%s ClientKey:%s AuthMethod:%q AssertionAudience:%q CredentialManager:%t Timeout:%v}",
		c.Issuer, c.Endpoint, c.ClientID, upstream.Redacted(c.ClientSecret), key, c.AuthMethod, c.AssertionAudience, c.CredentialManager, c.Timeout)
}

// GoString is String, so that %#v does not print the secret either.
func (c Config) GoString() string { return c.String() }

// LogValue describes c to log/slog without its secret or key.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("issuer", c.Issuer),
		slog.String("endpoint", c.Endpoint),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", upstream.Redacted(c.ClientSecret)),
		slog.String("auth_method", string(c.AuthMethod)),
		slog.Bool("credential_manager", c.CredentialManager),
		slog.Duration("timeout", c.Timeout),
	}
	if c.ClientKey != nil {
		attrs = append(attrs, slog.Any("client_key", c.ClientKey.LogValue()))
	}
	return slog.GroupValue(attrs...)
}
