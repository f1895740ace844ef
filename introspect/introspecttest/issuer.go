package introspecttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// IssuerMode says which kind of JWT-issuing authorization server an
// [Issuer] plays: where it serves its documents, what its tokens' "iss" is,
// and which claims carry the client and the scopes.
type IssuerMode int

const (
	// IssuerOpenID is an OpenID Provider issuing RFC 9068 JWT access
	// tokens: "iss" is the discovery documents' issuer, the client is
	// "client_id", the scopes are a space-delimited "scope", and every token
	// has a "jti".
	IssuerOpenID IssuerMode = iota
	// IssuerADFS is Active Directory Federation Services, as Region Halland
	// runs it: "iss" is the discovery documents' access_token_issuer, not
	// their issuer; the client is "appid", the scopes a space-delimited
	// "scp", and "ver" is "1.0".
	IssuerADFS
	// IssuerEntraV1 is Microsoft Entra ID issuing v1.0 access tokens: "iss"
	// has the shape of https://sts.windows.net/{tenant}/, the client is
	// "appid", delegated scopes a space-delimited "scp", and "tid" is the
	// tenant.
	IssuerEntraV1
	// IssuerEntraV2 is Microsoft Entra ID issuing v2.0 access tokens: "iss"
	// has the shape of https://login.microsoftonline.com/{tenant}/v2.0, the
	// client is "azp", delegated scopes a space-delimited "scp", and "tid"
	// is the tenant.
	IssuerEntraV2
)

// String returns the mode's name, such as "ADFS".
func (m IssuerMode) String() string {
	switch m {
	case IssuerOpenID:
		return "OpenID"
	case IssuerADFS:
		return "ADFS"
	case IssuerEntraV1:
		return "EntraV1"
	case IssuerEntraV2:
		return "EntraV2"
	}
	return "IssuerMode(" + strconv.Itoa(int(m)) + ")"
}

// DefaultTenantID is the Entra ID tenant of an [Issuer] whose TenantID is
// empty. It is made up: no real tenant has it.
const DefaultTenantID = "0f3c5a2e-7b1d-4c8e-9a6f-2d4b8e1c7a90"

// DefaultJWKSMaxAge is the max-age an [Issuer] sends on its key set when
// its JWKSMaxAge is zero.
const DefaultJWKSMaxAge = time.Hour

