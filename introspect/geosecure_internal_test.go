package introspect

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestParseGeosecure(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    *TokenInfo
		wantErr error
	}{
		{"documented", 200, `{"audience":"38890","scope":"MapRequest","expires_in":"14556"}`,
			&TokenInfo{Active: true, ClientID: "38890", Audience: []string{"38890"}, ExpiresAt: t0.Add(14556 * time.Second)}, nil},
		{"expires_in number", 200, `{"audience":"38890","scope":"MapRequest","expires_in":14556}`,
			&TokenInfo{Active: true, ClientID: "38890", Audience: []string{"38890"}, ExpiresAt: t0.Add(14556 * time.Second)}, nil},
		{"expires_in fraction", 200, `{"audience":"38890","scope":"","expires_in":1.9}`,
			&TokenInfo{Active: true, ClientID: "38890", Audience: []string{"38890"}, ExpiresAt: t0.Add(time.Second)}, nil},
		{"expires_in padded string", 200, `{"audience":"38890","expires_in":" 60 "}`,
			&TokenInfo{Active: true, ClientID: "38890", Audience: []string{"38890"}, ExpiresAt: t0.Add(time.Minute)}, nil},
		{"audience number", 200, `{"audience":38890,"scope":"a","expires_in":"60"}`,
			&TokenInfo{Active: true, ClientID: "38890", Audience: []string{"38890"}, ExpiresAt: t0.Add(time.Minute)}, nil},
		{"extra members become claims", 200, `{"audience":"1","scope":"a","expires_in":"60","vo_id":"x","n":2}`,
			&TokenInfo{Active: true, ClientID: "1", Audience: []string{"1"}, ExpiresAt: t0.Add(time.Minute), Claims: map[string]any{"vo_id": "x", "n": 2.0}}, nil},
		{"huge expires_in clamps", 200, `{"audience":"1","expires_in":1e300}`,
			&TokenInfo{Active: true, ClientID: "1", Audience: []string{"1"}, ExpiresAt: t0.Add(100 * 365 * 24 * time.Hour)}, nil},
		{"error null beside an answer", 200, `{"error":null,"audience":"1","expires_in":"60"}`,
			&TokenInfo{Active: true, ClientID: "1", Audience: []string{"1"}, ExpiresAt: t0.Add(time.Minute)}, nil},
		{"invalid token", 400, `{"error":"invalid_token"}`, nil, ErrInvalidToken},
		{"invalid token with 200", 200, `{"error":"invalid_token"}`, nil, ErrInvalidToken},
		{"invalid token with 401", 401, `{"error":"invalid_token"}`, nil, ErrInvalidToken},
		{"invalid token with 404", 404, `{"error":"invalid_token"}`, nil, ErrInvalidToken},
		{"error beats fields", 200, `{"error":"invalid_token","audience":"1","expires_in":"60"}`, nil, ErrInvalidToken},
		{"error of another type", 200, `{"error":{"code":1}}`, nil, ErrUnavailable},
		{"unknown error code", 200, `{"error":"no_such_thing"}`, nil, ErrUnavailable},
		{"unknown error code with 400", 400, `{"error":"bad_gateway"}`, nil, ErrUnavailable},
		{"empty error code", 400, `{"error":""}`, nil, ErrUnavailable},
		{"invalid_request", 400, `{"error":"invalid_request"}`, nil, ErrUnavailable},
		{"insufficient_scope", 403, `{"error":"insufficient_scope"}`, nil, ErrUnavailable},
		{"invalid_client", 401, `{"error":"invalid_client"}`, nil, ErrUnavailable},
		{"invalid token with 500", 500, `{"error":"invalid_token"}`, nil, ErrUnavailable},
		{"invalid token with 503", 503, `{"error":"invalid_token"}`, nil, ErrUnavailable},
		{"invalid token with 429", 429, `{"error":"invalid_token"}`, nil, ErrUnavailable},
		{"spring boot 500", 500, `{"timestamp":"2026-11-22T10:00:00.000+00:00","status":500,"error":"Internal Server Error","path":"/verify"}`, nil, ErrUnavailable},
		{"spring boot 503", 503, `{"timestamp":"2026-11-22T10:00:00.000+00:00","status":503,"error":"Service Unavailable","path":"/verify"}`, nil, ErrUnavailable},
		{"gateway 429", 429, `{"error":"too_many_requests"}`, nil, ErrUnavailable},
		{"gateway 502", 502, `{"error":"bad_gateway"}`, nil, ErrUnavailable},
		{"503 empty", 503, ``, nil, ErrUnavailable},
		{"expired", 200, `{"audience":"1","expires_in":"0"}`, nil, ErrInvalidToken},
		{"negative expiry", 200, `{"audience":"1","expires_in":-5}`, nil, ErrInvalidToken},
		{"server_error", 500, `{"error":"server_error"}`, nil, ErrUnavailable},
		{"valid body, bad status", 500, `{"audience":"1","expires_in":"60"}`, nil, ErrUnavailable},
		{"empty audience", 200, `{"audience":"","expires_in":"60"}`, nil, ErrUnavailable},
		{"no audience", 200, `{"expires_in":"60"}`, nil, ErrUnavailable},
		{"expires_in not numeric", 200, `{"audience":"1","expires_in":"soon"}`, nil, ErrUnavailable},
		{"expires_in NaN", 200, `{"audience":"1","expires_in":"NaN"}`, nil, ErrUnavailable},
		{"expires_in null", 200, `{"audience":"1","expires_in":null}`, nil, ErrUnavailable},
		{"empty body", 200, ``, nil, ErrUnavailable},
		{"trailing garbage", 200, `{"audience":"1","expires_in":"60"} x`, nil, ErrUnavailable},
		{"html", 200, `<html></html>`, nil, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseGeosecure(tt.status, []byte(tt.body), t0)
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

func TestParseGeosecureReason(t *testing.T) {
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
			_, err := parseGeosecure(tt.status, []byte(tt.body), t0)
			var ue *UnavailableError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, tt.want, ue.Reason)
		})
	}
}

