package introspecttest

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// JWT describes an access token for [Issuer.IssueJWT]. Its zero value is a
// valid token for "demo-client", with no subject, audience or scopes,
// issued now and valid for [DefaultLifetime].
//
// Which claims carry the client and the scopes depends on the Issuer's
// [IssuerMode]:
//
//	mode           client       scopes   also
//	IssuerOpenID   client_id    scope    jti (random)
//	IssuerADFS     appid        scp      ver "1.0"
//	IssuerEntraV1  appid        scp      ver "1.0", tid
//	IssuerEntraV2  azp          scp      ver "2.0", tid
//
// Every token has "iss" ([Issuer.TokenIssuer]), "iat", "nbf" and "exp".
// Extra and Header can change or remove any claim or header member, so
// that tests can make tokens a validator must refuse.
type JWT struct {
	// Subject is "sub". Empty leaves it out.
	Subject string
	// ClientID is the client the token was issued to. Empty means
	// "demo-client".
	ClientID string
	// Audience is "aud": a string when it holds one value, an array when
	// it holds more, left out when empty. For ADFS it is the resource id,
	// such as "exempelapi.regionhalland.se".
	Audience []string
	// Scopes are the granted scopes, space-delimited in "scope" or "scp"
	// by mode; none leaves the claim out. Entra ID puts them in delegated
	// tokens only.
	Scopes []string
	// Roles is "roles", an array, as in Entra ID's app-only tokens; empty
	// leaves it out.
	Roles []string
	// IssuedAt is "iat". Zero means the Issuer's Now.
	IssuedAt time.Time
	// NotBefore is "nbf". Zero means IssuedAt.
	NotBefore time.Time
	// ExpiresAt is "exp". Zero means [DefaultLifetime] after IssuedAt.
	ExpiresAt time.Time
	// Extra holds further claims, such as ACM/IDM's "vo_id", set after all
	// the others so that they can replace them ("iss", "exp", …). A nil
	// value removes the claim. Values are encoded with encoding/json.
	Extra map[string]any

	// Type is the "typ" header. Empty means the Issuer's Type.
	Type string
	// KeyID is the "kid" header. Empty means the signing key's; another
	// published key's kid makes a token whose kid names the wrong key.
	KeyID string
	// Header holds further protected header members, such as "jku",
	// "x5u", "jwk" or "crit", set after all the others so that they can
	// replace them. A nil value removes the member. Replacing "alg" changes
	// what the header says, not how the token is signed; removing it
	// leaves a signature that verifies against nothing.
	Header map[string]any
}

// IssueJWT returns a compact JWS of the claims of c, signed with the
// current signing key ([Issuer.KeyID]). It panics if c.Extra or c.Header
// holds a value that encoding/json cannot encode.
func (s *Issuer) IssueJWT(c JWT) string {
	s.mu.Lock()
	k := s.signing
	s.mu.Unlock()
	return mustSignJWS(jwtHeader(c, s.Type, k), s.Claims(c), k)
}

// IssueUnpublished is IssueJWT with a key of the Issuer's Algorithm that
// is never published, the same key on every call. Unless c.KeyID says
// otherwise, its "kid" is that key's own, which the key set never lists;
// with c.KeyID = [Issuer.KeyID] the kid names a published key that does
// not verify the token.
func (s *Issuer) IssueUnpublished(c JWT) string {
	s.mu.Lock()
	k := s.unpublished
	s.mu.Unlock()
	if k == nil {
		made := s.mustKey(s.Algorithm)
		s.mu.Lock()
		if s.unpublished == nil {
			s.unpublished = made
		}
		k = s.unpublished
		s.mu.Unlock()
	}
	return mustSignJWS(jwtHeader(c, s.Type, k), s.Claims(c), k)
}

// Header returns the protected header IssueJWT would send for c, for
// [SignJWT].
func (s *Issuer) Header(c JWT) map[string]any {
	s.mu.Lock()
	k := s.signing
	s.mu.Unlock()
	return jwtHeader(c, s.Type, k)
}

func jwtHeader(c JWT, typ string, k *issuerKey) map[string]any {
	h := map[string]any{
		"alg": k.alg,
		"kid": cmp.Or(c.KeyID, k.id),
		"typ": cmp.Or(c.Type, typ, "JWT"),
	}
	return setMembers(h, c.Header)
}

