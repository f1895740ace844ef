package introspecttest

import (
	"cmp"
	"crypto"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Client is a client registered at the fake OpenID Provider, which the
// introspection endpoint authenticates for real.
type Client struct {
	// ID is the client id.
	ID string
	// Secret is accepted by client_secret_basic and client_secret_post.
	// Empty means the client cannot authenticate with a secret.
	Secret string
	// Key is the public key that checks the client's private_key_jwt
	// assertions: an *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	// Nil means the client cannot authenticate with an assertion.
	Key crypto.PublicKey
}

// AddClient registers c, replacing any client with its id. Start registers
// the client of [Server.ClientID] and [Server.ClientSecret].
func (s *Server) AddClient(c Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.ID] = c
}

// SetDiscoveryFault makes every later request for the discovery document
// get f. SetDiscoveryFault(Fault{}) restores normal answers. Holds do not
// apply to discovery.
func (s *Server) SetDiscoveryFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discoveryFault = f
}

// DiscoveryCalls returns how many requests for the discovery document the
// server has received. They are not counted by [Server.TotalCalls].
func (s *Server) DiscoveryCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.discoveryCalls
}

func (s *Server) assertionAudience() string {
	return cmp.Or(s.AssertionAudience, s.Issuer())
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.discoveryCalls++
	fault := s.discoveryFault
	s.mu.Unlock()
	if applyFault(w, r, fault) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                 s.Issuer(),
		"introspection_endpoint": s.IntrospectionURL(),
		"introspection_endpoint_auth_methods_supported": []string{
			"client_secret_basic", "client_secret_post", "private_key_jwt",
		},
		"introspection_endpoint_auth_signing_alg_values_supported": signingAlgorithms,
	})
}

// introspect serves RFC 7662 §2: the client authenticates, then the answer
// says whether the token is active and, when it is, what is known of it.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError("invalid_request", "the body is not a form"))
		return
	}
	token := r.PostForm.Get("token")
	if s.begin(w, r, token) {
		return
	}
	if err := s.authenticateClient(r); err != nil {
		if _, _, basic := r.BasicAuth(); basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
		}
		writeJSON(w, http.StatusUnauthorized, oauthError("invalid_client", err.Error()))
		return
	}
	if token == "" {
		writeJSON(w, http.StatusBadRequest, oauthError("invalid_request", "no token"))
		return
	}
	t, ok := s.lookup(token)
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	answer := withClaims(t.Claims, 9)
	var scope any = strings.Join(t.Scopes, " ")
	if s.ScopeAsArray {
		scope = append([]string{}, t.Scopes...)
	}
	answer["active"] = true
	answer["scope"] = scope
	answer["client_id"] = cmp.Or(t.ClientID, "demo-client")
	answer["token_type"] = "Bearer"
	answer["iss"] = s.Issuer()
	answer["exp"] = t.ExpiresAt.Unix()
	answer["iat"] = t.issuedAt.Unix()
	if t.Subject != "" {
		answer["sub"] = t.Subject
	}
	switch len(t.Audience) {
	case 0:
	case 1:
		answer["aud"] = t.Audience[0]
	default:
		answer["aud"] = t.Audience
	}
	// ACM/IDM names the credential manager only when asked to.
	if r.PostForm.Get("token_endpoint_auth") != "credential_manager" {
		delete(answer, "credential_manager")
	}
	writeJSON(w, http.StatusOK, answer)
}

func oauthError(code, description string) map[string]string {
	return map[string]string{"error": code, "error_description": description}
}

// authenticateClient checks the client authentication of an introspection
// request, by whichever one method it uses (RFC 6749 §2.3).
func (s *Server) authenticateClient(r *http.Request) error {
	id, secret, basic := r.BasicAuth()
	post := r.PostForm.Has("client_secret")
	assertion := r.PostForm.Has("client_assertion") || r.PostForm.Has("client_assertion_type")
	switch {
	case count(basic, post, assertion) > 1:
		return errors.New("more than one client authentication method")
	case basic:
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return errors.New("credentials are not form-url-encoded")
		}
		return s.checkSecret(id, secret)
	case post:
		return s.checkSecret(r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"))
	case assertion:
		return s.checkAssertion(r.PostForm)
	}
	return errors.New("no client authentication")
}

func count(conds ...bool) int {
	n := 0
	for _, c := range conds {
		if c {
			n++
		}
	}
	return n
}

func (s *Server) client(id string) (Client, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	return c, ok
}

func (s *Server) checkSecret(id, secret string) error {
	c, ok := s.client(id)
	if !ok || c.Secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
		return errors.New("unknown client or wrong secret")
	}
	return nil
}

// signingAlgorithms are the JWS algorithms accepted for client assertions.
var signingAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// maxAssertionLifetime is ACM/IDM's limit on how far ahead of now a client
// assertion may expire; assertionSkew is the clock skew tolerated.
const (
	maxAssertionLifetime = 10 * time.Minute
	assertionSkew        = 5 * time.Second
)

// checkAssertion checks a private_key_jwt client assertion (RFC 7523 §3)
// as ACM/IDM does: signed by the client's registered key, iss = sub = the
// client id, aud naming the issuer, an exp no more than 10 minutes ahead,
// and a jti never seen before.
func (s *Server) checkAssertion(form url.Values) error {
	if form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return errors.New("unsupported client_assertion_type")
	}
	tok, err := jwt.ParseSigned(form.Get("client_assertion"), signingAlgorithms)
	if err != nil {
		return errors.New("client_assertion is not a signed JWT")
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return errors.New("client_assertion has no claims")
	}
	c, ok := s.client(unverified.Issuer)
	if !ok || c.Key == nil {
		return errors.New("unknown client, or no key registered for it")
	}
	var claims jwt.Claims
	if err := tok.Claims(c.Key, &claims); err != nil {
		return errors.New("client_assertion signature does not verify")
	}
	if id := form.Get("client_id"); id != "" && id != claims.Issuer {
		return errors.New("client_id differs from the assertion's iss")
	}
	if claims.Subject != claims.Issuer {
		return errors.New("assertion sub differs from iss")
	}
	if !claims.Audience.Contains(s.assertionAudience()) {
		return errors.New("assertion aud does not name " + s.assertionAudience())
	}
	now := s.now()
	switch {
	case claims.Expiry == nil:
		return errors.New("assertion has no exp")
	case !now.Before(claims.Expiry.Time().Add(assertionSkew)):
		return errors.New("assertion expired")
	case claims.Expiry.Time().After(now.Add(maxAssertionLifetime + assertionSkew)):
		return errors.New("assertion exp is more than 10 minutes ahead")
	case claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(assertionSkew)):
		return errors.New("assertion iat is in the future")
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(assertionSkew)):
		return errors.New("assertion is not valid yet")
	case claims.ID == "":
		return errors.New("assertion has no jti")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	// Forget expired ids now and then, not on every call, so that a long
	// run costs amortised constant time per assertion.
	if len(s.jtis) >= s.jtiPrune {
		for jti, exp := range s.jtis {
			if now.After(exp.Add(assertionSkew)) {
				delete(s.jtis, jti)
			}
		}
		s.jtiPrune = max(1024, 2*len(s.jtis))
	}
	key := claims.Issuer + "\x00" + claims.ID
	if _, seen := s.jtis[key]; seen {
		return errors.New("assertion jti was used before")
	}
	s.jtis[key] = claims.Expiry.Time()
	return nil
}
