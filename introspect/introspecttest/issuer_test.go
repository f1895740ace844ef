package introspecttest_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tokengate/tokengate/introspect/introspecttest"
)

var issuerNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// startIssuer starts an Issuer in mode, on the fixed clock issuerNow, with
// configure (which may be nil) applied before Start.
func startIssuer(t *testing.T, mode introspecttest.IssuerMode, configure func(*introspecttest.Issuer)) *introspecttest.Issuer {
	t.Helper()
	iss := introspecttest.NewUnstartedIssuer()
	iss.Mode = mode
	iss.Now = func() time.Time { return issuerNow }
	if configure != nil {
		configure(iss)
	}
	iss.Start()
	t.Cleanup(iss.Close)
	return iss
}

// issuerGet fetches url with the issuer's client and returns the answer
// with its body read.
func issuerGet(t *testing.T, iss *introspecttest.Issuer, url string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for name, values := range header {
		req.Header[name] = values
	}
	resp, err := iss.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// issuerDocument fetches a JSON document and decodes it.
func issuerDocument(t *testing.T, iss *introspecttest.Issuer, url string) map[string]any {
	t.Helper()
	resp, body := issuerGet(t, iss, url, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", url, body)
	assert.Equal(t, "application/json;charset=UTF-8", resp.Header.Get("Content-Type"))
	var doc map[string]any
	require.NoError(t, json.Unmarshal(body, &doc))
	return doc
}

func issuerKeySet(t *testing.T, iss *introspecttest.Issuer) jose.JSONWebKeySet {
	t.Helper()
	resp, body := issuerGet(t, iss, iss.JWKSURL(), nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var set jose.JSONWebKeySet
	require.NoError(t, json.Unmarshal(body, &set))
	return set
}

var asymmetric = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256}

// verifyWithKeySet checks token as a resource server would: with the key
// its kid names in the issuer's published key set.
func verifyWithKeySet(t *testing.T, iss *introspecttest.Issuer, token string) (map[string]any, error) {
	t.Helper()
	tok, err := jwt.ParseSigned(token, asymmetric)
	if err != nil {
		return nil, err
	}
	set := issuerKeySet(t, iss)
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) == 0 {
		return nil, errors.New("no published key has the token's kid")
	}
	var claims map[string]any
	err = tok.Claims(keys[0], &claims)
	return claims, err
}

// decodeJWT returns a token's header and claims without checking anything.
func decodeJWT(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	for i, v := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, v))
	}
	return header, claims
}

func unix(t time.Time) float64 { return float64(t.Unix()) }

