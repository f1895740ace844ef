package jwt

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// signPS signs RSASSA-PSS with hash h and a salt as long as the hash, as
// RFC 7518 §3.5 asks.
func signPS(k *rsa.PrivateKey, h crypto.Hash) func([]byte) []byte {
	return func(in []byte) []byte {
		d := h.New()
		d.Write(in)
		sig, err := rsa.SignPSS(rand.Reader, k, h, d.Sum(nil), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			panic(err)
		}
		return sig
	}
}

// jwkWithOps returns the public JWK of key under kid, with "key_ops" set
// to ops, or without "key_ops" when ops is nil.
func jwkWithOps(t *testing.T, key crypto.PublicKey, kid string, ops []string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, jsonUnmarshal(mustJSON(jose.JSONWebKey{Key: key, KeyID: kid, Use: "sig"}), &m))
	if ops != nil {
		m["key_ops"] = ops
	}
	return m
}

// metadataServer serves OpenID Connect Discovery metadata for its own URL
// and RFC 8414 metadata for its URL + "/as", both naming jwksURI as the
// key set, and counts the requests.
func metadataServer(t *testing.T, jwksURI string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		var iss string
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			iss = srv.URL
		case "/.well-known/oauth-authorization-server/as":
			iss = srv.URL + "/as"
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(mustJSON(map[string]string{"issuer": iss, "jwks_uri": jwksURI}))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// countingTransport counts the requests it sends.
type countingTransport struct {
	rt   http.RoundTripper
	sent *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.sent.Add(1)
	return c.rt.RoundTrip(r)
}

// TestKeyOpsMustAllowVerify: a key whose "key_ops" does not name "verify"
// (RFC 7517 §4.3) is not a verification key, even with "use": "sig": its
// kid is unknown, and a token signed with its private key is refused. A
// key whose key_ops names verify, or that has none, is used.
func TestKeyOpsMustAllowVerify(t *testing.T) {
	is := newIssuer(t)
	ops := map[string][]string{
		"encrypt":     {"encrypt"},
		"sign":        {"sign"},
		"empty":       {},
		"verify":      {"verify"},
		"sign-verify": {"sign", "verify"},
		"absent":      nil,
	}
	var set []map[string]any
	for kid, o := range ops {
		set = append(set, jwkWithOps(t, rsa1.Public(), kid, o))
	}
	is.set(func(is *issuer) { is.rawKeys = string(mustJSON(map[string]any{"keys": set})) })
	clock := newClock()
	v := newTestVerifier(t, testConfig(is, clock))
	require.NoError(t, refresh(t, v))

	// Issued an hour before the keys were fetched: within the cooldown, an
	// unknown kid is then invalid rather than unavailable.
	now := clock.Now()
	c := claimsAt(is, now, map[string]any{"iat": now.Add(-time.Hour).Unix(), "nbf": now.Add(-time.Hour).Unix()})
	for _, tt := range []struct {
		kid  string
		used bool
	}{
		{"encrypt", false},
		{"sign", false},
		{"empty", false},
		{"verify", true},
		{"sign-verify", true},
		{"absent", true},
	} {
		_, err := v.Verify(context.Background(), token(map[string]any{"alg": "RS256", "kid": tt.kid}, c, signRS(rsa1, crypto.SHA256)))
		if tt.used {
			assert.NoError(t, err, "key_ops %q", ops[tt.kid])
		} else {
			assert.Equal(t, errUnknownKID, err, "key_ops %q", ops[tt.kid])
		}
	}
}

// TestMetadataJWKSURIMustBeHTTPS: a jwks_uri read from the issuer's
// metadata, OpenID Connect Discovery's or RFC 8414's, must be https
// unless it names a loopback host. One over http to any other host is
// refused before it is called, and the key set is unavailable, even though
// (here) the host would answer with the issuer's keys; one over http to
// localhost is used.
func TestMetadataJWKSURIMustBeHTTPS(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	// A connection to any host but a loopback address goes to the
	// issuer's key set server: a jwks_uri that got past the check would
	// load.
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, err := net.SplitHostPort(addr); err != nil || !net.ParseIP(host).IsLoopback() {
			addr = is.srv.Listener.Addr().String()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	_, port, err := net.SplitHostPort(is.srv.Listener.Addr().String())
	require.NoError(t, err)

	for _, tt := range []struct {
		name, jwksURI string
		m             Metadata
		ok            bool
	}{
		{"OpenID Discovery, http to a name", "http://issuer.example/jwks", OpenIDDiscovery, false},
		{"OpenID Discovery, http to an address", "http://10.1.2.3/jwks", OpenIDDiscovery, false},
		{"RFC 8414, http to a name", "http://issuer.example/jwks", OAuthMetadata, false},
		{"OpenID Discovery, http to localhost", "http://localhost:" + port + "/jwks", OpenIDDiscovery, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			md, hits := metadataServer(t, tt.jwksURI)
			iss := md.URL
			if tt.m == OAuthMetadata {
				iss += "/as"
			}
			clock := newClock()
			v := newTestVerifier(t, Config{
				Issuer: iss, Metadata: tt.m, Audiences: []string{audience}, Now: clock.Now,
				HTTPClient: &http.Client{Transport: tr},
			})
			before := is.fetches.Load()
			err := refresh(t, v)
			assert.EqualValues(t, 1, hits.Load(), "the metadata was read")
			if tt.ok {
				require.NoError(t, err)
				assert.Equal(t, before+1, is.fetches.Load())
				return
			}
			ue := isUnavailable(t, err)
			assert.Contains(t, ue.Reason, "jwks_uri")
			assert.Equal(t, before, is.fetches.Load(), "the http jwks_uri was called")
			_, err = v.Verify(context.Background(), rs256(is, clock.Now(), map[string]any{"iss": iss}))
			isUnavailable(t, err)
		})
	}
}

// TestFirstLoadForTokenRevalidates: while no keys are loaded, the fetch a
// token starts asks caches on the way to revalidate (Cache-Control:
// no-cache), as the token may name a key published a moment ago; the first
// fetch a readiness check starts, or the schedule's, does not.
func TestFirstLoadForTokenRevalidates(t *testing.T) {
	t.Run("token", func(t *testing.T) {
		is := newIssuer(t)
		is.publish(map[string]crypto.Signer{"k1": rsa1})
		clock := newClock()
		v := newTestVerifier(t, testConfig(is, clock))
		tok := rs256(is, clock.Now(), nil)
		_, err := v.Verify(context.Background(), tok)
		isUnavailable(t, err)
		settle(v)
		_, err = v.Verify(context.Background(), tok)
		require.NoError(t, err)
		assert.Equal(t, []string{"no-cache"}, is.cacheControlRequests())
	})
	t.Run("readiness check", func(t *testing.T) {
		is := newIssuer(t)
		is.publish(map[string]crypto.Signer{"k1": rsa1})
		clock := newClock()
		v := newTestVerifier(t, testConfig(is, clock))
		isUnavailable(t, v.Ready(context.Background()))
		settle(v)
		require.NoError(t, v.Ready(context.Background()))
		assert.Equal(t, []string{""}, is.cacheControlRequests())
	})
	t.Run("schedule", func(t *testing.T) {
		is := newIssuer(t)
		is.publish(map[string]crypto.Signer{"k1": rsa1})
		v := newTestVerifier(t, testConfig(is, newClock()))
		require.NoError(t, refresh(t, v))
		assert.Equal(t, []string{""}, is.cacheControlRequests())
	})
}

// TestWeakRSAKeySkipped: an RSA key under 2048 bits (RFC 7518 §3.3) in
// the key set is skipped, not used: a token signed with a 1024-bit key
// and naming its kid is refused, while the set's 2048-bit key still works.
func TestWeakRSAKeySkipped(t *testing.T) {
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1, "weak": weak})
	clock := newClock()
	v := newTestVerifier(t, testConfig(is, clock))
	require.NoError(t, refresh(t, v))

	now := clock.Now()
	c := claimsAt(is, now, map[string]any{"iat": now.Add(-time.Hour).Unix(), "nbf": now.Add(-time.Hour).Unix()})
	_, err = v.Verify(context.Background(), token(map[string]any{"alg": "RS256", "kid": "weak"}, c, signRS(weak, crypto.SHA256)))
	assert.Equal(t, errUnknownKID, err)
	_, err = v.Verify(context.Background(), token(map[string]any{"alg": "RS256", "kid": "k1"}, c, signRS(rsa1, crypto.SHA256)))
	assert.NoError(t, err)
}

