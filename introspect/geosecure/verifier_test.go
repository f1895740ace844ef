package geosecure_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
)

func newGeosecure(t *testing.T, url string, clock *testutil.Clock) *geosecure.Verifier {
	t.Helper()
	g, err := geosecure.New(geosecure.Config{URL: url, Now: clock.Now, Timeout: 2 * time.Second})
	require.NoError(t, err)
	return g
}

func TestVerifierAgainstFake(t *testing.T) {
	clock := testutil.NewClock()
	srv := introspecttest.NewUnstartedServer()
	srv.Now = clock.Now
	srv.Start()
	defer srv.Close()
	g := newGeosecure(t, srv.VerifyURL(), clock)

	token := srv.IssueToken(introspecttest.Token{
		Scopes:    []string{"MapRequest", "gipod_pdo_read"},
		ClientID:  "38890",
		ExpiresAt: clock.Now().Add(14556 * time.Second),
	})

	info, err := g.Verify(context.Background(), token)
	require.NoError(t, err)
	assert.True(t, info.Active)
	assert.Equal(t, "MapRequest gipod_pdo_read", info.Scopes.String())
	assert.Equal(t, "38890", info.ClientID)
	assert.Equal(t, []string{"38890"}, info.Audience)
	assert.Equal(t, clock.Now().Add(14556*time.Second), info.ExpiresAt)
	assert.Nil(t, info.Claims)
	assert.Equal(t, 1, srv.Calls(token))

	_, err = g.Verify(context.Background(), "unknown-token")
	assert.ErrorIs(t, err, introspect.ErrInvalidToken)

	clock.Advance(14556 * time.Second)
	_, err = g.Verify(context.Background(), token)
	assert.ErrorIs(t, err, introspect.ErrInvalidToken, "expired at the fake")
}

func TestVerifierExpiresInAsNumber(t *testing.T) {
	clock := testutil.NewClock()
	srv := introspecttest.NewUnstartedServer()
	srv.Now = clock.Now
	srv.ExpiresInAsNumber = true
	srv.Start()
	defer srv.Close()
	token := srv.IssueToken(introspecttest.Token{ExpiresAt: clock.Now().Add(time.Minute)})

	info, err := newGeosecure(t, srv.VerifyURL(), clock).Verify(context.Background(), token)
	require.NoError(t, err)
	assert.Equal(t, clock.Now().Add(time.Minute), info.ExpiresAt)
}

func TestVerifierSendsTokenInHeaderOnly(t *testing.T) {
	var gotAuth, gotQuery string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotQuery = r.Header.Get("Authorization"), r.URL.RawQuery
		_, _ = w.Write([]byte(`{"audience":"38890","scope":"MapRequest","expires_in":"60"}`))
	}))
	defer ts.Close()
	_, err := newGeosecure(t, ts.URL+"/verify", testutil.NewClock()).Verify(context.Background(), "LTgaAik7F-smmQ65_nVfag==")
	require.NoError(t, err)
	assert.Equal(t, "Bearer LTgaAik7F-smmQ65_nVfag==", gotAuth)
	assert.Empty(t, gotQuery)
}

