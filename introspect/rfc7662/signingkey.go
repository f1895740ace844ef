package rfc7662

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"

	"github.com/go-jose/go-jose/v4"
)

// SigningKey is a client's private key, with which it signs the client
// assertions of private_key_jwt authentication (RFC 7523). The authorization
// server holds the matching public key: for ACM/IDM, the public JWK
// registered for the client in the Beheerportaal.
//
// Its String, GoString and LogValue methods say which key it is, never the
// key's material, so printing or logging one leaks nothing.
type SigningKey struct {
	// Key is the private key: an *rsa.PrivateKey (at least 2048 bits), an
	// *ecdsa.PrivateKey on P-256, P-384 or P-521, or an ed25519.PrivateKey.
	Key crypto.Signer
	// KeyID is sent as the assertions' "kid" header, so that a server that
	// holds several keys for the client knows which one to check; empty
	// sends none.
	KeyID string
	// Algorithm is the JWS algorithm, such as "RS256" or "ES256". Empty
	// means RS256 for an RSA key (what ACM/IDM expects), ES256, ES384 or
	// ES512 by curve for an EC key, and EdDSA for an Ed25519 key.
	Algorithm string
}

// ParseJWK reads a private JSON Web Key (RFC 7517), such as the one whose
// public half is registered for the client at the authorization server. The
// key's "kid" and "alg" members, when present, become its KeyID and
// Algorithm. A public key, a symmetric key or a key set is refused.
func ParseJWK(data []byte) (*SigningKey, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(data); err != nil {
		// go-jose's errors describe the structure, never key material.
		return nil, fmt.Errorf("rfc7662: reading JWK: %w", err)
	}
	if jwk.IsPublic() {
		return nil, errors.New("rfc7662: the JWK is a public key; private_key_jwt needs the private key")
	}
	signer, ok := jwk.Key.(crypto.Signer)
	if !ok || !jwk.Valid() {
		return nil, fmt.Errorf("rfc7662: the JWK is not an RSA, EC or Ed25519 private key")
	}
	k := &SigningKey{Key: signer, KeyID: jwk.KeyID, Algorithm: jwk.Algorithm}
	if _, err := k.algorithm(); err != nil {
		return nil, err
	}
	return k, nil
}

// algorithm returns the JWS algorithm to sign with, checking that it fits
// the key.
func (k *SigningKey) algorithm() (jose.SignatureAlgorithm, error) {
	var def jose.SignatureAlgorithm
	var allowed []jose.SignatureAlgorithm
	switch key := k.Key.(type) {
	case *rsa.PrivateKey:
		if key.N.BitLen() < 2048 {
			return "", fmt.Errorf("rfc7662: RSA signing key has %d bits; at least 2048 are needed", key.N.BitLen())
		}
		def = jose.RS256
		allowed = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512}
	case *ecdsa.PrivateKey:
		switch key.Curve {
		case elliptic.P256():
			def = jose.ES256
		case elliptic.P384():
			def = jose.ES384
		case elliptic.P521():
			def = jose.ES512
		default:
			return "", errors.New("rfc7662: EC signing key is not on P-256, P-384 or P-521")
		}
		allowed = []jose.SignatureAlgorithm{def}
	case ed25519.PrivateKey:
		def = jose.EdDSA
		allowed = []jose.SignatureAlgorithm{jose.EdDSA}
	case nil:
		return "", errors.New("rfc7662: signing key is missing")
	default:
		return "", fmt.Errorf("rfc7662: signing key of type %T is not supported; use an RSA, EC or Ed25519 private key", k.Key)
	}
	if k.Algorithm == "" {
		return def, nil
	}
	for _, alg := range allowed {
		if string(alg) == k.Algorithm {
			return alg, nil
		}
	}
	return "", fmt.Errorf("rfc7662: algorithm %q does not fit the %s key", k.Algorithm, keyKind(k.Key))
}

// newSigner returns a JOSE signer for k's assertions.
func (k *SigningKey) newSigner() (jose.Signer, error) {
	alg, err := k.algorithm()
	if err != nil {
		return nil, err
	}
	key := jose.JSONWebKey{Key: k.Key, KeyID: k.KeyID}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("rfc7662: signing key: %w", err)
	}
	return signer, nil
}

// keyKind names the kind of a key, for messages.
func keyKind(key crypto.Signer) string {
	switch key.(type) {
	case *rsa.PrivateKey:
		return "RSA"
	case *ecdsa.PrivateKey:
		return "EC"
	case ed25519.PrivateKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", key)
}

// String names the key by kind and id, never by its material.
func (k SigningKey) String() string {
	if k.Key == nil {
		return "SigningKey{}"
	}
	return fmt.Sprintf("SigningKey{%s KeyID:%q Algorithm:%q [REDACTED]}", keyKind(k.Key), k.KeyID, k.Algorithm)
}

// GoString is String, so that %#v does not print the key's material either.
func (k SigningKey) GoString() string { return k.String() }

// LogValue describes the key to log/slog without its material.
func (k SigningKey) LogValue() slog.Value {
	if k.Key == nil {
		return slog.StringValue("none")
	}
	return slog.GroupValue(
		slog.String("kind", keyKind(k.Key)),
		slog.String("kid", k.KeyID),
		slog.String("alg", k.Algorithm),
	)
}