func TestIssuerModes(t *testing.T) {
	token := introspecttest.JWT{
		Subject:  "subject-1",
		ClientID: "minklient.mindoman.se",
		Audience: []string{"exempelapi.regionhalland.se"},
		Scopes:   []string{"exempelapi.Public", "vo_info"},
	}
	times := map[string]any{
		"iat": unix(issuerNow),
		"nbf": unix(issuerNow),
		"exp": unix(issuerNow.Add(introspecttest.DefaultLifetime)),
	}
	common := map[string]any{
		"sub": "subject-1",
		"aud": "exempelapi.regionhalland.se",
	}
	tests := []struct {
		mode        introspecttest.IssuerMode
		issuer, iss string // below the URL
		claims      map[string]any
	}{
		{introspecttest.IssuerOpenID, "", "", map[string]any{
			"client_id": "minklient.mindoman.se",
			"scope":     "exempelapi.Public vo_info",
		}},
		{introspecttest.IssuerADFS, "/adfs", "/adfs/services/trust", map[string]any{
			"appid": "minklient.mindoman.se",
			"scp":   "exempelapi.Public vo_info",
			"ver":   "1.0",
		}},
		{introspecttest.IssuerEntraV1, "/sts/" + introspecttest.DefaultTenantID + "/", "/sts/" + introspecttest.DefaultTenantID + "/", map[string]any{
			"appid": "minklient.mindoman.se",
			"scp":   "exempelapi.Public vo_info",
			"ver":   "1.0",
			"tid":   introspecttest.DefaultTenantID,
		}},
		{introspecttest.IssuerEntraV2, "/" + introspecttest.DefaultTenantID + "/v2.0", "/" + introspecttest.DefaultTenantID + "/v2.0", map[string]any{
			"azp": "minklient.mindoman.se",
			"scp": "exempelapi.Public vo_info",
			"ver": "2.0",
			"tid": introspecttest.DefaultTenantID,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			iss := startIssuer(t, tt.mode, nil)
			assert.Equal(t, iss.URL+tt.issuer, iss.Issuer())
			assert.Equal(t, iss.URL+tt.iss, iss.TokenIssuer())

			signed := iss.IssueJWT(token)
			header, claims := decodeJWT(t, signed)
			assert.Equal(t, map[string]any{"alg": "RS256", "kid": iss.KeyID(), "typ": "JWT"}, header)

			want := map[string]any{"iss": iss.URL + tt.iss}
			for _, m := range []map[string]any{times, common, tt.claims} {
				for name, v := range m {
					want[name] = v
				}
			}
			if tt.mode == introspecttest.IssuerOpenID {
				assert.Len(t, claims["jti"], 22)
				delete(claims, "jti")
			}
			assert.Equal(t, want, claims)

			verified, err := verifyWithKeySet(t, iss, signed)
			require.NoError(t, err)
			assert.Equal(t, iss.TokenIssuer(), verified["iss"])
			assert.Equal(t, iss.Claims(token)["iss"], verified["iss"])
		})
	}
}

func TestIssuerEntraAppOnlyAndTenant(t *testing.T) {
	for _, mode := range []introspecttest.IssuerMode{introspecttest.IssuerEntraV1, introspecttest.IssuerEntraV2} {
		t.Run(mode.String(), func(t *testing.T) {
			iss := startIssuer(t, mode, func(iss *introspecttest.Issuer) { iss.TenantID = "contoso.onmicrosoft.com" })
			_, claims := decodeJWT(t, iss.IssueJWT(introspecttest.JWT{
				ClientID: "6e74172b-be56-4843-9ff4-e66a39bb12e3",
				Audience: []string{"api://exempelapi"},
				Roles:    []string{"Adress.Beheer", "Adress.Lezen"},
			}))
			assert.Equal(t, []any{"Adress.Beheer", "Adress.Lezen"}, claims["roles"])
			assert.NotContains(t, claims, "scp")
			assert.NotContains(t, claims, "sub")
			assert.Equal(t, "contoso.onmicrosoft.com", claims["tid"])
			client := map[introspecttest.IssuerMode]string{introspecttest.IssuerEntraV1: "appid", introspecttest.IssuerEntraV2: "azp"}[mode]
			assert.Equal(t, "6e74172b-be56-4843-9ff4-e66a39bb12e3", claims[client])
			assert.Contains(t, claims["iss"], "/contoso.onmicrosoft.com/")
		})
	}
}

func TestIssuerAlgorithms(t *testing.T) {
	for _, alg := range []string{"RS256", "PS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			iss := startIssuer(t, introspecttest.IssuerOpenID, func(iss *introspecttest.Issuer) {
				iss.Algorithm = alg
				iss.Type = "at+jwt"
			})
			token := iss.IssueJWT(introspecttest.JWT{ClientID: "38890"})
			header, _ := decodeJWT(t, token)
			assert.Equal(t, map[string]any{"alg": alg, "kid": iss.KeyID(), "typ": "at+jwt"}, header)
			claims, err := verifyWithKeySet(t, iss, token)
			require.NoError(t, err)
			assert.Equal(t, "38890", claims["client_id"])

			header, _ = decodeJWT(t, iss.IssueJWT(introspecttest.JWT{Type: "JWT"}))
			assert.Equal(t, "JWT", header["typ"], "a token's Type wins over the issuer's")
		})
	}
}

