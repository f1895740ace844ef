package geosecure_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
)

// A Verifier for the verify endpoint, behind a Cache, checked against the
// fake authorization server.
func Example() {
	srv := introspecttest.NewServer() // in production: geosecure.ProductionURL or geosecure.BetaURL
	defer srv.Close()
	token := srv.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "38890"})

	v, err := geosecure.New(geosecure.Config{URL: srv.VerifyURL()})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	cache, err := introspect.NewCache(v, introspect.CacheConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	info, err := cache.Verify(context.Background(), token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.ClientID, info.Scopes)
	// Output:
	// 38890 MapRequest
}

// Reading the resource owner's profile.
func ExampleProfileClient() {
	srv := introspecttest.NewServer() // in production: geosecure.ProfileProductionURL
	defer srv.Close()
	token := srv.IssueToken(introspecttest.Token{Profile: &geosecure.Profile{
		Name: "johnd", GivenName: "John", Surname: "Doe", ContactID: "12345",
	}})

	profiles, err := geosecure.NewProfileClient(geosecure.ProfileConfig{
		URL:          srv.ProfileURL(),
		ClientID:     srv.ClientID,
		ClientSecret: srv.ClientSecret,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer profiles.Close()
	p, err := profiles.Profile(context.Background(), token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.GivenName, p.Surname, p.ContactID)
	// Output:
	// John Doe 12345
}
