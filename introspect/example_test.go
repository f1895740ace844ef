package introspect_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
)

// A Geosecure verifier behind a cache, checked against the fake server.
func Example() {
	srv := introspecttest.NewServer() // in production: geosecure.ProductionURL
	defer srv.Close()
	token := srv.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "38890"})

	verifier, err := geosecure.New(geosecure.Config{URL: srv.VerifyURL()})
	if err != nil {
		log.Fatal(err)
	}
	cache, err := introspect.NewCache(verifier, introspect.CacheConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	for range 3 {
		info, err := cache.Verify(context.Background(), token)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(info.ClientID, info.Scopes, info.HasScope("MapRequest"))
	}
	fmt.Println("upstream calls:", srv.Calls(token))

	_, err = cache.Verify(context.Background(), "not-a-token")
	fmt.Println(errors.Is(err, introspect.ErrInvalidToken))
	// Output:
	// 38890 MapRequest true
	// 38890 MapRequest true
	// 38890 MapRequest true
	// upstream calls: 1
	// true
}

// Telling an invalid token from an authorization server that is down.
func ExampleUnavailableError() {
	srv := introspecttest.NewServer()
	defer srv.Close()
	srv.SetFault(introspecttest.Fault{Status: 503, Body: "maintenance", RetryAfter: "120"})

	verifier, err := geosecure.New(geosecure.Config{URL: srv.VerifyURL()})
	if err != nil {
		log.Fatal(err)
	}
	_, err = verifier.Verify(context.Background(), "some-token")
	switch {
	case errors.Is(err, introspect.ErrInvalidToken):
		fmt.Println("401: get a new token")
	case errors.Is(err, introspect.ErrUnavailable):
		var ue *introspect.UnavailableError
		if errors.As(err, &ue) {
			fmt.Println("503: retry after", ue.RetryAfter)
		}
	}
	// Output:
	// 503: retry after 2m0s
}

func ExampleFromContext() {
	info := &introspect.TokenInfo{Active: true, ClientID: "38890"}
	ctx := introspect.NewContext(context.Background(), info)

	fmt.Println(introspect.FromContext(ctx).ClientID)
	fmt.Println(introspect.FromContext(context.Background()) == nil)
	// Output:
	// 38890
	// true
}
