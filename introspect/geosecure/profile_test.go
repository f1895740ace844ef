package geosecure_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
)

func TestProfileAgainstFake(t *testing.T) {
	const secret = "s3cr&t=+/x"
	srv := introspecttest.NewUnstartedServer()
	srv.ClientID, srv.ClientSecret = "Zt6JYU7", secret
	srv.Start()
	defer srv.Close()
	token := srv.IssueToken(introspecttest.Token{Profile: &geosecure.Profile{
		Name: "johnd", GivenName: "John", Surname: "Doe", ContactID: "12345",
	}})

	p, err := geosecure.NewProfileClient(geosecure.ProfileConfig{URL: srv.ProfileURL(), ClientID: "Zt6JYU7", ClientSecret: secret})
	require.NoError(t, err)
	got, err := p.Profile(context.Background(), token)
	require.NoError(t, err, "the secret must arrive intact")
	assert.Equal(t, &geosecure.Profile{Name: "johnd", GivenName: "John", Surname: "Doe", ContactID: "12345"}, got)

	_, err = p.Profile(context.Background(), "unknown")
	assert.ErrorIs(t, err, introspect.ErrInvalidToken)

	wrong, err := geosecure.NewProfileClient(geosecure.ProfileConfig{URL: srv.ProfileURL(), ClientID: "Zt6JYU7", ClientSecret: "wrong"})
	require.NoError(t, err)
	_, err = wrong.Profile(context.Background(), token)
	assert.ErrorIs(t, err, introspect.ErrUnavailable, "our bad credentials must not condemn the token")
	assert.NotContains(t, err.Error(), "wrong")
	assert.NotContains(t, err.Error(), token)
}

func TestProfileRequestForm(t *testing.T) {
	var form map[string][]string
	var contentType string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		contentType = r.Header.Get("Content-Type")
		require.NoError(t, r.ParseForm())
		form = r.PostForm
		_, _ = w.Write([]byte(`{"name":"johnd","givenName":"John","surname":"Doe","contactId":12345}`))
	}))
	defer ts.Close()
	p, err := geosecure.NewProfileClient(geosecure.ProfileConfig{URL: ts.URL, ClientID: "id", ClientSecret: "s3cr&t=+/x"})
	require.NoError(t, err)
	got, err := p.Profile(context.Background(), "5Op37vHN_T9zYV6vkA")
	require.NoError(t, err)
	assert.Equal(t, "12345", got.ContactID, "a numeric contactId is accepted")
	assert.Equal(t, "application/x-www-form-urlencoded", contentType)
	assert.Equal(t, map[string][]string{
		"access_token": {"5Op37vHN_T9zYV6vkA"}, "client_id": {"id"}, "client_secret": {"s3cr&t=+/x"},
	}, form)
}

func TestProfileAnswers(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   error
	}{
		{200, `{"error":"invalid_token"}`, introspect.ErrInvalidToken},
		{401, `{"error":"invalid_token"}`, introspect.ErrInvalidToken},
		{401, `{"error":"invalid_client"}`, introspect.ErrUnavailable},
		{400, `{"error":"invalid_request"}`, introspect.ErrUnavailable},
		{500, `<html/>`, introspect.ErrUnavailable},
		{500, `{"name":"x","contactId":"1"}`, introspect.ErrUnavailable},
		{200, `{"name":"x"}`, introspect.ErrUnavailable},
		{200, `{"name":1,"contactId":"1"}`, introspect.ErrUnavailable},
		{200, `[]`, introspect.ErrUnavailable},
		{500, `{"error":"invalid_token"}`, introspect.ErrUnavailable},
		{503, `{"timestamp":"2026-11-22T10:00:00.000+00:00","status":503,"error":"Service Unavailable","path":"/profile"}`, introspect.ErrUnavailable},
		{429, `{"error":"too_many_requests"}`, introspect.ErrUnavailable},
		{400, `{"error":"no_such_code"}`, introspect.ErrUnavailable},
		{200, `{"error":null,"contactId":"1"}`, nil},
	}
	srv := introspecttest.NewServer()
	defer srv.Close()
	p, err := geosecure.NewProfileClient(geosecure.ProfileConfig{URL: srv.ProfileURL(), ClientID: "a", ClientSecret: "b"})
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status, tt.body), func(t *testing.T) {
			srv.SetFault(introspecttest.Fault{Status: tt.status, Body: tt.body})
			got, err := p.Profile(context.Background(), "tok")
			if tt.want == nil {
				require.NoError(t, err)
				assert.Equal(t, "1", got.ContactID)
				return
			}
			assert.ErrorIs(t, err, tt.want)
			assert.NotErrorIs(t, err, otherOutcome(tt.want))
			assert.Nil(t, got)
		})
	}
}

