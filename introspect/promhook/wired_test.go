package promhook_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/jwt"
	"github.com/tokengate/tokengate/introspect/promhook"
)

// TestWiredToACache checks the Collector against what a real Cache in
// front of the fake Geosecure server reports.
func TestWiredToACache(t *testing.T) {
	srv := introspecttest.NewServer()
	defer srv.Close()
	c, reg := register(t, promhook.Config{})
	verifier, err := geosecure.New(geosecure.Config{URL: srv.VerifyURL()})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := introspect.NewCache(verifier, introspect.CacheConfig{Hooks: c.Hooks()})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	ctx := context.Background()

	token := srv.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "38890"})
	for range 3 {
		if _, err := cache.Verify(ctx, token); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cache.Verify(ctx, "not-a-token"); !errors.Is(err, introspect.ErrInvalidToken) {
		t.Fatalf("unknown token: %v", err)
	}
	srv.SetFault(introspecttest.Fault{Status: 503, Body: "maintenance"})
	if _, err := cache.Verify(ctx, srv.IssueToken(introspecttest.Token{})); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("during the fault: %v", err)
	}

	expect(t, reg, "tokengate_cache_lookups_total", `tokengate_cache_lookups_total{result="hit",tier="memory"} 2
tokengate_cache_lookups_total{result="hit",tier="shared"} 0
tokengate_cache_lookups_total{result="miss",tier="memory"} 3
tokengate_cache_lookups_total{result="miss",tier="shared"} 0
tokengate_cache_lookups_total{result="stale",tier="memory"} 0
tokengate_cache_lookups_total{result="stale",tier="shared"} 0
`)
	expect(t, reg, "tokengate_upstream_requests_total", `tokengate_upstream_requests_total{backend="geosecure",result="error"} 1
tokengate_upstream_requests_total{backend="geosecure",result="invalid"} 1
tokengate_upstream_requests_total{backend="geosecure",result="valid"} 1
`)
	// Every slot taken was given back.
	expect(t, reg, "tokengate_upstream_in_flight", "tokengate_upstream_in_flight 0\n")
	expect(t, reg, "tokengate_upstream_waiting", "tokengate_upstream_waiting 0\n")
}

// TestWiredToAJWTVerifier checks the key-set refreshes a JWT Verifier
// reports, and its backend name through a Cache.
func TestWiredToAJWTVerifier(t *testing.T) {
	iss := introspecttest.NewIssuer()
	defer iss.Close()
	c, reg := register(t, promhook.Config{})
	hooks := c.Hooks()
	v, err := jwt.New(jwt.Config{JWKSURL: iss.JWKSURL(), Issuer: iss.TokenIssuer(), Audiences: []string{"38890"}, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	cache, err := introspect.NewCache(v, introspect.CacheConfig{Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	if _, err := cache.Verify(ctx, iss.IssueJWT(introspecttest.JWT{Audience: []string{"38890"}})); err != nil {
		t.Fatal(err)
	}

	expect(t, reg, "tokengate_keyset_refreshes_total", `tokengate_keyset_refreshes_total{result="error"} 0
tokengate_keyset_refreshes_total{result="valid"} 1
`)
	expect(t, reg, "tokengate_upstream_requests_total", `tokengate_upstream_requests_total{backend="jwt",result="error"} 0
tokengate_upstream_requests_total{backend="jwt",result="invalid"} 0
tokengate_upstream_requests_total{backend="jwt",result="valid"} 1
`)
}
