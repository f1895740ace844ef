package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"
)

// Test keys, made once: RSA key generation is slow under -race.
var (
	keysOnce                  sync.Once
	rsa1, rsa2, rsaAttacker   *rsa.PrivateKey
	ec1                       *ecdsa.PrivateKey
	ed1                       ed25519.PrivateKey
	audience                  = "api://exempelapi"
	testStart                 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	scopeHalland, scopeGIPODr = "exempelapi.Public", "gipod_pdo_read"
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		for _, k := range []**rsa.PrivateKey{&rsa1, &rsa2, &rsaAttacker} {
			*k, err = rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
		}
		if ec1, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if _, ed1, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: testStart} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// issuer is a loopback authorization server that publishes a key set and,
// optionally, metadata. Fields are safe to change while it runs.
type issuer struct {
	srv *httptest.Server
	// issuerID is the "issuer" of the metadata; accessTokenIssuer its
	// "access_token_issuer" when not empty.
	issuerID, accessTokenIssuer string

	mu           sync.Mutex
	published    []jose.JSONWebKey
	rawKeys      string // served instead of published when not empty
	status       int    // 0: 200
	cacheControl string
	age          string
	hold         chan struct{} // a key set request waits for it to close
	requests     []http.Header // of key set requests

	fetches  atomic.Int64 // key set requests
	metadata atomic.Int64 // metadata requests
	entered  chan struct{}
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	testKeys(t)
	is := &issuer{entered: make(chan struct{}, 100000)}
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks", is.serveKeys)
	mux.HandleFunc("/.well-known/openid-configuration", is.serveMetadata)
	mux.HandleFunc("/adfs/.well-known/openid-configuration", is.serveMetadata)
	mux.HandleFunc("/.well-known/oauth-authorization-server/as", is.serveMetadata)
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	is.issuerID = is.srv.URL
	return is
}

func (is *issuer) jwksURL() string { return is.srv.URL + "/jwks" }

func (is *issuer) serveKeys(w http.ResponseWriter, r *http.Request) {
	is.fetches.Add(1)
	is.mu.Lock()
	is.requests = append(is.requests, r.Header.Clone())
	hold, status, cc, age, raw := is.hold, is.status, is.cacheControl, is.age, is.rawKeys
	body, _ := json.Marshal(jose.JSONWebKeySet{Keys: is.published})
	is.mu.Unlock()
	is.entered <- struct{}{}
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	if age != "" {
		w.Header().Set("Age", age)
	}
	if status != 0 && status != http.StatusOK {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if raw != "" {
		_, _ = w.Write([]byte(raw))
		return
	}
	_, _ = w.Write(body)
}

func (is *issuer) serveMetadata(w http.ResponseWriter, _ *http.Request) {
	is.metadata.Add(1)
	md := map[string]string{"issuer": is.issuerID, "jwks_uri": is.jwksURL()}
	if is.accessTokenIssuer != "" {
		md["access_token_issuer"] = is.accessTokenIssuer
	}
	_ = json.NewEncoder(w).Encode(md)
}

// publish sets the key set to the public halves of keys, by kid.
func (is *issuer) publish(keys map[string]crypto.Signer, alg ...string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.published = nil
	for kid, k := range keys {
		jwk := jose.JSONWebKey{Key: k.Public(), KeyID: kid, Use: "sig"}
		if len(alg) > 0 {
			jwk.Algorithm = alg[0]
		}
		is.published = append(is.published, jwk)
	}
}

func (is *issuer) set(f func(is *issuer)) {
	is.mu.Lock()
	defer is.mu.Unlock()
	f(is)
}

// cacheControlRequests returns the Cache-Control header of each key set
// request, in order.
func (is *issuer) cacheControlRequests() []string {
	is.mu.Lock()
	defer is.mu.Unlock()
	var out []string
	for _, h := range is.requests {
		out = append(out, h.Get("Cache-Control"))
	}
	return out
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// token builds a compact JWS with exactly the header and claims given,
// signed by sign over the signing input (nil: no signature).
func token(header, claims map[string]any, sign func(input []byte) []byte) string {
	return rawToken(string(mustJSON(header)), claims, sign)
}

// rawToken is token with the header's JSON text as it is given.
func rawToken(header string, claims map[string]any, sign func(input []byte) []byte) string {
	input := b64([]byte(header)) + "." + b64(mustJSON(claims))
	if sign == nil {
		return input + "."
	}
	return input + "." + b64(sign([]byte(input)))
}

func signRS(k *rsa.PrivateKey, h crypto.Hash) func([]byte) []byte {
	return func(in []byte) []byte {
		d := h.New()
		d.Write(in)
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, h, d.Sum(nil))
		if err != nil {
			panic(err)
		}
		return sig
	}
}

func signPS256(k *rsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		d := sha256.Sum256(in)
		sig, err := rsa.SignPSS(rand.Reader, k, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			panic(err)
		}
		return sig
	}
}

