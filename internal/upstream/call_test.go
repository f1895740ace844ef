package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/upstream"
	"github.com/tokengate/tokengate/introspect"
)

// answer is what parse saw.
type answer struct {
	status int
	body   string
	now    time.Time
}

func keep(status int, body []byte, now time.Time) (answer, error) {
	return answer{status, string(body), now}, nil
}

func newClient(t *testing.T, now func() time.Time) *upstream.Client {
	t.Helper()
	c := upstream.NewClient(nil, 2*time.Second, now)
	t.Cleanup(c.Close)
	return c
}

func TestCallSendsOneRequest(t *testing.T) {
	var got *http.Request
	var form url.Values
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		got, form = r.Clone(context.Background()), r.PostForm
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte(`{"a":1}`))
	}))
	defer ts.Close()
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	c := newClient(t, func() time.Time { return at })

	a, err := upstream.Call(context.Background(), c, upstream.Request{
		Method: http.MethodPost, URL: ts.URL + "/x", Form: url.Values{"token": {"tok"}}, Authorization: "Basic abc",
	}, keep)
	require.NoError(t, err)
	assert.Equal(t, answer{http.StatusTeapot, `{"a":1}`, at}, a, "parse gets status, body and the client's time")
	assert.Equal(t, http.MethodPost, got.Method)
	assert.Equal(t, "/x", got.URL.Path)
	assert.Equal(t, "application/json", got.Header.Get("Accept"))
	assert.Equal(t, "application/x-www-form-urlencoded", got.Header.Get("Content-Type"))
	assert.Equal(t, "Basic abc", got.Header.Get("Authorization"))
	assert.Equal(t, url.Values{"token": {"tok"}}, form)

	_, err = upstream.Call(context.Background(), c, upstream.Request{Method: http.MethodGet, URL: ts.URL}, keep)
	require.NoError(t, err)
	assert.Empty(t, got.Header.Get("Content-Type"), "no body, no Content-Type")
	assert.Empty(t, got.Header.Get("Authorization"))
}

func TestCallAnnotatesParseFailures(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", at.Add(time.Minute).Format(http.TimeFormat))
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer ts.Close()
	c := newClient(t, func() time.Time { return at })

	_, err := upstream.Call(context.Background(), c, upstream.Request{Method: http.MethodGet, URL: ts.URL},
		func(int, []byte, time.Time) (answer, error) {
			return answer{}, &introspect.UnavailableError{Reason: "down"}
		})
	var ue *introspect.UnavailableError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, http.StatusServiceUnavailable, ue.StatusCode)
	assert.Equal(t, time.Minute, ue.RetryAfter, "an HTTP-date read on the client's clock")

	invalid := upstream.InvalidToken("rejected")
	_, err = upstream.Call(context.Background(), c, upstream.Request{Method: http.MethodGet, URL: ts.URL},
		func(int, []byte, time.Time) (answer, error) { return answer{}, invalid })
	assert.Same(t, invalid, err, "other errors pass through")
}

func TestCallFailures(t *testing.T) {
	var calls atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere", func(http.ResponseWriter, *http.Request) { calls.Add(1) })
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<20+1)))
	})
	mux.HandleFunc("/exact", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ts := httptest.NewServer(mux)
	defer ts.Close()
	c := upstream.NewClient(nil, 100*time.Millisecond, nil)
	defer c.Close()

	for path, cause := range map[string]error{"/redirect": nil, "/huge": nil, "/slow": context.DeadlineExceeded} {
		t.Run(path, func(t *testing.T) {
			_, err := upstream.Call(context.Background(), c, upstream.Request{Method: http.MethodGet, URL: ts.URL + path}, keep)
			assert.ErrorIs(t, err, introspect.ErrUnavailable)
			if cause != nil {
				assert.ErrorIs(t, err, cause)
			}
		})
	}
	assert.Zero(t, calls.Load(), "a redirect is never followed")

	a, err := upstream.Call(context.Background(), c, upstream.Request{Method: http.MethodGet, URL: ts.URL + "/exact"}, keep)
	require.NoError(t, err, "1 MiB exactly is read")
	assert.Len(t, a.body, 1<<20)

	_, err = upstream.Call(context.Background(), c, upstream.Request{Method: "BAD METHOD", URL: ts.URL}, keep)
	assert.ErrorIs(t, err, introspect.ErrUnavailable, "a request that cannot be built is a failure too")
}

func TestCallLeavesTheCallersClientAlone(t *testing.T) {
	hc := &http.Client{}
	c := upstream.NewClient(hc, time.Second, nil)
	c.Close()
	assert.Nil(t, hc.CheckRedirect, "the caller's client was changed")
}

func TestCheckEndpoint(t *testing.T) {
	tests := []struct {
		url     string
		wantErr string
	}{
		{"https://oauth.vlaanderen.be/verify", ""},
		{"http://127.0.0.1:8080/verify", ""},
		{"http://[::1]:8080/verify", ""},
		{"http://localhost/verify", ""},
		{"", "empty"},
		{"http://oauth.vlaanderen.be/verify", "only https"},
		{"http://10.0.0.1/verify", "only https"},
		{"http://localhost.example/verify", "only https"},
		{"ftp://oauth.vlaanderen.be/verify", "scheme"},
		{"/verify", "not absolute"},
		{"https://user:pw@oauth.vlaanderen.be/verify", "credentials"},
		{"https://oauth.vlaanderen.be/verify#x", "fragment"},
		{"https://oauth.vlaanderen.be/%zz", "URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := upstream.CheckEndpoint("verify", tt.url)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.url, u.String())
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.NotContains(t, err.Error(), "pw@")
		})
	}
}

func TestCheckToken(t *testing.T) {
	assert.NoError(t, upstream.CheckToken("a.b-c_d~e+f/g="))
	for _, token := range []string{"", "a b", "a\r\nX-Injected: 1", "tök", "a\x00"} {
		err := upstream.CheckToken(token)
		assert.ErrorIs(t, err, introspect.ErrInvalidToken, "%q", token)
		if token != "" {
			assert.NotContains(t, err.Error(), token)
		}
	}
}

func TestInvalidToken(t *testing.T) {
	err := upstream.InvalidToken("token expired")
	assert.ErrorIs(t, err, introspect.ErrInvalidToken)
	assert.False(t, errors.Is(err, introspect.ErrUnavailable))
	assert.Equal(t, "introspect: invalid token: token expired", err.Error())
}

func TestRedacted(t *testing.T) {
	assert.Equal(t, `""`, upstream.Redacted(""))
	assert.Equal(t, "[REDACTED]", upstream.Redacted("s3cret"))
}

func TestServerFailed(t *testing.T) {
	for status, want := range map[int]bool{200: false, 400: false, 401: false, 429: true, 500: true, 503: true} {
		assert.Equal(t, want, upstream.ServerFailed(status), "%d", status)
	}
	assert.ErrorIs(t, upstream.UnexpectedStatus(418), introspect.ErrUnavailable)
}
