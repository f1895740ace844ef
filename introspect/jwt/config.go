package jwt

import (
	"net/http"
	"strings"
	"time"

	"github.com/tokengate/tokengate/introspect"
)

// Defaults and bounds of [Config].
const (
	// DefaultMaxTokenBytes is the longest token accepted when
	// [Config.MaxTokenBytes] is zero. A longer one is invalid without being
	// parsed.
	DefaultMaxTokenBytes = 4096
	// DefaultRefreshCooldown is the least time between two refreshes of the
	// key set that tokens with an unknown "kid" trigger.
	DefaultRefreshCooldown = 30 * time.Second
	// DefaultKeySetLifetime is how long a key set is fresh when its answer
	// sends no Cache-Control max-age.
	DefaultKeySetLifetime = time.Hour
	// MinKeySetLifetime and MaxKeySetLifetime bound the max-age a key set
	// is taken to have, so that a server sending max-age=0 is not asked
	// every second and one sending a year still rotates.
	MinKeySetLifetime = 5 * time.Minute
	MaxKeySetLifetime = 24 * time.Hour
	// MaxKeys is the most keys a key set may hold. A larger set is refused
	// as a whole, and the keys known before are kept.
	MaxKeys = 100
)

// Metadata says where an issuer publishes the metadata that names its key
// set.
type Metadata int

const (
	// OpenIDDiscovery is {issuer}/.well-known/openid-configuration (OpenID
	// Connect Discovery 1.0), what ADFS, Entra ID and ACM/IDM publish.
	OpenIDDiscovery Metadata = iota
	// OAuthMetadata is RFC 8414's /.well-known/oauth-authorization-server,
	// inserted between the issuer's host and its path.
	OAuthMetadata
)

// The claims [Config.ScopeClaims] may name.
const (
	// ScopeClaim is RFC 9068's "scope", a space-delimited string.
	ScopeClaim = "scope"
	// SCPClaim is ADFS's and Entra ID's "scp": delegated permissions, a
	// space-delimited string or an array.
	SCPClaim = "scp"
	// RolesClaim is Entra ID's "roles": app roles, an array.
	RolesClaim = "roles"
)