// TestPSSLongerHashes: PS384 and PS512 tokens verify with the RSA key they
// name, under the default allow-list and under one that names them; an
// allow-list without them refuses them before any key is looked at.
func TestPSSLongerHashes(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	clock := newClock()
	c := claimsAt(is, clock.Now(), nil)
	tokens := map[string]string{
		"PS256": token(map[string]any{"alg": "PS256", "kid": "k1"}, c, signPS(rsa1, crypto.SHA256)),
		"PS384": token(map[string]any{"alg": "PS384", "kid": "k1"}, c, signPS(rsa1, crypto.SHA384)),
		"PS512": token(map[string]any{"alg": "PS512", "kid": "k1"}, c, signPS(rsa1, crypto.SHA512)),
	}
	for _, tt := range []struct {
		name    string
		allowed []string // nil: the default
		ok      []string // of tokens; the others are refused
	}{
		{"default", nil, []string{"PS256", "PS384", "PS512"}},
		{"PS256 only", []string{"PS256", "RS256"}, []string{"PS256"}},
		{"PS384 only", []string{"PS384"}, []string{"PS384"}},
		{"PS512 only", []string{"PS512"}, []string{"PS512"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(is, clock)
			cfg.Algorithms = tt.allowed
			v := newTestVerifier(t, cfg)
			require.NoError(t, refresh(t, v))
			for alg, tok := range tokens {
				_, err := v.Verify(context.Background(), tok)
				if slices.Contains(tt.ok, alg) {
					assert.NoError(t, err, alg)
				} else {
					assert.Equal(t, errAlg, err, alg)
				}
			}
		})
	}
}

