package rfc7662

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/internal/upstream"
	"github.com/tokengate/tokengate/introspect"
)

// Introspector is an [introspect.Verifier] that asks an OAuth 2.0 token
// introspection endpoint (RFC 7662), such as ACM/IDM's, about tokens. It
// POSTs token=…&token_type_hint=access_token (and, with
// [Config.CredentialManager], ACM/IDM's
// token_endpoint_auth=credential_manager), authenticated as the configured
// client.
//
// An answer is read by RFC 7662 §2.2: only "active": true (the JSON
// boolean) makes a token valid, and "active": false makes it invalid; an
// answer without a boolean "active" is [introspect.ErrUnavailable]. "scope"
// may be a space-delimited string or a JSON array; "exp", "iat" and "nbf"
// are numbers (numeric strings are tolerated); "aud" is a string or an
// array. A token past its "exp" or before its "nbf" (give or take the
// leeway), or from another issuer than the configured one, is invalid.
// Members without an [introspect.TokenInfo] field, such as ACM/IDM's
// "vo_id" and "vo_orgcode", land in [introspect.TokenInfo.Claims].
//
// Every other outcome is [introspect.ErrUnavailable], never
// [introspect.ErrInvalidToken]: a refusal of our own credentials (401,
// 403), a server error, an answer that is not a JSON object or has members
// of the wrong type. A misconfigured resource server must not tell its
// clients their tokens are bad.
//
// An Introspector is safe for concurrent use.
type Introspector struct {
	issuer    string
	endpoint  string // fixed, or empty to discover
	discovery *discovery
	clientID  string
	secret    string
	basic     string // the Authorization header of ClientSecretBasic, or empty
	method    AuthMethod
	signer    jose.Signer
	aud       string // the audience of client assertions; empty to use the endpoint
	lifetime  time.Duration
	leeway    time.Duration
	client    *upstream.Client
	// credentialManager asks ACM/IDM for "credential_manager".
	credentialManager bool
}

// New returns an Introspector, or an error when the configuration is
// unusable: no Issuer and no Endpoint, a URL that is not https to a host
// other than a loopback one, no ClientID, no credentials for the
// AuthMethod, a key that does not fit its algorithm, an AssertionLifetime
// over [MaxAssertionLifetime], or a negative Timeout, AssertionLifetime or
// DiscoveryRetry.
func New(cfg Config) (*Introspector, error) {
	for _, d := range [...]struct {
		name  string
		value time.Duration
	}{
		{"Timeout", cfg.Timeout},
		{"AssertionLifetime", cfg.AssertionLifetime},
		{"DiscoveryRetry", cfg.DiscoveryRetry},
	} {
		if d.value < 0 {
			return nil, fmt.Errorf("rfc7662: negative %s %v", d.name, d.value)
		}
	}
	in := &Introspector{
		clientID: cfg.ClientID,
		secret:   cfg.ClientSecret,
		lifetime: cmp.Or(cfg.AssertionLifetime, DefaultAssertionLifetime),
		leeway:   max(cmp.Or(cfg.Leeway, introspect.DefaultLeeway), 0),
		client:   upstream.NewClient(cfg.HTTPClient, cmp.Or(cfg.Timeout, introspect.DefaultTimeout), cfg.Now),

		credentialManager: cfg.CredentialManager,
	}

	if cfg.Issuer != "" {
		u, err := upstream.CheckEndpoint("issuer", cfg.Issuer)
		if err != nil {
			return nil, fmt.Errorf("rfc7662: %w", err)
		}
		if u.RawQuery != "" {
			return nil, fmt.Errorf("rfc7662: issuer %q has a query", cfg.Issuer)
		}
		in.issuer = cfg.Issuer
	}
	switch {
	case cfg.Endpoint != "":
		u, err := upstream.CheckEndpoint("introspection", cfg.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("rfc7662: %w", err)
		}
		in.endpoint = u.String()
	case in.issuer != "":
		in.discovery = newDiscovery(in.issuer, in.client, cmp.Or(cfg.DiscoveryRetry, DefaultDiscoveryRetry))
	default:
		return nil, errors.New("rfc7662: an Issuer or an introspection Endpoint is required")
	}

	if cfg.ClientID == "" {
		return nil, errors.New("rfc7662: a ClientID is required")
	}
	in.method = cfg.AuthMethod
	if in.method == "" {
		in.method = ClientSecretBasic
		if cfg.ClientKey != nil {
			in.method = PrivateKeyJWT
		}
	}
	switch in.method {
	case ClientSecretBasic, ClientSecretPost:
		if cfg.ClientSecret == "" {
			return nil, fmt.Errorf("rfc7662: %s needs a ClientSecret", in.method)
		}
		if in.method == ClientSecretBasic {
			in.basic = basicAuthorization(in.clientID, in.secret)
		}
	case PrivateKeyJWT:
		if cfg.ClientKey == nil {
			return nil, fmt.Errorf("rfc7662: %s needs a ClientKey", in.method)
		}
		if in.lifetime > MaxAssertionLifetime {
			return nil, fmt.Errorf("rfc7662: AssertionLifetime %v is longer than %v", in.lifetime, MaxAssertionLifetime)
		}
		signer, err := cfg.ClientKey.newSigner()
		if err != nil {
			return nil, err
		}
		in.signer = signer
		in.aud = cmp.Or(cfg.AssertionAudience, in.issuer)
	default:
		return nil, fmt.Errorf("rfc7662: unknown client authentication method %q", in.method)
	}
	return in, nil
}