func TestIssuerClaimsDefaultsAndOverrides(t *testing.T) {
	iss := startIssuer(t, introspecttest.IssuerOpenID, nil)

	_, claims := decodeJWT(t, iss.IssueJWT(introspecttest.JWT{}))
	assert.Equal(t, "demo-client", claims["client_id"])
	for _, absent := range []string{"sub", "aud", "scope", "roles"} {
		assert.NotContains(t, claims, absent)
	}

	iat := issuerNow.Add(-time.Hour)
	_, claims = decodeJWT(t, iss.IssueJWT(introspecttest.JWT{IssuedAt: iat}))
	assert.Equal(t, unix(iat), claims["iat"])
	assert.Equal(t, unix(iat), claims["nbf"], "nbf defaults to iat")
	assert.Equal(t, unix(iat.Add(introspecttest.DefaultLifetime)), claims["exp"], "exp defaults to iat + DefaultLifetime")

	nbf, exp := issuerNow.Add(time.Minute), issuerNow.Add(2*time.Minute)
	_, claims = decodeJWT(t, iss.IssueJWT(introspecttest.JWT{
		NotBefore: nbf,
		ExpiresAt: exp,
		Audience:  []string{"https://api.example", "38890"},
		Extra: map[string]any{
			"vo_id":      "5b6d0ff4-c2b4-47f6-aa1b-6d3ea6b6f4b2",
			"vo_orgcode": "OVO002949",
			"iss":        "https://attacker.example",
			"jti":        nil,
		},
	}))
	assert.Equal(t, unix(issuerNow), claims["iat"])
	assert.Equal(t, unix(nbf), claims["nbf"])
	assert.Equal(t, unix(exp), claims["exp"])
	assert.Equal(t, []any{"https://api.example", "38890"}, claims["aud"])
	assert.Equal(t, "5b6d0ff4-c2b4-47f6-aa1b-6d3ea6b6f4b2", claims["vo_id"])
	assert.Equal(t, "OVO002949", claims["vo_orgcode"])
	assert.Equal(t, "https://attacker.example", claims["iss"], "Extra replaces standard claims")
	assert.NotContains(t, claims, "jti", "a nil Extra value removes the claim")
}

