package introspect

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/scopes"
)

// The issuers of Digitaal Vlaanderen's ACM/IDM OpenID Provider. Give one as
// [IntrospectorConfig.Issuer]; the introspection endpoint is found by
// discovery.
const (
	ACMProductionIssuer = "https://authenticatie.vlaanderen.be/op"
	ACMTestIssuer       = "https://authenticatie-ti.vlaanderen.be/op"
)

// AuthMethod is how an [Introspector] authenticates itself to the
// introspection endpoint, named as in OpenID Connect's
// token_endpoint_auth_method.
type AuthMethod string

// The client authentication methods an [Introspector] supports.
const (
	// ClientSecretBasic sends the client id and secret in an HTTP Basic
	// Authorization header, each form-url-encoded first (RFC 6749 §2.3.1).
	ClientSecretBasic AuthMethod = "client_secret_basic"
	// ClientSecretPost sends them as client_id and client_secret form
	// parameters.
	ClientSecretPost AuthMethod = "client_secret_post"
	// PrivateKeyJWT sends a fresh JWT signed with the client's private key
	// (RFC 7523 §2.2). Clients migrated from Geosecure to ACM/IDM can only
	// use this method.
	PrivateKeyJWT AuthMethod = "private_key_jwt"
)

// ParseAuthMethod reads a method by its name, accepting the short forms
// "basic", "post" and "jwt" too.
func ParseAuthMethod(s string) (AuthMethod, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "basic", string(ClientSecretBasic):
		return ClientSecretBasic, nil
	case "post", string(ClientSecretPost):
		return ClientSecretPost, nil
	case "jwt", string(PrivateKeyJWT):
		return PrivateKeyJWT, nil
	}
	return "", fmt.Errorf("introspect: unknown client authentication method %q (want basic, post or private_key_jwt)", s)
}

// Defaults of [IntrospectorConfig].
const (
	// DefaultLeeway is the clock skew tolerated when checking a token's
	// "exp" and "nbf".
	DefaultLeeway = 30 * time.Second
	// DefaultAssertionLifetime is how long a client assertion is valid.
	DefaultAssertionLifetime = 2 * time.Minute
	// MaxAssertionLifetime is the longest allowed: ACM/IDM refuses
	// assertions that expire more than 10 minutes after they are made.
	MaxAssertionLifetime = 10 * time.Minute
	// DefaultDiscoveryRetry is the longest a failed discovery is
	// remembered before a request tries again.
	DefaultDiscoveryRetry = 10 * time.Second
)

// IntrospectorConfig configures an [Introspector]. Issuer or Endpoint, and
// the client's credentials, are required; the zero value of every other
// field is a sensible default.
//
// Its String and LogValue methods leave the secret and the key out, so
// printing or logging an IntrospectorConfig does not leak them.
type IntrospectorConfig struct {
	// Issuer is the authorization server's issuer identifier, such as
	// [ACMProductionIssuer]. When Endpoint is empty, the introspection
	// endpoint is read from the issuer's discovery document
	// ({Issuer}/.well-known/openid-configuration). When set, an answer
	// whose "iss" differs from it is an invalid token.
	Issuer string
	// Endpoint is the introspection endpoint (RFC 7662). Setting it skips
	// discovery. It must be https, except to a loopback address.
	Endpoint string

	// ClientID identifies this resource server to the authorization
	// server. Required.
	ClientID string
	// ClientSecret is the client's secret, for [ClientSecretBasic] and
	// [ClientSecretPost].
	ClientSecret string
	// ClientKey is the client's private key, for [PrivateKeyJWT].
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
	// [MaxAssertionLifetime].
	AssertionLifetime time.Duration

	// Leeway is the clock skew tolerated when checking "exp" and "nbf".
	// Zero means [DefaultLeeway]; negative means none.
	Leeway time.Duration
	// DiscoveryRetry is the longest a failed discovery is remembered.
	// Until the next attempt, requests fail at once (as [ErrUnavailable],
	// with the time until that attempt as Retry-After) instead of each
	// asking again. The first retry comes a second after a failure, and
	// the wait doubles while failures persist, up to DiscoveryRetry; a
	// longer Retry-After from the provider is honoured up to DiscoveryRetry
	// too. Zero means [DefaultDiscoveryRetry].
	DiscoveryRetry time.Duration

	// HTTPClient sends the requests. Nil means a client of the
	// introspector's own with a [NewTransport] transport, whose idle
	// connections [Introspector.Close] closes. A client given here is
	// copied, and the copy never follows redirects; Timeout applies as well
	// as the client's own; Close leaves its connections alone.
	HTTPClient *http.Client
	// Timeout limits one call. Zero means [DefaultTimeout].
	Timeout time.Duration
	// Now tells the time, for checking expiry and dating assertions. Nil
	// means [time.Now].
	Now func() time.Time
}