func TestVerifierFaults(t *testing.T) {
	const secretToken = "s3cret-token-value"
	tests := []struct {
		name        string
		fault       introspecttest.Fault
		wantInvalid bool
		wantStatus  int
		wantRetry   time.Duration
	}{
		{"500 html", introspecttest.Fault{Status: 500, Body: "<html>oops</html>", ContentType: "text/html"}, false, 500, 0},
		{"502 empty", introspecttest.Fault{Status: 502}, false, 502, 0},
		{"503 retry-after", introspecttest.Fault{Status: 503, Body: "busy", RetryAfter: "120"}, false, 503, 2 * time.Minute},
		{"429 retry-after", introspecttest.Fault{Status: 429, Body: `{}`, RetryAfter: "7"}, false, 429, 7 * time.Second},
		{"200 truncated json", introspecttest.Fault{Status: 200, Body: `{"audience":"1","scope`}, false, 200, 0},
		{"200 not an object", introspecttest.Fault{Status: 200, Body: `["a"]`}, false, 200, 0},
		{"200 null", introspecttest.Fault{Status: 200, Body: `null`}, false, 200, 0},
		{"200 wrong types", introspecttest.Fault{Status: 200, Body: `{"audience":{},"scope":1,"expires_in":true}`}, false, 200, 0},
		{"200 without expiry", introspecttest.Fault{Status: 200, Body: `{"audience":"1","scope":"a"}`}, false, 200, 0},
		{"200 scope not a string", introspecttest.Fault{Status: 200, Body: `{"audience":"1","scope":["a"],"expires_in":5}`}, false, 200, 0},
		{"404 html", introspecttest.Fault{Status: 404, Body: "not found", ContentType: "text/plain"}, false, 404, 0},
		{"200 answer over 1 MiB", introspecttest.Fault{BodySize: 64 << 20}, false, 200, 0},
		{"connection dropped", introspecttest.Fault{Drop: true}, false, 0, 0},
		{"error body with 200", introspecttest.Fault{Status: 200, Body: `{"error":"invalid_token"}`}, true, 0, 0},
		{"error body with 401", introspecttest.Fault{Status: 401, Body: `{"error":"invalid_token"}`}, true, 0, 0},
		{"error body with 500", introspecttest.Fault{Status: 500, Body: `{"error":"invalid_token"}`}, false, 500, 0},
		{"spring boot 500", introspecttest.Fault{Status: 500, Body: `{"timestamp":"2026-11-22T10:00:00.000+00:00","status":500,"error":"Internal Server Error","path":"/verify"}`}, false, 500, 0},
		{"spring boot 503", introspecttest.Fault{Status: 503, Body: `{"timestamp":"2026-11-22T10:00:00.000+00:00","status":503,"error":"Service Unavailable","path":"/verify"}`, RetryAfter: "30"}, false, 503, 30 * time.Second},
		{"gateway 429", introspecttest.Fault{Status: 429, Body: `{"error":"too_many_requests"}`, RetryAfter: "42"}, false, 429, 42 * time.Second},
		{"gateway 502", introspecttest.Fault{Status: 502, Body: `{"error":"bad_gateway"}`}, false, 502, 0},
		{"unknown code with 400", introspecttest.Fault{Status: 400, Body: `{"error":"no_such_code"}`}, false, 400, 0},
		{"server_error body", introspecttest.Fault{Status: 500, Body: `{"error":"server_error"}`}, false, 500, 0},
		{"temporarily_unavailable body", introspecttest.Fault{Status: 503, Body: `{"error":"temporarily_unavailable"}`, RetryAfter: "3"}, false, 503, 3 * time.Second},
		{"expired by expires_in 0", introspecttest.Fault{Status: 200, Body: `{"audience":"1","scope":"a","expires_in":"0"}`}, true, 0, 0},
	}
	srv := introspecttest.NewServer()
	defer srv.Close()
	g := newGeosecure(t, srv.VerifyURL(), testutil.NewClock())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.SetFault(tt.fault)
			info, err := g.Verify(context.Background(), secretToken)
			require.Error(t, err)
			assert.Nil(t, info)
			assert.NotContains(t, err.Error(), secretToken)
			if tt.wantInvalid {
				assert.ErrorIs(t, err, introspect.ErrInvalidToken)
				assert.NotErrorIs(t, err, introspect.ErrUnavailable)
				return
			}
			assert.ErrorIs(t, err, introspect.ErrUnavailable)
			assert.NotErrorIs(t, err, introspect.ErrInvalidToken)
			var ue *introspect.UnavailableError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, tt.wantStatus, ue.StatusCode)
			assert.Equal(t, tt.wantRetry, ue.RetryAfter)
		})
	}
}