// Config configures a [Verifier]. The zero value of every field but the key
// source and the accepted issuers is a sensible default.
type Config struct {
	// JWKSURL is the issuer's key set (RFC 7517 JWK Set). When empty, it
	// is read from the "jwks_uri" of the Issuer's metadata. It must be
	// https, except to a loopback address.
	JWKSURL string
	// Issuer is the issuer whose metadata names the key set, when JWKSURL
	// is empty. The metadata must name this issuer exactly. When Issuers
	// is empty, Issuer is the one accepted "iss" — or, when the key set
	// comes from the metadata, the metadata's "access_token_issuer" if it
	// has one (ADFS signs access tokens with an "iss" other than its
	// "issuer"), else its "issuer".
	Issuer string
	// Metadata says which metadata document to read for Issuer. The zero
	// value is [OpenIDDiscovery].
	Metadata Metadata
	// Issuers are the accepted "iss" values, compared exactly. It
	// overrides what Issuer implies. For Entra ID use [EntraIssuers].
	Issuers []string

	// Audiences are the accepted "aud" values: a token must name at least
	// one. Required, unless InsecureSkipAudienceCheck is set.
	Audiences []string
	// InsecureSkipAudienceCheck accepts tokens whatever their "aud" says.
	// A token issued for any other resource server of the same issuer is
	// then accepted here too. Do not set it without checking the audience
	// yourself on every request.
	InsecureSkipAudienceCheck bool

	// Algorithms are the accepted "alg" values. Nil means the asymmetric
	// families: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384,
	// ES512 and EdDSA. "none" and the HMAC algorithms are refused: a
	// published key must never be a shared secret.
	Algorithms []string

	// RequireLowS refuses ECDSA (ES256, ES384, ES512) signatures whose s
	// is above half the curve's order. Such a signature has a second form,
	// (r, n-s), that verifies too, so anyone holding the token can make a
	// second string for it, with the same claims: another cache entry, and
	// a way past a deny list or replay check keyed on the token string
	// (key those on "jti" instead). Off by default: RFC 7518 does not
	// require low s, and most ECDSA signers (Go's crypto/ecdsa and
	// go-jose, Java, OpenSSL) do not normalize it, so about half of their
	// valid tokens would be refused. Set it for an issuer that signs low-s.
	RequireLowS bool

	// RFC9068 requires the JWT Profile for OAuth 2.0 Access Tokens: a "typ"
	// header of "at+jwt" (or "application/at+jwt"), and the claims iss,
	// exp, aud, sub, client_id, iat and jti. Off by default: ADFS and Entra
	// ID send "typ": "JWT" and no client_id.
	RFC9068 bool

	// ScopeClaims names the claims whose values make up
	// [introspect.TokenInfo.Scopes]: any of [ScopeClaim], [SCPClaim] and
	// [RolesClaim]. Nil means all three; empty is an error. "roles" and
	// "scp" stay in [introspect.TokenInfo.Claims] as well, so a handler
	// can tell an app role from a delegated scope; "scope" stays there
	// only when it is not named. A claim left out still has its type
	// checked (a string or an array of strings): a token that carries a
	// malformed one is invalid, whichever claims count.
	ScopeClaims []string

	// Leeway is the clock skew tolerated when checking "exp", "nbf" and
	// "iat". Zero means [introspect.DefaultLeeway]; negative means none.
	Leeway time.Duration
	// MaxTokenBytes is the longest token accepted. Zero means
	// [DefaultMaxTokenBytes].
	MaxTokenBytes int
	// RefreshCooldown is the least time between two refreshes of the key
	// set triggered by tokens with an unknown "kid", counted from the last
	// such refresh. Within it such tokens are answered at once, none
	// waits: unavailable, with the cooldown left as Retry-After (a second
	// while a fetch is in flight, which may bring the key), unless the
	// keys were fetched well after the token was issued (see the package
	// documentation's Security section).
	// While no key set has been loaded, it also bounds the wait between
	// attempts. Zero means [DefaultRefreshCooldown].
	RefreshCooldown time.Duration

	// HTTPClient fetches the key set and metadata. Nil means a client of
	// the verifier's own, whose idle connections [Verifier.Close] closes.
	// A client given here is copied, and the copy never follows redirects.
	HTTPClient *http.Client
	// Timeout limits one fetch. Zero means [introspect.DefaultTimeout].
	Timeout time.Duration
	// Now tells the time, for checking claims and scheduling refreshes.
	// Nil means [time.Now].
	Now func() time.Time
	// Hooks, when not nil, receive each fetch of the key set (see
	// [introspect.Hooks]); give the Cache in front the same Hooks for the
	// rest. The Verifier reads them once, in New. Nil means none.
	Hooks *introspect.Hooks
}

// Entra ID's issuers and key set.
const (
	// EntraCommonJWKSURL is the key set Entra ID signs every tenant's
	// tokens with; multi-tenant applications use it with [EntraIssuers].
	EntraCommonJWKSURL = "https://login.microsoftonline.com/common/discovery/v2.0/keys"
)

// EntraIssuers returns the "iss" values of Entra ID access tokens for the
// given tenant IDs: for each, v1's https://sts.windows.net/{tenant}/ and
// v2's https://login.microsoftonline.com/{tenant}/v2.0. A multi-tenant
// application lists the tenants it serves: accepting any tenant would
// accept tokens from anyone who creates one. Empty tenants are skipped.
func EntraIssuers(tenants ...string) []string {
	out := make([]string, 0, 2*len(tenants))
	for _, t := range tenants {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		out = append(out,
			"https://sts.windows.net/"+t+"/",
			"https://login.microsoftonline.com/"+t+"/v2.0")
	}
	return out
}
