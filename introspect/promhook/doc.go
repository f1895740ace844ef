// Package promhook counts what tokengate does as Prometheus metrics,
// through github.com/prometheus/client_golang: a [Collector] whose Hooks
// method returns the [introspect.Hooks] that feed it. Only this package
// imports client_golang, so a service that does not import it compiles no
// Prometheus.
//
//	metrics := promhook.New(promhook.Config{Backends: []string{"rfc7662"}})
//	prometheus.MustRegister(metrics) // or your own prometheus.Registry
//	hooks := metrics.Hooks()
//	cache, err := introspect.NewCache(verifier, introspect.CacheConfig{Hooks: hooks})
//	…
//	auth, err := middleware.New(middleware.Config{Verifier: cache, Hooks: hooks, …})
//	…
//	mux.Handle("GET /metrics", promhttp.Handler())
//
// Give the same Hooks to every part that reports through them: the
// Cache (lookups, upstream calls, the shared tier, invalidations), a JWT
// Verifier's Config.Hooks (key-set refreshes) and the middleware (its
// decisions). To trace as well, combine them with a tracer's Hooks
// through [introspect.JoinHooks].
//
// # Metrics
//
// Every name starts with tokengate_. Each series whose labels take a fixed
// set of values is exported at zero from [New] on, so that a rate() over
// it sees the first event after a restart; the backend label's series
// appear at a backend's first upstream call, or at New for the backends
// named in [Config.Backends].
//
//	metric                                       type       labels: values
//	tokengate_requests_total                     counter    outcome: allowed, no_token, malformed,
//	                                                          invalid_token, insufficient_scope, unavailable
//	tokengate_cache_lookups_total                counter    tier: memory, shared; result: hit, miss, stale
//	tokengate_cache_evictions_total              counter
//	tokengate_upstream_requests_total            counter    backend; result: valid, invalid, error
//	tokengate_upstream_request_duration_seconds  histogram  backend
//	tokengate_upstream_in_flight                 gauge
//	tokengate_upstream_waiting                   gauge
//	tokengate_keyset_refreshes_total             counter    result: valid, error
//	tokengate_invalidations_total                counter    direction: sent, received
//	tokengate_shared_operations_total            counter    op: get, set, claim, release, invalidate;
//	                                                          result: ok, error
//
// The outcome is the middleware's decision: allowed, or the refusal it
// answered (401 without an error code, 400 invalid_request, 401
// invalid_token, 403 insufficient_scope, 503). A lookup is one per
// verification in memory and one per upstream call that asks the shared
// tier first; stale is an expired answer served while the authorization
// server fails (introspect.CacheConfig.StaleIfError). An upstream request
// is one call of the Cache to the Verifier it wraps, however many requests
// wait for it; backend is that Verifier's [introspect.BackendName]
// ("rfc7662", "geosecure", "jwt", "jwt+rfc7662", "custom", …) and the
// duration leaves out the wait for a slot. The gauges count the calls
// that hold one of the Cache's slots (CacheConfig.MaxConcurrent) and those
// that wait for one (CacheConfig.MaxWaiting). A key-set refresh is a JWT
// Verifier's fetch of its issuer's keys; on an error it keeps the keys it
// had. An invalidation is sent when this replica announces one through
// the shared tier and received when a replica hears one, its own
// included. A shared operation that ends in error is one the Cache went
// on without: Redis failing never fails a request, so this is where it
// shows.
//
// # Labels
//
// A label never holds a token, a subject, a client id, a scope or an
// error's text: the Hooks are never given the first, and the Collector
// keeps only which of its fixed values an event had. A value from the
// Hooks that is not in the table above (an Outcome added to introspect
// after this package, say) is not counted rather than made a series of
// its own. The backend label is open but small: a name that is not valid
// UTF-8 or is longer than 64 bytes, and every name after the 32nd, is
// counted as [OtherBackend]. [Config.ConstLabels] adds labels of your own
// to every series, to tell apart two Collectors in one registry.
//
// # Cost
//
// A cache hit is counted with an atomic add on each of two counters that
// New resolved, with no map lookup and no allocation. An upstream call,
// already a network round trip or a signature check, looks its backend's
// series up in a map read without a lock.
//
// # Alerts
//
// What is worth an alert, in PromQL:
//
//   - Requests refused because the authorization server or its key set
//     is unavailable (503s):
//     sum(rate(tokengate_requests_total{outcome="unavailable"}[5m])) > 0
//   - The share of upstream calls that fail:
//     sum by (backend) (rate(tokengate_upstream_requests_total{result="error"}[5m]))
//     / sum by (backend) (rate(tokengate_upstream_requests_total[5m])) > 0.05
//   - A slow authorization server, by its p99:
//     histogram_quantile(0.99, sum by (backend, le) (rate(tokengate_upstream_request_duration_seconds_bucket[5m]))) > 1
//   - Calls waiting for a slot for long, as when the server stalls and
//     MaxConcurrent is reached: min_over_time(tokengate_upstream_waiting[10m]) > 0
//   - A JWT issuer's key set that cannot be fetched:
//     increase(tokengate_keyset_refreshes_total{result="error"}[15m]) > 0
//   - A shared tier (Redis) that fails:
//     sum(rate(tokengate_shared_operations_total{result="error"}[5m])) > 0
//
// A rise of invalid_token or insufficient_scope outcomes is a client's
// problem more often than the service's: a dashboard's, not a pager's.
// The memory tier's hit ratio, from tokengate_cache_lookups_total{tier="memory"},
// and tokengate_cache_evictions_total tell whether CacheConfig.MaxCost
// is large enough.
package promhook