// Issuer is a fake JWT-issuing authorization server on a loopback address,
// for tests of code that validates JWT access tokens locally with the keys
// at a jwks_uri, as Region Halland's ADFS and Entra ID tokens must be.
//
// It signs tokens the test describes ([Issuer.IssueJWT]) with its current
// key, publishes the public keys at [Issuer.JWKSURL], and serves an OpenID
// discovery document ([Issuer.DiscoveryURL]) and RFC 8414 authorization
// server metadata ([Issuer.MetadataURL]) naming them. [Issuer.Rotate]
// changes the signing key, [Issuer.Retire] unpublishes one. It counts the
// key set's fetches ([Issuer.JWKSFetches]), notes whether the last one
// asked to bypass caches ([Issuer.LastJWKSFetchNoCache]), holds them back
// ([Issuer.Hold]) and fails them on demand ([Issuer.SetJWKSFault]). For
// attacks it signs tokens with keys it never published
// ([Issuer.IssueUnpublished]) and lends its claims, headers and keys to
// [SignJWT], which signs whatever it is given, alg "none" included.
//
// Mode picks the server it plays. With base = [Issuer.URL], of the form
// http://127.0.0.1:port, and tenant = TenantID:
//
//	mode           issuer (documents)          iss (tokens)                jwks_uri
//	IssuerOpenID   base                        base                        base/.well-known/jwks.json
//	IssuerADFS     base/adfs                   base/adfs/services/trust    base/adfs/discovery/keys
//	IssuerEntraV1  base/sts/tenant/            base/sts/tenant/            base/tenant/discovery/keys
//	IssuerEntraV2  base/tenant/v2.0            base/tenant/v2.0            base/tenant/discovery/v2.0/keys
//
// These keep the shape of the real values: ADFS's issuer is
// https://HOST/adfs and its tokens' iss the access_token_issuer
// http://HOST/adfs/services/trust; Entra v1's documents are served below
// https://login.microsoftonline.com/{tenant} (here base/tenant) but name the
// issuer https://sts.windows.net/{tenant}/ (here base/sts/tenant/, with its
// trailing slash); Entra v2's issuer is
// https://login.microsoftonline.com/{tenant}/v2.0 throughout. Every mode
// serves the OpenID discovery document at its issuer (trailing slash
// removed) + /.well-known/openid-configuration, and RFC 8414 metadata both
// at /.well-known/oauth-authorization-server + the issuer's path (RFC 8414
// §3.1) and at the issuer + /.well-known/oauth-authorization-server, where
// clients that append it look. Entra v1 also serves the discovery document
// at base/tenant/.well-known/openid-configuration, where Entra has it. All
// of them hold the same members, those a resource server reads: "issuer",
// "jwks_uri", "id_token_signing_alg_values_supported" (the Algorithm) and,
// for ADFS, "access_token_issuer". They name no token endpoint: the Issuer
// hands out tokens only through its methods.
//
// Keys are made afresh for each Issuer (an RSA key takes some tens of
// milliseconds) and named by their RFC 7638 thumbprints. The key set holds
// public keys only, each with "kid", "alg" and "use": "sig".
//
// Change the exported fields before Start only. An Issuer is otherwise safe
// for concurrent use. As with [httptest.Server], closing it is the caller's
// job: Close shuts it down and waits for its handlers to return.
type Issuer struct {
	// URL is the base URL of the running server, of the form
	// http://127.0.0.1:port, with no trailing slash. It is set by Start.
	URL string

	// Mode is the kind of authorization server to play. The zero value is
	// IssuerOpenID.
	Mode IssuerMode
	// Algorithm is the JWS algorithm of the signing keys: "RS256" (the
	// default when empty, with 2048-bit keys), "PS256" (2048-bit keys) or
	// "ES256" (P-256 keys).
	Algorithm string
	// Type is the "typ" header of issued tokens. Empty means "JWT"; RFC 9068
	// servers send "at+jwt".
	Type string
	// TenantID is the Entra ID tenant, in the modes that have one. Empty
	// means [DefaultTenantID]. It must be a GUID or a domain name.
	TenantID string
	// JWKSMaxAge is sent as the key set's Cache-Control max-age, in whole
	// seconds. Zero means [DefaultJWKSMaxAge]; a negative value sends no
	// Cache-Control header.
	JWKSMaxAge time.Duration
	// Now tells the time, for the default "iat", "nbf" and "exp" of issued
	// tokens. Nil means time.Now.
	Now func() time.Time

	ts  *httptest.Server
	mux *http.ServeMux // set by Start, before the server serves

	mu          sync.Mutex
	keys        []*issuerKey // published, oldest first
	signing     *issuerKey   // may be retired, then unpublished
	all         map[string]*issuerKey
	unpublished *issuerKey // made on first use
	jwksFault   Fault
	jwksFetches int
	jwksNoCache bool
	discFault   Fault
	discFetches int
	holder      holder // Hold and Release, for the key set only
}

// issuerKey is one signing key of an Issuer.
type issuerKey struct {
	id   string
	alg  string
	priv crypto.Signer
}

// NewIssuer starts and returns an Issuer in IssuerOpenID mode, signing
// with RS256. The caller must call Close when finished, to shut it down.
func NewIssuer() *Issuer {
	s := NewUnstartedIssuer()
	s.Start()
	return s
}

