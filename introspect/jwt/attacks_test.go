package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
)

// attackerServer counts requests, so a test can show a header pointing at
// it was never followed.
func attackerServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_ = mustJSON(nil)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func selfSigned(t *testing.T) []byte {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"},
		NotBefore: testStart.Add(-time.Hour), NotAfter: testStart.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, rsaAttacker.Public(), rsaAttacker)
	require.NoError(t, err)
	return der
}

// TestAttacks covers the tokens a naive verifier accepts. Each must be
// invalid (never unavailable, never accepted), with the key set never
// refreshed for them and the attacker's URLs never called.
func TestAttacks(t *testing.T) {
	is, clock, v := standardIssuer(t)
	attacker, hits := attackerServer(t)
	now := clock.Now()
	valid := claimsAt(is, now, nil)
	// withClaimsText signs claims written as JSON text, validText the
	// valid claims' text.
	validText := string(mustJSON(valid))
	withClaimsText := func(claims string) string {
		input := b64(mustJSON(map[string]any{"alg": "RS256", "kid": "k1"})) + "." + b64([]byte(claims))
		return input + "." + b64(signRS(rsa1, crypto.SHA256)([]byte(input)))
	}
	_, err := v.Verify(context.Background(), withClaimsText(validText))
	require.NoError(t, err, "the valid claims, as text")
	attackerJWK := mustJSON(jose.JSONWebKey{Key: rsaAttacker.Public(), KeyID: "k1"})
	var jwk map[string]any
	require.NoError(t, jsonUnmarshal(attackerJWK, &jwk))
	var privateJWK map[string]any
	require.NoError(t, jsonUnmarshal(mustJSON(jose.JSONWebKey{Key: rsaAttacker, KeyID: "k1"}), &privateJWK))
	rsaPubDER, err := x509.MarshalPKIXPublicKey(rsa1.Public())
	require.NoError(t, err)
	rsaPubPEMish := []byte("-----BEGIN PUBLIC KEY-----\n" + b64(rsaPubDER) + "\n-----END PUBLIC KEY-----\n")
	attackerSig := signRS(rsaAttacker, crypto.SHA256)

	tests := []struct {
		name  string
		token string
		want  error // nil: any invalid-token error
	}{
		{"alg none", token(map[string]any{"alg": "none", "kid": "k1"}, valid, nil), errNoSignature},
		{"alg none with a signature", token(map[string]any{"alg": "none", "kid": "k1"}, valid, func([]byte) []byte { return []byte("x") }), errAlg},
		{"alg None", token(map[string]any{"alg": "None"}, valid, func([]byte) []byte { return []byte("x") }), errAlg},
		{"HS256 with the RSA public key's DER", token(map[string]any{"alg": "HS256", "kid": "k1"}, valid, signHS256(rsaPubDER)), errAlg},
		{"HS256 with the RSA public key's PEM", token(map[string]any{"alg": "HS256", "kid": "k1"}, valid, signHS256(rsaPubPEMish)), errAlg},
		{"RS256 naming the EC key", token(map[string]any{"alg": "RS256", "kid": "e1"}, valid, attackerSig), errKeyMismatch},
		{"ES256 naming the RSA key", token(map[string]any{"alg": "ES256", "kid": "k1"}, valid, signES256(ec1)), errKeyMismatch},
		// Without a kid, the one RSA key of the set is tried, never the
		// header's.
		{"jwk header with the attacker's key", token(map[string]any{"alg": "RS256", "jwk": jwk}, valid, attackerSig), errSignature},
		{"jwk header and our kid", token(map[string]any{"alg": "RS256", "kid": "k1", "jwk": jwk}, valid, attackerSig), errSignature},
		{"jku header at the attacker", token(map[string]any{"alg": "RS256", "kid": "k1", "jku": attacker.URL + "/jwks"}, valid, attackerSig), errSignature},
		{"x5u header at the attacker", token(map[string]any{"alg": "RS256", "kid": "k1", "x5u": attacker.URL + "/cert"}, valid, attackerSig), errSignature},
		{"x5c header with the attacker's certificate", token(map[string]any{"alg": "RS256", "kid": "k1", "x5c": []string{b64std(selfSigned(t))}}, valid, attackerSig), errSignature},
		{"unknown crit", token(map[string]any{"alg": "RS256", "kid": "k1", "crit": []string{"urn:example:must-understand"}, "urn:example:must-understand": true}, valid, signRS(rsa1, crypto.SHA256)), errCrit},
		{"crit b64", token(map[string]any{"alg": "RS256", "kid": "k1", "crit": []string{"b64"}, "b64": false}, valid, signRS(rsa1, crypto.SHA256)), errCrit},
		{"JWE compact", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGeipsEdY3mx_etLbbWSrFr05kLzcSr4qKAq7YN7e9jwQRb23nfa6c9d-StnImGyFDbSv04uVuxIp5Zms1gNxKKK2Da14B8S4rzVRltdYwam_lDp5XnZAYpQdb76FdIKLaVmqgfwX7XWRxv2322i-vDxRfqNzo_tETKzpVLzfiwQyeyPGLBIO56YJ7eObdv0je81860ppamavo35UgoRdbYaBcoh9QcfylQr66oc6vFWXRcZ_ZT2LawVCWTIy3brGPi6UklfCpIMfIjf7iGdXKHzg.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwkIr3ajwQzaBtQD_A.XFBoMYUZodetZdvTiFvSkQ", errJWE},
		{"enc header in three segments", token(map[string]any{"alg": "RS256", "kid": "k1", "enc": "A256GCM"}, valid, signRS(rsa1, crypto.SHA256)), errEncHeader},
		{"stripped signature", strings.TrimRight(rs256(is, now, nil), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), errNoSignature},
		{"another token's signature", swapSignature(rs256(is, now, nil), rs256(is, now, map[string]any{"sub": "user-2"})), errSignature},
		{"signed by the attacker under our kid", token(map[string]any{"alg": "RS256", "kid": "k1"}, valid, attackerSig), errSignature},
		{"RS256 header, PS256 signature", token(map[string]any{"alg": "RS256", "kid": "k1"}, valid, signPS256(rsa1)), errSignature},
		// go-jose reads a member whose value is null as absent; these are
		// refused all the same.
		{"crit null", token(map[string]any{"alg": "RS256", "kid": "k1", "crit": nil}, valid, signRS(rsa1, crypto.SHA256)), errCrit},
		{"enc null", token(map[string]any{"alg": "RS256", "kid": "k1", "enc": nil}, valid, signRS(rsa1, crypto.SHA256)), errEncHeader},
		{"b64 null", token(map[string]any{"alg": "RS256", "kid": "k1", "b64": nil}, valid, signRS(rsa1, crypto.SHA256)), errHeaderMember},
		{"zip null", token(map[string]any{"alg": "RS256", "kid": "k1", "zip": nil}, valid, signRS(rsa1, crypto.SHA256)), errHeaderMember},
		{"b64 false", token(map[string]any{"alg": "RS256", "kid": "k1", "b64": false}, valid, signRS(rsa1, crypto.SHA256)), errHeaderMember},
		// A JSON parser that takes the last of two members would read
		// RS256; go-jose refuses the header.
		{"alg twice", rawToken(`{"alg":"HS256","kid":"k1","alg":"RS256"}`, valid, signRS(rsa1, crypto.SHA256)), errHeader},
		{"alg a number", token(map[string]any{"alg": 256, "kid": "k1"}, valid, signRS(rsa1, crypto.SHA256)), errAlg},
		{"kid a number", token(map[string]any{"alg": "RS256", "kid": 1}, valid, signRS(rsa1, crypto.SHA256)), errHeader},
		{"jwk header holding a private key", token(map[string]any{"alg": "RS256", "kid": "k1", "jwk": privateJWK}, valid, signRS(rsa1, crypto.SHA256)), errHeader},
		{"oversized", "eyJ" + strings.Repeat("A", DefaultMaxTokenBytes), errTooLong},
		{"JSON serialization", `{"payload":"e30","signatures":[]}`, errAlphabet},
		{"padding", rs256(is, now, nil) + "=", errAlphabet},
		{"two segments", "eyJhbGciOiJSUzI1NiJ9.e30", errNotCompact},
		{"header not JSON", "bm90IGpzb24.e30.c2ln", errHeader},
		{"claims not an object", token(map[string]any{"alg": "RS256", "kid": "k1"}, nil, signRS(rsa1, crypto.SHA256)), errPayload},
		// A JSON parser that takes the last of two members would read
		// our aud, iss or exp; one that takes the first, another.
		{"aud twice", withClaimsText(`{"aud":"api://other",` + validText[1:]), errPayload},
		{"iss twice", withClaimsText(`{"iss":"https://evil.example",` + validText[1:]), errPayload},
		{"exp twice", withClaimsText(`{"exp":1,` + validText[1:]), errPayload},
		{"a member of a claim twice", withClaimsText(`{"ext":{"a":1,"a":2},` + validText[1:]), errPayload},
		{"aud twice, once escaped", withClaimsText(`{"a\u0075d":"api://other",` + validText[1:]), errPayload},
		{"claims not UTF-8", withClaimsText("{\"x\":\"\xff\"," + validText[1:]), errPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := is.fetches.Load()
			info, err := v.Verify(context.Background(), tt.token)
			require.Error(t, err)
			assert.Nil(t, info)
			assert.ErrorIs(t, err, introspect.ErrInvalidToken)
			assert.NotErrorIs(t, err, introspect.ErrUnavailable)
			if tt.want != nil {
				assert.Equal(t, tt.want, err)
			}
			assert.NotContains(t, err.Error(), tt.token[:min(len(tt.token), 40)])
			assert.Equal(t, before, is.fetches.Load(), "no key set fetch for a forged token")
		})
	}
	assert.Zero(t, hits.Load(), "the attacker's URLs were called")

	t.Run("a valid token passes", func(t *testing.T) {
		info, err := v.Verify(context.Background(), rs256(is, now, nil))
		require.NoError(t, err)
		assert.True(t, info.HasScope(scopeHalland))
	})
}

