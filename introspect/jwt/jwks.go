package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// minRSABits is the smallest RSA key accepted (RFC 7518 §3.3).
const minRSABits = 2048

// publicKey is one verification key of a key set.
type publicKey struct {
	kid string
	alg string // the key's own "alg", or ""
	key crypto.PublicKey
}

// fits reports whether k may verify a signature made with alg: its type
// must be alg's (RSA for RS and PS, the alg's curve for ES, Ed25519 for
// EdDSA), and an "alg" the key names must be alg itself. This is what
// keeps a token from choosing how a key is used.
func (k *publicKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch key := k.key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return key.Curve == elliptic.P256()
		case "ES384":
			return key.Curve == elliptic.P384()
		case "ES512":
			return key.Curve == elliptic.P521()
		}
		return false
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// keys is one loaded key set. It is never modified once published.
type keys struct {
	byKID map[string][]*publicKey
	all   []*publicKey
	// seen is when the issuer published this set, as far as we know: when
	// its request was sent, less the Age a cache reported.
	seen time.Time
}

// knows reports whether find knows kid for alg.
func (ks *keys) knows(kid, alg string) bool {
	_, known := ks.find(kid, alg)
	return known
}

// fitting counts the keys that fit alg.
func (ks *keys) fitting(alg string) int {
	n := 0
	for _, k := range ks.all {
		if k.fits(alg) {
			n++
		}
	}
	return n
}

// find returns the key that verifies a token with kid and alg. known is
// false when the set has no key with that kid (or, for a token without a
// kid, no key at all), which may mean the issuer has rotated. A known kid
// whose keys do not fit alg gives (nil, true): no refresh helps.
func (ks *keys) find(kid, alg string) (key *publicKey, known bool) {
	if kid == "" {
		// Without a kid, only a set with one fitting key names it
		// unambiguously; trying every key would cost a signature check
		// each.
		var found *publicKey
		for _, k := range ks.all {
			if k.fits(alg) {
				if found != nil {
					return nil, true
				}
				found = k
			}
		}
		return found, len(ks.all) > 0
	}
	cands, ok := ks.byKID[kid]
	if !ok {
		return nil, false
	}
	for _, k := range cands {
		if k.fits(alg) {
			return k, true
		}
	}
	return nil, true
}

// parseKeySet reads a JWK Set. Keys this package cannot use are skipped
// rather than failing the set (issuers publish encryption keys and new key
// types beside their signing keys): symmetric keys, private keys (a set
// that publishes one is broken, and accepting tokens signed with it would
// accept anyone's), keys whose "use" is not "sig", RSA keys under 2048
// bits, and members go-jose cannot read. A set of more than MaxKeys keys,
// or one with no usable key, is an error.
func parseKeySet(body []byte) (*keys, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("key set is not a JSON object with keys: %w", err)
	}
	if len(set.Keys) > MaxKeys {
		return nil, fmt.Errorf("key set holds %d keys, more than %d", len(set.Keys), MaxKeys)
	}
	ks := &keys{byKID: make(map[string][]*publicKey)}
	for _, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			continue
		}
		if !jwk.Valid() || !jwk.IsPublic() || (jwk.Use != "" && jwk.Use != "sig") {
			continue
		}
		if !usesSignatureOps(raw) {
			continue
		}
		switch key := jwk.Key.(type) {
		case *rsa.PublicKey:
			if key.N.BitLen() < minRSABits {
				continue
			}
		case *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			continue
		}
		k := &publicKey{kid: jwk.KeyID, alg: jwk.Algorithm, key: jwk.Key}
		ks.all = append(ks.all, k)
		ks.byKID[k.kid] = append(ks.byKID[k.kid], k)
	}
	if len(ks.all) == 0 {
		return nil, fmt.Errorf("key set holds no usable signature key")
	}
	return ks, nil
}

