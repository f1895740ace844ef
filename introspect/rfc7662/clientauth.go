package rfc7662

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
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

// basicAuthorization is the Authorization header of client_secret_basic:
// the id and secret each form-url-encoded, then HTTP Basic (RFC 6749
// §2.3.1).
func basicAuthorization(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

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
	now := in.client.Now()
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
		return "", fmt.Errorf("rfc7662: encoding client assertion: %w", err)
	}
	jws, err := in.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("rfc7662: signing client assertion: %w", err)
	}
	return jws.CompactSerialize()
}
