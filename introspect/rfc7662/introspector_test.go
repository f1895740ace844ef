package rfc7662_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/rfc7662"
	"github.com/tokengate/tokengate/scopes"
)

// Keys are slow to make, so the tests share a few.
var (
	rsaKey   = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	otherKey = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	ecKey    = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// newOP starts a fake OpenID Provider on clock with a client "rs-jwt" that
// authenticates with rsaKey and one "rs-ec" with ecKey, besides the default
// "demo-client" with secret "demo-secret".
func newOP(t *testing.T, clock *testutil.Clock) *introspecttest.Server {
	t.Helper()
	srv := introspecttest.NewUnstartedServer()
	srv.Now = clock.Now
	srv.Start()
	t.Cleanup(srv.Close)
	srv.AddClient(introspecttest.Client{ID: "rs-jwt", Key: rsaKey().Public()})
	srv.AddClient(introspecttest.Client{ID: "rs-ec", Key: ecKey().Public()})
	return srv
}

// retryAfter returns the Retry-After an *introspect.UnavailableError
// carries, and whether it carries one.
func retryAfter(err error) (time.Duration, bool) {
	var ue *introspect.UnavailableError
	if errors.As(err, &ue) && ue.RetryAfter > 0 {
		return ue.RetryAfter, true
	}
	return 0, false
}

func newIntrospector(t *testing.T, cfg rfc7662.Config) *rfc7662.Introspector {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	in, err := rfc7662.New(cfg)
	require.NoError(t, err)
	return in
}

func TestIntrospectorClientAuthentication(t *testing.T) {
	clock := testutil.NewClock()
	srv := newOP(t, clock)
	srv.AddClient(introspecttest.Client{ID: "id:with space/+", Secret: "p@ss:w/rd+%"})

	methods := map[string]rfc7662.Config{
		"client_secret_basic":            {ClientID: "demo-client", ClientSecret: "demo-secret"},
		"basic with reserved characters": {ClientID: "id:with space/+", ClientSecret: "p@ss:w/rd+%"},
		"client_secret_post":             {ClientID: "demo-client", ClientSecret: "demo-secret", AuthMethod: rfc7662.ClientSecretPost},
		"post with reserved characters":  {ClientID: "id:with space/+", ClientSecret: "p@ss:w/rd+%", AuthMethod: rfc7662.ClientSecretPost},
		"private_key_jwt RSA":            {ClientID: "rs-jwt", ClientKey: &rfc7662.SigningKey{Key: rsaKey(), KeyID: "k1"}},
		"private_key_jwt PS256":          {ClientID: "rs-jwt", ClientKey: &rfc7662.SigningKey{Key: rsaKey(), Algorithm: "PS256"}},
		"private_key_jwt EC":             {ClientID: "rs-ec", ClientKey: &rfc7662.SigningKey{Key: ecKey()}, AuthMethod: rfc7662.PrivateKeyJWT},
	}
	for name, cfg := range methods {
		t.Run(name, func(t *testing.T) {
			cfg.Issuer = srv.Issuer()
			cfg.Now = clock.Now
			in := newIntrospector(t, cfg)
			token := srv.IssueToken(introspecttest.Token{
				Scopes:    []string{"gipod_pdo_read", "vo_info"},
				ClientID:  "38890",
				Audience:  []string{"gipod-api"},
				Subject:   "user-1",
				ExpiresAt: clock.Now().Add(time.Hour),
				Claims:    map[string]any{"vo_id": "d6b5a1f4", "vo_orgcode": "OVO002949"},
			})
			for range 3 { // every call authenticates afresh: no jti is reused
				info, err := in.Verify(context.Background(), token)
				require.NoError(t, err)
				assert.Equal(t, &introspect.TokenInfo{
					Active: true, Scopes: scopes.New("gipod_pdo_read", "vo_info"), ClientID: "38890",
					Audience: []string{"gipod-api"}, Subject: "user-1", Issuer: srv.Issuer(), TokenType: "Bearer",
					ExpiresAt: clock.Now().Add(time.Hour).Local(), IssuedAt: clock.Now().Local(),
					Claims: map[string]any{"vo_id": "d6b5a1f4", "vo_orgcode": "OVO002949"},
				}, info)
			}

			_, err := in.Verify(context.Background(), introspecttest.NewToken())
			assert.ErrorIs(t, err, introspect.ErrInvalidToken)
		})
	}
	assert.Equal(t, len(methods), srv.DiscoveryCalls(), "one discovery per introspector, however many calls")
}

func TestIntrospectorRefusedCredentialsAreUnavailable(t *testing.T) {
	clock := testutil.NewClock()
	srv := newOP(t, clock)
	token := srv.IssueToken(introspecttest.Token{})

	behind := func() time.Time { return clock.Now().Add(-20 * time.Minute) }
	cases := map[string]rfc7662.Config{
		"wrong secret":        {ClientID: "demo-client", ClientSecret: "nope"},
		"unknown client":      {ClientID: "nobody", ClientSecret: "demo-secret", AuthMethod: rfc7662.ClientSecretPost},
		"wrong key":           {ClientID: "rs-jwt", ClientKey: &rfc7662.SigningKey{Key: otherKey()}},
		"key of other client": {ClientID: "rs-jwt", ClientKey: &rfc7662.SigningKey{Key: ecKey()}},
		"expired assertion":   {ClientID: "rs-jwt", ClientKey: &rfc7662.SigningKey{Key: rsaKey()}, Now: behind},
		"assertion aud is the endpoint": {ClientID: "rs-jwt", ClientKey: &rfc7662.SigningKey{Key: rsaKey()},
			AssertionAudience: srv.IntrospectionURL()},
		"secret for a key-only client": {ClientID: "rs-jwt", ClientSecret: "demo-secret"},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			cfg.Endpoint = srv.IntrospectionURL()
			if cfg.Now == nil {
				cfg.Now = clock.Now
			}
			in := newIntrospector(t, cfg)
			before := srv.Calls(token)
			_, err := in.Verify(context.Background(), token)
			require.ErrorIs(t, err, introspect.ErrUnavailable)
			assert.NotErrorIs(t, err, introspect.ErrInvalidToken, "our own bad credentials must not condemn the token")
			var ue *introspect.UnavailableError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, http.StatusUnauthorized, ue.StatusCode)
			assert.Equal(t, before+1, srv.Calls(token))
		})
	}
}

