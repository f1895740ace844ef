package jwt

import (
	"context"
	"crypto"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
)

// errAnyInvalid in a table wants some invalid-token error.
var errAnyInvalid = errors.New("any invalid token error")

func TestClaims(t *testing.T) {
	is, clock, v := standardIssuer(t)
	now := clock.Now()
	lw := introspect.DefaultLeeway
	tests := []struct {
		name string
		over map[string]any
		want error // nil: accepted
	}{
		{"valid", nil, nil},
		{"exp past beyond the leeway", map[string]any{"exp": now.Add(-lw - time.Second).Unix()}, errExpired},
		{"exp past at the leeway", map[string]any{"exp": now.Add(-lw).Unix()}, errExpired},
		{"exp past within the leeway", map[string]any{"exp": now.Add(-lw + time.Second).Unix()}, nil},
		{"exp fractional", map[string]any{"exp": float64(now.Add(time.Minute).Unix()) + 0.5}, nil},
		{"no exp", map[string]any{"exp": nil}, errNoExp},
		{"exp a string", map[string]any{"exp": "1999999999"}, errAnyInvalid},
		{"nbf future beyond the leeway", map[string]any{"nbf": now.Add(lw + time.Second).Unix()}, errNotYetValid},
		{"nbf future within the leeway", map[string]any{"nbf": now.Add(lw - time.Second).Unix()}, nil},
		{"iat future beyond the leeway", map[string]any{"iat": now.Add(lw + time.Second).Unix()}, errIssuedLater},
		{"iat future within the leeway", map[string]any{"iat": now.Add(lw - time.Second).Unix()}, nil},
		{"wrong iss", map[string]any{"iss": "https://evil.example"}, errIssuer},
		{"iss with a trailing slash", map[string]any{"iss": is.issuerID + "/"}, errIssuer},
		{"no iss", map[string]any{"iss": nil}, errIssuer},
		{"iss not a string", map[string]any{"iss": 7}, errAnyInvalid},
		{"wrong aud", map[string]any{"aud": "api://other"}, errAudience},
		{"aud array holding ours", map[string]any{"aud": []string{"api://other", audience}}, nil},
		{"aud array without ours", map[string]any{"aud": []string{"api://other", "api://third"}}, errAudience},
		{"no aud", map[string]any{"aud": nil}, errAudience},
		{"aud a number", map[string]any{"aud": 42}, errAnyInvalid},
		{"scp a number", map[string]any{"scp": 42}, errAnyInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := v.Verify(context.Background(), rs256(is, now, tt.over))
			if tt.want == errAnyInvalid {
				require.ErrorIs(t, err, introspect.ErrInvalidToken)
				return
			}
			if tt.want == nil {
				require.NoError(t, err)
				assert.True(t, info.Active)
				return
			}
			assert.Equal(t, tt.want, err)
		})
	}
}

func TestSkipAudienceCheck(t *testing.T) {
	is, clock, _ := standardIssuer(t)
	cfg := testConfig(is, clock)
	cfg.Audiences = nil
	_, err := newVerifier(cfg)
	require.Error(t, err, "aud is required by default")
	cfg.InsecureSkipAudienceCheck = true
	v := newTestVerifier(t, cfg)
	require.NoError(t, refresh(t, v))
	_, err = v.Verify(context.Background(), rs256(is, clock.Now(), map[string]any{"aud": "api://other"}))
	assert.NoError(t, err)
}

func TestLeewayConfig(t *testing.T) {
	is, clock, _ := standardIssuer(t)
	for _, tt := range []struct {
		configured, want time.Duration
	}{{0, introspect.DefaultLeeway}, {-1, 0}, {time.Minute, time.Minute}} {
		cfg := testConfig(is, clock)
		cfg.Leeway = tt.configured
		v := newTestVerifier(t, cfg)
		assert.Equal(t, tt.want, v.Leeway())
	}
	cfg := testConfig(is, clock)
	cfg.Leeway = -1
	v := newTestVerifier(t, cfg)
	require.NoError(t, refresh(t, v))
	_, err := v.Verify(context.Background(), rs256(is, clock.Now(), map[string]any{"exp": clock.Now().Unix()}))
	assert.Equal(t, errExpired, err)
	_, err = v.Verify(context.Background(), rs256(is, clock.Now(), map[string]any{"nbf": clock.Now().Add(time.Second).Unix()}))
	assert.Equal(t, errNotYetValid, err)
}