// signES256 signs low-s, as the Verifier requires by default.
func signES256(k *ecdsa.PrivateKey) func([]byte) []byte { return signECDSA(k, crypto.SHA256, false) }

// signECDSA signs with k and hash h, choosing the high s (n-s) when high
// is set and the low one otherwise.
func signECDSA(k *ecdsa.PrivateKey, h crypto.Hash, high bool) func([]byte) []byte {
	return func(in []byte) []byte {
		d := h.New()
		d.Write(in)
		r, s, err := ecdsa.Sign(rand.Reader, k, d.Sum(nil))
		if err != nil {
			panic(err)
		}
		n := k.Curve.Params().N
		half := new(big.Int).Rsh(n, 1)
		if (s.Cmp(half) > 0) != high {
			s.Sub(n, s)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out
	}
}

func signEdDSA(k ed25519.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte { return ed25519.Sign(k, in) }
}

func signHS256(secret []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(in)
		return m.Sum(nil)
	}
}

// claims returns a valid token's claims at now, with overrides; a nil
// override removes the claim.
func claimsAt(is *issuer, now time.Time, over map[string]any) map[string]any {
	c := map[string]any{
		"iss": is.issuerID,
		"aud": audience,
		"sub": "user-1",
		"exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"scp": scopeHalland,
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// rs256 returns a valid RS256 token of rsa1 under kid "k1".
func rs256(is *issuer, now time.Time, over map[string]any) string {
	return token(map[string]any{"alg": "RS256", "kid": "k1", "typ": "JWT"}, claimsAt(is, now, over), signRS(rsa1, crypto.SHA256))
}

// testConfig is a Config for is's key set at clock's time.
func testConfig(is *issuer, clock *fakeClock) Config {
	return Config{
		JWKSURL:   is.jwksURL(),
		Issuers:   []string{is.issuerID},
		Audiences: []string{audience},
		Now:       clock.Now,
	}
}

// newTestVerifier returns a Verifier without its background schedule,
// closed at the end of the test.
func newTestVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	v, err := newVerifier(cfg)
	require.NoError(t, err)
	t.Cleanup(v.Close)
	return v
}

// refresh runs the schedule's fetch, as the loop would once due, and
// waits for it. It fails the test when nothing was due.
func refresh(t testing.TB, v *Verifier) error {
	t.Helper()
	f := v.keys.refreshIfDue()
	require.NotNil(t, f, "no fetch was due")
	<-f.done
	return f.err
}

// settle waits for the fetch in flight, if any, to end.
func settle(v *Verifier) {
	v.keys.mu.Lock()
	f := v.keys.pending
	v.keys.mu.Unlock()
	if f != nil {
		<-f.done
	}
}

// standardIssuer publishes rsa1 as k1 and ec1 as e1, and returns a loaded
// verifier for it.
func standardIssuer(t testing.TB) (*issuer, *fakeClock, *Verifier) {
	t.Helper()
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1, "e1": ec1})
	clock := newClock()
	v := newTestVerifier(t, testConfig(is, clock))
	require.NoError(t, refresh(t, v))
	return is, clock, v
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func b64std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// swapSignature puts b's signature on a.
func swapSignature(a, b string) string {
	return a[:strings.LastIndexByte(a, '.')] + b[strings.LastIndexByte(b, '.'):]
}
