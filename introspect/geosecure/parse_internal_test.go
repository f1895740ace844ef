package geosecure

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestParseVerify(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    *introspect.TokenInfo
		wantErr error
	}{
		{"documented", 200, `{"audience":"38890","scope":"MapRequest","expires_in":"14556"}`,
			&introspect.TokenInfo{Active: true, ClientID: "38890", Audience: []string{"38890"}, ExpiresAt: t0.Add(14556 * time.Second)}, nil},
		{"expires_in number", 200, `{"audience":"38890","scope":"MapRequest","expires_in":14556}`,
			&introspect.TokenInfo{Active: true, ClientID: "38890", Audience: []string{"38890"}, ExpiresAt: t0.Add(14556 * time.Second)}, nil},
		{"expires_in fraction", 200, `{"audience":"38890","scope":"","expires_in":1.9}`,
			&introspect.TokenInfo{Active: true, ClientID: "38890", Audience: []string{"38890"}, ExpiresAt: t0.Add(time.Second)}, nil},
		{"expires_in padded string", 200, `{"audience":"38890","expires_in":" 60 "}`,
			&introspect.TokenInfo{Active: true, ClientID: "38890", Audience: []string{"38890"}, ExpiresAt: t0.Add(time.Minute)}, nil},
		{"audience number", 200, `{"audience":38890,"scope":"a","expires_in":"60"}`,
			&introspect.TokenInfo{Active: true, ClientID: "38890", Audience: []string{"38890"}, ExpiresAt: t0.Add(time.Minute)}, nil},
		{"extra members become claims", 200, `{"audience":"1","scope":"a","expires_in":"60","vo_id":"x","n":2}`,
			&introspect.TokenInfo{Active: true, ClientID: "1", Audience: []string{"1"}, ExpiresAt: t0.Add(time.Minute), Claims: map[string]any{"vo_id": "x", "n": 2.0}}, nil},
		{"huge expires_in clamps", 200, `{"audience":"1","expires_in":1e300}`,
			&introspect.TokenInfo{Active: true, ClientID: "1", Audience: []string{"1"}, ExpiresAt: t0.Add(100 * 365 * 24 * time.Hour)}, nil},
		{"error null beside an answer", 200, `{"error":null,"audience":"1","expires_in":"60"}`,
			&introspect.TokenInfo{Active: true, ClientID: "1", Audience: []string{"1"}, ExpiresAt: t0.Add(time.Minute)}, nil},
		{"invalid token", 400, `{"error":"invalid_token"}`, nil, introspect.ErrInvalidToken},
		{"invalid token with 200", 200, `{"error":"invalid_token"}`, nil, introspect.ErrInvalidToken},
		{"invalid token with 401", 401, `{"error":"invalid_token"}`, nil, introspect.ErrInvalidToken},
		{"invalid token with 404", 404, `{"error":"invalid_token"}`, nil, introspect.ErrInvalidToken},
		{"error beats fields", 200, `{"error":"invalid_token","audience":"1","expires_in":"60"}`, nil, introspect.ErrInvalidToken},
		{"error of another type", 200, `{"error":{"code":1}}`, nil, introspect.ErrUnavailable},
		{"unknown error code", 200, `{"error":"no_such_thing"}`, nil, introspect.ErrUnavailable},
		{"unknown error code with 400", 400, `{"error":"bad_gateway"}`, nil, introspect.ErrUnavailable},
		{"empty error code", 400, `{"error":""}`, nil, introspect.ErrUnavailable},
		{"invalid_request", 400, `{"error":"invalid_request"}`, nil, introspect.ErrUnavailable},
		{"insufficient_scope", 403, `{"error":"insufficient_scope"}`, nil, introspect.ErrUnavailable},
		{"invalid_client", 401, `{"error":"invalid_client"}`, nil, introspect.ErrUnavailable},
		{"invalid token with 500", 500, `{"error":"invalid_token"}`, nil, introspect.ErrUnavailable},
		{"invalid token with 503", 503, `{"error":"invalid_token"}`, nil, introspect.ErrUnavailable},
		{"invalid token with 429", 429, `{"error":"invalid_token"}`, nil, introspect.ErrUnavailable},
		{"spring boot 500", 500, `{"timestamp":"2026-11-22T10:00:00.000+00:00","status":500,"error":"Internal Server Error","path":"/verify"}`, nil, introspect.ErrUnavailable},
		{"spring boot 503", 503, `{"timestamp":"2026-11-22T10:00:00.000+00:00","status":503,"error":"Service Unavailable","path":"/verify"}`, nil, introspect.ErrUnavailable},
		{"gateway 429", 429, `{"error":"too_many_requests"}`, nil, introspect.ErrUnavailable},
		{"gateway 502", 502, `{"error":"bad_gateway"}`, nil, introspect.ErrUnavailable},
		{"503 empty", 503, ``, nil, introspect.ErrUnavailable},
		{"expired", 200, `{"audience":"1","expires_in":"0"}`, nil, introspect.ErrInvalidToken},
		{"negative expiry", 200, `{"audience":"1","expires_in":-5}`, nil, introspect.ErrInvalidToken},
		{"server_error", 500, `{"error":"server_error"}`, nil, introspect.ErrUnavailable},
		{"valid body, bad status", 500, `{"audience":"1","expires_in":"60"}`, nil, introspect.ErrUnavailable},
		{"empty audience", 200, `{"audience":"","expires_in":"60"}`, nil, introspect.ErrUnavailable},
		{"no audience", 200, `{"expires_in":"60"}`, nil, introspect.ErrUnavailable},
		{"expires_in not numeric", 200, `{"audience":"1","expires_in":"soon"}`, nil, introspect.ErrUnavailable},
		{"expires_in NaN", 200, `{"audience":"1","expires_in":"NaN"}`, nil, introspect.ErrUnavailable},
		{"expires_in null", 200, `{"audience":"1","expires_in":null}`, nil, introspect.ErrUnavailable},
		{"empty body", 200, ``, nil, introspect.ErrUnavailable},
		{"trailing garbage", 200, `{"audience":"1","expires_in":"60"} x`, nil, introspect.ErrUnavailable},
		{"html", 200, `<html></html>`, nil, introspect.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVerify(tt.status, []byte(tt.body), t0)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			// Scopes are compared by their string form.
			tt.want.Scopes = got.Scopes
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseVerifyReason(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"503 empty", 503, ``, "unexpected status 503"},
		{"502 html", 502, `<html>bad gateway</html>`, "unexpected status 502"},
		{"429 json", 429, `{"error":"too_many_requests"}`, "unexpected status 429"},
		{"500 spring boot", 500, `{"status":500,"error":"Internal Server Error"}`, "unexpected status 500"},
		{"404 empty", 404, ``, "response is not a JSON object"},
		{"404 object", 404, `{}`, "unexpected status 404"},
		{"known code", 400, `{"error":"invalid_request"}`, "authorization server reported invalid_request"},
		{"upstream text stays out", 400, `{"error":"token abc is gone"}`, "authorization server reported an unknown error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseVerify(tt.status, []byte(tt.body), t0)
			var ue *introspect.UnavailableError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, tt.want, ue.Reason)
		})
	}
}

