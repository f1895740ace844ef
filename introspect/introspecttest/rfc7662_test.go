package introspecttest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect/introspecttest"
)

// postIntrospect posts form to the introspection endpoint, with basic
// credentials when id is not empty, and returns the status and the decoded
// answer.
func postIntrospect(t *testing.T, srv *introspecttest.Server, form url.Values, id, secret string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.IntrospectionURL(), strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var answer map[string]any
	require.NoError(t, json.Unmarshal(body, &answer), string(body))
	return resp.StatusCode, answer
}

func TestServerIntrospect(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	srv := introspecttest.NewUnstartedServer()
	srv.Now = func() time.Time { return now }
	srv.Start()
	defer srv.Close()

	token := srv.IssueToken(introspecttest.Token{
		Scopes: []string{"dv_ar_adres_beheer", "vo_info"}, ClientID: "c1", Audience: []string{"api"}, Subject: "u1",
		ExpiresAt: now.Add(time.Hour), Claims: map[string]any{"vo_ovocode": "OVO002949"},
	})
	status, answer := postIntrospect(t, srv, url.Values{"token": {token}}, "demo-client", "demo-secret")
	assert.Equal(t, 200, status)
	assert.Equal(t, map[string]any{
		"active": true, "scope": "dv_ar_adres_beheer vo_info", "client_id": "c1", "aud": "api", "sub": "u1",
		"iss": srv.Issuer(), "token_type": "Bearer", "exp": float64(now.Add(time.Hour).Unix()), "iat": float64(now.Unix()),
		"vo_ovocode": "OVO002949",
	}, answer)

	status, answer = postIntrospect(t, srv, url.Values{"token": {"unknown"}}, "demo-client", "demo-secret")
	assert.Equal(t, 200, status)
	assert.Equal(t, map[string]any{"active": false}, answer)

	srv.RevokeToken(token)
	_, answer = postIntrospect(t, srv, url.Values{"token": {token}}, "demo-client", "demo-secret")
	assert.Equal(t, false, answer["active"])
	assert.Equal(t, 2, srv.Calls(token))

	status, answer = postIntrospect(t, srv, url.Values{"token": {token}}, "demo-client", "wrong")
	assert.Equal(t, 401, status)
	assert.Equal(t, "invalid_client", answer["error"])
	status, _ = postIntrospect(t, srv, url.Values{"token": {token}}, "", "")
	assert.Equal(t, 401, status, "no client authentication at all")
}

func TestServerDiscovery(t *testing.T) {
	srv := introspecttest.NewServer()
	defer srv.Close()
	resp, err := srv.Client().Get(srv.Issuer() + "/.well-known/openid-configuration")
	require.NoError(t, err)
	defer resp.Body.Close()
	var doc map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	assert.Equal(t, srv.Issuer(), doc["issuer"])
	assert.Equal(t, srv.IntrospectionURL(), doc["introspection_endpoint"])
	assert.Equal(t, 1, srv.DiscoveryCalls())
	assert.Zero(t, srv.TotalCalls())
}

// assertionServer returns a server on a frozen clock with client "jwt-client"
// registered for key.
func assertionServer(t *testing.T, key *ecdsa.PrivateKey) (*introspecttest.Server, time.Time) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	srv := introspecttest.NewUnstartedServer()
	srv.Now = func() time.Time { return now }
	srv.Start()
	t.Cleanup(srv.Close)
	srv.AddClient(introspecttest.Client{ID: "jwt-client", Key: key.Public()})
	return srv, now
}

func sign(t *testing.T, key *ecdsa.PrivateKey, claims any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	require.NoError(t, err)
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	require.NoError(t, err)
	return s
}

