package echogate_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/rfc7662"
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
	gate, err := echogate.New(echogate.Config{Verifier: cache, Realm: "gipod"})
	if err != nil {
		log.Fatal(err)
	}

	e := echo.New()
	e.HideBanner = true
	v1 := e.Group("/v1", gate.Authenticate())
	v1.GET("/maps", func(c echo.Context) error {
		return c.String(http.StatusOK, "maps for client "+introspect.FromContext(c.Request().Context()).ClientID)
	}, gate.Require(echogate.AllOf("MapRequest")))
	v1.GET("/occupations", func(c echo.Context) error {
		return c.String(http.StatusOK, "occupations")
	}, gate.Require(echogate.AnyOf("gipod_pdo_read", "gipod_pdo_write")))

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

// A handler that makes a call of its own with the token, here Geosecure's
// profile lookup, takes the token with Token and answers the call's failure
// as the middleware would with HTTPError: an outage of the authorization
// server is a 503 with Retry-After, never a 401.
func ExampleMiddleware_HTTPError() {
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
	gate, err := echogate.New(echogate.Config{Verifier: cache, Realm: "gipod"})
	if err != nil {
		log.Fatal(err)
	}

	e := echo.New()
	e.GET("/v1/profile", func(c echo.Context) error {
		token, _ := gate.Token(c) // there is one: the middleware verified it
		p, err := profiles.Profile(c.Request().Context(), token)
		if err != nil {
			return gate.HTTPError(c, err)
		}
		return c.String(http.StatusOK, p.GivenName+" "+p.Surname)
	}, gate.Require(echogate.AllOf("vo_info")))

	api := httptest.NewServer(e)
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

// Address management for ACM/IDM tokens: a scope, the organisation's OVO
// code and a rule of the application's own, all named by echogate. Tokens
// may also come in a form body.
func ExampleEvery() {
	as := introspecttest.NewServer() // stands in for ACM/IDM
	defer as.Close()
	agiv := as.IssueToken(introspecttest.Token{Scopes: []string{"dv_ar_adres_beheer"},
		Claims: map[string]any{"vo_orgcode": "OVO002949", "vo_doelgroepcode": "GID"}})
	company := as.IssueToken(introspecttest.Token{Scopes: []string{"dv_ar_adres_beheer"},
		Claims: map[string]any{"vo_orgcode": "0316381039", "vo_doelgroepcode": "EA"}})

	acm, err := rfc7662.New(rfc7662.Config{
		Issuer: as.Issuer(), ClientID: as.ClientID, ClientSecret: as.ClientSecret,
	})
	if err != nil {
		log.Fatal(err)
	}
	gate, err := echogate.New(echogate.Config{Verifier: acm, Sources: echogate.FromHeader | echogate.FromForm})
	if err != nil {
		log.Fatal(err)
	}
	employees := echogate.PolicyFunc(func(info *introspect.TokenInfo) bool { return info.VO().DoelgroepCode == "GID" })
	var manageAddresses echogate.Policy = echogate.Every(
		echogate.AllOf("dv_ar_adres_beheer"), echogate.OVOCodes("OVO002949"), employees)

	e := echo.New()
	e.POST("/v1/addresses", func(c echo.Context) error {
		return c.String(http.StatusCreated, "created for "+introspect.FromContext(c.Request().Context()).OVOCode())
	}, gate.Require(manageAddresses))

	api := httptest.NewServer(e)
	defer api.Close()
	for _, token := range []string{agiv, company} {
		resp, err := http.PostForm(api.URL+"/v1/addresses", url.Values{"access_token": {token}})
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// 201 created for OVO002949
	// 403 {"error":"insufficient_scope","error_description":"the access token does not grant what this request needs"}
}
