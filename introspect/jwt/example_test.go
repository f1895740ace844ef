package jwt_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/jwt"
)

// Example validates a Region Halland style access token: an RS256 JWT
// from ADFS, whose key set a loopback server publishes here.
func Example() {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "adfs-1", Use: "sig"}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = w.Write(jwks)
	}))
	defer srv.Close()

	v, err := jwt.New(jwt.Config{
		JWKSURL:   srv.URL,
		Issuers:   []string{"http://adfs.example.se/adfs/services/trust"},
		Audiences: []string{"api://exempelapi"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()
	// Until its key set has loaded, a Verifier answers unavailable (503).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.WaitReady(ctx); err != nil {
		fmt.Println(err)
		return
	}
	cache, _ := introspect.NewCache(v, introspect.CacheConfig{})
	defer cache.Close()

	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "adfs-1"}}, nil)
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"iss": "http://adfs.example.se/adfs/services/trust", "aud": "api://exempelapi",
		"appid": "halland-client", "scp": "exempelapi.Public", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
	})
	signed, _ := signer.Sign(claims)
	token, _ := signed.CompactSerialize()

	info, err := cache.Verify(context.Background(), token)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(info.ClientID, info.HasScope("exempelapi.Public"))

	_, err = cache.Verify(context.Background(), token[:len(token)-4]+"AAAA")
	fmt.Println(err)
	// Output:
	// halland-client true
	// introspect: invalid token: token signature is invalid
}