func assertionForm(token, assertion string) url.Values {
	return url.Values{
		"token":                 {token},
		"client_id":             {"jwt-client"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
}

func TestServerChecksClientAssertions(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	srv, now := assertionServer(t, key)
	token := srv.IssueToken(introspecttest.Token{})

	valid := func() jwt.Claims {
		return jwt.Claims{
			Issuer: "jwt-client", Subject: "jwt-client", Audience: jwt.Audience{srv.Issuer()},
			ID: introspecttest.NewToken(), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)),
		}
	}
	status, answer := postIntrospect(t, srv, assertionForm(token, sign(t, key, valid())), "", "")
	require.Equal(t, 200, status, answer)
	assert.Equal(t, true, answer["active"])

	t.Run("replayed jti", func(t *testing.T) {
		assertion := sign(t, key, valid())
		status, _ := postIntrospect(t, srv, assertionForm(token, assertion), "", "")
		require.Equal(t, 200, status)
		status, answer := postIntrospect(t, srv, assertionForm(token, assertion), "", "")
		assert.Equal(t, 401, status)
		assert.Contains(t, answer["error_description"], "jti")
	})

	refused := map[string]struct {
		reason string
		spoil  func(c *jwt.Claims) (signWith *ecdsa.PrivateKey)
	}{
		"wrong key": {"signature", func(c *jwt.Claims) *ecdsa.PrivateKey { return otherKey }},
		"expired": {"expired", func(c *jwt.Claims) *ecdsa.PrivateKey {
			c.Expiry = jwt.NewNumericDate(now.Add(-time.Minute))
			return key
		}},
		"exp too far ahead": {"10 minutes", func(c *jwt.Claims) *ecdsa.PrivateKey {
			c.Expiry = jwt.NewNumericDate(now.Add(11 * time.Minute))
			return key
		}},
		"no exp":                {"no exp", func(c *jwt.Claims) *ecdsa.PrivateKey { c.Expiry = nil; return key }},
		"no jti":                {"no jti", func(c *jwt.Claims) *ecdsa.PrivateKey { c.ID = ""; return key }},
		"aud is the endpoint":   {"aud", func(c *jwt.Claims) *ecdsa.PrivateKey { c.Audience = jwt.Audience{srv.IntrospectionURL()}; return key }},
		"sub is another client": {"sub", func(c *jwt.Claims) *ecdsa.PrivateKey { c.Subject = "demo-client"; return key }},
		"unknown client":        {"unknown client", func(c *jwt.Claims) *ecdsa.PrivateKey { c.Issuer, c.Subject = "nobody", "nobody"; return key }},
		"client without a key":  {"no key", func(c *jwt.Claims) *ecdsa.PrivateKey { c.Issuer, c.Subject = "demo-client", "demo-client"; return key }},
		"issued in the future": {"iat", func(c *jwt.Claims) *ecdsa.PrivateKey {
			c.IssuedAt = jwt.NewNumericDate(now.Add(time.Minute))
			return key
		}},
		"not valid before later": {"not valid yet", func(c *jwt.Claims) *ecdsa.PrivateKey {
			c.NotBefore = jwt.NewNumericDate(now.Add(time.Minute))
			return key
		}},
	}
	for name, tt := range refused {
		t.Run(name, func(t *testing.T) {
			claims := valid()
			signWith := tt.spoil(&claims)
			form := assertionForm(token, sign(t, signWith, claims))
			form.Set("client_id", claims.Issuer)
			status, answer := postIntrospect(t, srv, form, "", "")
			assert.Equal(t, 401, status)
			assert.Equal(t, "invalid_client", answer["error"])
			assert.Contains(t, answer["error_description"], tt.reason)
		})
	}

	t.Run("client_id differs from iss", func(t *testing.T) {
		form := assertionForm(token, sign(t, key, valid()))
		form.Set("client_id", "demo-client")
		status, _ := postIntrospect(t, srv, form, "", "")
		assert.Equal(t, 401, status)
	})
	t.Run("two methods at once", func(t *testing.T) {
		status, _ := postIntrospect(t, srv, assertionForm(token, sign(t, key, valid())), "demo-client", "demo-secret")
		assert.Equal(t, 401, status)
	})
	t.Run("unsigned", func(t *testing.T) {
		status, _ := postIntrospect(t, srv, assertionForm(token, "eyJhbGciOiJub25lIn0.eyJpc3MiOiJqd3QtY2xpZW50In0."), "", "")
		assert.Equal(t, 401, status)
	})
}

func TestServerClientSecretPost(t *testing.T) {
	srv := introspecttest.NewServer()
	defer srv.Close()
	token := srv.IssueToken(introspecttest.Token{})
	form := url.Values{"token": {token}, "client_id": {"demo-client"}, "client_secret": {"demo-secret"}}
	status, answer := postIntrospect(t, srv, form, "", "")
	assert.Equal(t, 200, status)
	assert.Equal(t, true, answer["active"])
	form.Set("client_secret", "demo-secret ")
	status, _ = postIntrospect(t, srv, form, "", "")
	assert.Equal(t, 401, status)
}

func TestServerScopeAsArray(t *testing.T) {
	srv := introspecttest.NewUnstartedServer()
	srv.ScopeAsArray = true
	srv.Start()
	defer srv.Close()
	token := srv.IssueToken(introspecttest.Token{Scopes: []string{"a", "b"}})
	_, answer := postIntrospect(t, srv, url.Values{"token": {token}}, "demo-client", "demo-secret")
	assert.Equal(t, []any{"a", "b"}, answer["scope"])
}

// TestServerCredentialManager: as ACM/IDM, the introspection endpoint sends
// "credential_manager" only when the request has
// token_endpoint_auth=credential_manager.
func TestServerCredentialManager(t *testing.T) {
	srv := introspecttest.NewServer()
	defer srv.Close()
	cm := map[string]any{"code": "DV", "name": "Digitaal Vlaanderen"}
	token := srv.IssueToken(introspecttest.Token{Claims: map[string]any{"vo_id": "u1", "credential_manager": cm}})

	_, answer := postIntrospect(t, srv, url.Values{"token": {token}}, "demo-client", "demo-secret")
	assert.NotContains(t, answer, "credential_manager")
	assert.Equal(t, "u1", answer["vo_id"])

	_, answer = postIntrospect(t, srv, url.Values{"token": {token}, "token_endpoint_auth": {"credential_manager"}}, "demo-client", "demo-secret")
	assert.Equal(t, cm, answer["credential_manager"])
}