// TestHeaderNullMembers: a header in which null appears, as a value or
// within a string, has its names read again, and is accepted when none of
// them is refused.
func TestHeaderNullMembers(t *testing.T) {
	is, clock, v := standardIssuer(t)
	c := claimsAt(is, clock.Now(), nil)
	for _, h := range []map[string]any{
		{"alg": "RS256", "kid": "k1", "typ": nil, "cty": nil},
		{"alg": "RS256", "kid": nil}, // no kid: the one RSA key
		{"alg": "RS256", "kid": "k1", "x5t#S256": "null"},
	} {
		_, err := v.Verify(context.Background(), token(h, c, signRS(rsa1, crypto.SHA256)))
		assert.NoError(t, err, "%v", h)
	}
}

// TestKeyAlgMustAgree: a key published with "alg": "RS256" does not verify
// a PS256 signature made with its own private key.
func TestKeyAlgMustAgree(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1}, "RS256")
	clock := newClock()
	v := newTestVerifier(t, testConfig(is, clock))
	require.NoError(t, refresh(t, v))
	c := claimsAt(is, clock.Now(), nil)

	_, err := v.Verify(context.Background(), token(map[string]any{"alg": "PS256", "kid": "k1"}, c, signPS256(rsa1)))
	assert.Equal(t, errKeyMismatch, err)
	_, err = v.Verify(context.Background(), token(map[string]any{"alg": "RS256", "kid": "k1"}, c, signRS(rsa1, crypto.SHA256)))
	assert.NoError(t, err)
}