// Leeway returns the clock skew the Introspector tolerates past a token's
// "exp"; an [introspect.Cache] in front of it reuses an answer until that
// much past "exp" too, so the two agree. It is [introspect.DefaultLeeway]
// when [Config.Leeway] is zero, and 0 when that is negative.
func (in *Introspector) Leeway() time.Duration { return in.leeway }

// Endpoint returns the introspection endpoint, reading the issuer's
// discovery document first if that has not been done. Call it at start-up
// to find a wrong issuer early; Verify does it when needed. A failure is
// [introspect.ErrUnavailable], remembered until the next attempt is due
// (see [Config.DiscoveryRetry]).
func (in *Introspector) Endpoint(ctx context.Context) (string, error) {
	if in.endpoint != "" {
		return in.endpoint, nil
	}
	return in.discovery.introspectionEndpoint(ctx)
}

// Ready reports whether the Introspector knows its endpoint, discovering
// it first when needed, as [Introspector.Endpoint] does: nil with a
// configured endpoint or once discovery has succeeded, and the discovery
// failure otherwise, which names the issuer. It makes the Introspector an
// [introspect.ReadyChecker].
func (in *Introspector) Ready(ctx context.Context) error {
	if _, err := in.Endpoint(ctx); err != nil {
		return fmt.Errorf("rfc7662: discovery of issuer %s: %w", in.issuer, err)
	}
	return nil
}

// BackendName returns "rfc7662", the Introspector's name in metrics and
// spans.
func (in *Introspector) BackendName() string { return "rfc7662" }

// AnswerScope returns what, besides the token, the authorization server's
// answers depend on: the server (its issuer, or the endpoint), the client
// that asks (a server may answer each client differently), whether it asks
// for "credential_manager", and the leeway. An [introspect.Cache] with a
// shared tier shares answers only with Caches whose Verifiers have the
// same one (see [introspect.AnswerScoper]).
func (in *Introspector) AnswerScope() string {
	return fmt.Sprintf("rfc7662 issuer=%q endpoint=%q client_id=%q credential_manager=%t leeway=%s",
		in.issuer, in.endpoint, in.clientID, in.credentialManager, in.leeway)
}

// Verify asks the introspection endpoint about token.
func (in *Introspector) Verify(ctx context.Context, token string) (*introspect.TokenInfo, error) {
	if err := upstream.CheckToken(token); err != nil {
		return nil, err
	}
	endpoint, err := in.Endpoint(ctx)
	if err != nil {
		return nil, err
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	if in.credentialManager {
		form.Set("token_endpoint_auth", "credential_manager")
	}
	if err := in.authenticate(form, endpoint); err != nil {
		// Not the token's fault, and nothing is known about it.
		return nil, &introspect.UnavailableError{Reason: "client authentication failed", Err: err}
	}
	req := upstream.Request{Method: http.MethodPost, URL: endpoint, Form: form, Authorization: in.basic}
	return upstream.Call(ctx, in.client, req, in.parse)
}

// parse reads an introspection answer by the Introspector's issuer and
// leeway.
func (in *Introspector) parse(status int, body []byte, now time.Time) (*introspect.TokenInfo, error) {
	return parseIntrospection(status, body, now, in.issuer, in.leeway)
}

// Close closes the idle connections of the transport the Introspector made
// for itself, so that they and their goroutines do not outlive it (an idle
// connection is otherwise kept for up to 90 s). It never touches the
// connections of a client given as [Config.HTTPClient]: those are the
// caller's to close. A closed Introspector still works, but keeps no idle
// connection after a call. Close is safe to call more than once and
// concurrently with Verify and Endpoint.
func (in *Introspector) Close() { in.client.Close() }

// String describes the Introspector by its issuer, endpoint, client and
// method, never its secret or key, so that printing one with %v or %+v
// reveals nothing.
func (in *Introspector) String() string {
	return fmt.Sprintf("rfc7662.Introspector{Issuer:%q Endpoint:%q ClientID:%q AuthMethod:%q}", in.issuer, in.endpoint, in.clientID, in.method)
}

// GoString is String, so that %#v does not print the secret either.
func (in *Introspector) GoString() string { return in.String() }

// LogValue describes the Introspector to log/slog without its secret or
// key.
func (in *Introspector) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("issuer", in.issuer),
		slog.String("endpoint", in.endpoint),
		slog.String("client_id", in.clientID),
		slog.String("auth_method", string(in.method)),
	)
}