func TestVerifierTimeout(t *testing.T) {
	srv := introspecttest.NewServer()
	defer srv.Close()
	srv.Hold() // no answer until Close
	g, err := geosecure.New(geosecure.Config{URL: srv.VerifyURL(), Timeout: 50 * time.Millisecond})
	require.NoError(t, err)
	_, err = g.Verify(context.Background(), "tok")
	assert.ErrorIs(t, err, introspect.ErrUnavailable)
}

func TestVerifierHonoursContext(t *testing.T) {
	srv := introspecttest.NewServer()
	defer srv.Close()
	srv.Hold()
	g := newGeosecure(t, srv.VerifyURL(), testutil.NewClock())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := g.Verify(ctx, "tok"); done <- err }()
	testutil.WaitFor(t, "the request to reach the server", func() bool { return srv.Held() == 1 })
	cancel()
	err := <-done
	assert.ErrorIs(t, err, introspect.ErrUnavailable)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestVerifierDoesNotFollowRedirects(t *testing.T) {
	var stolen bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen = true
		_, _ = w.Write([]byte(`{"error":"invalid_token"}`))
	}))
	defer other.Close()
	redirector := httptest.NewServer(http.RedirectHandler(other.URL+"/verify", http.StatusFound))
	defer redirector.Close()

	for _, client := range []*http.Client{nil, {}, http.DefaultClient} {
		g, err := geosecure.New(geosecure.Config{URL: redirector.URL, HTTPClient: client})
		require.NoError(t, err)
		_, err = g.Verify(context.Background(), "tok")
		assert.ErrorIs(t, err, introspect.ErrUnavailable)
		assert.False(t, stolen, "the token went to the redirect's target")
	}
	assert.Nil(t, http.DefaultClient.CheckRedirect, "the caller's client was changed")
}

func TestVerifierRejectsBadTokensLocally(t *testing.T) {
	srv := introspecttest.NewServer()
	defer srv.Close()
	g := newGeosecure(t, srv.VerifyURL(), testutil.NewClock())
	for _, token := range []string{"", "a b", "a\r\nX-Injected: 1", "tök", "a\x00"} {
		_, err := g.Verify(context.Background(), token)
		assert.ErrorIs(t, err, introspect.ErrInvalidToken, "%q", token)
	}
	assert.Zero(t, srv.TotalCalls())
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		url     string
		wantErr string
	}{
		{geosecure.ProductionURL, ""},
		{geosecure.BetaURL, ""},
		{"http://127.0.0.1:8080/verify", ""},
		{"http://[::1]:8080/verify", ""},
		{"http://localhost/verify", ""},
		{"", "empty"},
		{"http://oauth.vlaanderen.be/verify", "only https"},
		{"http://10.0.0.1/verify", "only https"},
		{"ftp://oauth.vlaanderen.be/verify", "scheme"},
		{"/verify", "not absolute"},
		{"https://user:pw@oauth.vlaanderen.be/verify", "credentials"},
		{"https://oauth.vlaanderen.be/verify#x", "fragment"},
		{"https://oauth.vlaanderen.be/%zz", "URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := geosecure.New(geosecure.Config{URL: tt.url})
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.NotContains(t, err.Error(), "pw@")
		})
	}
	_, err := geosecure.New(geosecure.Config{URL: geosecure.ProductionURL, Timeout: -1})
	require.Error(t, err, "a negative Timeout is an error")
	assert.Contains(t, err.Error(), "geosecure: negative Timeout")
	_, err = geosecure.New(geosecure.Config{URL: geosecure.ProductionURL})
	assert.NoError(t, err, "zero is the default")
}

// TestAnswerScope: the verify endpoint alone, with the token, decides the
// answer, and so the Verifier's AnswerScope.
func TestAnswerScope(t *testing.T) {
	scope := func(url string) string {
		v, err := geosecure.New(geosecure.Config{URL: url})
		require.NoError(t, err)
		return introspect.AnswerScope(v)
	}
	assert.Equal(t, scope("https://127.0.0.1:1/verify"), scope("https://127.0.0.1:1/verify"))
	assert.NotEqual(t, scope("https://127.0.0.1:1/verify"), scope("https://127.0.0.1:2/verify"))
}