func TestKeyUseMustBeSig(t *testing.T) {
	is := newIssuer(t)
	is.set(func(is *issuer) {
		is.published = []jose.JSONWebKey{
			{Key: rsa1.Public(), KeyID: "enc", Use: "enc"},
			{Key: rsa2.Public(), KeyID: "k2", Use: "sig"},
		}
	})
	clock := newClock()
	v := newTestVerifier(t, testConfig(is, clock))
	require.NoError(t, refresh(t, v))
	c := claimsAt(is, clock.Now(), nil)
	// The encryption key is not a verification key: its kid is unknown.
	_, err := v.Verify(context.Background(), token(map[string]any{"alg": "RS256", "kid": "enc"}, c, signRS(rsa1, crypto.SHA256)))
	assert.ErrorIs(t, err, introspect.ErrInvalidToken)
}

func TestConfigRefusesSymmetricAlgorithms(t *testing.T) {
	for _, alg := range []string{"HS256", "HS384", "HS512", "none", "RSA-OAEP", "rs256"} {
		_, err := New(Config{JWKSURL: "https://issuer.example/jwks", Issuers: []string{"https://issuer.example"}, Audiences: []string{"a"}, Algorithms: []string{alg}})
		assert.Error(t, err, alg)
	}
}

// TestAllowList: an algorithm the key fits but the verifier does not allow
// is refused.
func TestAllowList(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1, "e1": ec1, "d1": ed1})
	clock := newClock()
	cfg := testConfig(is, clock)
	cfg.Algorithms = []string{"ES256"}
	v := newTestVerifier(t, cfg)
	require.NoError(t, refresh(t, v))
	c := claimsAt(is, clock.Now(), nil)
	_, err := v.Verify(context.Background(), token(map[string]any{"alg": "RS256", "kid": "k1"}, c, signRS(rsa1, crypto.SHA256)))
	assert.Equal(t, errAlg, err)
	_, err = v.Verify(context.Background(), token(map[string]any{"alg": "ES256", "kid": "e1"}, c, signES256(ec1)))
	assert.NoError(t, err)
}