// String describes c without its secret or key.
func (c IntrospectorConfig) String() string {
	key := "<nil>"
	if c.ClientKey != nil {
		key = c.ClientKey.String()
	}
	return fmt.Sprintf("IntrospectorConfig{Issuer:%q Endpoint:%q ClientID:%q ClientSecret:%s ClientKey:%s AuthMethod:%q AssertionAudience:%q Timeout:%v}",
		c.Issuer, c.Endpoint, c.ClientID, redacted(c.ClientSecret), key, c.AuthMethod, c.AssertionAudience, c.Timeout)
}

// GoString is String, so that %#v does not print the secret either.
func (c IntrospectorConfig) GoString() string { return c.String() }

// LogValue describes c to log/slog without its secret or key.
func (c IntrospectorConfig) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("issuer", c.Issuer),
		slog.String("endpoint", c.Endpoint),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", redacted(c.ClientSecret)),
		slog.String("auth_method", string(c.AuthMethod)),
		slog.Duration("timeout", c.Timeout),
	}
	if c.ClientKey != nil {
		attrs = append(attrs, slog.Any("client_key", c.ClientKey.LogValue()))
	}
	return slog.GroupValue(attrs...)
}

// Introspector is a [Verifier] that asks an OAuth 2.0 token introspection
// endpoint (RFC 7662), such as ACM/IDM's, about tokens. It POSTs
// token=…&token_type_hint=access_token, authenticated as the configured
// client.
//
// An answer is read by RFC 7662 §2.2: only "active": true (the JSON
// boolean) makes a token valid, and "active": false makes it invalid; an
// answer without a boolean "active" is [ErrUnavailable]. "scope" may be a space-delimited string or
// a JSON array; "exp", "iat" and "nbf" are numbers (numeric strings are
// tolerated); "aud" is a string or an array. A token past its "exp" or
// before its "nbf" (give or take the leeway), or from another issuer than
// the configured one, is invalid. Members without a [TokenInfo] field, such
// as ACM/IDM's "vo_id" and "vo_orgcode", land in [TokenInfo.Claims].
//
// Every other outcome is [ErrUnavailable], never [ErrInvalidToken]: a
// refusal of our own credentials (401, 403), a server error, an answer that
// is not a JSON object or has members of the wrong type. A misconfigured
// resource server must not tell its clients their tokens are bad.
//
// An Introspector is safe for concurrent use.
type Introspector struct {
	issuer    string
	endpoint  string // fixed, or empty to discover
	discovery *discovery
	clientID  string
	secret    string
	basic     string // the Authorization header of ClientSecretBasic
	method    AuthMethod
	signer    jose.Signer
	aud       string // the audience of client assertions; empty to use the endpoint
	lifetime  time.Duration
	leeway    time.Duration
	client    client
	now       func() time.Time
}

// NewIntrospector returns an Introspector, or an error when the
// configuration is unusable.
func NewIntrospector(cfg IntrospectorConfig) (*Introspector, error) {
	in := &Introspector{
		clientID: cfg.ClientID,
		secret:   cfg.ClientSecret,
		lifetime: cmp.Or(cfg.AssertionLifetime, DefaultAssertionLifetime),
		leeway:   cmp.Or(cfg.Leeway, DefaultLeeway),
		now:      nowFunc(cfg.Now),
	}
	if cfg.Timeout < 0 || cfg.AssertionLifetime < 0 || cfg.DiscoveryRetry < 0 {
		return nil, errors.New("introspect: negative duration in IntrospectorConfig")
	}
	in.leeway = max(in.leeway, 0)
	in.client = newHTTPClient(cfg.HTTPClient, cmp.Or(cfg.Timeout, DefaultTimeout), in.now)

	if cfg.Issuer != "" {
		u, err := checkEndpoint("issuer", cfg.Issuer)
		if err != nil {
			return nil, err
		}
		if u.RawQuery != "" {
			return nil, fmt.Errorf("introspect: issuer %q has a query", cfg.Issuer)
		}
		in.issuer = cfg.Issuer
	}
	switch {
	case cfg.Endpoint != "":
		u, err := checkEndpoint("introspection", cfg.Endpoint)
		if err != nil {
			return nil, err
		}
		in.endpoint = u.String()
	case in.issuer != "":
		in.discovery = newDiscovery(in.issuer, in.client, cmp.Or(cfg.DiscoveryRetry, DefaultDiscoveryRetry), in.now)
	default:
		return nil, errors.New("introspect: an Issuer or an introspection Endpoint is required")
	}

	if cfg.ClientID == "" {
		return nil, errors.New("introspect: a ClientID is required")
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
			return nil, fmt.Errorf("introspect: %s needs a ClientSecret", in.method)
		}
		// RFC 6749 §2.3.1: each form-url-encoded, then HTTP Basic.
		in.basic = "Basic " + base64.StdEncoding.EncodeToString(
			[]byte(url.QueryEscape(in.clientID)+":"+url.QueryEscape(in.secret)))
	case PrivateKeyJWT:
		if cfg.ClientKey == nil {
			return nil, fmt.Errorf("introspect: %s needs a ClientKey", in.method)
		}
		if in.lifetime > MaxAssertionLifetime {
			return nil, fmt.Errorf("introspect: AssertionLifetime %v is longer than %v", in.lifetime, MaxAssertionLifetime)
		}
		signer, err := cfg.ClientKey.newSigner()
		if err != nil {
			return nil, err
		}
		in.signer = signer
		in.aud = cmp.Or(cfg.AssertionAudience, in.issuer)
	default:
		return nil, fmt.Errorf("introspect: unknown client authentication method %q", in.method)
	}
	return in, nil
}

