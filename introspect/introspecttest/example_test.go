package introspecttest_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
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
