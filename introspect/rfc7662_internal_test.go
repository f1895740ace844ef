package introspect

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
		want   *TokenInfo
		err    error
	}{
		{name: "ACM answer", status: 200,
			body:   `{"active":true,"client_id":"c1","scope":"gipod_pdo_read vo_info","exp":` + itoa(exp) + `,"iat":1700000000,"iss":"` + iss + `","sub":"u1","token_type":"Bearer","vo_id":"abc","vo_orgcode":"OVO002949","credential_manager":{"code":"DV","name":"Digitaal Vlaanderen"}}`,
			issuer: iss,
			want: &TokenInfo{Active: true, ClientID: "c1", Scopes: scopes.New("gipod_pdo_read", "vo_info"),
				ExpiresAt: at(exp), IssuedAt: at(1700000000), Issuer: iss, Subject: "u1", TokenType: "Bearer",
				Claims: map[string]any{"vo_id": "abc", "vo_orgcode": "OVO002949",
					"credential_manager": map[string]any{"code": "DV", "name": "Digitaal Vlaanderen"}}}},
		{name: "minimal", status: 200, body: `{"active":true}`, want: &TokenInfo{Active: true, Scopes: scopes.Set{}}},
		{name: "scope as array", status: 200, body: `{"active":true,"scope":["b","a","b"]}`, want: &TokenInfo{Active: true, Scopes: scopes.New("a", "b")}},
		{name: "aud as string", status: 200, body: `{"active":true,"aud":"api"}`, want: &TokenInfo{Active: true, Scopes: scopes.Set{}, Audience: []string{"api"}}},
		{name: "aud as array", status: 200, body: `{"active":true,"aud":["a","b"]}`, want: &TokenInfo{Active: true, Scopes: scopes.Set{}, Audience: []string{"a", "b"}}},
		{name: "numeric strings", status: 200, body: `{"active":true,"exp":"` + itoa(exp) + `","nbf":"1700000000.5"}`,
			want: &TokenInfo{Active: true, Scopes: scopes.Set{}, ExpiresAt: at(exp), NotBefore: at(1700000000)}},
		{name: "nulls are absent", status: 200, body: `{"active":true,"scope":null,"aud":null,"exp":null,"sub":null}`, want: &TokenInfo{Active: true, Scopes: scopes.Set{}}},
		{name: "same issuer", status: 200, body: `{"active":true,"iss":"` + iss + `"}`, issuer: iss, want: &TokenInfo{Active: true, Scopes: scopes.Set{}, Issuer: iss}},
		{name: "no iss with issuer configured", status: 200, body: `{"active":true}`, issuer: iss, want: &TokenInfo{Active: true, Scopes: scopes.Set{}}},
		{name: "exp within leeway", status: 200, body: `{"active":true,"exp":` + itoa(t0.Unix()-10) + `}`,
			want: &TokenInfo{Active: true, Scopes: scopes.Set{}, ExpiresAt: at(t0.Unix() - 10)}},

		{name: "inactive", status: 200, body: `{"active":false,"scope":"x","exp":` + itoa(exp) + `}`, err: ErrInvalidToken},
		{name: "inactive ignores broken members", status: 200, body: `{"active":false,"scope":7}`, err: ErrInvalidToken},
		{name: "inactive beside an error", status: 200, body: `{"active":false,"error":"server_error"}`, err: ErrInvalidToken},
		{name: "inactive with spaces", status: 200, body: `{ "active" : false }`, err: ErrInvalidToken},
		{name: "expired", status: 200, body: `{"active":true,"exp":` + itoa(t0.Unix()-31) + `}`, err: ErrInvalidToken},
		{name: "not yet valid", status: 200, body: `{"active":true,"nbf":` + itoa(t0.Unix()+31) + `}`, err: ErrInvalidToken},
		{name: "other issuer", status: 200, body: `{"active":true,"iss":"https://evil.example"}`, issuer: iss, err: ErrInvalidToken},

		{name: "empty object", status: 200, body: `{}`, err: ErrUnavailable},
		{name: "active missing", status: 200, body: `{"scope":"x","exp":` + itoa(exp) + `}`, err: ErrUnavailable},
		{name: "error object", status: 200, body: `{"error":"server_error"}`, err: ErrUnavailable},
		{name: "error invalid_token without active", status: 200, body: `{"error":"invalid_token"}`, err: ErrUnavailable},
		{name: "message", status: 200, body: `{"message":"Internal error, please try again"}`, err: ErrUnavailable},
		{name: "active as string", status: 200, body: `{"active":"true"}`, err: ErrUnavailable},
		{name: "active as string false", status: 200, body: `{"active":"false"}`, err: ErrUnavailable},
		{name: "active as number", status: 200, body: `{"active":1}`, err: ErrUnavailable},
		{name: "active null", status: 200, body: `{"active":null}`, err: ErrUnavailable},
		{name: "active as object", status: 200, body: `{"active":{}}`, err: ErrUnavailable},

		{name: "our credentials refused", status: 401, body: `{"error":"invalid_client"}`, err: ErrUnavailable},
		{name: "forbidden", status: 403, body: `{"active":false}`, err: ErrUnavailable},
		{name: "server error", status: 500, body: `{"active":true}`, err: ErrUnavailable},
		{name: "bad request", status: 400, body: `{"error":"invalid_request"}`, err: ErrUnavailable},
		{name: "HTML", status: 200, body: `<html>oops</html>`, err: ErrUnavailable},
		{name: "empty", status: 200, body: ``, err: ErrUnavailable},
		{name: "JSON null", status: 200, body: `null`, err: ErrUnavailable},
		{name: "JSON array", status: 200, body: `[{"active":true}]`, err: ErrUnavailable},
		{name: "truncated", status: 200, body: `{"active":true,"scope":"a`, err: ErrUnavailable},
		{name: "scope as number", status: 200, body: `{"active":true,"scope":5}`, err: ErrUnavailable},
		{name: "scope array of numbers", status: 200, body: `{"active":true,"scope":[1,2]}`, err: ErrUnavailable},
		{name: "exp as word", status: 200, body: `{"active":true,"exp":"soon"}`, err: ErrUnavailable},
		{name: "exp negative", status: 200, body: `{"active":true,"exp":-5}`, err: ErrUnavailable},
		{name: "exp as bool", status: 200, body: `{"active":true,"exp":true}`, err: ErrUnavailable},
		{name: "aud as number", status: 200, body: `{"active":true,"aud":3}`, err: ErrUnavailable},
		{name: "client_id as number", status: 200, body: `{"active":true,"client_id":3}`, err: ErrUnavailable},
		{name: "sub as object", status: 200, body: `{"active":true,"sub":{}}`, err: ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := parseIntrospection(tt.status, []byte(tt.body), t0, tt.issuer, DefaultLeeway)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				assert.Nil(t, info)
				if errors.Is(tt.err, ErrUnavailable) {
					assert.NotErrorIs(t, err, ErrInvalidToken)
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
	assert.ErrorIs(t, err, ErrInvalidToken, "no leeway: a second past exp is expired")
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
		info, err := parseIntrospection(status, body, t0, "https://i", DefaultLeeway)
		// active is the raw "active" member, or "" when body is no object.
		var members map[string]json.RawMessage
		_ = json.Unmarshal(body, &members)
		active := string(members["active"])
		if err != nil {
			if info != nil {
				t.Fatal("an error with a TokenInfo")
			}
			if errors.Is(err, ErrInvalidToken) == errors.Is(err, ErrUnavailable) {
				t.Fatalf("error is neither or both of invalid and unavailable: %v", err)
			}
			if errors.Is(err, ErrInvalidToken) && status != 200 {
				t.Fatalf("status %d gave an invalid token; only a 200 may", status)
			}
			// Only a boolean "active" lets the server condemn a token.
			if errors.Is(err, ErrInvalidToken) && active != "true" && active != "false" {
				t.Fatalf(`an answer without a boolean "active" gave an invalid token: %v`, err)
			}
			if status == 200 && active == "false" && !errors.Is(err, ErrInvalidToken) {
				t.Fatalf(`"active": false gave %v, not an invalid token`, err)
			}
			return
		}
		if !info.Active || status != 200 || active != "true" {
			t.Fatalf("accepted: active=%v (member %q) status=%d", info.Active, active, status)
		}
		if !info.ExpiresAt.IsZero() && !t0.Before(info.ExpiresAt.Add(DefaultLeeway)) {
			t.Fatal("accepted an expired token")
		}
		if info.Issuer != "" && info.Issuer != "https://i" {
			t.Fatal("accepted a token from another issuer")
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