func TestIssuerDiscovery(t *testing.T) {
	tenant := introspecttest.DefaultTenantID
	tests := []struct {
		mode              introspecttest.IssuerMode
		discovery         []string // paths of the OpenID document
		metadata          []string // paths of the RFC 8414 document
		jwks              string
		accessTokenIssuer string // ADFS only
	}{
		{
			mode:      introspecttest.IssuerOpenID,
			discovery: []string{"/.well-known/openid-configuration"},
			metadata:  []string{"/.well-known/oauth-authorization-server"},
			jwks:      "/.well-known/jwks.json",
		},
		{
			mode:              introspecttest.IssuerADFS,
			discovery:         []string{"/adfs/.well-known/openid-configuration"},
			metadata:          []string{"/.well-known/oauth-authorization-server/adfs", "/adfs/.well-known/oauth-authorization-server"},
			jwks:              "/adfs/discovery/keys",
			accessTokenIssuer: "/adfs/services/trust",
		},
		{
			mode:      introspecttest.IssuerEntraV1,
			discovery: []string{"/sts/" + tenant + "/.well-known/openid-configuration", "/" + tenant + "/.well-known/openid-configuration"},
			metadata:  []string{"/.well-known/oauth-authorization-server/sts/" + tenant, "/sts/" + tenant + "/.well-known/oauth-authorization-server"},
			jwks:      "/" + tenant + "/discovery/keys",
		},
		{
			mode:      introspecttest.IssuerEntraV2,
			discovery: []string{"/" + tenant + "/v2.0/.well-known/openid-configuration"},
			metadata:  []string{"/.well-known/oauth-authorization-server/" + tenant + "/v2.0", "/" + tenant + "/v2.0/.well-known/oauth-authorization-server"},
			jwks:      "/" + tenant + "/discovery/v2.0/keys",
		},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			iss := startIssuer(t, tt.mode, nil)
			assert.Equal(t, iss.URL+tt.discovery[0], iss.DiscoveryURL())
			assert.Equal(t, iss.URL+tt.metadata[0], iss.MetadataURL())
			assert.Equal(t, iss.URL+tt.jwks, iss.JWKSURL())

			want := map[string]any{
				"issuer":                                iss.Issuer(),
				"jwks_uri":                              iss.URL + tt.jwks,
				"id_token_signing_alg_values_supported": []any{"RS256"},
			}
			if tt.accessTokenIssuer != "" {
				want["access_token_issuer"] = iss.URL + tt.accessTokenIssuer
			}
			paths := append(append([]string{}, tt.discovery...), tt.metadata...)
			for _, path := range paths {
				assert.Equal(t, want, issuerDocument(t, iss, iss.URL+path), path)
			}
			assert.Equal(t, len(paths), iss.DiscoveryFetches())
			assert.Zero(t, iss.JWKSFetches())

			iss.SetDiscoveryFault(introspecttest.Fault{Status: http.StatusServiceUnavailable})
			resp, _ := issuerGet(t, iss, iss.DiscoveryURL(), nil)
			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			resp, _ = issuerGet(t, iss, iss.JWKSURL(), nil)
			assert.Equal(t, http.StatusOK, resp.StatusCode, "a discovery fault leaves the key set alone")
		})
	}
}

func TestIssuerJWKS(t *testing.T) {
	iss := startIssuer(t, introspecttest.IssuerOpenID, nil)
	ecKID := iss.PublishKey("ES256")

	resp, body := issuerGet(t, iss, iss.JWKSURL(), nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "max-age=3600", resp.Header.Get("Cache-Control"))
	assert.Equal(t, "application/json;charset=UTF-8", resp.Header.Get("Content-Type"))
	var raw struct{ Keys []map[string]any }
	require.NoError(t, json.Unmarshal(body, &raw))
	require.Len(t, raw.Keys, 2)

	rsaKey, ecKey := raw.Keys[0], raw.Keys[1]
	assert.ElementsMatch(t, []string{"kty", "kid", "use", "alg", "n", "e"}, keys(rsaKey), "public members only")
	assert.Equal(t, "RSA", rsaKey["kty"])
	assert.Equal(t, iss.KeyID(), rsaKey["kid"])
	assert.Equal(t, "sig", rsaKey["use"])
	assert.Equal(t, "RS256", rsaKey["alg"])
	assert.Equal(t, "AQAB", rsaKey["e"])
	assert.ElementsMatch(t, []string{"kty", "kid", "use", "alg", "crv", "x", "y"}, keys(ecKey), "public members only")
	assert.Equal(t, "EC", ecKey["kty"])
	assert.Equal(t, ecKID, ecKey["kid"])
	assert.Equal(t, "ES256", ecKey["alg"])
	assert.Equal(t, "P-256", ecKey["crv"])

	set := issuerKeySet(t, iss)
	for _, k := range set.Keys {
		assert.True(t, k.IsPublic())
		thumb, err := k.Thumbprint(crypto.SHA256)
		require.NoError(t, err)
		assert.Equal(t, base64.RawURLEncoding.EncodeToString(thumb), k.KeyID, "kid is the RFC 7638 thumbprint")
	}
	assert.IsType(t, &rsa.PrivateKey{}, iss.PrivateKey(iss.KeyID()))
	assert.IsType(t, &ecdsa.PrivateKey{}, iss.PrivateKey(ecKID))
	assert.Nil(t, iss.PrivateKey("unknown"))

	for maxAge, want := range map[time.Duration]string{90 * time.Second: "max-age=90", -1: ""} {
		iss := startIssuer(t, introspecttest.IssuerOpenID, func(iss *introspecttest.Issuer) { iss.JWKSMaxAge = maxAge })
		resp, _ := issuerGet(t, iss, iss.JWKSURL(), nil)
		assert.Equal(t, want, resp.Header.Get("Cache-Control"), maxAge)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	}
}