func TestParseVerifyScopes(t *testing.T) {
	got, err := parseVerify(200, []byte(`{"audience":"1","scope":"gipod_pdo_read  MapRequest","expires_in":"60"}`), t0)
	require.NoError(t, err)
	assert.Equal(t, []string{"MapRequest", "gipod_pdo_read"}, got.Scopes.List())
}

func FuzzParseVerify(f *testing.F) {
	for _, seed := range []string{
		`{"audience":"38890","scope":"MapRequest","expires_in":"14556"}`,
		`{"audience":38890,"scope":"a b","expires_in":14556}`,
		`{"error":"invalid_token"}`,
		`{"error":"server_error"}`,
		`{"audience":"1","expires_in":"-1"}`,
		`{"audience":"1","expires_in":1e400}`,
		`null`, `[]`, `"x"`, ``,
	} {
		f.Add(200, []byte(seed))
		f.Add(400, []byte(seed))
		f.Add(429, []byte(seed))
		f.Add(500, []byte(seed))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		info, err := parseVerify(status, body, t0)
		switch {
		case (status >= 500 || status == http.StatusTooManyRequests) && !errors.Is(err, introspect.ErrUnavailable):
			t.Fatalf("status %d gave %v, not unavailable", status, err)
		case err == nil:
			if info == nil || !info.Active || info.ClientID == "" || !info.ExpiresAt.After(t0) {
				t.Fatalf("accepted answer gives %+v", info)
			}
			if status != http.StatusOK {
				t.Fatalf("accepted an answer with status %d", status)
			}
		case errors.Is(err, introspect.ErrInvalidToken) == errors.Is(err, introspect.ErrUnavailable):
			t.Fatalf("error %v is not exactly one of invalid and unavailable", err)
		case info != nil:
			t.Fatalf("error %v came with a result", err)
		}
	})
}

func FuzzParseProfile(f *testing.F) {
	for _, seed := range []string{
		`{"name":"johnd","givenName":"John","surname":"Doe","contactId":"12345"}`,
		`{"contactId":12345}`,
		`{"error":"invalid_token"}`,
		`{"error":"invalid_client"}`,
		`{"name":1,"contactId":"1"}`,
		`null`, `[]`, ``,
	} {
		f.Add(200, []byte(seed))
		f.Add(401, []byte(seed))
		f.Add(503, []byte(seed))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		p, err := parseProfile(status, body, time.Time{})
		switch {
		case (status >= 500 || status == http.StatusTooManyRequests) && !errors.Is(err, introspect.ErrUnavailable):
			t.Fatalf("status %d gave %v, not unavailable", status, err)
		case err == nil:
			if p == nil || p.ContactID == "" || status != http.StatusOK {
				t.Fatalf("accepted answer (status %d) gives %+v", status, p)
			}
		case errors.Is(err, introspect.ErrInvalidToken) == errors.Is(err, introspect.ErrUnavailable):
			t.Fatalf("error %v is not exactly one of invalid and unavailable", err)
		case p != nil:
			t.Fatalf("error %v came with a result", err)
		}
	})
}

func BenchmarkParseVerify(b *testing.B) {
	body := []byte(`{"audience":"38890","scope":"MapRequest","expires_in":"3600"}`)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseVerify(http.StatusOK, body, now); err != nil {
			b.Fatal(err)
		}
	}
}
