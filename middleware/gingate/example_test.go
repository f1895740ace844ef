package gingate_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/middleware/gingate"
)

// Protecting a gin group with Geosecure tokens: the group authenticates,
// each route states its scopes with package middleware's policies.
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
	gate, err := gingate.New(gingate.Config{Verifier: cache, Realm: "gipod"})
	if err != nil {
		log.Fatal(err)
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	v1 := r.Group("/v1", gate.Authenticate())
	v1.GET("/maps", gate.Require(middleware.AllOf("MapRequest")), func(c *gin.Context) {
		c.String(http.StatusOK, "maps for client "+introspect.FromContext(c.Request.Context()).ClientID)
	})
	v1.GET("/occupations", gate.Require(middleware.AnyOf("gipod_pdo_read", "gipod_pdo_write")), func(c *gin.Context) {
		c.String(http.StatusOK, "occupations")
	})

	api := httptest.NewServer(r)
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

// A handler that makes a call of its own with the token, here Geosecure's
// profile lookup, takes the token with Token and answers the call's failure
// as the middleware would with AbortWithError: an outage of the
// authorization server is a 503 with Retry-After, never a 401.
func ExampleMiddleware_AbortWithError() {
	as := introspecttest.NewServer() // stands in for Geosecure's verify and profile endpoints
	defer as.Close()
	token := as.IssueToken(introspecttest.Token{Scopes: []string{"vo_info"}, ClientID: "38890"})

	verifier, err := geosecure.New(geosecure.Config{URL: as.VerifyURL()})
	if err != nil {
		log.Fatal(err)
	}
	cache, err := introspect.NewCache(verifier, introspect.CacheConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	profiles, err := geosecure.NewProfileClient(geosecure.ProfileConfig{
		URL: as.ProfileURL(), ClientID: as.ClientID, ClientSecret: as.ClientSecret,
	})
	if err != nil {
		log.Fatal(err)
	}
	gate, err := gingate.New(gingate.Config{Verifier: cache, Realm: "gipod"})
	if err != nil {
		log.Fatal(err)
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/v1/profile", gate.Require(middleware.AllOf("vo_info")), func(c *gin.Context) {
		token, _ := gate.Token(c) // there is one: the middleware verified it
		p, err := profiles.Profile(c.Request.Context(), token)
		if err != nil {
			gate.AbortWithError(c, err)
			return
		}
		c.String(http.StatusOK, p.GivenName+" "+p.Surname)
	})

	api := httptest.NewServer(r)
	defer api.Close()
	for _, fault := range []introspecttest.Fault{{}, {Status: http.StatusServiceUnavailable, RetryAfter: "30"}} {
		as.SetFault(fault) // the token's facts are cached; only the profile call sees the fault
		req, _ := http.NewRequest(http.MethodGet, api.URL+"/v1/profile", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get("Retry-After"), strings.TrimSpace(string(body)))
	}
	// Output:
	// 200  Demo User 38890
	// 503 30 {"error":"temporarily_unavailable","error_description":"the authorization server is unavailable; try again later"}
}