func keys(m map[string]any) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	return names
}

func TestIssuerRotation(t *testing.T) {
	iss := startIssuer(t, introspecttest.IssuerADFS, nil)
	first := iss.KeyID()
	before := iss.IssueJWT(introspecttest.JWT{})

	second := iss.Rotate()
	assert.NotEqual(t, first, second)
	assert.Equal(t, second, iss.KeyID())
	after := iss.IssueJWT(introspecttest.JWT{})
	header, _ := decodeJWT(t, after)
	assert.Equal(t, second, header["kid"])

	assert.Equal(t, []string{first, second}, kids(issuerKeySet(t, iss)), "the old key stays published")
	for _, token := range []string{before, after} {
		_, err := verifyWithKeySet(t, iss, token)
		assert.NoError(t, err)
	}

	iss.Retire(first)
	assert.Equal(t, []string{second}, kids(issuerKeySet(t, iss)))
	_, err := verifyWithKeySet(t, iss, before)
	assert.Error(t, err, "a token signed by a retired key")
	_, err = verifyWithKeySet(t, iss, after)
	assert.NoError(t, err)
	assert.NotNil(t, iss.PrivateKey(first), "a retired key is still known")

	iss.Retire(second)
	assert.Empty(t, kids(issuerKeySet(t, iss)))
	assert.Equal(t, second, iss.KeyID(), "retiring the signing key does not change it")
	iss.Retire("unknown")
}

func kids(set jose.JSONWebKeySet) []string {
	ids := []string{}
	for _, k := range set.Keys {
		ids = append(ids, k.KeyID)
	}
	return ids
}

func TestIssuerCountsJWKSFetches(t *testing.T) {
	iss := startIssuer(t, introspecttest.IssuerOpenID, nil)
	assert.Zero(t, iss.JWKSFetches())
	assert.False(t, iss.LastJWKSFetchNoCache())

	for i, tt := range []struct {
		cacheControl []string
		noCache      bool
	}{
		{nil, false},
		{[]string{"no-cache"}, true},
		{[]string{"max-age=0"}, false},
		{[]string{"max-age=0, No-Cache"}, true},
		{[]string{"no-store", "no-cache=\"Set-Cookie\""}, true},
		{[]string{"no-store"}, false},
	} {
		issuerGet(t, iss, iss.JWKSURL(), http.Header{"Cache-Control": tt.cacheControl})
		assert.Equal(t, i+1, iss.JWKSFetches())
		assert.Equal(t, tt.noCache, iss.LastJWKSFetchNoCache(), tt.cacheControl)
	}

	issuerDocument(t, iss, iss.DiscoveryURL())
	assert.Equal(t, 6, iss.JWKSFetches(), "discovery is counted apart")
	assert.Equal(t, 1, iss.DiscoveryFetches())

	iss.SetJWKSFault(introspecttest.Fault{Status: http.StatusBadGateway})
	issuerGet(t, iss, iss.JWKSURL(), http.Header{"Cache-Control": {"no-cache"}})
	assert.Equal(t, 7, iss.JWKSFetches(), "faulty fetches count")
	assert.True(t, iss.LastJWKSFetchNoCache())
}