// Claims returns the claims IssueJWT would sign for c, for [SignJWT]. Each
// call in IssuerOpenID mode has a new "jti".
func (s *Issuer) Claims(c JWT) map[string]any {
	iat := c.IssuedAt
	if iat.IsZero() {
		iat = s.now()
	}
	nbf := cmp.Or(c.NotBefore, iat)
	exp := c.ExpiresAt
	if exp.IsZero() {
		exp = iat.Add(DefaultLifetime)
	}
	claims := map[string]any{
		"iss": s.TokenIssuer(),
		"iat": iat.Unix(),
		"nbf": nbf.Unix(),
		"exp": exp.Unix(),
	}
	client, scope := "client_id", "scp"
	switch s.Mode {
	case IssuerOpenID:
		scope = "scope"
		claims["jti"] = randomJTI()
	case IssuerADFS:
		client = "appid"
		claims["ver"] = "1.0"
	case IssuerEntraV1:
		client = "appid"
		claims["ver"] = "1.0"
		claims["tid"] = s.TenantID
	case IssuerEntraV2:
		client = "azp"
		claims["ver"] = "2.0"
		claims["tid"] = s.TenantID
	}
	claims[client] = cmp.Or(c.ClientID, "demo-client")
	if c.Subject != "" {
		claims["sub"] = c.Subject
	}
	switch len(c.Audience) {
	case 0:
	case 1:
		claims["aud"] = c.Audience[0]
	default:
		claims["aud"] = append([]string(nil), c.Audience...)
	}
	if len(c.Scopes) > 0 {
		claims[scope] = strings.Join(c.Scopes, " ")
	}
	if len(c.Roles) > 0 {
		claims["roles"] = append([]string(nil), c.Roles...)
	}
	return setMembers(claims, c.Extra)
}

func (s *Issuer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// setMembers sets the members of extra in m, removing those whose value is nil.
func setMembers(m, extra map[string]any) map[string]any {
	for name, v := range extra {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	return m
}

func randomJTI() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails: crypto/rand panics instead
	return base64.RawURLEncoding.EncodeToString(b)
}

func mustSignJWS(header, claims map[string]any, k *issuerKey) string {
	token, err := signJWS(header, claims, k.alg, k.priv)
	if err != nil {
		panic(err.Error())
	}
	return token
}

// SignJWT returns a compact JWS of claims with header as its protected
// header, signed by key with the algorithm header["alg"] names, whatever
// the header says besides: no member is added. It signs what a real
// authorization server would not, for tests that a validator refuses it:
//
//   - alg "none": an unsecured JWT (RFC 7519 §6), whose signature is empty;
//     key is ignored.
//   - alg "HS256", "HS384" or "HS512": key is the []byte secret, of at
//     least 32, 48 or 64 bytes, such as the PEM of an Issuer's public key.
//   - alg "RS…", "PS…", "ES…" or "EdDSA": key is a private key that fits,
//     such as [Issuer.PrivateKey]'s.
//
// [Issuer.Header] and [Issuer.Claims] give the header and claims
// [Issuer.IssueJWT] would use. Strip a token's signature by cutting it
// after its last ".".
func SignJWT(header, claims map[string]any, key any) (string, error) {
	alg, ok := header["alg"].(string)
	if !ok {
		return "", errors.New(`introspecttest: the header has no string "alg"`)
	}
	return signJWS(header, claims, alg, key)
}

// signJWS signs with alg, whatever header["alg"] says.
func signJWS(header, claims map[string]any, alg string, key any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("introspecttest: encoding the claims: %w", err)
	}
	if alg == "none" {
		h, err := json.Marshal(header)
		if err != nil {
			return "", fmt.Errorf("introspecttest: encoding the header: %w", err)
		}
		enc := base64.RawURLEncoding
		return enc.EncodeToString(h) + "." + enc.EncodeToString(payload) + ".", nil
	}
	// go-jose sends the alg it signs with unless the header replaces it;
	// a header without one gets one to sign, which is swapped out after, so
	// that the signature verifies against nothing.
	signed := header
	_, hasAlg := header["alg"]
	if !hasAlg {
		signed = maps.Clone(header)
		signed["alg"] = alg
	}
	opts := &jose.SignerOptions{ExtraHeaders: make(map[jose.HeaderKey]any, len(signed))}
	for name, v := range signed {
		opts.ExtraHeaders[jose.HeaderKey(name)] = v
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key}, opts)
	if err != nil {
		return "", fmt.Errorf("introspecttest: signing with %s: %w", alg, err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("introspecttest: signing with %s: %w", alg, err)
	}
	token, err := jws.CompactSerialize()
	if err != nil || hasAlg {
		return token, err
	}
	h, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("introspecttest: encoding the header: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(h) + token[strings.IndexByte(token, '.'):], nil
}
