package middleware_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/middleware"
)

// Protecting net/http routes with Geosecure tokens. The fake authorization
// server stands in for geosecure.ProductionURL.
func Example() {
	as := introspecttest.NewServer()
	defer as.Close()
	token := as.IssueToken(introspecttest.Token{Scopes: []string{"gipod_pdo_read"}, ClientID: "38890"})

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

	mux := http.NewServeMux()
	mux.Handle("GET /v1/occupations", auth.Require(middleware.AnyOf("gipod_pdo_read", "gipod_pdo_write"))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info := introspect.FromContext(r.Context())
			fmt.Fprintf(w, "occupations for client %s", info.ClientID)
		})))
	mux.Handle("GET /v1/maps", auth.Require(middleware.AllOf("MapRequest"))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "maps") })))

	api := httptest.NewServer(mux)
	defer api.Close()
	for _, path := range []string{"/v1/occupations", "/v1/maps"} {
		status, challenge, body := get(api.URL+path, token)
		fmt.Println(status, challenge, body)
	}
	status, challenge, _ := get(api.URL+"/v1/maps", "")
	fmt.Println(status, challenge)
	// Output:
	// 200  occupations for client 38890
	// 403 Bearer realm="gipod", error="insufficient_scope", error_description="the access token does not grant what this request needs", scope="MapRequest" {"error":"insufficient_scope","error_description":"the access token does not grant what this request needs"}
	// 401 Bearer realm="gipod"
}

func get(url, token string) (int, string, string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		log.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), strings.TrimSpace(string(body))
}