// TestEveryFamily: the default allow-list verifies each family.
func TestEveryFamily(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1, "e1": ec1, "d1": ed1})
	clock := newClock()
	v := newTestVerifier(t, testConfig(is, clock))
	require.NoError(t, refresh(t, v))
	c := claimsAt(is, clock.Now(), nil)
	for _, tt := range []struct {
		alg, kid string
		sign     func([]byte) []byte
	}{
		{"RS256", "k1", signRS(rsa1, crypto.SHA256)},
		{"RS384", "k1", signRS(rsa1, crypto.SHA384)},
		{"RS512", "k1", signRS(rsa1, crypto.SHA512)},
		{"PS256", "k1", signPS256(rsa1)},
		{"ES256", "e1", signES256(ec1)},
		{"EdDSA", "d1", signEdDSA(ed1)},
	} {
		_, err := v.Verify(context.Background(), token(map[string]any{"alg": tt.alg, "kid": tt.kid}, c, tt.sign))
		assert.NoError(t, err, tt.alg)
	}
}

// TestOneTokenOneString: flipping the unused low bits of the last
// character of any segment gives a second string that decodes to the same
// bytes; it is refused, so a token has exactly one accepted string.
func TestOneTokenOneString(t *testing.T) {
	is, clock, v := standardIssuer(t)
	tok := rs256(is, clock.Now(), nil)
	_, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	segs := strings.Split(tok, ".")
	tried := 0
	for i, seg := range segs {
		if len(seg)%4 == 0 {
			continue // no unused bits
		}
		last := strings.IndexByte(alphabet, seg[len(seg)-1])
		variant := slices.Clone(segs)
		variant[i] = seg[:len(seg)-1] + string(alphabet[last^1])
		same, err := base64.RawURLEncoding.DecodeString(variant[i])
		require.NoError(t, err)
		orig, _ := base64.RawURLEncoding.DecodeString(seg)
		require.Equal(t, orig, same, "segment %d: the variant decodes leniently to the same bytes", i)
		tried++

		_, err = v.Verify(context.Background(), strings.Join(variant, "."))
		assert.Equal(t, errEncoding, err, "segment %d", i)
	}
	require.NotZero(t, tried)

	// Line breaks, which go-jose's decoder skips, are outside the
	// alphabet.
	_, err = v.Verify(context.Background(), tok[:10]+"\n"+tok[10:])
	assert.Equal(t, errAlphabet, err)
}

