package promhook_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/promhook"
)

// A Collector in a registry of its own, fed by a Cache in front of a
// Geosecure verifier and served at /metrics. The middleware's Config.Hooks
// takes the same Hooks, for the decisions.
func Example() {
	srv := introspecttest.NewServer() // in production: geosecure.ProductionURL
	defer srv.Close()
	token := srv.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "38890"})

	metrics := promhook.New(promhook.Config{
		Backends: []string{"geosecure"}, // its series at zero from the start
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics)
	hooks := metrics.Hooks() // or introspect.JoinHooks(metrics.Hooks(), tracing)

	verifier, err := geosecure.New(geosecure.Config{URL: srv.VerifyURL()})
	if err != nil {
		log.Fatal(err)
	}
	cache, err := introspect.NewCache(verifier, introspect.CacheConfig{Hooks: hooks})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	// One miss and two hits, as three requests with the token would make.
	for range 3 {
		if _, err := cache.Verify(context.Background(), token); err != nil {
			log.Fatal(err)
		}
	}

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for sc := bufio.NewScanner(rec.Body); sc.Scan(); {
		if line := sc.Text(); strings.HasPrefix(line, `tokengate_cache_lookups_total{result="hit"`) ||
			strings.HasPrefix(line, `tokengate_cache_lookups_total{result="miss"`) ||
			strings.HasPrefix(line, "tokengate_upstream_requests_total") ||
			strings.HasPrefix(line, "tokengate_upstream_request_duration_seconds_count") {
			fmt.Println(line)
		}
	}
	// Output:
	// tokengate_cache_lookups_total{result="hit",tier="memory"} 2
	// tokengate_cache_lookups_total{result="hit",tier="shared"} 0
	// tokengate_cache_lookups_total{result="miss",tier="memory"} 1
	// tokengate_cache_lookups_total{result="miss",tier="shared"} 0
	// tokengate_upstream_request_duration_seconds_count{backend="geosecure"} 1
	// tokengate_upstream_requests_total{backend="geosecure",result="error"} 0
	// tokengate_upstream_requests_total{backend="geosecure",result="invalid"} 0
	// tokengate_upstream_requests_total{backend="geosecure",result="valid"} 1
}

// Hooks combined with Hooks of your own, here to report refusals.
func ExampleCollector_Hooks() {
	metrics := promhook.New(promhook.Config{})
	reportRefusals := &introspect.Hooks{
		Decision: func(ctx context.Context, d introspect.Decision) {
			if d.Outcome != introspect.OutcomeAllowed {
				fmt.Printf("refused: %s (%d)\n", d.Outcome, d.Status)
			}
		},
	}
	hooks := introspect.JoinHooks(metrics.Hooks(), reportRefusals)

	// What the middleware reports for two requests.
	ctx := context.Background()
	hooks.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeAllowed})
	hooks.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeInsufficientScope, Status: http.StatusForbidden})
	// Output:
	// refused: insufficient_scope (403)
}