func TestRFC9068(t *testing.T) {
	is, clock, _ := standardIssuer(t)
	cfg := testConfig(is, clock)
	cfg.RFC9068 = true
	v := newTestVerifier(t, cfg)
	require.NoError(t, refresh(t, v))
	now := clock.Now()
	full := map[string]any{"client_id": "c-1", "jti": "j-1", "scope": "gipod_pdo_read gipod_pdo_write"}
	sign := signRS(rsa1, crypto.SHA256)
	for _, tt := range []struct {
		name string
		typ  any
		drop string
		want error
	}{
		{"at+jwt", "at+jwt", "", nil},
		{"application/at+jwt", "application/at+jwt", "", nil},
		{"AT+JWT", "AT+JWT", "", nil},
		{"typ JWT", "JWT", "", errTyp},
		{"no typ", nil, "", errTyp},
		{"typ a number", 1, "", errHeader},
		{"no jti", "at+jwt", "jti", invalid(`token lacks the claim "jti" that RFC 9068 requires`)},
		{"no client_id", "at+jwt", "client_id", invalid(`token lacks the claim "client_id" that RFC 9068 requires`)},
		{"no sub", "at+jwt", "sub", invalid(`token lacks the claim "sub" that RFC 9068 requires`)},
		{"no iat", "at+jwt", "iat", invalid(`token lacks the claim "iat" that RFC 9068 requires`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]any{"alg": "RS256", "kid": "k1"}
			if tt.typ != nil {
				h["typ"] = tt.typ
			}
			over := map[string]any{}
			for k, val := range full {
				over[k] = val
			}
			if tt.drop != "" {
				over[tt.drop] = nil
			}
			info, err := v.Verify(context.Background(), token(h, claimsAt(is, now, over), sign))
			if tt.want == nil {
				require.NoError(t, err)
				assert.Equal(t, "c-1", info.ClientID)
				assert.True(t, info.HasScope(scopeGIPODr))
				return
			}
			assert.EqualError(t, err, tt.want.Error())
			assert.ErrorIs(t, err, introspect.ErrInvalidToken)
		})
	}

	t.Run("not by default: typ JWT is accepted", func(t *testing.T) {
		v := newTestVerifier(t, testConfig(is, clock))
		require.NoError(t, refresh(t, v))
		_, err := v.Verify(context.Background(), rs256(is, now, nil))
		assert.NoError(t, err)
	})
}

func TestMapping(t *testing.T) {
	is, clock, v := standardIssuer(t)
	now := clock.Now()

	t.Run("Entra app-only token", func(t *testing.T) {
		info, err := v.Verify(context.Background(), rs256(is, now, map[string]any{
			"scp": nil, "roles": []string{"Orders.Read", "Orders.Write"}, "appid": "app-1", "azp": "azp-1",
			"tid": "tenant-1", "vo_ovocode": "OVO002949", "aud": []string{audience, "api://b"},
		}))
		require.NoError(t, err)
		assert.True(t, info.Active)
		assert.Equal(t, []string{"Orders.Read", "Orders.Write"}, info.Scopes.List())
		assert.Equal(t, []any{"Orders.Read", "Orders.Write"}, info.Claims["roles"], "roles stay in Claims")
		assert.Equal(t, "azp-1", info.ClientID, "azp before appid")
		assert.Equal(t, []string{audience, "api://b"}, info.Audience)
		assert.Equal(t, "tenant-1", info.StringClaim("tid"))
		assert.Equal(t, "OVO002949", info.OVOCode())
		assert.Equal(t, "user-1", info.Subject)
		assert.Equal(t, is.issuerID, info.Issuer)
		assert.Equal(t, now.Add(time.Hour), info.ExpiresAt)
		assert.Equal(t, now, info.IssuedAt)
		assert.Equal(t, now, info.NotBefore)
		for _, name := range mapped {
			assert.NotContains(t, info.Claims, name)
		}
	})
	t.Run("ADFS delegated token", func(t *testing.T) {
		info, err := v.Verify(context.Background(), rs256(is, now, map[string]any{"scp": "openid " + scopeHalland, "appid": "app-2"}))
		require.NoError(t, err)
		assert.Equal(t, []string{scopeHalland, "openid"}, info.Scopes.List())
		assert.Equal(t, "app-2", info.ClientID)
		assert.Equal(t, "openid "+scopeHalland, info.Claims["scp"])
	})
	t.Run("RFC 9068 scope and client_id", func(t *testing.T) {
		info, err := v.Verify(context.Background(), rs256(is, now, map[string]any{"scp": nil, "scope": "gipod_pdo_read  gipod_org_read", "client_id": "c", "azp": "z"}))
		require.NoError(t, err)
		assert.Equal(t, []string{"gipod_org_read", scopeGIPODr}, info.Scopes.List())
		assert.Equal(t, "c", info.ClientID)
		assert.NotContains(t, info.Claims, "scope")
	})
	t.Run("scope, scp and roles together", func(t *testing.T) {
		info, err := v.Verify(context.Background(), rs256(is, now, map[string]any{"scope": "a b", "scp": "c", "roles": []string{"d", "a"}}))
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b", "c", "d"}, info.Scopes.List())
	})
	t.Run("only mapped claims: no Claims", func(t *testing.T) {
		info, err := v.Verify(context.Background(), rs256(is, now, map[string]any{"scp": nil, "scope": scopeHalland}))
		require.NoError(t, err)
		assert.True(t, info.HasScope(scopeHalland))
		assert.Nil(t, info.Claims)
	})
	t.Run("scp array", func(t *testing.T) {
		info, err := v.Verify(context.Background(), rs256(is, now, map[string]any{"scp": []string{"a", "b"}}))
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b"}, info.Scopes.List())
	})
	t.Run("ScopeClaims leaves roles out", func(t *testing.T) {
		cfg := testConfig(is, clock)
		cfg.ScopeClaims = []string{SCPClaim}
		v := newTestVerifier(t, cfg)
		require.NoError(t, refresh(t, v))
		info, err := v.Verify(context.Background(), rs256(is, now, map[string]any{"roles": []string{"Admin"}, "scope": "x"}))
		require.NoError(t, err)
		assert.Equal(t, []string{scopeHalland}, info.Scopes.List())
		assert.Equal(t, []any{"Admin"}, info.Claims["roles"])
		assert.Equal(t, "x", info.StringClaim("scope"), "a scope claim not counted stays a claim")
	})
	t.Run("unknown ScopeClaims", func(t *testing.T) {
		cfg := testConfig(is, clock)
		cfg.ScopeClaims = []string{"groups"}
		_, err := newVerifier(cfg)
		assert.Error(t, err)
	})
	t.Run("empty ScopeClaims", func(t *testing.T) {
		cfg := testConfig(is, clock)
		cfg.ScopeClaims = []string{}
		_, err := newVerifier(cfg)
		assert.ErrorContains(t, err, "ScopeClaims is empty")
	})
}

