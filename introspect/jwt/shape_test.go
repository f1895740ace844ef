package jwt

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
)

func TestLooksLikeJWT(t *testing.T) {
	is, clock, _ := standardIssuer(t)
	for _, tt := range []struct {
		name  string
		token string
		want  bool
	}{
		{"a JWT", rs256(is, clock.Now(), nil), true},
		{"opaque", "2YotnFZFEjr1zCsicMWpAA-0123456789abcdefghijk", false},
		{"opaque with dots", "abc.def.ghi", false},
		{"eyJ without dots", "eyJhbGciOiJSUzI1NiJ9", false},
		{"JWE", "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", false},
		{"header without alg", b64([]byte(`{"typ":"JWT"}`)) + ".e30.c2ln", false},
		{"header not JSON", "eyJub3Q.e30.c2ln", false},
		{"alg null", b64([]byte(`{"alg":null}`)) + ".e30.c2ln", false},
		{"four dots", "eyJhbGciOiJSUzI1NiJ9.a.b.c", false},
		{"empty", "", false},
	} {
		assert.Equal(t, tt.want, LooksLikeJWT(tt.token), tt.name)
	}
}

func TestFallback(t *testing.T) {
	is, clock, v := standardIssuer(t)
	var opaqueCalls []string
	opaque := introspect.VerifierFunc(func(_ context.Context, token string) (*introspect.TokenInfo, error) {
		opaqueCalls = append(opaqueCalls, token)
		return &introspect.TokenInfo{Active: true, ClientID: "acm"}, nil
	})
	f := WithFallback(v, opaque)

	info, err := f.Verify(context.Background(), rs256(is, clock.Now(), nil))
	require.NoError(t, err)
	assert.Equal(t, "user-1", info.Subject)

	info, err = f.Verify(context.Background(), "2YotnFZFEjr1zCsicMWpAA")
	require.NoError(t, err)
	assert.Equal(t, "acm", info.ClientID)

	_, err = f.Verify(context.Background(), rs256(is, clock.Now(), map[string]any{"aud": "api://other"}))
	assert.Equal(t, errAudience, err, "a refused JWT is not sent on")
	assert.Equal(t, []string{"2YotnFZFEjr1zCsicMWpAA"}, opaqueCalls)

	_, err = WithFallback(v, nil).Verify(context.Background(), "2YotnFZFEjr1zCsicMWpAA")
	assert.True(t, errors.Is(err, introspect.ErrInvalidToken))
}

type leewayVerifier struct {
	introspect.Verifier
	leeway time.Duration
}

func (l leewayVerifier) Leeway() time.Duration { return l.leeway }

func TestFallbackLeeway(t *testing.T) {
	_, _, v := standardIssuer(t)
	assert.Equal(t, v.Leeway(), WithFallback(v, nil).Leeway())
	assert.Zero(t, WithFallback(v, introspect.VerifierFunc(nil)).Leeway())
	assert.Equal(t, 10*time.Second, WithFallback(v, leewayVerifier{leeway: 10 * time.Second}).Leeway())
	assert.Equal(t, v.Leeway(), WithFallback(v, leewayVerifier{leeway: time.Hour}).Leeway())
}

// TestBehindCache: a Cache in front takes the Verifier's leeway and keeps
// its answers.
func TestBehindCache(t *testing.T) {
	is, clock, v := standardIssuer(t)
	c, err := introspect.NewCache(v, introspect.CacheConfig{Now: clock.Now})
	require.NoError(t, err)
	defer c.Close()
	tok := rs256(is, clock.Now(), nil)
	for range 3 {
		info, err := c.Verify(context.Background(), tok)
		require.NoError(t, err)
		assert.True(t, info.HasScope(scopeHalland))
	}
}
