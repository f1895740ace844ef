package rfc7662

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/scopes"
)

func TestParseIntrospection(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	exp := t0.Add(time.Hour).Unix()
	const iss = "https://authenticatie.vlaanderen.be/op"
	at := func(unix int64) time.Time { return time.Unix(unix, 0) }

	tests := []struct {
		name   string
		status int
		body   string
		issuer string
		want   *introspect.TokenInfo
		err    error
	}{
		{name: "ACM answer", status: 200,
			body:   `{"active":true,"client_id":"c1","scope":"gipod_pdo_read vo_info","exp":` + itoa(exp) + `,"iat":1700000000,"iss":"` + iss + `","sub":"u1","token_type":"Bearer","vo_id":"abc","vo_orgcode":"OVO002949","credential_manager":{"code":"DV","name":"Digitaal Vlaanderen"}}`,
			issuer: iss,
			want: &introspect.TokenInfo{Active: true, ClientID: "c1", Scopes: scopes.New("gipod_pdo_read", "vo_info"),
				ExpiresAt: at(exp), IssuedAt: at(1700000000), Issuer: iss, Subject: "u1", TokenType: "Bearer",
				Claims: map[string]any{"vo_id": "abc", "vo_orgcode": "OVO002949",
					"credential_manager": map[string]any{"code": "DV", "name": "Digitaal Vlaanderen"}}}},
		{name: "minimal", status: 200, body: `{"active":true}`, want: &introspect.TokenInfo{Active: true, Scopes: scopes.Set{}}},
		{name: "scope as array", status: 200, body: `{"active":true,"scope":["b","a","b"]}`, want: &introspect.TokenInfo{Active: true, Scopes: scopes.New("a", "b")}},
		{name: "aud as string", status: 200, body: `{"active":true,"aud":"api"}`, want: &introspect.TokenInfo{Active: true, Scopes: scopes.Set{}, Audience: []string{"api"}}},
		{name: "aud as array", status: 200, body: `{"active":true,"aud":["a","b"]}`, want: &introspect.TokenInfo{Active: true, Scopes: scopes.Set{}, Audience: []string{"a", "b"}}},
		{name: "numeric strings", status: 200, body: `{"active":true,"exp":"` + itoa(exp) + `","nbf":"1700000000.5"}`,
			want: &introspect.TokenInfo{Active: true, Scopes: scopes.Set{}, ExpiresAt: at(exp), NotBefore: at(1700000000)}},
		{name: "nulls are absent", status: 200, body: `{"active":true,"scope":null,"aud":null,"exp":null,"sub":null}`, want: &introspect.TokenInfo{Active: true, Scopes: scopes.Set{}}},
		{name: "same issuer", status: 200, body: `{"active":true,"iss":"` + iss + `"}`, issuer: iss, want: &introspect.TokenInfo{Active: true, Scopes: scopes.Set{}, Issuer: iss}},
		{name: "no iss with issuer configured", status: 200, body: `{"active":true}`, issuer: iss, want: &introspect.TokenInfo{Active: true, Scopes: scopes.Set{}}},
		{name: "exp within leeway", status: 200, body: `{"active":true,"exp":` + itoa(t0.Unix()-10) + `}`,
			want: &introspect.TokenInfo{Active: true, Scopes: scopes.Set{}, ExpiresAt: at(t0.Unix() - 10)}},

		{name: "inactive", status: 200, body: `{"active":false,"scope":"x","exp":` + itoa(exp) + `}`, err: introspect.ErrInvalidToken},
		{name: "inactive ignores broken members", status: 200, body: `{"active":false,"scope":7}`, err: introspect.ErrInvalidToken},
		{name: "inactive beside an error", status: 200, body: `{"active":false,"error":"server_error"}`, err: introspect.ErrInvalidToken},
		{name: "inactive with spaces", status: 200, body: `{ "active" : false }`, err: introspect.ErrInvalidToken},
		{name: "expired", status: 200, body: `{"active":true,"exp":` + itoa(t0.Unix()-31) + `}`, err: introspect.ErrInvalidToken},
		{name: "not yet valid", status: 200, body: `{"active":true,"nbf":` + itoa(t0.Unix()+31) + `}`, err: introspect.ErrInvalidToken},
		{name: "other issuer", status: 200, body: `{"active":true,"iss":"https://evil.example"}`, issuer: iss, err: introspect.ErrInvalidToken},

		{name: "empty object", status: 200, body: `{}`, err: introspect.ErrUnavailable},
		{name: "active missing", status: 200, body: `{"scope":"x","exp":` + itoa(exp) + `}`, err: introspect.ErrUnavailable},
		{name: "error object", status: 200, body: `{"error":"server_error"}`, err: introspect.ErrUnavailable},
		{name: "error invalid_token without active", status: 200, body: `{"error":"invalid_token"}`, err: introspect.ErrUnavailable},
		{name: "message", status: 200, body: `{"message":"Internal error, please try again"}`, err: introspect.ErrUnavailable},
		{name: "active as string", status: 200, body: `{"active":"true"}`, err: introspect.ErrUnavailable},
		{name: "active as string false", status: 200, body: `{"active":"false"}`, err: introspect.ErrUnavailable},
		{name: "active as number", status: 200, body: `{"active":1}`, err: introspect.ErrUnavailable},
		{name: "active null", status: 200, body: `{"active":null}`, err: introspect.ErrUnavailable},
		{name: "active as object", status: 200, body: `{"active":{}}`, err: introspect.ErrUnavailable},

		{name: "our credentials refused", status: 401, body: `{"error":"invalid_client"}`, err: introspect.ErrUnavailable},
		{name: "forbidden", status: 403, body: `{"active":false}`, err: introspect.ErrUnavailable},
		{name: "server error", status: 500, body: `{"active":true}`, err: introspect.ErrUnavailable},
		{name: "bad request", status: 400, body: `{"error":"invalid_request"}`, err: introspect.ErrUnavailable},
		{name: "HTML", status: 200, body: `<html>oops</html>`, err: introspect.ErrUnavailable},
		{name: "empty", status: 200, body: ``, err: introspect.ErrUnavailable},
		{name: "JSON null", status: 200, body: `null`, err: introspect.ErrUnavailable},
		{name: "JSON array", status: 200, body: `[{"active":true}]`, err: introspect.ErrUnavailable},
		{name: "truncated", status: 200, body: `{"active":true,"scope":"a`, err: introspect.ErrUnavailable},
		{name: "scope as number", status: 200, body: `{"active":true,"scope":5}`, err: introspect.ErrUnavailable},
		{name: "scope array of numbers", status: 200, body: `{"active":true,"scope":[1,2]}`, err: introspect.ErrUnavailable},
		{name: "exp as word", status: 200, body: `{"active":true,"exp":"soon"}`, err: introspect.ErrUnavailable},
		{name: "exp negative", status: 200, body: `{"active":true,"exp":-5}`, err: introspect.ErrUnavailable},
		{name: "exp as bool", status: 200, body: `{"active":true,"exp":true}`, err: introspect.ErrUnavailable},
		{name: "aud as number", status: 200, body: `{"active":true,"aud":3}`, err: introspect.ErrUnavailable},
		{name: "client_id as number", status: 200, body: `{"active":true,"client_id":3}`, err: introspect.ErrUnavailable},
		{name: "sub as object", status: 200, body: `{"active":true,"sub":{}}`, err: introspect.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := parseIntrospection(tt.status, []byte(tt.body), t0, tt.issuer, introspect.DefaultLeeway)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				assert.Nil(t, info)
				if errors.Is(tt.err, introspect.ErrUnavailable) {
					assert.NotErrorIs(t, err, introspect.ErrInvalidToken)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, info)
		})
	}
}