func TestIntrospectorAssertionAudienceEndpoint(t *testing.T) {
	clock := testutil.NewClock()
	srv := introspecttest.NewUnstartedServer()
	srv.Now = clock.Now
	srv.AssertionAudience = "" // set after Start, when the URL is known
	srv.Start()
	defer srv.Close()
	srv.AssertionAudience = srv.IntrospectionURL()
	srv.AddClient(introspecttest.Client{ID: "rs-jwt", Key: rsaKey().Public()})
	token := srv.IssueToken(introspecttest.Token{})

	in := newIntrospector(t, rfc7662.Config{
		Issuer: srv.Issuer(), ClientID: "rs-jwt", ClientKey: &rfc7662.SigningKey{Key: rsaKey()},
		AssertionAudience: srv.IntrospectionURL(), Now: clock.Now,
	})
	_, err := in.Verify(context.Background(), token)
	assert.NoError(t, err)

	// Without an issuer the endpoint is the audience by default.
	in = newIntrospector(t, rfc7662.Config{
		Endpoint: srv.IntrospectionURL(), ClientID: "rs-jwt", ClientKey: &rfc7662.SigningKey{Key: rsaKey()}, Now: clock.Now,
	})
	_, err = in.Verify(context.Background(), token)
	assert.NoError(t, err)
}

// captured is one request as an endpoint received it.
type captured struct {
	header http.Header
	form   url.Values
}