// NewUnstartedIssuer returns an Issuer that is not yet listening, so that
// its fields can be changed before Start. It holds a loopback listener
// already; call Close if it is never started.
func NewUnstartedIssuer() *Issuer {
	s := &Issuer{all: make(map[string]*issuerKey)}
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// Start makes the first signing key and starts serving. It panics if Mode,
// Algorithm or TenantID is not one it knows, or if the Issuer was started
// already.
func (s *Issuer) Start() {
	if s.mux != nil {
		panic("introspecttest: Issuer started twice")
	}
	if s.Algorithm == "" {
		s.Algorithm = "RS256"
	}
	if s.TenantID == "" {
		s.TenantID = DefaultTenantID
	}
	if !validTenantID(s.TenantID) {
		panic(fmt.Sprintf("introspecttest: Issuer.TenantID %q is neither a GUID nor a domain name", s.TenantID))
	}
	if s.Mode < IssuerOpenID || s.Mode > IssuerEntraV2 {
		panic("introspecttest: unknown Issuer.Mode " + s.Mode.String())
	}
	k, err := newIssuerKey(s.Algorithm)
	if err != nil {
		panic(err.Error())
	}
	s.publish(k)
	s.signing = k

	s.URL = "http://" + s.ts.Listener.Addr().String()
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET "+s.path(s.JWKSURL()), s.jwks)
	discovery := []string{s.DiscoveryURL()}
	if s.Mode == IssuerEntraV1 {
		discovery = append(discovery, s.URL+"/"+s.TenantID+"/.well-known/openid-configuration")
	}
	for _, u := range discovery {
		s.mux.HandleFunc("GET "+s.path(u), s.discovery)
	}
	metadata := []string{s.MetadataURL(), strings.TrimSuffix(s.Issuer(), "/") + "/.well-known/oauth-authorization-server"}
	for i, u := range metadata {
		if i == 0 || u != metadata[0] {
			s.mux.HandleFunc("GET "+s.path(u), s.discovery)
		}
	}
	s.ts.Start()
}

func validTenantID(t string) bool {
	for _, c := range t {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return t != "" && t != "." && t != ".."
}

// path returns the path of u, a URL below s.URL.
func (s *Issuer) path(u string) string { return strings.TrimPrefix(u, s.URL) }

// Close shuts the server down, releasing held answers, and blocks until all
// outstanding requests on it have completed.
func (s *Issuer) Close() {
	s.Release()
	s.ts.CloseClientConnections()
	s.ts.Close()
}

// Client returns an HTTP client for the server, as [httptest.Server.Client]
// does. Close closes its idle connections.
func (s *Issuer) Client() *http.Client { return s.ts.Client() }

// Issuer returns the issuer identifier that the discovery documents name as
// "issuer". In IssuerADFS mode tokens name another, [Issuer.TokenIssuer].
func (s *Issuer) Issuer() string {
	switch s.Mode {
	case IssuerADFS:
		return s.URL + "/adfs"
	case IssuerEntraV1:
		return s.URL + "/sts/" + s.TenantID + "/"
	case IssuerEntraV2:
		return s.URL + "/" + s.TenantID + "/v2.0"
	}
	return s.URL
}

// TokenIssuer returns the "iss" of the tokens the Issuer signs: ADFS's
// access_token_issuer in IssuerADFS mode, [Issuer.Issuer] in the others.
func (s *Issuer) TokenIssuer() string {
	if s.Mode == IssuerADFS {
		return s.URL + "/adfs/services/trust"
	}
	return s.Issuer()
}

// JWKSURL returns the URL of the key set, the discovery documents'
// "jwks_uri".
func (s *Issuer) JWKSURL() string {
	switch s.Mode {
	case IssuerADFS:
		return s.URL + "/adfs/discovery/keys"
	case IssuerEntraV1:
		return s.URL + "/" + s.TenantID + "/discovery/keys"
	case IssuerEntraV2:
		return s.URL + "/" + s.TenantID + "/discovery/v2.0/keys"
	}
	return s.URL + "/.well-known/jwks.json"
}

// DiscoveryURL returns the URL of the OpenID discovery document: the
// issuer, without a trailing slash, + /.well-known/openid-configuration.
func (s *Issuer) DiscoveryURL() string {
	return strings.TrimSuffix(s.Issuer(), "/") + "/.well-known/openid-configuration"
}

// MetadataURL returns the URL of the RFC 8414 authorization server
// metadata: /.well-known/oauth-authorization-server inserted between the
// issuer's host and its path (RFC 8414 §3.1).
func (s *Issuer) MetadataURL() string {
	return s.URL + "/.well-known/oauth-authorization-server" + strings.TrimSuffix(s.path(s.Issuer()), "/")
}

// newIssuerKey makes a key for alg, named by its RFC 7638 thumbprint.
func newIssuerKey(alg string) (*issuerKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "RS256", "PS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("introspecttest: unsupported signing algorithm %q; want RS256, PS256 or ES256", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("introspecttest: generating a %s key: %w", alg, err)
	}
	jwk := jose.JSONWebKey{Key: priv.Public()}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("introspecttest: thumbprint of a %s key: %w", alg, err)
	}
	return &issuerKey{id: base64.RawURLEncoding.EncodeToString(thumb), alg: alg, priv: priv}, nil
}

// publish adds k to the key set.
func (s *Issuer) publish(k *issuerKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, k)
	s.all[k.id] = k
}

// KeyID returns the "kid" of the key that signs tokens now.
func (s *Issuer) KeyID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signing.id
}

// Rotate makes a new key of the Issuer's Algorithm, publishes it and signs
// with it from now on. It returns the new key's "kid". The key that signed
// before stays published until [Issuer.Retire].
func (s *Issuer) Rotate() string {
	k := s.mustKey(s.Algorithm)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, k)
	s.all[k.id] = k
	s.signing = k
	return k.id
}

// PublishKey makes a new key for alg ("RS256", "PS256" or "ES256"),
// publishes it and returns its "kid", without signing with it: to publish
// the keys of several algorithms, or a key that a token's "kid" names while
// another key signs it. [Issuer.PrivateKey] returns it. It panics if alg is
// not one of those three.
func (s *Issuer) PublishKey(alg string) string {
	k := s.mustKey(alg)
	s.publish(k)
	return k.id
}

