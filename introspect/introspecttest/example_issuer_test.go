package introspecttest_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokengate/tokengate/introspect/introspecttest"
)

// A test plays Region Halland's ADFS: it issues a token for a resource id
// and checks it as a resource server would, with the key its kid names in
// the key set the discovery document points to. The token's iss is ADFS's
// access_token_issuer, not the discovery document's issuer.
func ExampleIssuer() {
	iss := introspecttest.NewUnstartedIssuer()
	iss.Mode = introspecttest.IssuerADFS
	iss.Start()
	defer iss.Close()

	token := iss.IssueJWT(introspecttest.JWT{
		ClientID: "minklient.mindoman.se",
		Audience: []string{"exempelapi.regionhalland.se"},
		Scopes:   []string{"exempelapi.Public"},
	})

	var discovery struct {
		Issuer            string `json:"issuer"`
		JWKSURI           string `json:"jwks_uri"`
		AccessTokenIssuer string `json:"access_token_issuer"`
	}
	getJSON(iss, iss.DiscoveryURL(), &discovery)
	var keys jose.JSONWebKeySet
	getJSON(iss, discovery.JWKSURI, &keys)

	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		log.Fatal(err)
	}
	var claims struct {
		jwt.Claims
		AppID string `json:"appid"`
		Scope string `json:"scp"`
	}
	if err := tok.Claims(keys.Key(tok.Headers[0].KeyID)[0], &claims); err != nil {
		log.Fatal(err)
	}
	fmt.Println("issuer:", strings.TrimPrefix(discovery.Issuer, iss.URL))
	fmt.Println("iss:   ", strings.TrimPrefix(claims.Issuer, iss.URL), claims.Issuer == discovery.AccessTokenIssuer)
	fmt.Println(claims.Audience, claims.AppID, claims.Scope)
	fmt.Println("key set fetches:", iss.JWKSFetches())
	// Output:
	// issuer: /adfs
	// iss:    /adfs/services/trust true
	// [exempelapi.regionhalland.se] minklient.mindoman.se exempelapi.Public
	// key set fetches: 1
}

func getJSON(iss *introspecttest.Issuer, url string, v any) {
	resp, err := iss.Client().Get(url)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		log.Fatal(err)
	}
}

// After a rotation the issuer signs with a new key, which a validator that
// cached the old key set finds only by fetching it again.
func ExampleIssuer_Rotate() {
	iss := introspecttest.NewIssuer()
	defer iss.Close()

	old := iss.KeyID()
	kid := iss.Rotate()
	token := iss.IssueJWT(introspecttest.JWT{Scopes: []string{"gipod_pdo_read"}})
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Headers[0].KeyID == kid, kid != old)

	iss.Retire(old)
	var keys jose.JSONWebKeySet
	getJSON(iss, iss.JWKSURL(), &keys)
	fmt.Println(len(keys.Keys), keys.Keys[0].KeyID == kid)
	// Output:
	// true true
	// 1 true
}

// A test that a validator refuses unsecured tokens signs one with alg
// "none", keeping the claims the issuer would sign.
func ExampleSignJWT() {
	iss := introspecttest.NewIssuer()
	defer iss.Close()

	c := introspecttest.JWT{ClientID: "38890", Scopes: []string{"gipod_pdo_read"}}
	header := iss.Header(c)
	header["alg"] = "none"
	delete(header, "kid")
	token, err := introspecttest.SignJWT(header, iss.Claims(c), nil)
	if err != nil {
		log.Fatal(err)
	}
	encoded, _, _ := strings.Cut(token, ".")
	decoded, _ := base64.RawURLEncoding.DecodeString(encoded)
	fmt.Println(string(decoded), strings.HasSuffix(token, "."))
	// Output: {"alg":"none","typ":"JWT"} true
}
