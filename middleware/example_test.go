package middleware_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/scopes"
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

// An adapter to another framework makes the middleware's whole decision
// with Authorize and answers a refusal as the *middleware.Error says.
func ExampleAuthenticator_Authorize() {
	as := introspecttest.NewServer()
	defer as.Close()
	token := as.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "38890"})
	verifier, err := geosecure.New(geosecure.Config{URL: as.VerifyURL()})
	if err != nil {
		log.Fatal(err)
	}
	auth, err := middleware.New(middleware.Config{Verifier: verifier, Realm: "gipod"})
	if err != nil {
		log.Fatal(err)
	}

	for _, authorization := range []string{"Bearer " + token, ""} {
		r := httptest.NewRequest(http.MethodGet, "/v1/maps", nil)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		if auth.Preflight(r) { // false unless Config.AllowPreflight
			fmt.Println(http.StatusNoContent)
			continue
		}
		res, err := auth.Authorize(r, middleware.AllOf("MapRequest"))
		var refused *middleware.Error
		if errors.As(err, &refused) {
			fmt.Println(refused.Status, refused.Challenge)
			continue
		}
		fmt.Println("allowed, client", introspect.FromContext(res.Request.Context()).ClientID)
	}
	// Output:
	// allowed, client 38890
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

// A route of an authorization server that grants scope patterns: with
// scopes.Wildcard, a granted "gipod_*" stands for "gipod_pdo_write".
func ExampleScopeRule_Matching() {
	write := middleware.AllOf("gipod_pdo_write").Matching(scopes.Wildcard())
	info := &introspect.TokenInfo{Active: true, Scopes: scopes.Parse("gipod_*")}

	fmt.Println(write.Allow(info), write.Scope())
	fmt.Println(middleware.AllOf("gipod_pdo_write").Allow(info))
	// Output:
	// true gipod_pdo_write
	// false
}

// A rule of the application's own, next to a scope rule: only tokens held by
// one client may use the route.
func ExamplePolicyFunc() {
	ourClient := middleware.PolicyFunc(func(info *introspect.TokenInfo) bool { return info.ClientID == "38890" })
	var p middleware.Policy = middleware.Every(middleware.AllOf("MapRequest"), ourClient)

	maps := scopes.New("MapRequest")
	fmt.Println(p.Allow(&introspect.TokenInfo{Active: true, ClientID: "38890", Scopes: maps}))
	fmt.Println(p.Allow(&introspect.TokenInfo{Active: true, ClientID: "11111", Scopes: maps}))
	fmt.Println(p.Scope()) // what a refusal's challenge names
	// Output:
	// true
	// false
	// MapRequest
}

// An ErrorHandler that counts outages of the authorization server and
// adds a request id to the JSON body the default, WriteError, sends.
func ExampleConfig_errorHandler() {
	as := introspecttest.NewServer()
	defer as.Close()
	token := as.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}})
	as.SetFault(introspecttest.Fault{Status: http.StatusBadGateway})
	verifier, err := geosecure.New(geosecure.Config{URL: as.VerifyURL()})
	if err != nil {
		log.Fatal(err)
	}

	outages := 0
	auth, err := middleware.New(middleware.Config{
		Verifier: verifier,
		Logger:   slog.New(slog.DiscardHandler),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, e *middleware.Error) {
			switch {
			case errors.Is(e, introspect.ErrUnavailable):
				outages++
			case errors.Is(e, middleware.ErrNoToken), errors.Is(e, middleware.ErrMalformed),
				errors.Is(e, middleware.ErrAudience), errors.Is(e, middleware.ErrInsufficientScope):
				// the client's business
			}
			e.SetHeaders(w.Header()) // WWW-Authenticate, Retry-After, Cache-Control
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(e.Status)
			_ = json.NewEncoder(w).Encode(struct {
				middleware.Body
				RequestID string `json:"request_id"`
			}{e.Body(), "req-1"})
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	api := httptest.NewServer(auth.Require(middleware.AllOf("MapRequest"))(http.NotFoundHandler()))
	defer api.Close()

	status, _, body := get(api.URL, token)
	fmt.Println(status, body)
	fmt.Println("outages:", outages)
	// Output:
	// 503 {"error":"temporarily_unavailable","error_description":"the authorization server is unavailable; try again later","request_id":"req-1"}
	// outages: 1
}

// A handler that makes a call of its own with the token, here Geosecure's
// profile lookup, takes the token with Token and answers the call's failure
// with ErrorFor, as the middleware would: an outage of the authorization
// server is a 503 with Retry-After, never a 401.
func ExampleAuthenticator_ErrorFor() {
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
	auth, err := middleware.New(middleware.Config{Verifier: cache, Realm: "gipod"})
	if err != nil {
		log.Fatal(err)
	}

	profile := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _ := auth.Token(r) // there is one: the middleware verified it
		p, err := profiles.Profile(r.Context(), token)
		if err != nil {
			middleware.WriteError(w, r, auth.ErrorFor(err))
			return
		}
		fmt.Fprint(w, p.GivenName+" "+p.Surname)
	})
	api := httptest.NewServer(auth.Require(middleware.AllOf("vo_info"))(profile))
	defer api.Close()

	status, _, body := get(api.URL, token)
	fmt.Println(status, body)
	// The token's facts are cached; only the profile call sees the outage.
	as.SetFault(introspecttest.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "30"})
	status, _, body = get(api.URL, token)
	fmt.Println(status, body)
	// Output:
	// 200 Demo User 38890
	// 503 {"error":"temporarily_unavailable","error_description":"the authorization server is unavailable; try again later"}
}