// TestCallerClientRedirectNotFollowed: with a Config.HTTPClient of the
// caller's, one that would follow redirects, neither the key set's URL nor
// the metadata's is followed to where it redirects: the fetch is
// unavailable with the redirect's status, and the target is never called.
// The caller's transport is used, and the caller's CheckRedirect never
// consulted.
func TestCallerClientRedirectNotFollowed(t *testing.T) {
	var sent, consulted atomic.Int64
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{
		Transport: countingTransport{rt: tr, sent: &sent},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			consulted.Add(1)
			return nil
		},
	}
	redirector := func(t *testing.T, to func(r *http.Request) string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, to(r), http.StatusFound)
		}))
		t.Cleanup(srv.Close)
		return srv
	}

	t.Run("JWKS URL", func(t *testing.T) {
		is := newIssuer(t)
		is.publish(map[string]crypto.Signer{"k1": rsa1})
		redirect := redirector(t, func(*http.Request) string { return is.jwksURL() })
		cfg := testConfig(is, newClock())
		cfg.JWKSURL = redirect.URL + "/jwks"
		cfg.HTTPClient = hc
		v := newTestVerifier(t, cfg)
		ue := isUnavailable(t, refresh(t, v))
		assert.Equal(t, http.StatusFound, ue.StatusCode)
		assert.Zero(t, is.fetches.Load())
	})
	t.Run("metadata URL", func(t *testing.T) {
		is := newIssuer(t)
		is.publish(map[string]crypto.Signer{"k1": rsa1})
		redirect := redirector(t, func(r *http.Request) string { return is.srv.URL + r.URL.Path })
		// The target's metadata names the redirector as its issuer, so
		// following the redirect would load is's keys.
		is.issuerID = redirect.URL
		v := newTestVerifier(t, Config{Issuer: redirect.URL, Audiences: []string{audience}, Now: newClock().Now, HTTPClient: hc})
		ue := isUnavailable(t, refresh(t, v))
		assert.Equal(t, http.StatusFound, ue.StatusCode)
		assert.Zero(t, is.metadata.Load())
		assert.Zero(t, is.fetches.Load())
	})
	assert.EqualValues(t, 2, sent.Load(), "the caller's transport sent the requests")
	assert.Zero(t, consulted.Load(), "the caller's CheckRedirect was consulted")
	require.NoError(t, hc.CheckRedirect(nil, nil))
	assert.EqualValues(t, 1, consulted.Load(), "the caller's client is left as it was: its own CheckRedirect")
}
