package rfc7662_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log"

	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/rfc7662"
)

// An ACM/IDM-style introspection backend, authenticating with a private JWK,
// checked against the fake OpenID Provider.
func Example() {
	srv := introspecttest.NewServer() // in production: rfc7662.ACMProductionIssuer or rfc7662.ACMTestIssuer
	defer srv.Close()

	// The client's key pair. In production, read the private JWK from a
	// file or secret store with rfc7662.ParseJWK and register its public
	// half for the client in the Beheerportaal.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	srv.AddClient(introspecttest.Client{ID: "my-api", Key: key.Public()})

	in, err := rfc7662.New(rfc7662.Config{
		Issuer:    srv.Issuer(), // the endpoint comes from discovery
		ClientID:  "my-api",
		ClientKey: &rfc7662.SigningKey{Key: key, KeyID: "my-api-2026"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer in.Close()
	// At start-up, find a wrong issuer before the first request does.
	if _, err := in.Endpoint(context.Background()); err != nil {
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

// With CredentialManager, ACM/IDM also says who manages the user's
// credentials, which TokenInfo.VO reads.
func ExampleConfig_credentialManager() {
	srv := introspecttest.NewServer() // in production: rfc7662.ACMProductionIssuer
	defer srv.Close()

	in, err := rfc7662.New(rfc7662.Config{
		Issuer:            srv.Issuer(),
		ClientID:          srv.ClientID,
		ClientSecret:      srv.ClientSecret,
		CredentialManager: true, // sends token_endpoint_auth=credential_manager
	})
	if err != nil {
		log.Fatal(err)
	}
	defer in.Close()

	token := srv.IssueToken(introspecttest.Token{
		Scopes: []string{"vo_info"},
		Claims: map[string]any{
			"vo_id":              "d6b5a1f4",
			"credential_manager": map[string]any{"code": "DV", "name": "Digitaal Vlaanderen"},
		},
	})
	info, err := in.Verify(context.Background(), token)
	if err != nil {
		log.Fatal(err)
	}
	cm := info.VO().CredentialManager
	fmt.Println(cm.Code, cm.Name)
	// Output:
	// DV Digitaal Vlaanderen
}
