package introspecttest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect/introspecttest"
)

func get(t *testing.T, srv *introspecttest.Server, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.VerifyURL(), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestServerVerify(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	srv := introspecttest.NewUnstartedServer()
	srv.Now = func() time.Time { return now }
	srv.Start()
	defer srv.Close()

	token := srv.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest", "vo_info"}, ClientID: "38890", ExpiresAt: now.Add(14556 * time.Second)})
	assert.Len(t, token, 43)

	status, body := get(t, srv, token)
	assert.Equal(t, 200, status)
	assert.JSONEq(t, `{"audience":"38890","scope":"MapRequest vo_info","expires_in":"14556"}`, body)

	status, body = get(t, srv, "unknown")
	assert.Equal(t, 400, status)
	assert.JSONEq(t, `{"error":"invalid_token"}`, body)

	srv.RevokeToken(token)
	status, _ = get(t, srv, token)
	assert.Equal(t, 400, status)
	assert.Equal(t, 2, srv.Calls(token))
	assert.Equal(t, 3, srv.TotalCalls())
}

func TestServerFaults(t *testing.T) {
	srv := introspecttest.NewServer()
	defer srv.Close()
	srv.SetFault(introspecttest.Fault{Status: 503, Body: "<html>", ContentType: "text/html", RetryAfter: "9"})
	req, _ := http.NewRequest(http.MethodGet, srv.VerifyURL(), nil)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "9", resp.Header.Get("Retry-After"))
	assert.Equal(t, "text/html", resp.Header.Get("Content-Type"))

	srv.SetFault(introspecttest.Fault{BodySize: 3 << 20})
	resp, err = srv.Client().Get(srv.VerifyURL())
	require.NoError(t, err)
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.EqualValues(t, 3<<20, n)

	srv.SetFault(introspecttest.Fault{Drop: true})
	_, err = srv.Client().Get(srv.VerifyURL())
	assert.Error(t, err)

	srv.SetFault(introspecttest.Fault{})
	status, _ := get(t, srv, "x")
	assert.Equal(t, 400, status)
}

func TestServerProfileChecksClient(t *testing.T) {
	srv := introspecttest.NewServer()
	defer srv.Close()
	token := srv.IssueToken(introspecttest.Token{ClientID: "abc"})
	post := func(form string) (int, string) {
		resp, err := srv.Client().Post(srv.ProfileURL(), "application/x-www-form-urlencoded", strings.NewReader(form))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := post("access_token=" + token + "&client_id=demo-client&client_secret=demo-secret")
	assert.Equal(t, 200, status)
	assert.JSONEq(t, `{"name":"abc","givenName":"Demo","surname":"User abc","contactId":"12345"}`, body)
	status, body = post("access_token=" + token + "&client_id=demo-client&client_secret=nope")
	assert.Equal(t, 401, status)
	assert.JSONEq(t, `{"error":"invalid_client"}`, body)
}