func TestIssuerJWKSFaults(t *testing.T) {
	iss := startIssuer(t, introspecttest.IssuerADFS, nil)
	fetch := func(client *http.Client) (*http.Response, []byte, error) {
		resp, err := client.Get(iss.JWKSURL())
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp, body, err
	}

	t.Run("5xx", func(t *testing.T) {
		iss.SetJWKSFault(introspecttest.Fault{Status: http.StatusServiceUnavailable, Body: "<html>down</html>", ContentType: "text/html", RetryAfter: "30"})
		resp, body, err := fetch(iss.Client())
		require.NoError(t, err)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Equal(t, "30", resp.Header.Get("Retry-After"))
		assert.Equal(t, "text/html", resp.Header.Get("Content-Type"))
		assert.Empty(t, resp.Header.Get("Cache-Control"), "a fault is not cacheable")
		assert.Equal(t, "<html>down</html>", string(body))
	})
	t.Run("garbage", func(t *testing.T) {
		iss.SetJWKSFault(introspecttest.Fault{Status: http.StatusOK, Body: `{"keys":[{"kty":`})
		resp, body, err := fetch(iss.Client())
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Error(t, json.Unmarshal(body, new(jose.JSONWebKeySet)))
	})
	t.Run("huge", func(t *testing.T) {
		iss.SetJWKSFault(introspecttest.Fault{BodySize: 3 << 20})
		resp, body, err := fetch(iss.Client())
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Len(t, body, 3<<20)
	})
	t.Run("slow", func(t *testing.T) {
		iss.SetJWKSFault(introspecttest.Fault{Delay: time.Minute})
		client := *iss.Client() // a copy: Client returns the server's shared one
		client.Timeout = 50 * time.Millisecond
		_, _, err := fetch(&client)
		assert.Error(t, err)
	})
	t.Run("dropped", func(t *testing.T) {
		iss.SetJWKSFault(introspecttest.Fault{Drop: true})
		_, _, err := fetch(iss.Client())
		assert.Error(t, err)
	})
	t.Run("cleared", func(t *testing.T) {
		iss.SetJWKSFault(introspecttest.Fault{})
		resp, body, err := fetch(iss.Client())
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		var set jose.JSONWebKeySet
		require.NoError(t, json.Unmarshal(body, &set))
		assert.Len(t, set.Keys, 1)
	})
	assert.Equal(t, 6, iss.JWKSFetches())
	assert.Equal(t, iss.URL+"/adfs", issuerDocument(t, iss, iss.DiscoveryURL())["issuer"], "a key set fault leaves discovery alone")
}