func TestParseIntrospectionLeeway(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	body := []byte(`{"active":true,"exp":` + itoa(t0.Unix()-1) + `}`)
	_, err := parseIntrospection(200, body, t0, "", 0)
	assert.ErrorIs(t, err, introspect.ErrInvalidToken, "no leeway: a second past exp is expired")
	_, err = parseIntrospection(200, body, t0, "", 2*time.Second)
	assert.NoError(t, err)
}

func TestNumericDate(t *testing.T) {
	for raw, want := range map[string]time.Time{
		`1700000000`:     time.Unix(1700000000, 0),
		`1.7e9`:          time.Unix(1700000000, 0),
		`" 1700000000 "`: time.Unix(1700000000, 0),
		`1e300`:          time.Unix(253402300799, 0),
		`null`:           {},
		``:               {},
	} {
		got, ok := numericDate([]byte(raw))
		assert.True(t, ok, raw)
		assert.True(t, want.Equal(got), "%s: got %v", raw, got)
	}
	for _, raw := range []string{`"x"`, `-1`, `[]`, `{}`, `"NaN"`, `"Inf"`, `true`} {
		_, ok := numericDate([]byte(raw))
		assert.False(t, ok, raw)
	}
}

func FuzzParseIntrospection(f *testing.F) {
	for _, seed := range []string{
		`{"active":true,"client_id":"c","scope":"a b","exp":1800000000,"iat":1700000000,"iss":"https://i","sub":"s","aud":["x"],"vo_id":"v"}`,
		`{"active":false}`,
		`{"active":true,"scope":["a","b"],"aud":"x","exp":"1800000000","nbf":"1"}`,
		`{"active":"true"}`,
		`{}`, `{"error":"server_error"}`, `{"active":false,"scope":7}`, `{"active":null}`,
		`{"active":true,"exp":1e400}`,
		`{"active":true,"credential_manager":{"code":"x","name":"y"}}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add(200, []byte(seed))
	}
	f.Add(401, []byte(`{"active":true}`))
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		info, err := parseIntrospection(status, body, t0, "https://i", introspect.DefaultLeeway)
		// active is the raw "active" member, or "" when body is no object.
		var members map[string]json.RawMessage
		_ = json.Unmarshal(body, &members)
		active := string(members["active"])
		if err != nil {
			if info != nil {
				t.Fatal("an error with a introspect.TokenInfo")
			}
			if errors.Is(err, introspect.ErrInvalidToken) == errors.Is(err, introspect.ErrUnavailable) {
				t.Fatalf("error is neither or both of invalid and unavailable: %v", err)
			}
			if errors.Is(err, introspect.ErrInvalidToken) && status != 200 {
				t.Fatalf("status %d gave an invalid token; only a 200 may", status)
			}
			// Only a boolean "active" lets the server condemn a token.
			if errors.Is(err, introspect.ErrInvalidToken) && active != "true" && active != "false" {
				t.Fatalf(`an answer without a boolean "active" gave an invalid token: %v`, err)
			}
			if status == 200 && active == "false" && !errors.Is(err, introspect.ErrInvalidToken) {
				t.Fatalf(`"active": false gave %v, not an invalid token`, err)
			}
			return
		}
		if !info.Active || status != 200 || active != "true" {
			t.Fatalf("accepted: active=%v (member %q) status=%d", info.Active, active, status)
		}
		if !info.ExpiresAt.IsZero() && !t0.Before(info.ExpiresAt.Add(introspect.DefaultLeeway)) {
			t.Fatal("accepted an expired token")
		}
		if info.Issuer != "" && info.Issuer != "https://i" {
			t.Fatal("accepted a token from another issuer")
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func BenchmarkParseIntrospection(b *testing.B) {
	body := []byte(`{"active":true,"client_id":"38890","scope":"gipod_pdo_read vo_info","exp":1900000000,"iat":1800000000,` +
		`"iss":"https://authenticatie.vlaanderen.be/op","sub":"u1","token_type":"Bearer","vo_id":"d6b5a1f4","vo_orgcode":"OVO002949"}`)
	now := time.Unix(1800000100, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseIntrospection(http.StatusOK, body, now, "https://authenticatie.vlaanderen.be/op", introspect.DefaultLeeway); err != nil {
			b.Fatal(err)
		}
	}
}