// usesSignatureOps reports whether a JWK's "key_ops" (RFC 7517 §4.3),
// which go-jose does not read, allows "verify", or is absent.
func usesSignatureOps(raw json.RawMessage) bool {
	var m struct {
		Ops *[]string `json:"key_ops"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	if m.Ops == nil {
		return true
	}
	for _, op := range *m.Ops {
		if op == "verify" {
			return true
		}
	}
	return false
}

// lifetime reads how long a key set answer stays fresh: Cache-Control's
// max-age less any Age, within MinKeySetLifetime and MaxKeySetLifetime, or
// DefaultKeySetLifetime when there is no max-age. no-cache and no-store
// count as max-age=0.
func lifetime(h http.Header) time.Duration {
	maxAge := -1
	for _, line := range h.Values("Cache-Control") {
		for dir := range strings.SplitSeq(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(name) {
			case "max-age":
				if n, ok := deltaSeconds(strings.Trim(value, `"`)); ok && maxAge < 0 {
					maxAge = n
				}
			case "no-cache", "no-store":
				maxAge = 0
			}
		}
	}
	if maxAge < 0 {
		return DefaultKeySetLifetime
	}
	d := time.Duration(min(maxAge, int(MaxKeySetLifetime/time.Second))) * time.Second
	return min(max(d-age(h), MinKeySetLifetime), MaxKeySetLifetime)
}

// age reads the Age header a cache sends with a stored answer (RFC 9111
// §5.1), capped at MaxKeySetLifetime; 0 when there is none.
func age(h http.Header) time.Duration {
	a, ok := deltaSeconds(strings.TrimSpace(h.Get("Age")))
	if !ok || a <= 0 {
		return 0
	}
	return time.Duration(min(a, int(MaxKeySetLifetime/time.Second))) * time.Second
}

// deltaSeconds reads RFC 9111's delta-seconds, one or more digits. A value
// too large to represent counts as the largest that can be (RFC 9111
// §1.2.2), not as none.
func deltaSeconds(s string) (int, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil { // digits only: too large
		return math.MaxInt, true
	}
	return n, true
}

// source finds the key set's URL and the accepted issuers: fixed by the
// configuration, or read once from the issuer's metadata.
type source struct {
	jwksURL     string   // fixed; empty to read metadata
	issuers     []string // fixed; nil to take the metadata's
	metadataURL string
	issuer      string

	mu         sync.Mutex // held while reading the metadata
	discovered string     // the metadata's jwks_uri, once read
	found      atomic.Pointer[[]string]
}

// metadataURL returns where issuer publishes its metadata of kind m.
func metadataURL(issuer string, m Metadata) (string, error) {
	u, err := checkURL("issuer", issuer)
	if err != nil {
		return "", err
	}
	if u.RawQuery != "" {
		return "", fmt.Errorf("jwt: issuer %q has a query", issuer)
	}
	switch m {
	case OpenIDDiscovery:
		return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration", nil
	case OAuthMetadata:
		// RFC 8414 §3.1: the well-known path goes between host and path.
		path := strings.TrimSuffix(u.EscapedPath(), "/")
		w := url.URL{Scheme: u.Scheme, Host: u.Host}
		return w.String() + "/.well-known/oauth-authorization-server" + path, nil
	}
	return "", fmt.Errorf("jwt: unknown Metadata %d", m)
}

// metadata is the part of an issuer's metadata that matters here.
type metadata struct {
	Issuer            string `json:"issuer"`
	JWKSURI           string `json:"jwks_uri"`
	AccessTokenIssuer string `json:"access_token_issuer"`
}

// keySetURL returns the key set's URL, reading the metadata the first
// time. A failure is not kept: the key set's own schedule says when to try
// again.
func (s *source) keySetURL(ctx context.Context, c httpClient, now time.Time) (string, error) {
	if s.jwksURL != "" {
		return s.jwksURL, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.discovered != "" {
		return s.discovered, nil
	}
	a, err := c.get(ctx, "metadata", s.metadataURL, nil)
	if err != nil {
		return "", err
	}
	var md metadata
	if err := json.Unmarshal(a.Body, &md); err != nil {
		return "", a.Unavailable("jwt: metadata is not valid JSON", err)
	}
	// OpenID Connect Discovery §4.3 and RFC 8414 §3.3: a document for
	// another issuer may be an impostor's.
	if md.Issuer != s.issuer {
		return "", a.Unavailable("jwt: metadata names another issuer", nil)
	}
	u, err := checkURL("jwks_uri", md.JWKSURI)
	if err != nil {
		return "", a.Unavailable("jwt: metadata's jwks_uri is unusable", err)
	}
	s.discovered = u.String()
	found := []string{md.Issuer}
	if md.AccessTokenIssuer != "" {
		found = []string{md.AccessTokenIssuer}
	}
	s.found.Store(&found)
	return s.discovered, nil
}

// acceptedIssuers returns the accepted "iss" values, or nil while they
// depend on metadata not yet read.
func (s *source) acceptedIssuers() []string {
	if s.issuers != nil {
		return s.issuers
	}
	if found := s.found.Load(); found != nil {
		return *found
	}
	return nil
}