// recorder answers every introspection with an active token and keeps what
// it received.
func recorder(t *testing.T) (*httptest.Server, func() []captured) {
	var mu sync.Mutex
	var got []captured
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		mu.Lock()
		got = append(got, captured{r.Header.Clone(), r.PostForm})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"active":true}`))
	}))
	t.Cleanup(ts.Close)
	return ts, func() []captured {
		mu.Lock()
		defer mu.Unlock()
		return append([]captured(nil), got...)
	}
}

func TestIntrospectorRequest(t *testing.T) {
	clock := testutil.NewClock()
	ts, got := recorder(t)
	const issuer = "https://authenticatie-ti.vlaanderen.be/op"

	t.Run("client_secret_basic", func(t *testing.T) {
		in := newIntrospector(t, rfc7662.Config{Issuer: issuer, Endpoint: ts.URL, ClientID: "a b", ClientSecret: "s:é"})
		_, err := in.Verify(context.Background(), "tok")
		require.NoError(t, err)
		req := got()[len(got())-1]
		assert.Equal(t, url.Values{"token": {"tok"}, "token_type_hint": {"access_token"}}, req.form)
		assert.Equal(t, "application/x-www-form-urlencoded", req.header.Get("Content-Type"))
		// RFC 6749 §2.3.1: form-url-encode, then Basic.
		r := &http.Request{Header: req.header}
		id, secret, ok := r.BasicAuth()
		require.True(t, ok)
		assert.Equal(t, "a+b", id)
		assert.Equal(t, "s%3A%C3%A9", secret)
	})

	t.Run("private_key_jwt", func(t *testing.T) {
		in := newIntrospector(t, rfc7662.Config{Issuer: issuer, Endpoint: ts.URL, ClientID: "rs-jwt",
			ClientKey: &rfc7662.SigningKey{Key: rsaKey(), KeyID: "key-2026"}, Now: clock.Now})
		var jtis []string
		for range 2 {
			_, err := in.Verify(context.Background(), "tok")
			require.NoError(t, err)
			req := got()[len(got())-1]
			assert.Empty(t, req.header.Get("Authorization"))
			assert.Equal(t, "rs-jwt", req.form.Get("client_id"))
			assert.Equal(t, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", req.form.Get("client_assertion_type"))

			jws, err := jose.ParseSignedCompact(req.form.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256})
			require.NoError(t, err, "RS256 by default")
			assert.Equal(t, "key-2026", jws.Signatures[0].Header.KeyID)
			payload, err := jws.Verify(rsaKey().Public())
			require.NoError(t, err)
			var claims map[string]any
			require.NoError(t, json.Unmarshal(payload, &claims))
			assert.Equal(t, "rs-jwt", claims["iss"])
			assert.Equal(t, "rs-jwt", claims["sub"])
			assert.Equal(t, issuer, claims["aud"], "ACM wants the issuer as audience")
			assert.InDelta(t, clock.Now().Unix(), claims["iat"], 0)
			assert.InDelta(t, clock.Now().Add(rfc7662.DefaultAssertionLifetime).Unix(), claims["exp"], 0)
			jtis = append(jtis, claims["jti"].(string))
		}
		assert.NotEqual(t, jtis[0], jtis[1], "every assertion has a fresh jti")
	})
}

// TestIntrospectorCredentialManager: with Config.CredentialManager, every
// request carries ACM/IDM's token_endpoint_auth=credential_manager, and the
// answer's "credential_manager" reaches TokenInfo.VO; without it, neither.
func TestIntrospectorCredentialManager(t *testing.T) {
	clock := testutil.NewClock()
	srv := newOP(t, clock)
	dv := introspect.CredentialManager{Code: "DV", Name: "Digitaal Vlaanderen"}
	token := srv.IssueToken(introspecttest.Token{
		Scopes: []string{"vo_info"},
		Claims: map[string]any{"vo_id": "d6b5a1f4", "credential_manager": map[string]any{"code": dv.Code, "name": dv.Name}},
	})
	for _, tc := range []struct {
		name string
		on   bool
		want introspect.CredentialManager
	}{
		{"asked for", true, dv},
		{"not asked for", false, introspect.CredentialManager{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newIntrospector(t, rfc7662.Config{Issuer: srv.Issuer(), ClientID: "demo-client", ClientSecret: "demo-secret",
				CredentialManager: tc.on, Now: clock.Now})
			info, err := in.Verify(context.Background(), token)
			require.NoError(t, err)
			assert.Equal(t, tc.want, info.VO().CredentialManager)
			assert.Equal(t, "d6b5a1f4", info.VO().ID, "the other claims arrive either way")
			_, has := info.Claim("credential_manager")
			assert.Equal(t, tc.on, has)
		})
	}

	ts, got := recorder(t)
	for _, tc := range []struct {
		cfg  rfc7662.Config
		want url.Values
	}{
		{rfc7662.Config{Endpoint: ts.URL, ClientID: "c", ClientSecret: "s", CredentialManager: true},
			url.Values{"token": {"tok"}, "token_type_hint": {"access_token"}, "token_endpoint_auth": {"credential_manager"}}},
		{rfc7662.Config{Endpoint: ts.URL, ClientID: "c", ClientSecret: "s", AuthMethod: rfc7662.ClientSecretPost, CredentialManager: true},
			url.Values{"token": {"tok"}, "token_type_hint": {"access_token"}, "token_endpoint_auth": {"credential_manager"},
				"client_id": {"c"}, "client_secret": {"s"}}},
		{rfc7662.Config{Endpoint: ts.URL, ClientID: "c", ClientSecret: "s"},
			url.Values{"token": {"tok"}, "token_type_hint": {"access_token"}}},
	} {
		in := newIntrospector(t, tc.cfg)
		_, err := in.Verify(context.Background(), "tok")
		require.NoError(t, err)
		assert.Equal(t, tc.want, got()[len(got())-1].form, "%v", tc.cfg)
	}
}

func TestIntrospectorDiscovery(t *testing.T) {
	clock := testutil.NewClock()
	srv := newOP(t, clock)
	token := srv.IssueToken(introspecttest.Token{})
	in := newIntrospector(t, rfc7662.Config{Issuer: srv.Issuer(), ClientID: "demo-client", ClientSecret: "demo-secret", Now: clock.Now})

	srv.SetDiscoveryFault(introspecttest.Fault{Status: http.StatusServiceUnavailable, Body: "<html>down</html>", ContentType: "text/html"})
	_, err := in.Verify(context.Background(), token)
	require.ErrorIs(t, err, introspect.ErrUnavailable)
	assert.Contains(t, err.Error(), "discovery")
	assert.Equal(t, 1, srv.DiscoveryCalls())
	assert.Zero(t, srv.Calls(token))

	// Until the next attempt the failure is remembered, with a Retry-After.
	srv.SetDiscoveryFault(introspecttest.Fault{})
	_, err = in.Verify(context.Background(), token)
	require.ErrorIs(t, err, introspect.ErrUnavailable)
	retry, ok := retryAfter(err)
	assert.True(t, ok)
	assert.Equal(t, time.Second, retry)
	assert.Equal(t, 1, srv.DiscoveryCalls())

	// After it, discovery is tried again, and its success is kept.
	clock.Advance(retry)
	for range 3 {
		_, err = in.Verify(context.Background(), token)
		require.NoError(t, err)
	}
	assert.Equal(t, 2, srv.DiscoveryCalls())
	endpoint, err := in.Endpoint(context.Background())
	require.NoError(t, err)
	assert.Equal(t, srv.IntrospectionURL(), endpoint)
}

// discoveryStep moves the clock by advance, then asks an Introspector
// whose discovery keeps failing; the provider must have been asked calls
// times in all, and the failure must say Retry-After: retry.
type discoveryStep struct {
	advance time.Duration
	calls   int
	retry   time.Duration
}

func TestIntrospectorDiscoveryBackoff(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name       string
		maxRetry   time.Duration
		retryAfter string // the provider's Retry-After
		steps      []discoveryStep
	}{
		{name: "doubles up to the default", steps: []discoveryStep{
			{0, 1, time.Second},
			{0, 1, time.Second},
			{400 * ms, 1, time.Second}, // 600 ms left, rounded up
			{600 * ms, 2, 2 * time.Second},
			{1500 * ms, 2, time.Second},
			{500 * ms, 3, 4 * time.Second},
			{4 * time.Second, 4, 8 * time.Second},
			{8 * time.Second, 5, rfc7662.DefaultDiscoveryRetry},
			{rfc7662.DefaultDiscoveryRetry, 6, rfc7662.DefaultDiscoveryRetry},
			{rfc7662.DefaultDiscoveryRetry - 1500*ms, 6, 2 * time.Second},
			{1500 * ms, 7, rfc7662.DefaultDiscoveryRetry},
		}},
		{name: "configured cap", maxRetry: 3 * time.Second, steps: []discoveryStep{
			{0, 1, time.Second},
			{time.Second, 2, 2 * time.Second},
			{2 * time.Second, 3, 3 * time.Second},
			{3 * time.Second, 4, 3 * time.Second},
		}},
		{name: "cap under a second", maxRetry: 300 * ms, steps: []discoveryStep{
			{0, 1, time.Second},
			{200 * ms, 1, time.Second},
			{100 * ms, 2, time.Second},
		}},
		{name: "provider asks for longer", retryAfter: "3", steps: []discoveryStep{
			{0, 1, 3 * time.Second},
			{2 * time.Second, 1, time.Second},
			{time.Second, 2, 3 * time.Second},
			{3 * time.Second, 3, 4 * time.Second},
		}},
		{name: "provider asks for too long", retryAfter: "120", steps: []discoveryStep{
			{0, 1, rfc7662.DefaultDiscoveryRetry},
			{rfc7662.DefaultDiscoveryRetry, 2, rfc7662.DefaultDiscoveryRetry},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := testutil.NewClock()
			srv := newOP(t, clock)
			srv.SetDiscoveryFault(introspecttest.Fault{Status: http.StatusServiceUnavailable, RetryAfter: tt.retryAfter})
			in := newIntrospector(t, rfc7662.Config{Issuer: srv.Issuer(), ClientID: "demo-client",
				ClientSecret: "demo-secret", Now: clock.Now, DiscoveryRetry: tt.maxRetry})
			for i, step := range tt.steps {
				clock.Advance(step.advance)
				_, err := in.Verify(context.Background(), "tok")
				require.ErrorIs(t, err, introspect.ErrUnavailable, "step %d", i)
				assert.Equal(t, step.calls, srv.DiscoveryCalls(), "step %d: discovery requests", i)
				retry, ok := retryAfter(err)
				assert.True(t, ok, "step %d: no Retry-After", i)
				assert.Equal(t, step.retry, retry, "step %d: Retry-After", i)
			}
		})
	}
}

func TestIntrospectorDiscoveryRecoversAfterBackoff(t *testing.T) {
	clock := testutil.NewClock()
	srv := newOP(t, clock)
	srv.SetDiscoveryFault(introspecttest.Fault{Status: http.StatusBadGateway})
	in := newIntrospector(t, rfc7662.Config{Issuer: srv.Issuer(), ClientID: "demo-client",
		ClientSecret: "demo-secret", Now: clock.Now})
	for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		_, err := in.Verify(context.Background(), "tok")
		retry, _ := retryAfter(err)
		require.Equal(t, wait, retry)
		clock.Advance(wait)
	}
	srv.SetDiscoveryFault(introspecttest.Fault{})
	_, err := in.Endpoint(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 4, srv.DiscoveryCalls())
}

func TestIntrospectorExplicitEndpointSkipsDiscovery(t *testing.T) {
	clock := testutil.NewClock()
	srv := newOP(t, clock)
	token := srv.IssueToken(introspecttest.Token{})
	in := newIntrospector(t, rfc7662.Config{Issuer: srv.Issuer(), Endpoint: srv.IntrospectionURL(),
		ClientID: "demo-client", ClientSecret: "demo-secret", Now: clock.Now})
	_, err := in.Verify(context.Background(), token)
	require.NoError(t, err)
	assert.Zero(t, srv.DiscoveryCalls())
}

func TestIntrospectorDiscoveryDocumentChecks(t *testing.T) {
	clock := testutil.NewClock()
	srv := newOP(t, clock)
	docs := map[string]string{
		"other issuer":       `{"issuer":"https://evil.example/op","introspection_endpoint":"` + srv.IntrospectionURL() + `"}`,
		"no endpoint":        `{"issuer":"%s"}`,
		"http endpoint":      `{"issuer":"%s","introspection_endpoint":"http://example.com/introspect"}`,
		"not JSON":           `<html></html>`,
		"wrong member types": `{"issuer":"%s","introspection_endpoint":7}`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			var issuer string
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "/op/.well-known/openid-configuration", r.URL.Path)
				body := doc
				if strings.Contains(doc, "%s") {
					body = fmt.Sprintf(doc, issuer)
				}
				_, _ = w.Write([]byte(body))
			}))
			defer ts.Close()
			issuer = ts.URL + "/op"
			in := newIntrospector(t, rfc7662.Config{Issuer: issuer, ClientID: "demo-client", ClientSecret: "demo-secret", Now: clock.Now})
			_, err := in.Verify(context.Background(), "tok")
			require.ErrorIs(t, err, introspect.ErrUnavailable)
			assert.NotErrorIs(t, err, introspect.ErrInvalidToken)
		})
	}
}

func TestIntrospectorDiscoveryHerdMakesOneRequest(t *testing.T) {
	release := make(chan struct{})
	var discoveries atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/op/v1/introspect" {
			_, _ = w.Write([]byte(`{"active":true}`))
			return
		}
		discoveries.Add(1)
		<-release
		base := "http://" + r.Host
		_, _ = fmt.Fprintf(w, `{"issuer":%q,"introspection_endpoint":%q}`, base+"/op", base+"/op/v1/introspect")
	}))
	defer ts.Close()

	in := newIntrospector(t, rfc7662.Config{Issuer: ts.URL + "/op", ClientID: "demo-client", ClientSecret: "demo-secret"})
	const n = 50
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := in.Verify(context.Background(), "tok")
			errs <- err
		}()
	}
	testutil.WaitFor(t, "the discovery request", func() bool { return discoveries.Load() == 1 })
	close(release)
	for range n {
		assert.NoError(t, <-errs)
	}
	assert.EqualValues(t, 1, discoveries.Load())
}

func TestIntrospectorIssuerMismatchIsInvalid(t *testing.T) {
	clock := testutil.NewClock()
	srv := newOP(t, clock)
	token := srv.IssueToken(introspecttest.Token{})
	in := newIntrospector(t, rfc7662.Config{Issuer: rfc7662.ACMProductionIssuer, Endpoint: srv.IntrospectionURL(),
		ClientID: "demo-client", ClientSecret: "demo-secret", Now: clock.Now})
	_, err := in.Verify(context.Background(), token)
	assert.ErrorIs(t, err, introspect.ErrInvalidToken)
}

func TestIntrospectorFaults(t *testing.T) {
	clock := testutil.NewClock()
	srv := newOP(t, clock)
	token := srv.IssueToken(introspecttest.Token{})
	in := newIntrospector(t, rfc7662.Config{Endpoint: srv.IntrospectionURL(), ClientID: "demo-client",
		ClientSecret: "demo-secret", Now: clock.Now, Timeout: time.Second})
	faults := map[string]introspecttest.Fault{
		"500":                {Status: 500},
		"503 HTML":           {Status: 503, Body: "<html>maintenance</html>", ContentType: "text/html", RetryAfter: "120"},
		"429":                {Status: 429, RetryAfter: "7"},
		"truncated JSON":     {Status: 200, Body: `{"active":tr`},
		"wrong types":        {Status: 200, Body: `{"active":true,"scope":{"a":1}}`},
		"empty object":       {Status: 200, Body: `{}`},
		"error object":       {Status: 200, Body: `{"error":"server_error"}`},
		"message object":     {Status: 200, Body: `{"message":"upstream connect error"}`},
		"active as string":   {Status: 200, Body: `{"active":"true"}`},
		"dropped connection": {Drop: true},
		"huge body":          {BodySize: 2 << 20},
	}
	for name, f := range faults {
		t.Run(name, func(t *testing.T) {
			srv.SetFault(f)
			defer srv.SetFault(introspecttest.Fault{})
			_, err := in.Verify(context.Background(), token)
			require.ErrorIs(t, err, introspect.ErrUnavailable)
			assert.NotErrorIs(t, err, introspect.ErrInvalidToken)
			if f.RetryAfter != "" {
				retry, _ := retryAfter(err)
				assert.Equal(t, f.RetryAfter, fmt.Sprint(retry.Seconds()))
			}
		})
	}
}

func TestIntrospectorLeeway(t *testing.T) {
	tests := []struct {
		name       string
		configured time.Duration
		want       time.Duration
	}{
		{"zero means the default", 0, introspect.DefaultLeeway},
		{"configured", 5 * time.Second, 5 * time.Second},
		{"negative means none", -time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newIntrospector(t, rfc7662.Config{Endpoint: "https://127.0.0.1/introspect",
				ClientID: "c", ClientSecret: "s", Leeway: tt.configured})
			assert.Equal(t, tt.want, in.Leeway())
		})
	}
}

func TestNewIntrospectorConfig(t *testing.T) {
	key := &rfc7662.SigningKey{Key: rsaKey()}
	bad := map[string]rfc7662.Config{
		"nothing":                 {},
		"no endpoint or issuer":   {ClientID: "c", ClientSecret: "s"},
		"no client id":            {Issuer: rfc7662.ACMTestIssuer, ClientSecret: "s"},
		"no secret":               {Issuer: rfc7662.ACMTestIssuer, ClientID: "c"},
		"post without secret":     {Issuer: rfc7662.ACMTestIssuer, ClientID: "c", AuthMethod: rfc7662.ClientSecretPost},
		"jwt without key":         {Issuer: rfc7662.ACMTestIssuer, ClientID: "c", AuthMethod: rfc7662.PrivateKeyJWT, ClientSecret: "s"},
		"unknown method":          {Issuer: rfc7662.ACMTestIssuer, ClientID: "c", ClientSecret: "s", AuthMethod: "tls_client_auth"},
		"http issuer":             {Issuer: "http://authenticatie.vlaanderen.be/op", ClientID: "c", ClientSecret: "s"},
		"http endpoint":           {Endpoint: "http://example.com/introspect", ClientID: "c", ClientSecret: "s"},
		"issuer with query":       {Issuer: "https://op.example/?tenant=1", ClientID: "c", ClientSecret: "s"},
		"assertion too long":      {Issuer: rfc7662.ACMTestIssuer, ClientID: "c", ClientKey: key, AssertionLifetime: 11 * time.Minute},
		"negative timeout":        {Issuer: rfc7662.ACMTestIssuer, ClientID: "c", ClientSecret: "s", Timeout: -1},
		"alg that does not fit":   {Issuer: rfc7662.ACMTestIssuer, ClientID: "c", ClientKey: &rfc7662.SigningKey{Key: rsaKey(), Algorithm: "ES256"}},
		"alg that is symmetric":   {Issuer: rfc7662.ACMTestIssuer, ClientID: "c", ClientKey: &rfc7662.SigningKey{Key: rsaKey(), Algorithm: "HS256"}},
		"key missing from struct": {Issuer: rfc7662.ACMTestIssuer, ClientID: "c", ClientKey: &rfc7662.SigningKey{}},
	}
	for name, cfg := range bad {
		_, err := rfc7662.New(cfg)
		assert.Error(t, err, name)
	}
	for _, cfg := range []rfc7662.Config{
		{Issuer: rfc7662.ACMProductionIssuer, ClientID: "c", ClientSecret: "s"},
		{Issuer: rfc7662.ACMTestIssuer, ClientID: "c", ClientKey: key},
		{Endpoint: "https://idp.example/introspect", ClientID: "c", ClientSecret: "s", AuthMethod: rfc7662.ClientSecretPost},
	} {
		_, err := rfc7662.New(cfg)
		assert.NoError(t, err)
	}
}

func TestIntrospectorConfigRedactsSecrets(t *testing.T) {
	cfg := rfc7662.Config{
		Issuer: rfc7662.ACMTestIssuer, ClientID: "c", ClientSecret: "hunter2-secret",
		ClientKey: &rfc7662.SigningKey{Key: rsaKey(), KeyID: "k1"},
	}
	d := rsaKey().D.String()
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", cfg, "key", cfg.ClientKey)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "cfg", cfg, "key", *cfg.ClientKey)
	for _, s := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", &cfg),
		fmt.Sprint(cfg.ClientKey), fmt.Sprintf("%+v", *cfg.ClientKey), fmt.Sprintf("%#v", *cfg.ClientKey),
		logged.String(),
	} {
		assert.NotContains(t, s, "hunter2")
		assert.NotContains(t, s, d)
		assert.NotContains(t, s, d[:20])
		assert.Contains(t, s, "k1", "the key id is not secret and helps")
	}
}

func TestIntrospectorRedactsSecrets(t *testing.T) {
	for _, cfg := range []rfc7662.Config{
		{Endpoint: "https://idp.example/introspect", ClientID: "c", ClientSecret: "hunter2-secret"},
		{Endpoint: "https://idp.example/introspect", ClientID: "c", ClientSecret: "hunter2-secret", AuthMethod: rfc7662.ClientSecretPost},
		{Issuer: rfc7662.ACMTestIssuer, ClientID: "c", ClientKey: &rfc7662.SigningKey{Key: rsaKey(), KeyID: "k1"}},
	} {
		in, err := rfc7662.New(cfg)
		require.NoError(t, err)
		basic := base64.StdEncoding.EncodeToString([]byte("c:hunter2-secret"))
		d := rsaKey().D.String()
		var logged strings.Builder
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("introspector", "in", in)
		slog.New(slog.NewTextHandler(&logged, nil)).Info("introspector", "in", in)
		for _, s := range []string{fmt.Sprint(in), fmt.Sprintf("%+v", in), fmt.Sprintf("%#v", in), logged.String()} {
			assert.NotContains(t, s, "hunter2")
			assert.NotContains(t, s, basic)
			assert.NotContains(t, s, d[:20])
			assert.Contains(t, s, `"c"`, "the client id is not secret and helps")
		}
	}
}

func TestParseJWK(t *testing.T) {
	private := func(key any, kid, alg string) []byte {
		return must(json.Marshal(jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg}))
	}
	k, err := rfc7662.ParseJWK(private(rsaKey(), "acm-2026", "RS256"))
	require.NoError(t, err)
	assert.Equal(t, "acm-2026", k.KeyID)
	assert.Equal(t, "RS256", k.Algorithm)
	assert.True(t, rsaKey().Equal(k.Key))

	k, err = rfc7662.ParseJWK(private(ecKey(), "", ""))
	require.NoError(t, err)
	assert.True(t, ecKey().Equal(k.Key))

	small := must(rsa.GenerateKey(rand.Reader, 1024))
	for name, data := range map[string][]byte{
		"public key":   private(rsaKey().Public(), "k", ""),
		"symmetric":    private([]byte("0123456789abcdef0123456789abcdef"), "k", "HS256"),
		"short RSA":    private(small, "", ""),
		"wrong alg":    private(ecKey(), "", "RS256"),
		"not JSON":     []byte("-----BEGIN PRIVATE KEY-----"),
		"key set":      []byte(`{"keys":[]}`),
		"empty object": []byte(`{}`),
	} {
		_, err := rfc7662.ParseJWK(data)
		assert.Error(t, err, name)
		if err != nil {
			assert.NotContains(t, err.Error(), rsaKey().D.String()[:20], name)
		}
	}
}

func TestIntrospectorReady(t *testing.T) {
	clock := testutil.NewClock()
	srv := newOP(t, clock)
	in := newIntrospector(t, rfc7662.Config{Issuer: srv.Issuer(), ClientID: "demo-client", ClientSecret: "demo-secret", Now: clock.Now})
	assert.Equal(t, "rfc7662", introspect.BackendName(in))

	srv.SetDiscoveryFault(introspecttest.Fault{Status: http.StatusNotFound})
	err := introspect.Ready(context.Background(), in)
	require.ErrorIs(t, err, introspect.ErrUnavailable, "a wrong issuer is not ready")
	assert.Contains(t, err.Error(), srv.Issuer(), "the failure names the issuer asked")
	assert.Equal(t, 1, srv.DiscoveryCalls())
	require.Error(t, in.Ready(context.Background()))
	assert.Equal(t, 1, srv.DiscoveryCalls(), "Ready keeps to the discovery back-off")

	srv.SetDiscoveryFault(introspecttest.Fault{})
	clock.Advance(time.Second)
	require.NoError(t, in.Ready(context.Background()), "ready by itself once the issuer answers")
	assert.Equal(t, 2, srv.DiscoveryCalls())
	assert.Zero(t, srv.Calls(""), "Ready asks about no token")
}
