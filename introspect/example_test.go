package introspect_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/introspecttest"
)

// A Geosecure verifier behind a cache, checked against the fake server.
func Example() {
	srv := introspecttest.NewServer() // in production: introspect.GeosecureProductionURL
	defer srv.Close()
	token := srv.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "38890"})

	geosecure, err := introspect.NewGeosecure(introspect.GeosecureConfig{URL: srv.VerifyURL()})
	if err != nil {
		log.Fatal(err)
	}
	cache, err := introspect.NewCache(geosecure, introspect.CacheConfig{})
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

	geosecure, err := introspect.NewGeosecure(introspect.GeosecureConfig{URL: srv.VerifyURL()})
	if err != nil {
		log.Fatal(err)
	}
	_, err = geosecure.Verify(context.Background(), "some-token")
	switch {
	case errors.Is(err, introspect.ErrInvalidToken):
		fmt.Println("401: get a new token")
	case errors.Is(err, introspect.ErrUnavailable):
		retry, _ := introspect.RetryAfter(err)
		fmt.Println("503: retry after", retry)
	}
	// Output:
	// 503: retry after 2m0s
}

// Reading the resource owner's profile.
func ExampleProfileClient() {
	srv := introspecttest.NewServer()
	defer srv.Close()
	token := srv.IssueToken(introspecttest.Token{Profile: &introspecttest.Profile{
		Name: "johnd", GivenName: "John", Surname: "Doe", ContactID: "12345",
	}})

	profiles, err := introspect.NewProfileClient(introspect.ProfileConfig{
		URL:          srv.ProfileURL(),
		ClientID:     srv.ClientID,
		ClientSecret: srv.ClientSecret,
	})
	if err != nil {
		log.Fatal(err)
	}
	p, err := profiles.Profile(context.Background(), token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.GivenName, p.Surname, p.ContactID)
	// Output:
	// John Doe 12345
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

// An ACM/IDM-style introspection backend, authenticating with a private JWK,
// checked against the fake OpenID Provider.
func ExampleIntrospector() {
	srv := introspecttest.NewServer() // in production: introspect.ACMProductionIssuer
	defer srv.Close()

	// The client's key pair. In production, read the private JWK from a
	// file or secret store with introspect.ParseJWK and register its public
	// half for the client in the Beheerportaal.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	srv.AddClient(introspecttest.Client{ID: "my-api", Key: key.Public()})

	in, err := introspect.NewIntrospector(introspect.IntrospectorConfig{
		Issuer:    srv.Issuer(), // the endpoint comes from discovery
		ClientID:  "my-api",
		ClientKey: &introspect.SigningKey{Key: key, KeyID: "my-api-2026"},
	})
	if err != nil {
		log.Fatal(err)
	}

	token := srv.IssueToken(introspecttest.Token{
		Scopes: []string{"dv_ar_adres_beheer"},
		Claims: map[string]any{"vo_id": "d6b5a1f4", "vo_orgcode": "OVO002949"},
	})
	info, err := in.Verify(context.Background(), token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Scopes, info.VO().ID, info.OVOCode())
	// Output:
	// dv_ar_adres_beheer d6b5a1f4 OVO002949
}