func TestEntraIssuers(t *testing.T) {
	assert.Equal(t, []string{
		"https://sts.windows.net/t1/", "https://login.microsoftonline.com/t1/v2.0",
		"https://sts.windows.net/t2/", "https://login.microsoftonline.com/t2/v2.0",
	}, EntraIssuers("t1", " ", "t2"))
	assert.Empty(t, EntraIssuers())

	is, clock, _ := standardIssuer(t)
	cfg := testConfig(is, clock)
	cfg.Issuers = EntraIssuers("t1")
	v := newTestVerifier(t, cfg)
	require.NoError(t, refresh(t, v))
	for _, iss := range cfg.Issuers {
		_, err := v.Verify(context.Background(), rs256(is, clock.Now(), map[string]any{"iss": iss}))
		assert.NoError(t, err, iss)
	}
	_, err := v.Verify(context.Background(), rs256(is, clock.Now(), map[string]any{"iss": "https://sts.windows.net/t3/"}))
	assert.Equal(t, errIssuer, err, "a tenant not listed")
}

func TestTokenWithoutKID(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	clock := newClock()
	v := newTestVerifier(t, testConfig(is, clock))
	require.NoError(t, refresh(t, v))
	c := claimsAt(is, clock.Now(), nil)
	_, err := v.Verify(context.Background(), token(map[string]any{"alg": "RS256"}, c, signRS(rsa1, crypto.SHA256)))
	assert.NoError(t, err, "the one key of the set")

	is.publish(map[string]crypto.Signer{"k1": rsa1, "k2": rsa2})
	clock.Add(time.Hour)
	require.NoError(t, refresh(t, v))
	c = claimsAt(is, clock.Now(), nil)
	_, err = v.Verify(context.Background(), token(map[string]any{"alg": "RS256"}, c, signRS(rsa1, crypto.SHA256)))
	assert.Equal(t, errAmbiguousKey, err)
}

// TestTokenWithoutKIDNoKeyFits: a token without a kid whose algorithm no
// key of the set fits is told apart from one that several keys fit.
func TestTokenWithoutKIDNoKeyFits(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	clock := newClock()
	v := newTestVerifier(t, testConfig(is, clock))
	require.NoError(t, refresh(t, v))
	c := claimsAt(is, clock.Now(), nil)
	_, err := v.Verify(context.Background(), token(map[string]any{"alg": "ES256"}, c, signES256(ec1)))
	assert.Equal(t, errNoFittingKey, err)
	assert.NotContains(t, err.Error(), "several")
}
