package jwt

import (
	"context"
	"fmt"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// BenchmarkVerifyRS256 verifies a first-seen JWT each time: one header
// and claims parse and one RS256 signature check, no cache in front.
func BenchmarkVerifyRS256(b *testing.B) {
	is, clock, v := standardIssuer(b)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: rsa1, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		b.Fatal(err)
	}
	const n = 256
	tokens := make([]string, n)
	for i := range tokens {
		c := claimsAt(is, clock.Now(), map[string]any{"jti": fmt.Sprint(i), "vo_ovocode": "OVO002949"})
		obj, err := signer.Sign(mustJSON(c))
		if err != nil {
			b.Fatal(err)
		}
		if tokens[i], err = obj.CompactSerialize(); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := v.Verify(ctx, tokens[i%n]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkShapeOpaque is what a Fallback costs an opaque 43-character
// token before handing it on.
func BenchmarkShapeOpaque(b *testing.B) {
	tok := "2YotnFZFEjr1zCsicMWpAA-Ez3x_9Qk7hJ0mTpLw5aB"
	if len(tok) != 43 {
		b.Fatal(len(tok))
	}
	b.ReportAllocs()
	for b.Loop() {
		if LooksLikeJWT(tok) {
			b.Fatal("opaque token looks like a JWT")
		}
	}
}

// BenchmarkShapeJWT is the shape check of a JWT, paid before Verify.
func BenchmarkShapeJWT(b *testing.B) {
	is, clock, _ := standardIssuer(b)
	tok := rs256(is, clock.Now(), nil)
	b.ReportAllocs()
	for b.Loop() {
		if !LooksLikeJWT(tok) {
			b.Fatal("not a JWT")
		}
	}
}