// otherOutcome is the error class a test that wants want must not get.
func otherOutcome(want error) error {
	if want == introspect.ErrInvalidToken {
		return introspect.ErrUnavailable
	}
	return introspect.ErrInvalidToken
}

func TestProfileConfigRedactsSecret(t *testing.T) {
	cfg := geosecure.ProfileConfig{URL: "https://x", ClientID: "id", ClientSecret: "hunter2"}
	for _, s := range []string{cfg.String(), fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), cfg.LogValue().String()} {
		assert.NotContains(t, s, "hunter2")
		assert.Contains(t, s, "id")
	}
	_, err := geosecure.NewProfileClient(geosecure.ProfileConfig{URL: "https://x"})
	assert.Error(t, err, "credentials are required")
}

func TestProfileClientRedactsSecret(t *testing.T) {
	c, err := geosecure.NewProfileClient(geosecure.ProfileConfig{URL: "https://x", ClientID: "id", ClientSecret: "hunter2"})
	require.NoError(t, err)
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("profiles", "c", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), logged.String()} {
		assert.NotContains(t, s, "hunter2")
		assert.Contains(t, s, "id")
	}
}

func TestNewProfileClientConfig(t *testing.T) {
	ok := geosecure.ProfileConfig{URL: geosecure.ProfileProductionURL, ClientID: "id", ClientSecret: "s"}
	tests := map[string]func(*geosecure.ProfileConfig){
		"no URL":           func(c *geosecure.ProfileConfig) { c.URL = "" },
		"http URL":         func(c *geosecure.ProfileConfig) { c.URL = "http://oauth.vlaanderen.be/profile" },
		"no client id":     func(c *geosecure.ProfileConfig) { c.ClientID = "" },
		"no secret":        func(c *geosecure.ProfileConfig) { c.ClientSecret = "" },
		"negative timeout": func(c *geosecure.ProfileConfig) { c.Timeout = -time.Second },
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			change(&cfg)
			_, err := geosecure.NewProfileClient(cfg)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "geosecure: "), err.Error())
		})
	}
	for _, timeout := range []time.Duration{0, time.Second} {
		cfg := ok
		cfg.Timeout = timeout
		_, err := geosecure.NewProfileClient(cfg)
		assert.NoError(t, err, "timeout %v", timeout)
	}
}

func TestProfileReadsRetryAfterOnItsClock(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	srv := introspecttest.NewServer()
	defer srv.Close()
	srv.SetFault(introspecttest.Fault{Status: 503, RetryAfter: now.Add(90 * time.Second).Format(http.TimeFormat)})
	p, err := geosecure.NewProfileClient(geosecure.ProfileConfig{URL: srv.ProfileURL(), ClientID: "a", ClientSecret: "b",
		Now: func() time.Time { return now }})
	require.NoError(t, err)
	_, err = p.Profile(context.Background(), "tok")
	var ue *introspect.UnavailableError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, 90*time.Second, ue.RetryAfter, "an HTTP-date is read on the injected clock")
}