func TestParseGeosecureScopes(t *testing.T) {
	got, err := parseGeosecure(200, []byte(`{"audience":"1","scope":"gipod_pdo_read  MapRequest","expires_in":"60"}`), t0)
	require.NoError(t, err)
	assert.Equal(t, []string{"MapRequest", "gipod_pdo_read"}, got.Scopes.List())
}

func FuzzParseGeosecure(f *testing.F) {
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
		info, err := parseGeosecure(status, body, t0)
		switch {
		case (status >= 500 || status == http.StatusTooManyRequests) && !errors.Is(err, ErrUnavailable):
			t.Fatalf("status %d gave %v, not unavailable", status, err)
		case err == nil:
			if info == nil || !info.Active || info.ClientID == "" || !info.ExpiresAt.After(t0) {
				t.Fatalf("accepted answer gives %+v", info)
			}
			if status != http.StatusOK {
				t.Fatalf("accepted an answer with status %d", status)
			}
		case errors.Is(err, ErrInvalidToken) == errors.Is(err, ErrUnavailable):
			t.Fatalf("error %v is not exactly one of invalid and unavailable", err)
		case info != nil:
			t.Fatalf("error %v came with a result", err)
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{" 5 ", 5 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"1.5", 0},
		{"99999999", time.Hour},
		{t0.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{t0.Add(-30 * time.Second).Format(http.TimeFormat), 0},
		{"tomorrow", 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, parseRetryAfter(tt.in, t0), "%q", tt.in)
	}
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
		case (status >= 500 || status == http.StatusTooManyRequests) && !errors.Is(err, ErrUnavailable):
			t.Fatalf("status %d gave %v, not unavailable", status, err)
		case err == nil:
			if p == nil || p.ContactID == "" || status != http.StatusOK {
				t.Fatalf("accepted answer (status %d) gives %+v", status, p)
			}
		case errors.Is(err, ErrInvalidToken) == errors.Is(err, ErrUnavailable):
			t.Fatalf("error %v is not exactly one of invalid and unavailable", err)
		case p != nil:
			t.Fatalf("error %v came with a result", err)
		}
	})
}

func BenchmarkParseGeosecure(b *testing.B) {
	body := []byte(`{"audience":"38890","scope":"MapRequest","expires_in":"3600"}`)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseGeosecure(http.StatusOK, body, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseIntrospection(b *testing.B) {
	body := []byte(`{"active":true,"client_id":"38890","scope":"gipod_pdo_read vo_info","exp":1900000000,"iat":1800000000,` +
		`"iss":"https://authenticatie.vlaanderen.be/op","sub":"u1","token_type":"Bearer","vo_id":"d6b5a1f4","vo_orgcode":"OVO002949"}`)
	now := time.Unix(1800000100, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseIntrospection(http.StatusOK, body, now, "https://authenticatie.vlaanderen.be/op", DefaultLeeway); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzJSONString checks jsonString's quick path against encoding/json.
func FuzzJSONString(f *testing.F) {
	for _, seed := range []string{`"MapRequest"`, `"a\"b"`, `"\u00e9"`, `"é"`, "\"\xff\"", `""`, `"\n"`, `7`, `null`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want string
		wantErr := json.Unmarshal(raw, &want)
		got, ok := jsonString(raw)
		if (wantErr == nil) != ok || got != want {
			t.Fatalf("jsonString(%q) = %q, %v; encoding/json: %q, %v", raw, got, ok, want, wantErr)
		}
	})
}