func TestIssuerHold(t *testing.T) {
	iss := startIssuer(t, introspecttest.IssuerOpenID, nil)
	iss.Hold()
	const n = 3
	statuses := make(chan int, n)
	for range n {
		go func() {
			resp, err := iss.Client().Get(iss.JWKSURL())
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	require.Eventually(t, func() bool { return iss.Held() == n }, 5*time.Second, time.Millisecond)
	assert.Equal(t, n, iss.JWKSFetches(), "held requests are counted on arrival")
	issuerDocument(t, iss, iss.DiscoveryURL()) // discovery is not held

	iss.SetJWKSFault(introspecttest.Fault{Status: http.StatusTooManyRequests})
	iss.Release()
	for range n {
		assert.Equal(t, http.StatusTooManyRequests, <-statuses, "the fault at release applies")
	}
	assert.Zero(t, iss.Held())
}

func TestIssuerHostileTokens(t *testing.T) {
	iss := startIssuer(t, introspecttest.IssuerOpenID, nil)
	c := introspecttest.JWT{ClientID: "38890", Audience: []string{"https://api.example"}, Scopes: []string{"gipod_pdo_read"}}
	rsaPub := iss.PrivateKey(iss.KeyID()).Public()

	t.Run("alg none", func(t *testing.T) {
		h := iss.Header(c)
		h["alg"] = "none"
		token, err := introspecttest.SignJWT(h, iss.Claims(c), nil)
		require.NoError(t, err)
		assert.True(t, strings.HasSuffix(token, "."), "the signature is empty")
		header, claims := decodeJWT(t, token)
		assert.Equal(t, map[string]any{"alg": "none", "kid": iss.KeyID(), "typ": "JWT"}, header)
		assert.Equal(t, "38890", claims["client_id"])
		_, err = verifyWithKeySet(t, iss, token)
		assert.Error(t, err)
	})
	t.Run("HS256 keyed with the public key", func(t *testing.T) {
		der, err := x509.MarshalPKIXPublicKey(rsaPub)
		require.NoError(t, err)
		secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		h := iss.Header(c)
		h["alg"] = "HS256"
		token, err := introspecttest.SignJWT(h, iss.Claims(c), secret)
		require.NoError(t, err)

		tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.HS256})
		require.NoError(t, err)
		var claims map[string]any
		require.NoError(t, tok.Claims(secret, &claims), "an HMAC over the PEM, as the attack needs")
		_, err = verifyWithKeySet(t, iss, token)
		assert.Error(t, err)
	})
	t.Run("stripped signature", func(t *testing.T) {
		token := iss.IssueJWT(c)
		stripped := token[:strings.LastIndexByte(token, '.')+1]
		_, err := verifyWithKeySet(t, iss, stripped)
		assert.Error(t, err)
	})
	t.Run("kid naming a key of another type", func(t *testing.T) {
		ecKID := iss.PublishKey("ES256")
		token := iss.IssueJWT(introspecttest.JWT{KeyID: ecKID})
		header, _ := decodeJWT(t, token)
		assert.Equal(t, "RS256", header["alg"])
		assert.Equal(t, ecKID, header["kid"])
		_, err := verifyWithKeySet(t, iss, token)
		assert.Error(t, err)
		tok, err := jwt.ParseSigned(token, asymmetric)
		require.NoError(t, err)
		assert.NoError(t, tok.Claims(rsaPub, new(map[string]any)), "signed by the RSA key")

		// And the other way round: a published EC key, signing a token the
		// issuer's algorithm list would not allow.
		h := iss.Header(c)
		h["alg"], h["kid"] = "ES256", ecKID
		token, err = introspecttest.SignJWT(h, iss.Claims(c), iss.PrivateKey(ecKID))
		require.NoError(t, err)
		_, err = verifyWithKeySet(t, iss, token)
		assert.NoError(t, err)
	})
	t.Run("header members pointing elsewhere", func(t *testing.T) {
		attacker := map[string]any{"kty": "oct", "k": "c2VjcmV0"}
		token := iss.IssueJWT(introspecttest.JWT{Type: "at+jwt", Header: map[string]any{
			"jku":  "https://attacker.example/jwks.json",
			"x5u":  "https://attacker.example/cert.pem",
			"jwk":  attacker,
			"crit": []string{"exp"},
			"exp":  1,
		}})
		header, _ := decodeJWT(t, token)
		assert.Equal(t, map[string]any{
			"alg": "RS256", "kid": iss.KeyID(), "typ": "at+jwt",
			"jku": "https://attacker.example/jwks.json", "x5u": "https://attacker.example/cert.pem",
			"jwk": attacker, "crit": []any{"exp"}, "exp": float64(1),
		}, header)
	})
	t.Run("header lies about alg", func(t *testing.T) {
		header, _ := decodeJWT(t, iss.IssueJWT(introspecttest.JWT{Header: map[string]any{"alg": "RS512"}}))
		assert.Equal(t, "RS512", header["alg"])
		header, _ = decodeJWT(t, iss.IssueJWT(introspecttest.JWT{Header: map[string]any{"alg": nil, "typ": nil}}))
		assert.Equal(t, map[string]any{"kid": iss.KeyID()}, header)
	})
	t.Run("unpublished key", func(t *testing.T) {
		token := iss.IssueUnpublished(c)
		header, claims := decodeJWT(t, token)
		kid := header["kid"].(string)
		assert.NotContains(t, kids(issuerKeySet(t, iss)), kid)
		assert.Equal(t, iss.Claims(c)["iss"], claims["iss"])
		_, err := verifyWithKeySet(t, iss, token)
		assert.Error(t, err)
		tok, err := jwt.ParseSigned(token, asymmetric)
		require.NoError(t, err)
		assert.NoError(t, tok.Claims(iss.PrivateKey(kid).Public(), new(map[string]any)))

		again, _ := decodeJWT(t, iss.IssueUnpublished(c))
		assert.Equal(t, kid, again["kid"], "the same unpublished key every time")

		token = iss.IssueUnpublished(introspecttest.JWT{KeyID: iss.KeyID()})
		_, err = verifyWithKeySet(t, iss, token)
		assert.Error(t, err, "a published kid on a token it did not sign")
	})
	t.Run("SignJWT refuses", func(t *testing.T) {
		_, err := introspecttest.SignJWT(map[string]any{"typ": "JWT"}, nil, nil)
		assert.ErrorContains(t, err, `no string "alg"`)
		_, err = introspecttest.SignJWT(map[string]any{"alg": "HS256"}, nil, []byte("short"))
		assert.Error(t, err)
		_, err = introspecttest.SignJWT(map[string]any{"alg": "RS256"}, map[string]any{"x": func() {}}, iss.PrivateKey(iss.KeyID()))
		assert.ErrorContains(t, err, "encoding the claims")
	})
}