// Leeway returns the clock skew the Introspector tolerates past a token's
// "exp"; a [Cache] in front of it reuses an answer until that much past
// "exp" too, so the two agree. It is [DefaultLeeway] when
// [IntrospectorConfig.Leeway] is zero, and 0 when that is negative.
func (in *Introspector) Leeway() time.Duration { return in.leeway }

// Endpoint returns the introspection endpoint, reading the issuer's
// discovery document first if that has not been done. Call it at start-up
// to find a wrong issuer early; Verify does it when needed.
func (in *Introspector) Endpoint(ctx context.Context) (string, error) {
	if in.endpoint != "" {
		return in.endpoint, nil
	}
	return in.discovery.introspectionEndpoint(ctx)
}

// Verify asks the introspection endpoint about token.
func (in *Introspector) Verify(ctx context.Context, token string) (*TokenInfo, error) {
	if err := checkTokenSyntax(token); err != nil {
		return nil, err
	}
	endpoint, err := in.Endpoint(ctx)
	if err != nil {
		return nil, err
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	if err := in.authenticate(form, endpoint); err != nil {
		return nil, err
	}
	req := request{method: http.MethodPost, url: endpoint, form: form}
	if in.method == ClientSecretBasic {
		req.authorization = in.basic
	}
	return exchange(ctx, in.client, req, in.parse)
}

// parse reads an introspection answer by the Introspector's issuer and
// leeway.
func (in *Introspector) parse(status int, body []byte, now time.Time) (*TokenInfo, error) {
	return parseIntrospection(status, body, now, in.issuer, in.leeway)
}

// Close closes the idle connections of the transport the Introspector made for
// itself, so that they and their goroutines do not outlive it (an idle
// connection is otherwise kept for up to 90 s). It never touches the
// connections of a client given as IntrospectorConfig.HTTPClient: those are the
// caller's to close. A closed Introspector still works, but keeps no idle
// connection after a call. Close is safe to call more than once and
// concurrently with Verify and Endpoint.
func (in *Introspector) Close() { in.client.close() }

// authenticate adds the form parameters of the client authentication.
func (in *Introspector) authenticate(form url.Values, endpoint string) error {
	switch in.method {
	case ClientSecretPost:
		form.Set("client_id", in.clientID)
		form.Set("client_secret", in.secret)
	case PrivateKeyJWT:
		assertion, err := in.assertion(cmp.Or(in.aud, endpoint))
		if err != nil {
			return err
		}
		form.Set("client_id", in.clientID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	}
	return nil
}

// assertionClaims are the claims of a client assertion (RFC 7523 §3).
type assertionClaims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	ID        string `json:"jti"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	Expiry    int64  `json:"exp"`
}

// assertion returns a fresh client assertion for aud, with a random jti so
// that no two are alike.
func (in *Introspector) assertion(aud string) (string, error) {
	var id [16]byte
	_, _ = rand.Read(id[:]) // never fails: crypto/rand panics instead
	now := in.now()
	payload, err := json.Marshal(assertionClaims{
		Issuer:    in.clientID,
		Subject:   in.clientID,
		Audience:  aud,
		ID:        base64.RawURLEncoding.EncodeToString(id[:]),
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		Expiry:    now.Add(in.lifetime).Unix(),
	})
	if err != nil {
		return "", fmt.Errorf("introspect: encoding client assertion: %w", err)
	}
	jws, err := in.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("introspect: signing client assertion: %w", err)
	}
	return jws.CompactSerialize()
}

// introspectionFields are the members of an introspection answer with a
// TokenInfo field.
var introspectionFields = []string{"active", "scope", "client_id", "aud", "sub", "iss", "token_type", "exp", "iat", "nbf"}

// parseIntrospection turns an introspection answer into a TokenInfo. now is
// when the answer arrived; issuer, when not empty, is the only "iss"
// accepted.
func parseIntrospection(status int, body []byte, now time.Time, issuer string, leeway time.Duration) (*TokenInfo, error) {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return nil, &UnavailableError{Reason: "the introspection endpoint refused this client's credentials"}
	case status != http.StatusOK:
		return nil, &UnavailableError{Reason: "unexpected status"}
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return nil, &UnavailableError{Reason: "response is not a JSON object"}
	}
	// RFC 7662 §2.2 makes "active" REQUIRED and a boolean. false is the
	// server's word that the token is bad, and then nothing else in the
	// answer counts. An answer without a boolean "active" ({}, an error
	// object, "active":"true") is from a broken server or something in
	// front of it, and says nothing about the token.
	switch string(members["active"]) {
	case "true":
	case "false":
		return nil, invalidToken("token is not active")
	default:
		return nil, &UnavailableError{Reason: `response has no boolean "active"`}
	}

	info := &TokenInfo{Active: true, Claims: otherClaims(members, introspectionFields)}
	var ok bool
	for _, m := range [...]struct {
		name string
		dst  *string
	}{
		{"client_id", &info.ClientID},
		{"sub", &info.Subject},
		{"iss", &info.Issuer},
		{"token_type", &info.TokenType},
	} {
		if raw := members[m.name]; !isNull(raw) {
			if *m.dst, ok = jsonString(raw); !ok {
				return nil, &UnavailableError{Reason: fmt.Sprintf("%q is not a string", m.name)}
			}
		}
	}
	if info.Scopes, ok = scopeMember(members["scope"]); !ok {
		return nil, &UnavailableError{Reason: `"scope" is neither a string nor an array of strings`}
	}
	if info.Audience, ok = stringOrStrings(members["aud"]); !ok {
		return nil, &UnavailableError{Reason: `"aud" is neither a string nor an array of strings`}
	}
	for _, m := range [...]struct {
		name string
		dst  *time.Time
	}{
		{"exp", &info.ExpiresAt},
		{"iat", &info.IssuedAt},
		{"nbf", &info.NotBefore},
	} {
		if *m.dst, ok = numericDate(members[m.name]); !ok {
			return nil, &UnavailableError{Reason: fmt.Sprintf("%q is not a number of seconds", m.name)}
		}
	}

	switch {
	case issuer != "" && info.Issuer != "" && info.Issuer != issuer:
		return nil, invalidToken("token from another issuer")
	case !info.ExpiresAt.IsZero() && !now.Before(info.ExpiresAt.Add(leeway)):
		return nil, invalidToken("token expired")
	case !info.NotBefore.IsZero() && now.Before(info.NotBefore.Add(-leeway)):
		return nil, invalidToken("token not valid yet")
	}
	return info, nil
}

// isNull reports whether raw is absent or the JSON null, which servers
// send for members they have no value for.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// scopeMember reads "scope": a space-delimited string (RFC 7662) or, as some
// servers send, a JSON array of scopes.
func scopeMember(raw json.RawMessage) (scopes.Set, bool) {
	if isNull(raw) {
		return scopes.Set{}, true
	}
	if s, ok := jsonString(raw); ok {
		return scopes.Parse(s), true
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return scopes.New(list...), true
	}
	return scopes.Set{}, false
}

// stringOrStrings reads a member that is a string or an array of strings,
// such as "aud" (RFC 7519 §4.1.3). Absent, null and "" give nil.
func stringOrStrings(raw json.RawMessage) ([]string, bool) {
	if isNull(raw) {
		return nil, true
	}
	if s, ok := jsonString(raw); ok {
		if s == "" {
			return nil, true
		}
		return []string{s}, true
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, true
	}
	return nil, false
}

// numericDate reads a JWT NumericDate (seconds since the epoch), sent as a
// JSON number or a string of one. Absent and null give the zero time.
func numericDate(raw json.RawMessage) (time.Time, bool) {
	if isNull(raw) {
		return time.Time{}, true
	}
	s, ok := stringOrNumber(raw)
	if !ok {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return time.Time{}, false
	}
	// Beyond the year 9999 is as good as forever; clamping keeps the
	// conversion to int64 defined.
	const maxDate = 253402300799
	return time.Unix(int64(min(f, maxDate)), 0), true
}
