package introspecttest_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/rfc7662"
)

// A test registers tokens, points a verifier at the fake, and checks what
// reached it.
func Example() {
	srv := introspecttest.NewServer()
	defer srv.Close()
	token := srv.IssueToken(introspecttest.Token{Scopes: []string{"gipod_pdo_read"}, ClientID: "38890"})

	v, err := geosecure.New(geosecure.Config{URL: srv.VerifyURL()})
	if err != nil {
		log.Fatal(err)
	}
	info, err := v.Verify(context.Background(), token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.ClientID, info.Scopes, srv.Calls(token))

	srv.SetFault(introspecttest.Fault{Status: 502, Body: "<html>bad gateway</html>", ContentType: "text/html"})
	_, err = v.Verify(context.Background(), token)
	fmt.Println(errors.Is(err, introspect.ErrUnavailable))
	// Output:
	// 38890 gipod_pdo_read 1
	// true
}

// The fake is an OpenID Provider too: an rfc7662 Introspector discovers its
// introspection endpoint from the issuer and authenticates for real.
func ExampleServer_Issuer() {
	srv := introspecttest.NewServer()
	defer srv.Close()
	srv.AddClient(introspecttest.Client{ID: "my-api", Secret: "my-secret"})
	token := srv.IssueToken(introspecttest.Token{Scopes: []string{"gipod_pdo_read"}, Subject: "u1"})

	in, err := rfc7662.New(rfc7662.Config{Issuer: srv.Issuer(), ClientID: "my-api", ClientSecret: "my-secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer in.Close()
	info, err := in.Verify(context.Background(), token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Subject, info.Scopes, info.Issuer == srv.Issuer(), srv.DiscoveryCalls())
	// Output:
	// u1 gipod_pdo_read true 1
}