func TestIssuerStartRefusesBadConfiguration(t *testing.T) {
	for name, configure := range map[string]func(*introspecttest.Issuer){
		"algorithm": func(iss *introspecttest.Issuer) { iss.Algorithm = "HS256" },
		"tenant":    func(iss *introspecttest.Issuer) { iss.TenantID = "a/b" },
		"mode":      func(iss *introspecttest.Issuer) { iss.Mode = 9 },
	} {
		t.Run(name, func(t *testing.T) {
			iss := introspecttest.NewUnstartedIssuer()
			defer iss.Close()
			configure(iss)
			assert.Panics(t, iss.Start)
		})
	}
	iss := introspecttest.NewIssuer()
	defer iss.Close()
	assert.Panics(t, iss.Start, "a second Start")
	assert.Panics(t, func() { iss.PublishKey("EdDSA") })
}

func TestIssuerConcurrentUse(t *testing.T) {
	iss := startIssuer(t, introspecttest.IssuerEntraV2, func(iss *introspecttest.Issuer) { iss.Algorithm = "ES256" })
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 20 {
				_ = iss.IssueJWT(introspecttest.JWT{Roles: []string{"Adress.Lezen"}})
				resp, err := iss.Client().Get(iss.JWKSURL())
				if err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	for range 5 {
		old := iss.KeyID()
		iss.Rotate()
		iss.Retire(old)
		iss.SetJWKSFault(introspecttest.Fault{})
		_ = iss.IssueUnpublished(introspecttest.JWT{})
	}
	for range 4 {
		<-done
	}
	assert.Equal(t, 80, iss.JWKSFetches())
	assert.Len(t, issuerKeySet(t, iss).Keys, 1)
}

func TestIssuerCloseLeavesNoGoroutines(t *testing.T) {
	ignore := goleak.IgnoreCurrent()

	iss := introspecttest.NewIssuer()
	slow := introspecttest.NewIssuer()
	slow.SetJWKSFault(introspecttest.Fault{Delay: time.Hour})
	iss.Hold()
	errs := make(chan error, 2)
	for _, s := range []*introspecttest.Issuer{iss, slow} {
		go func() {
			resp, err := s.Client().Get(s.JWKSURL())
			if err == nil {
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	require.Eventually(t, func() bool { return iss.Held() == 1 && slow.JWKSFetches() == 1 }, 5*time.Second, time.Millisecond)

	iss.Close() // releases the held answer
	slow.Close()
	for range 2 {
		<-errs // answered or cut off, but done
	}
	assert.NoError(t, goleak.Find(ignore))
}
