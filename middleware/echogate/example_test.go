package echogate_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/middleware/echogate"
)

// Protecting an Echo group with Geosecure tokens: the group authenticates,
// each route states its scopes.
func Example() {
	as := introspecttest.NewServer() // stands in for geosecure.ProductionURL
	defer as.Close()
	token := as.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "38890"})

	verifier, err := geosecure.New(geosecure.Config{URL: as.VerifyURL()})
	if err != nil {
		log.Fatal(err)
	}
	cache, err := introspect.NewCache(verifier, introspect.CacheConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	auth, err := middleware.New(middleware.Config{Verifier: cache, Realm: "gipod"})
	if err != nil {
		log.Fatal(err)
	}
	gate := echogate.New(auth, echogate.Config{})

	e := echo.New()
	e.HideBanner = true
	v1 := e.Group("/v1", gate.Authenticate())
	v1.GET("/maps", func(c echo.Context) error {
		return c.String(http.StatusOK, "maps for client "+echogate.TokenInfo(c).ClientID)
	}, gate.Require(middleware.AllOf("MapRequest")))
	v1.GET("/occupations", func(c echo.Context) error {
		return c.String(http.StatusOK, "occupations")
	}, gate.Require(middleware.AnyOf("gipod_pdo_read", "gipod_pdo_write")))

	api := httptest.NewServer(e)
	defer api.Close()
	for _, path := range []string{"/v1/maps", "/v1/occupations"} {
		req, _ := http.NewRequest(http.MethodGet, api.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"), strings.TrimSpace(string(body)))
	}
	fmt.Println("upstream calls:", as.Calls(token))
	// Output:
	// 200  maps for client 38890
	// 403 Bearer realm="gipod", error="insufficient_scope", error_description="the access token does not grant what this request needs", scope="gipod_pdo_read gipod_pdo_write" {"error":"insufficient_scope","error_description":"the access token does not grant what this request needs"}
	// upstream calls: 1
}