func (s *Issuer) mustKey(alg string) *issuerKey {
	k, err := newIssuerKey(alg)
	if err != nil {
		panic(err.Error())
	}
	return k
}

// Retire removes the key named kid from the key set. If it is the signing
// key, tokens are still signed with it, by a key no longer published, until
// [Issuer.Rotate]. Retiring an unknown or retired kid does nothing.
func (s *Issuer) Retire(kid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range s.keys {
		if k.id == kid {
			s.keys = append(s.keys[:i:i], s.keys[i+1:]...)
			return
		}
	}
}

// PrivateKey returns the private key named kid, published or retired, or
// the key of [Issuer.IssueUnpublished] once it has been used; nil if there
// is none. It is an *rsa.PrivateKey or an *ecdsa.PrivateKey. Use it with
// [SignJWT] to sign tokens IssueJWT would not.
func (s *Issuer) PrivateKey(kid string) crypto.Signer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.all[kid]; k != nil {
		return k.priv
	}
	if s.unpublished != nil && s.unpublished.id == kid {
		return s.unpublished.priv
	}
	return nil
}

// JWKSFetches returns how many requests for the key set the server has
// received, faulty or held ones included.
func (s *Issuer) JWKSFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jwksFetches
}

// LastJWKSFetchNoCache reports whether the last request for the key set
// carried Cache-Control: no-cache, as a validator's forced refresh does.
func (s *Issuer) LastJWKSFetchNoCache() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jwksNoCache
}

// DiscoveryFetches returns how many requests for the OpenID discovery
// document and the RFC 8414 metadata, at any of their URLs, the server has
// received, faulty ones included.
func (s *Issuer) DiscoveryFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.discFetches
}

// SetJWKSFault makes every later request for the key set get f: an error
// status, a delay, a garbage or huge body, a dropped or reset connection
// (see [Fault]). SetJWKSFault(Fault{}) restores normal answers. It does not
// affect the discovery documents.
func (s *Issuer) SetJWKSFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jwksFault = f
}

// SetDiscoveryFault makes every later request for a discovery document
// (OpenID or RFC 8414) get f. SetDiscoveryFault(Fault{}) restores normal
// answers.
func (s *Issuer) SetDiscoveryFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discFault = f
}

// Hold makes every answer for the key set wait, from now until Release (or
// until its request is cancelled). Use it to gather concurrent refreshes at
// the server, with [Issuer.Held] telling how many are waiting. A held
// request is counted by [Issuer.JWKSFetches] when it arrives; its fault is
// the one set when it is released.
func (s *Issuer) Hold() { s.holder.hold() }

// Release lets held answers go and stops holding new ones.
func (s *Issuer) Release() { s.holder.release() }

// Held returns the number of key set requests waiting for Release.
func (s *Issuer) Held() int { return s.holder.waiting() }

// serveHTTP routes to the handlers Start chose for the mode. The listener
// accepts no connection before Start, so s.mux is set by then.
func (s *Issuer) serveHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Issuer) jwks(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.jwksFetches++
	s.jwksNoCache = hasNoCache(r.Header.Values("Cache-Control"))
	s.mu.Unlock()
	s.holder.wait(r.Context())

	s.mu.Lock()
	fault := s.jwksFault
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(s.keys))}
	for _, k := range s.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.id, Algorithm: k.alg, Use: "sig"})
	}
	s.mu.Unlock()
	if applyFault(w, r, fault) {
		return
	}
	switch maxAge := s.JWKSMaxAge; {
	case maxAge == 0:
		w.Header().Set("Cache-Control", "max-age="+strconv.Itoa(int(DefaultJWKSMaxAge/time.Second)))
	case maxAge > 0:
		w.Header().Set("Cache-Control", "max-age="+strconv.FormatInt(int64(maxAge/time.Second), 10))
	}
	writeJSON(w, http.StatusOK, set)
}

// hasNoCache reports whether Cache-Control header values hold the no-cache
// directive (RFC 9111 §5.2.1.4).
func hasNoCache(values []string) bool {
	for _, v := range values {
		for d := range strings.SplitSeq(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(d), "=")
			if strings.EqualFold(name, "no-cache") {
				return true
			}
		}
	}
	return false
}

func (s *Issuer) discovery(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.discFetches++
	fault := s.discFault
	s.mu.Unlock()
	if applyFault(w, r, fault) {
		return
	}
	doc := map[string]any{
		"issuer":                                s.Issuer(),
		"jwks_uri":                              s.JWKSURL(),
		"id_token_signing_alg_values_supported": []string{s.Algorithm},
	}
	if s.Mode == IssuerADFS {
		doc["access_token_issuer"] = s.TokenIssuer()
	}
	writeJSON(w, http.StatusOK, doc)
}