// TestCanonical: canonical, which reads only a segment's length and last
// character, agrees with a strict decoding that must re-encode to the
// segment, for every length modulo 4 and every last character.
func TestCanonical(t *testing.T) {
	strict := base64.RawURLEncoding.Strict()
	for n := range 8 {
		for _, last := range b64URLAlphabet {
			seg := strings.Repeat("Q", n) + string(last)
			b, err := strict.DecodeString(seg)
			want := err == nil && base64.RawURLEncoding.EncodeToString(b) == seg
			assert.Equal(t, want, canonical(seg), "%q", seg)
		}
	}
}

// TestECDSALowS: for every ES algorithm, with RequireLowS a low-s
// signature is accepted and its other form (r, n-s) refused, so a token
// has one string;
// by default (RequireLowS off) both verify.
func TestECDSALowS(t *testing.T) {
	is := newIssuer(t)
	keys := map[string]*ecdsa.PrivateKey{}
	signers := map[string]crypto.Signer{}
	for alg, curve := range map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()} {
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		require.NoError(t, err)
		keys[alg], signers[alg] = k, k
	}
	is.publish(signers)
	clock := newClock()
	cfg := testConfig(is, clock)
	cfg.RequireLowS = true
	strict := newTestVerifier(t, cfg)
	require.NoError(t, refresh(t, strict))
	lenient := newTestVerifier(t, testConfig(is, clock))
	require.NoError(t, refresh(t, lenient))

	hashes := map[string]crypto.Hash{"ES256": crypto.SHA256, "ES384": crypto.SHA384, "ES512": crypto.SHA512}
	for alg, k := range keys {
		t.Run(alg, func(t *testing.T) {
			hdr, c := map[string]any{"alg": alg, "kid": alg}, claimsAt(is, clock.Now(), nil)
			low := token(hdr, c, signECDSA(k, hashes[alg], false))
			_, err := strict.Verify(context.Background(), low)
			require.NoError(t, err)

			// The same signature with s replaced by n-s.
			i := strings.LastIndexByte(low, '.')
			sig, err := base64.RawURLEncoding.DecodeString(low[i+1:])
			require.NoError(t, err)
			size := len(sig) / 2
			s := new(big.Int).SetBytes(sig[size:])
			s.Sub(k.Curve.Params().N, s)
			s.FillBytes(sig[size:])
			high := low[:i+1] + base64.RawURLEncoding.EncodeToString(sig)

			_, err = strict.Verify(context.Background(), high)
			assert.Equal(t, errHighS, err)
			_, err = strict.Verify(context.Background(), token(hdr, c, signECDSA(k, hashes[alg], true)))
			assert.Equal(t, errHighS, err, "a high-s signature made by the key")
			_, err = strict.Verify(context.Background(), low[:i+1]+base64.RawURLEncoding.EncodeToString(sig[:len(sig)-1]))
			assert.Equal(t, errSignature, err, "a signature of the wrong size")

			for _, tok := range []string{low, high} {
				_, err = lenient.Verify(context.Background(), tok)
				assert.NoError(t, err, "without RequireLowS")
			}
		})
	}
}
