package introspect_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/introspecttest"
)

// fixedClock is a clock that stands still until moved. It is safe for
// concurrent use.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fixedClock { return &fixedClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)} }

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixedClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline. It orders events between goroutines; it asserts nothing about
// time.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func newGeosecure(t *testing.T, url string, clock *fixedClock) *introspect.Geosecure {
	t.Helper()
	g, err := introspect.NewGeosecure(introspect.GeosecureConfig{URL: url, Now: clock.Now, Timeout: 2 * time.Second})
	require.NoError(t, err)
	return g
}

func TestGeosecureAgainstFake(t *testing.T) {
	clock := newClock()
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

func TestGeosecureExpiresInAsNumber(t *testing.T) {
	clock := newClock()
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

func TestGeosecureSendsTokenInHeaderOnly(t *testing.T) {
	var gotAuth, gotQuery string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotQuery = r.Header.Get("Authorization"), r.URL.RawQuery
		_, _ = w.Write([]byte(`{"audience":"38890","scope":"MapRequest","expires_in":"60"}`))
	}))
	defer ts.Close()
	_, err := newGeosecure(t, ts.URL+"/verify", newClock()).Verify(context.Background(), "LTgaAik7F-smmQ65_nVfag==")
	require.NoError(t, err)
	assert.Equal(t, "Bearer LTgaAik7F-smmQ65_nVfag==", gotAuth)
	assert.Empty(t, gotQuery)
}

func TestGeosecureFaults(t *testing.T) {
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
	g := newGeosecure(t, srv.VerifyURL(), newClock())
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
			retry, ok := introspect.RetryAfter(err)
			assert.Equal(t, tt.wantRetry > 0, ok)
			assert.Equal(t, tt.wantRetry, retry)
		})
	}
}

func TestGeosecureTimeout(t *testing.T) {
	srv := introspecttest.NewServer()
	defer srv.Close()
	srv.Hold() // no answer until Close
	g, err := introspect.NewGeosecure(introspect.GeosecureConfig{URL: srv.VerifyURL(), Timeout: 50 * time.Millisecond})
	require.NoError(t, err)
	_, err = g.Verify(context.Background(), "tok")
	assert.ErrorIs(t, err, introspect.ErrUnavailable)
}

func TestGeosecureHonoursContext(t *testing.T) {
	srv := introspecttest.NewServer()
	defer srv.Close()
	srv.Hold()
	g := newGeosecure(t, srv.VerifyURL(), newClock())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := g.Verify(ctx, "tok"); done <- err }()
	waitFor(t, "the request to reach the server", func() bool { return srv.Held() == 1 })
	cancel()
	err := <-done
	assert.ErrorIs(t, err, introspect.ErrUnavailable)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestGeosecureDoesNotFollowRedirects(t *testing.T) {
	var stolen bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen = true
		_, _ = w.Write([]byte(`{"error":"invalid_token"}`))
	}))
	defer other.Close()
	redirector := httptest.NewServer(http.RedirectHandler(other.URL+"/verify", http.StatusFound))
	defer redirector.Close()

	for _, client := range []*http.Client{nil, {}, http.DefaultClient} {
		g, err := introspect.NewGeosecure(introspect.GeosecureConfig{URL: redirector.URL, HTTPClient: client})
		require.NoError(t, err)
		_, err = g.Verify(context.Background(), "tok")
		assert.ErrorIs(t, err, introspect.ErrUnavailable)
		assert.False(t, stolen, "the token went to the redirect's target")
	}
	assert.Nil(t, http.DefaultClient.CheckRedirect, "the caller's client was changed")
}

func TestGeosecureRejectsBadTokensLocally(t *testing.T) {
	srv := introspecttest.NewServer()
	defer srv.Close()
	g := newGeosecure(t, srv.VerifyURL(), newClock())
	for _, token := range []string{"", "a b", "a\r\nX-Injected: 1", "tök", "a\x00"} {
		_, err := g.Verify(context.Background(), token)
		assert.ErrorIs(t, err, introspect.ErrInvalidToken, "%q", token)
	}
	assert.Zero(t, srv.TotalCalls())
}

func TestNewGeosecureConfig(t *testing.T) {
	tests := []struct {
		url     string
		wantErr string
	}{
		{introspect.GeosecureProductionURL, ""},
		{introspect.GeosecureBetaURL, ""},
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
			_, err := introspect.NewGeosecure(introspect.GeosecureConfig{URL: tt.url})
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.NotContains(t, err.Error(), "pw@")
		})
	}
	_, err := introspect.NewGeosecure(introspect.GeosecureConfig{URL: introspect.GeosecureProductionURL, Timeout: -1})
	assert.Error(t, err)
}

func TestUnavailableErrorText(t *testing.T) {
	err := &introspect.UnavailableError{StatusCode: 503, Reason: "unexpected status", Err: errors.New("cause")}
	assert.Equal(t, "introspect: authorization server unavailable: unexpected status (HTTP 503): cause", err.Error())
	assert.ErrorIs(t, err, introspect.ErrUnavailable)
	assert.Equal(t, "cause", errors.Unwrap(err).Error())
	assert.True(t, strings.HasPrefix(introspect.ErrInvalidToken.Error(), "introspect: "))
}
