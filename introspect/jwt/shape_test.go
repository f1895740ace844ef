package jwt

import (
	"context"
	"crypto"
	"encoding/base64"
	"errors"
	"strings"
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
		{"opaque with two dots and other characters", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln~", false},
		{"eyJ without dots", "eyJhbGciOiJSUzI1NiJ9", false},
		{"JWE", "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", true},
		{"header without alg", b64([]byte(`{"typ":"JWT"}`)) + ".e30.c2ln", false},
		{"header with a number for alg", b64([]byte(`{"alg":256}`)) + ".e30.c2ln", false},
		{"header with ALG, matched whatever its case", b64([]byte(`{"ALG":"RS256"}`)) + ".e30.c2ln", true},
		{"header opening an object that does not close", b64([]byte(`{"alg":"RS256"`)) + ".e30.c2ln", false},
		{"header after whitespace", b64([]byte(" \t\r\n {\"alg\":\"RS256\"}")) + ".e30.c2ln", true},
		{"header after much whitespace", b64([]byte(strings.Repeat(" ", 100)+`{"alg":"RS256"}`)) + ".e30.c2ln", true},
		{"header not an object", b64([]byte(`["alg"]`)) + ".e30.c2ln", false},
		{"header all whitespace", b64([]byte("    ")) + ".e30.c2ln", false},
		{"header of one character", "e.e30.c2ln", false},
		{"empty header", ".e30.c2ln", false},
		{"three dots", "eyJhbGciOiJSUzI1NiJ9.a.b.c", false},
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

func TestFallbackNoWait(t *testing.T) {
	is, clock, v := standardIssuer(t)
	noWait := introspect.NoWait(context.Background())
	opaque := introspect.VerifierFunc(func(context.Context, string) (*introspect.TokenInfo, error) {
		t.Error("an opaque Verifier that may wait was called with a NoWait ctx")
		return nil, nil
	})
	f := WithFallback(v, opaque)
	assert.True(t, f.VerifiesLocally())
	info, err := f.Verify(noWait, rs256(is, clock.Now(), nil))
	require.NoError(t, err)
	assert.Equal(t, "user-1", info.Subject)
	_, err = f.Verify(noWait, "2YotnFZFEjr1zCsicMWpAA")
	assert.ErrorIs(t, err, introspect.ErrWouldWait)

	_, err = WithFallback(v, nil).Verify(noWait, "2YotnFZFEjr1zCsicMWpAA")
	assert.ErrorIs(t, err, introspect.ErrInvalidToken)

	// An opaque Verifier that verifies locally is called: here a Fallback
	// without one for opaque tokens, which refuses them at once.
	_, err = WithFallback(v, WithFallback(v, nil)).Verify(noWait, "2YotnFZFEjr1zCsicMWpAA")
	assert.Equal(t, errOpaque, err)
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

// TestFallbackKeepsJWTs: a validly signed JWT whose header JSON starts
// with whitespace is accepted locally, so it must not be sent to the
// opaque verifier; nor is a JWE, which the local Verifier refuses.
func TestFallbackKeepsJWTs(t *testing.T) {
	is, clock, v := standardIssuer(t)
	hdr := b64([]byte(` {"alg":"RS256","kid":"k1"}`))
	input := hdr + "." + b64(mustJSON(claimsAt(is, clock.Now(), nil)))
	spaced := input + "." + b64(signRS(rsa1, crypto.SHA256)([]byte(input)))
	_, err := v.Verify(context.Background(), spaced)
	require.NoError(t, err, "the local Verifier accepts it")

	var sent []string
	f := WithFallback(v, introspect.VerifierFunc(func(_ context.Context, token string) (*introspect.TokenInfo, error) {
		sent = append(sent, token)
		return nil, introspect.ErrInvalidToken
	}))
	_, err = f.Verify(context.Background(), spaced)
	assert.NoError(t, err)
	_, err = f.Verify(context.Background(), "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d")
	assert.Equal(t, errJWE, err)
	assert.Empty(t, sent, "a JWT was sent to the opaque verifier")
}

// TestFallbackKeepsNearlyJWTs: a valid JWT changed into something that is
// not one, but holds most of it, is refused, and not sent to the opaque
// verifier either; an opaque token with dots is.
func TestFallbackKeepsNearlyJWTs(t *testing.T) {
	is, clock, v := standardIssuer(t)
	var sent []string
	f := WithFallback(v, introspect.VerifierFunc(func(_ context.Context, token string) (*introspect.TokenInfo, error) {
		sent = append(sent, token)
		return &introspect.TokenInfo{Active: true}, nil
	}))
	jwt := rs256(is, clock.Now(), nil)
	header, rest, _ := strings.Cut(jwt, ".")
	dot := strings.LastIndexByte(jwt, '.')
	sig, err := base64.RawURLEncoding.DecodeString(jwt[dot+1:])
	require.NoError(t, err)
	for name, tok := range map[string]string{
		"padded":            jwt + "=",
		"padded header":     header + "==." + rest,
		"standard base64":   jwt[:dot+1] + base64.StdEncoding.EncodeToString(sig), // padded: 256 bytes
		"another character": jwt + "~",
		"another segment":   jwt + ".x",
		"two more segments": jwt + ".x.y",
		"no signature":      jwt[:dot+1],
		"space-led header":  b64([]byte(` {"alg":"RS256"}`)) + "==." + rest,
		"a dot before":      "." + jwt,
		"a segment before":  "x." + jwt,
		"a dot less":        jwt[:dot] + jwt[dot+1:],
		"a dot more":        header + ".." + rest,
	} {
		_, err := f.Verify(context.Background(), tok)
		require.ErrorIs(t, err, introspect.ErrInvalidToken, name)
	}
	assert.Empty(t, sent, "most of a JWT was sent to the opaque verifier")

	opaque := []string{
		"abc.def.ghi", "2YotnFZFEjr1zCsicMWpAA==", "LTgaAik7F-smmQ65_nVfag==", "W10.e30.c2ln",
		"eyI.a.b", // decodes to {" and no more
		b64([]byte(`{"typ":"JWT"}`)) + ".e30.c2ln~", b64([]byte(`{"a":1}`)) + ".x.y.z",
		"eyJhbGciOiJSUzI1NiJ9", // a header alone
	}
	for _, tok := range opaque {
		_, err := f.Verify(context.Background(), tok)
		require.NoError(t, err, tok)
	}
	assert.Equal(t, opaque, sent)
}
