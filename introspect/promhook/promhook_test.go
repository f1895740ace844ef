package promhook_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/promhook"
)

// help is each metric's HELP and TYPE lines, as the Collector must export
// them.
var help = map[string]string{
	"tokengate_requests_total": `# HELP tokengate_requests_total Requests the tokengate middleware decided on, by outcome: allowed, or the refusal (no_token, malformed, invalid_token, insufficient_scope, unavailable).
# TYPE tokengate_requests_total counter
`,
	"tokengate_cache_lookups_total": `# HELP tokengate_cache_lookups_total Lookups of a token in a tier of the tokengate cache (memory or shared), by what they found: hit, miss or stale.
# TYPE tokengate_cache_lookups_total counter
`,
	"tokengate_cache_evictions_total": `# HELP tokengate_cache_evictions_total Results the tokengate cache's memory tier removed to make room for others.
# TYPE tokengate_cache_evictions_total counter
`,
	"tokengate_upstream_requests_total": `# HELP tokengate_upstream_requests_total Calls of the tokengate cache to the verifier it wraps (an authorization server, or a local JWT check), by backend and answer: valid, invalid or error.
# TYPE tokengate_upstream_requests_total counter
`,
	"tokengate_upstream_request_duration_seconds": `# HELP tokengate_upstream_request_duration_seconds How long the tokengate cache's calls to the verifier it wraps took, not counting the wait for a slot, by backend.
# TYPE tokengate_upstream_request_duration_seconds histogram
`,
	"tokengate_upstream_in_flight": `# HELP tokengate_upstream_in_flight Calls of the tokengate cache to the verifier it wraps that hold a slot now.
# TYPE tokengate_upstream_in_flight gauge
`,
	"tokengate_upstream_waiting": `# HELP tokengate_upstream_waiting Calls of the tokengate cache to the verifier it wraps that wait now: for a slot, or for another replica's answer.
# TYPE tokengate_upstream_waiting gauge
`,
	"tokengate_keyset_refreshes_total": `# HELP tokengate_keyset_refreshes_total Fetches of a JWT issuer's key set by tokengate, by result: valid (keys loaded) or error (the keys known before stay in use).
# TYPE tokengate_keyset_refreshes_total counter
`,
	"tokengate_invalidations_total": `# HELP tokengate_invalidations_total Token invalidations the tokengate cache announced to the other replicas (sent) or heard, its own included (received).
# TYPE tokengate_invalidations_total counter
`,
	"tokengate_shared_operations_total": `# HELP tokengate_shared_operations_total Operations of the tokengate cache on its shared tier, by operation (get, set, claim, release, invalidate) and result (ok, or error: the tier failed and the cache went on without it).
# TYPE tokengate_shared_operations_total counter
`,
}

// expect compares what reg gathers of the metric called name with
// samples, the exposition text of its series.
func expect(t *testing.T, reg prometheus.Gatherer, name, samples string) {
	t.Helper()
	h, ok := help[name]
	if !ok {
		t.Fatalf("no HELP for %s", name)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(h+samples), name); err != nil {
		t.Errorf("%s:\n%v", name, err)
	}
}

// zeroHistogram is the exposition of an empty upstream duration histogram
// with the default buckets, for the given labels.
func zeroHistogram(labels string) string {
	var b strings.Builder
	for _, le := range []string{"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"} {
		fmt.Fprintf(&b, "tokengate_upstream_request_duration_seconds_bucket{%sle=%q} 0\n", labels, le)
	}
	fmt.Fprintf(&b, "tokengate_upstream_request_duration_seconds_sum{%s} 0\n", strings.TrimSuffix(labels, ","))
	fmt.Fprintf(&b, "tokengate_upstream_request_duration_seconds_count{%s} 0\n", strings.TrimSuffix(labels, ","))
	return b.String()
}

// register returns a fresh Collector registered in a fresh pedantic
// registry, which checks that what Collect sends is what Describe
// described.
func register(t *testing.T, cfg promhook.Config) (*promhook.Collector, *prometheus.Registry) {
	t.Helper()
	c := promhook.New(cfg)
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("Register: %v", err)
	}
	return c, reg
}

func TestEverySeriesAtZeroAfterNew(t *testing.T) {
	_, reg := register(t, promhook.Config{Backends: []string{"rfc7662"}})
	want := help["tokengate_cache_evictions_total"] + `tokengate_cache_evictions_total 0
` + help["tokengate_cache_lookups_total"] + `tokengate_cache_lookups_total{result="hit",tier="memory"} 0
tokengate_cache_lookups_total{result="hit",tier="shared"} 0
tokengate_cache_lookups_total{result="miss",tier="memory"} 0
tokengate_cache_lookups_total{result="miss",tier="shared"} 0
tokengate_cache_lookups_total{result="stale",tier="memory"} 0
tokengate_cache_lookups_total{result="stale",tier="shared"} 0
` + help["tokengate_invalidations_total"] + `tokengate_invalidations_total{direction="received"} 0
tokengate_invalidations_total{direction="sent"} 0
` + help["tokengate_keyset_refreshes_total"] + `tokengate_keyset_refreshes_total{result="error"} 0
tokengate_keyset_refreshes_total{result="valid"} 0
` + help["tokengate_requests_total"] + `tokengate_requests_total{outcome="allowed"} 0
tokengate_requests_total{outcome="insufficient_scope"} 0
tokengate_requests_total{outcome="invalid_token"} 0
tokengate_requests_total{outcome="malformed"} 0
tokengate_requests_total{outcome="no_token"} 0
tokengate_requests_total{outcome="unavailable"} 0
` + help["tokengate_shared_operations_total"] + `tokengate_shared_operations_total{op="claim",result="error"} 0
tokengate_shared_operations_total{op="claim",result="ok"} 0
tokengate_shared_operations_total{op="get",result="error"} 0
tokengate_shared_operations_total{op="get",result="ok"} 0
tokengate_shared_operations_total{op="invalidate",result="error"} 0
tokengate_shared_operations_total{op="invalidate",result="ok"} 0
tokengate_shared_operations_total{op="release",result="error"} 0
tokengate_shared_operations_total{op="release",result="ok"} 0
tokengate_shared_operations_total{op="set",result="error"} 0
tokengate_shared_operations_total{op="set",result="ok"} 0
` + help["tokengate_upstream_in_flight"] + `tokengate_upstream_in_flight 0
` + help["tokengate_upstream_request_duration_seconds"] + zeroHistogram(`backend="rfc7662",`) +
		help["tokengate_upstream_requests_total"] + `tokengate_upstream_requests_total{backend="rfc7662",result="error"} 0
tokengate_upstream_requests_total{backend="rfc7662",result="invalid"} 0
tokengate_upstream_requests_total{backend="rfc7662",result="valid"} 0
` + help["tokengate_upstream_waiting"] + `tokengate_upstream_waiting 0
`
	// No metric names: everything the registry holds must be in want.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 1+6+2+2+6+10+1+1+3+1 {
		t.Errorf("GatherAndCount = %d, %v; want 33 series", n, err)
	}
}

func TestNoBackendSeriesUntilFirstCall(t *testing.T) {
	c, reg := register(t, promhook.Config{})
	if n, _ := testutil.GatherAndCount(reg, "tokengate_upstream_requests_total", "tokengate_upstream_request_duration_seconds"); n != 0 {
		t.Fatalf("%d upstream series before any call, want 0", n)
	}
	c.Hooks().UpstreamDone(context.Background(), introspect.UpstreamCall{Backend: "geosecure", Result: introspect.ResultInvalid, Duration: time.Second})
	// The first call makes all three results' series, so that the others
	// are at zero before they first happen.
	expect(t, reg, "tokengate_upstream_requests_total", `tokengate_upstream_requests_total{backend="geosecure",result="error"} 0
tokengate_upstream_requests_total{backend="geosecure",result="invalid"} 1
tokengate_upstream_requests_total{backend="geosecure",result="valid"} 0
`)
}

func TestScriptedMix(t *testing.T) {
	c, reg := register(t, promhook.Config{})
	h := c.Hooks()
	ctx := context.Background()

	// Three hits, a miss that went to the shared tier and on upstream, a
	// stale answer, refusals of each kind.
	for range 3 {
		h.Lookup(ctx, introspect.TierMemory, introspect.LookupHit)
		h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeAllowed})
	}
	h.Lookup(ctx, introspect.TierMemory, introspect.LookupMiss)
	h.SharedDone(ctx, introspect.SharedGet, nil)
	h.Lookup(ctx, introspect.TierShared, introspect.LookupMiss)
	h.SharedDone(ctx, introspect.SharedClaim, nil)
	h.UpstreamDone(ctx, introspect.UpstreamCall{Backend: "rfc7662", Result: introspect.ResultValid, Duration: 20 * time.Millisecond})
	h.SharedDone(ctx, introspect.SharedSet, errors.New("redis: connection refused to 10.0.0.7 for sk-secret-token"))
	h.SharedDone(ctx, introspect.SharedRelease, nil)
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeAllowed})
	h.Lookup(ctx, introspect.TierShared, introspect.LookupHit)
	h.Lookup(ctx, introspect.TierMemory, introspect.LookupStale)
	h.UpstreamDone(ctx, introspect.UpstreamCall{Backend: "rfc7662", Result: introspect.ResultError, Duration: 5 * time.Second})
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeNoToken, Status: 401})
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeMalformed, Status: 400})
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeInvalidToken, Status: 401})
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeInsufficientScope, Status: 403})
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeUnavailable, Status: 503})
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeUnavailable, Status: 503})
	h.Evicted()
	h.Evicted()
	h.Invalidation(introspect.DirectionSent)
	h.SharedDone(ctx, introspect.SharedInvalidate, nil)
	h.Invalidation(introspect.DirectionReceived)
	h.Invalidation(introspect.DirectionReceived)
	h.KeySetDone(ctx, introspect.KeySetRefresh{Result: introspect.ResultValid, Keys: 2, Duration: time.Millisecond})
	h.KeySetDone(ctx, introspect.KeySetRefresh{Result: introspect.ResultError, Forced: true})

	expect(t, reg, "tokengate_requests_total", `tokengate_requests_total{outcome="allowed"} 4
tokengate_requests_total{outcome="insufficient_scope"} 1
tokengate_requests_total{outcome="invalid_token"} 1
tokengate_requests_total{outcome="malformed"} 1
tokengate_requests_total{outcome="no_token"} 1
tokengate_requests_total{outcome="unavailable"} 2
`)
	expect(t, reg, "tokengate_cache_lookups_total", `tokengate_cache_lookups_total{result="hit",tier="memory"} 3
tokengate_cache_lookups_total{result="hit",tier="shared"} 1
tokengate_cache_lookups_total{result="miss",tier="memory"} 1
tokengate_cache_lookups_total{result="miss",tier="shared"} 1
tokengate_cache_lookups_total{result="stale",tier="memory"} 1
tokengate_cache_lookups_total{result="stale",tier="shared"} 0
`)
	expect(t, reg, "tokengate_cache_evictions_total", "tokengate_cache_evictions_total 2\n")
	expect(t, reg, "tokengate_upstream_requests_total", `tokengate_upstream_requests_total{backend="rfc7662",result="error"} 1
tokengate_upstream_requests_total{backend="rfc7662",result="invalid"} 0
tokengate_upstream_requests_total{backend="rfc7662",result="valid"} 1
`)
	expect(t, reg, "tokengate_keyset_refreshes_total", `tokengate_keyset_refreshes_total{result="error"} 1
tokengate_keyset_refreshes_total{result="valid"} 1
`)
	expect(t, reg, "tokengate_invalidations_total", `tokengate_invalidations_total{direction="received"} 2
tokengate_invalidations_total{direction="sent"} 1
`)
	expect(t, reg, "tokengate_shared_operations_total", `tokengate_shared_operations_total{op="claim",result="error"} 0
tokengate_shared_operations_total{op="claim",result="ok"} 1
tokengate_shared_operations_total{op="get",result="error"} 0
tokengate_shared_operations_total{op="get",result="ok"} 1
tokengate_shared_operations_total{op="invalidate",result="error"} 0
tokengate_shared_operations_total{op="invalidate",result="ok"} 1
tokengate_shared_operations_total{op="release",result="error"} 0
tokengate_shared_operations_total{op="release",result="ok"} 1
tokengate_shared_operations_total{op="set",result="error"} 1
tokengate_shared_operations_total{op="set",result="ok"} 0
`)

	// An error's text goes nowhere.
	text := gatherText(t, reg)
	for _, s := range []string{"secret", "10.0.0.7", "refused"} {
		if strings.Contains(text, s) {
			t.Errorf("the exposition holds %q from an error's text", s)
		}
	}
}

// gatherText returns everything reg gathers, as exposition text.
func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		b.WriteString(mf.String())
	}
	return b.String()
}

func TestUpstreamHistogram(t *testing.T) {
	c, reg := register(t, promhook.Config{})
	h := c.Hooks()
	ctx := context.Background()
	// Durations whose seconds are exact in binary, so that the sum is.
	for _, d := range []time.Duration{62500 * time.Microsecond, 250 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second} {
		h.UpstreamDone(ctx, introspect.UpstreamCall{Backend: "geosecure", Result: introspect.ResultValid, Duration: d})
	}
	h.UpstreamDone(ctx, introspect.UpstreamCall{Backend: "jwt", Result: introspect.ResultValid, Duration: 40 * time.Microsecond})
	h.UpstreamDone(ctx, introspect.UpstreamCall{Backend: "jwt", Result: introspect.ResultInvalid, Duration: 12 * time.Second})

	expect(t, reg, "tokengate_upstream_request_duration_seconds", `tokengate_upstream_request_duration_seconds_bucket{backend="geosecure",le="0.001"} 0
tokengate_upstream_request_duration_seconds_bucket{backend="geosecure",le="0.0025"} 0
tokengate_upstream_request_duration_seconds_bucket{backend="geosecure",le="0.005"} 0
tokengate_upstream_request_duration_seconds_bucket{backend="geosecure",le="0.01"} 0
tokengate_upstream_request_duration_seconds_bucket{backend="geosecure",le="0.025"} 0
tokengate_upstream_request_duration_seconds_bucket{backend="geosecure",le="0.05"} 0
tokengate_upstream_request_duration_seconds_bucket{backend="geosecure",le="0.1"} 1
tokengate_upstream_request_duration_seconds_bucket{backend="geosecure",le="0.25"} 2
tokengate_upstream_request_duration_seconds_bucket{backend="geosecure",le="0.5"} 3
tokengate_upstream_request_duration_seconds_bucket{backend="geosecure",le="1"} 3
tokengate_upstream_request_duration_seconds_bucket{backend="geosecure",le="2.5"} 4
tokengate_upstream_request_duration_seconds_bucket{backend="geosecure",le="5"} 4
tokengate_upstream_request_duration_seconds_bucket{backend="geosecure",le="10"} 4
tokengate_upstream_request_duration_seconds_bucket{backend="geosecure",le="+Inf"} 4
tokengate_upstream_request_duration_seconds_sum{backend="geosecure"} 2.8125
tokengate_upstream_request_duration_seconds_count{backend="geosecure"} 4
tokengate_upstream_request_duration_seconds_bucket{backend="jwt",le="0.001"} 1
tokengate_upstream_request_duration_seconds_bucket{backend="jwt",le="0.0025"} 1
tokengate_upstream_request_duration_seconds_bucket{backend="jwt",le="0.005"} 1
tokengate_upstream_request_duration_seconds_bucket{backend="jwt",le="0.01"} 1
tokengate_upstream_request_duration_seconds_bucket{backend="jwt",le="0.025"} 1
tokengate_upstream_request_duration_seconds_bucket{backend="jwt",le="0.05"} 1
tokengate_upstream_request_duration_seconds_bucket{backend="jwt",le="0.1"} 1
tokengate_upstream_request_duration_seconds_bucket{backend="jwt",le="0.25"} 1
tokengate_upstream_request_duration_seconds_bucket{backend="jwt",le="0.5"} 1
tokengate_upstream_request_duration_seconds_bucket{backend="jwt",le="1"} 1
tokengate_upstream_request_duration_seconds_bucket{backend="jwt",le="2.5"} 1
tokengate_upstream_request_duration_seconds_bucket{backend="jwt",le="5"} 1
tokengate_upstream_request_duration_seconds_bucket{backend="jwt",le="10"} 1
tokengate_upstream_request_duration_seconds_bucket{backend="jwt",le="+Inf"} 2
tokengate_upstream_request_duration_seconds_sum{backend="jwt"} 12.00004
tokengate_upstream_request_duration_seconds_count{backend="jwt"} 2
`)
}

func TestUpstreamBuckets(t *testing.T) {
	c, reg := register(t, promhook.Config{UpstreamBuckets: []float64{0.1, 1}})
	c.Hooks().UpstreamDone(context.Background(), introspect.UpstreamCall{Backend: "rfc7662", Result: introspect.ResultValid, Duration: 500 * time.Millisecond})
	expect(t, reg, "tokengate_upstream_request_duration_seconds", `tokengate_upstream_request_duration_seconds_bucket{backend="rfc7662",le="0.1"} 0
tokengate_upstream_request_duration_seconds_bucket{backend="rfc7662",le="1"} 1
tokengate_upstream_request_duration_seconds_bucket{backend="rfc7662",le="+Inf"} 1
tokengate_upstream_request_duration_seconds_sum{backend="rfc7662"} 0.5
tokengate_upstream_request_duration_seconds_count{backend="rfc7662"} 1
`)
}

func TestEmptyUpstreamBucketsAreTheDefault(t *testing.T) {
	_, reg := register(t, promhook.Config{UpstreamBuckets: []float64{}, Backends: []string{"jwt"}})
	expect(t, reg, "tokengate_upstream_request_duration_seconds", zeroHistogram(`backend="jwt",`))
}

// TestPanicAtNew checks that what would make prometheus panic at a
// backend's first upstream call, on the request path, panics in New.
func TestPanicAtNew(t *testing.T) {
	for _, cfg := range []promhook.Config{
		{UpstreamBuckets: []float64{1, 0.1}},
		{UpstreamBuckets: []float64{0.1, 0.1}},
		{ConstLabels: prometheus.Labels{"le": "1"}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%+v) did not panic", cfg)
				}
			}()
			promhook.New(cfg)
		}()
	}
}

func TestGaugesGoUpAndDown(t *testing.T) {
	c, reg := register(t, promhook.Config{})
	h := c.Hooks()
	h.InFlight(+1)
	h.InFlight(+1)
	h.InFlight(+1)
	h.Waiting(+1)
	h.Waiting(+1)
	expect(t, reg, "tokengate_upstream_in_flight", "tokengate_upstream_in_flight 3\n")
	expect(t, reg, "tokengate_upstream_waiting", "tokengate_upstream_waiting 2\n")
	h.InFlight(-1)
	h.Waiting(-1)
	h.InFlight(-1)
	expect(t, reg, "tokengate_upstream_in_flight", "tokengate_upstream_in_flight 1\n")
	expect(t, reg, "tokengate_upstream_waiting", "tokengate_upstream_waiting 1\n")
	h.InFlight(-1)
	h.Waiting(-1)
	expect(t, reg, "tokengate_upstream_in_flight", "tokengate_upstream_in_flight 0\n")
	expect(t, reg, "tokengate_upstream_waiting", "tokengate_upstream_waiting 0\n")
}

func TestUnknownValuesMakeNoSeries(t *testing.T) {
	c, reg := register(t, promhook.Config{Backends: []string{"rfc7662"}})
	before := gatherText(t, reg)
	h := c.Hooks()
	ctx := context.Background()
	h.Decision(ctx, introspect.Decision{Outcome: "teapot", Status: 418})
	h.Decision(ctx, introspect.Decision{Outcome: "Allowed"})
	h.Decision(ctx, introspect.Decision{})
	h.Lookup(ctx, "disk", introspect.LookupHit)
	h.Lookup(ctx, introspect.TierMemory, "maybe")
	h.UpstreamDone(ctx, introspect.UpstreamCall{Backend: "rfc7662", Result: "timeout", Duration: time.Second})
	h.UpstreamDone(ctx, introspect.UpstreamCall{Backend: "never-seen", Result: "timeout", Duration: time.Second})
	h.KeySetDone(ctx, introspect.KeySetRefresh{Result: introspect.ResultInvalid})
	h.KeySetDone(ctx, introspect.KeySetRefresh{Result: "partial"})
	h.Invalidation("sideways")
	h.SharedDone(ctx, "scan", nil)
	h.SharedDone(ctx, "scan", errors.New("boom"))
	if after := gatherText(t, reg); after != before {
		t.Errorf("unknown label values changed the exposition:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestBackendLabelIsBounded(t *testing.T) {
	c, reg := register(t, promhook.Config{})
	h := c.Hooks()
	ctx := context.Background()
	call := func(backend string) {
		h.UpstreamDone(ctx, introspect.UpstreamCall{Backend: backend, Result: introspect.ResultValid, Duration: time.Millisecond})
	}
	call("")                      // a Verifier without a name
	call("bad\xffutf8")           // would make WithLabelValues panic
	call(strings.Repeat("x", 65)) // too long
	call(strings.Repeat("y", 64)) // just long enough
	for i := range 200 {
		call(fmt.Sprintf("backend-%d", i))
	}
	for i := range 200 { // again, now from the maps
		call(fmt.Sprintf("backend-%d", i))
	}

	// 32 names (custom, yyy…, and 30 of the backends), and other.
	if n, _ := testutil.GatherAndCount(reg, "tokengate_upstream_request_duration_seconds"); n != 33 {
		t.Errorf("%d backend label values, want 33", n)
	}
	if n, _ := testutil.GatherAndCount(reg, "tokengate_upstream_requests_total"); n != 33*3 {
		t.Errorf("%d upstream_requests_total series, want %d", n, 33*3)
	}
	mfs, _ := reg.Gather()
	got := map[string]float64{}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "tokengate_upstream_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var backend, result string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "backend":
					backend = l.GetValue()
				case "result":
					result = l.GetValue()
				}
			}
			if result == "valid" {
				got[backend] = m.GetCounter().GetValue()
				total += m.GetCounter().GetValue()
			}
		}
	}
	if got["custom"] != 1 || got[strings.Repeat("y", 64)] != 1 || got["backend-0"] != 2 || got["backend-29"] != 2 || got["backend-30"] != 0 {
		t.Errorf("named backends counted %v", got)
	}
	// other: the invalid and long names once each, and backends 30 to 199
	// twice.
	if want := 2.0 + 2*170; got[promhook.OtherBackend] != want {
		t.Errorf("other = %v, want %v", got[promhook.OtherBackend], want)
	}
	if total != 4+2*200 {
		t.Errorf("%v calls counted, want %d", total, 4+2*200)
	}
}

func TestConstLabels(t *testing.T) {
	c, reg := register(t, promhook.Config{ConstLabels: prometheus.Labels{"service": "gipod"}})
	c.Hooks().Evicted()
	expect(t, reg, "tokengate_cache_evictions_total", "tokengate_cache_evictions_total{service=\"gipod\"} 1\n")

	// Two Collectors told apart by their ConstLabels share a registry.
	other := promhook.New(promhook.Config{ConstLabels: prometheus.Labels{"service": "basisregisters"}})
	if err := reg.Register(other); err != nil {
		t.Fatalf("Register of a second Collector with other ConstLabels: %v", err)
	}
	other.Hooks().Evicted()
	other.Hooks().Evicted()
	expect(t, reg, "tokengate_cache_evictions_total", `tokengate_cache_evictions_total{service="basisregisters"} 2
tokengate_cache_evictions_total{service="gipod"} 1
`)
}

func TestInvalidConstLabelsFailRegister(t *testing.T) {
	for _, cl := range []prometheus.Labels{
		{"outcome": "x"}, // one of the metrics' own labels
		{"backend": "x"},
		{"__reserved": "x"},
		{"ok": "bad\xff"},
	} {
		c := promhook.New(promhook.Config{ConstLabels: cl})
		if err := prometheus.NewRegistry().Register(c); err == nil {
			t.Errorf("Register with ConstLabels %q: no error", cl)
		}
		// The Hooks must not panic, registered or not.
		h := c.Hooks()
		h.Decision(context.Background(), introspect.Decision{Outcome: introspect.OutcomeAllowed})
		h.UpstreamDone(context.Background(), introspect.UpstreamCall{Backend: "rfc7662", Result: introspect.ResultValid})
	}
}

func TestRegisterTwice(t *testing.T) {
	c, reg := register(t, promhook.Config{})
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Fatalf("second Register = %v, want an AlreadyRegisteredError", err)
	}
	if are.ExistingCollector != c {
		t.Errorf("ExistingCollector = %v, want the Collector", are.ExistingCollector)
	}
	// A second Collector with the same ConstLabels would export the same
	// series.
	err = reg.Register(promhook.New(promhook.Config{}))
	if !errors.As(err, &are) {
		t.Errorf("Register of a second Collector = %v, want an AlreadyRegisteredError", err)
	}
	if !reg.Unregister(c) {
		t.Error("Unregister = false")
	}
}

func TestDescribeMatchesCollect(t *testing.T) {
	c := promhook.New(promhook.Config{Backends: []string{"jwt"}})
	descs := make(chan *prometheus.Desc, 100)
	c.Describe(descs)
	close(descs)
	described := map[string]bool{}
	for d := range descs {
		described[d.String()] = true
	}
	if len(described) != 10 {
		t.Errorf("Describe sent %d descriptors, want 10", len(described))
	}
	metrics := make(chan prometheus.Metric, 100)
	c.Collect(metrics)
	close(metrics)
	n := 0
	for m := range metrics {
		n++
		if !described[m.Desc().String()] {
			t.Errorf("Collect sent %v, not described", m.Desc())
		}
	}
	if n != 33 {
		t.Errorf("Collect sent %d metrics, want 33", n)
	}
}

func TestHooksLeaveStartHooksNil(t *testing.T) {
	c := promhook.New(promhook.Config{})
	h := c.Hooks()
	if h.VerifyStart != nil || h.VerifyDone != nil || h.UpstreamStart != nil || h.SharedStart != nil || h.KeySetStart != nil {
		t.Error("a hook the Collector does not need is set")
	}
	if h.Lookup == nil || h.Evicted == nil || h.UpstreamDone == nil || h.InFlight == nil || h.Waiting == nil ||
		h.SharedDone == nil || h.Invalidation == nil || h.KeySetDone == nil || h.Decision == nil {
		t.Error("a hook the Collector counts is nil")
	}
	if c.Hooks() == h {
		t.Error("Hooks returned the same Hooks twice")
	}
}

func TestConcurrentUse(t *testing.T) {
	c, reg := register(t, promhook.Config{})
	const goroutines, rounds = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			h := c.Hooks()
			ctx := context.Background()
			for i := range rounds {
				h.Lookup(ctx, introspect.TierMemory, introspect.LookupHit)
				h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeAllowed})
				h.InFlight(+1)
				h.Waiting(+1)
				h.UpstreamDone(ctx, introspect.UpstreamCall{Backend: fmt.Sprintf("b%d", (g+i)%4), Result: introspect.ResultValid, Duration: time.Millisecond})
				h.Waiting(-1)
				h.InFlight(-1)
				h.SharedDone(ctx, introspect.SharedGet, nil)
				h.Evicted()
			}
		})
	}
	wg.Go(func() { // scrapes meanwhile
		for range 20 {
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()

	const n = goroutines * rounds
	expect(t, reg, "tokengate_requests_total", fmt.Sprintf(`tokengate_requests_total{outcome="allowed"} %d
tokengate_requests_total{outcome="insufficient_scope"} 0
tokengate_requests_total{outcome="invalid_token"} 0
tokengate_requests_total{outcome="malformed"} 0
tokengate_requests_total{outcome="no_token"} 0
tokengate_requests_total{outcome="unavailable"} 0
`, n))
	expect(t, reg, "tokengate_cache_evictions_total", fmt.Sprintf("tokengate_cache_evictions_total %d\n", n))
	expect(t, reg, "tokengate_upstream_in_flight", "tokengate_upstream_in_flight 0\n")
	expect(t, reg, "tokengate_upstream_waiting", "tokengate_upstream_waiting 0\n")
	var want strings.Builder
	for b := range 4 {
		fmt.Fprintf(&want, "tokengate_upstream_requests_total{backend=\"b%d\",result=\"error\"} 0\n", b)
		fmt.Fprintf(&want, "tokengate_upstream_requests_total{backend=\"b%d\",result=\"invalid\"} 0\n", b)
		fmt.Fprintf(&want, "tokengate_upstream_requests_total{backend=\"b%d\",result=\"valid\"} %d\n", b, n/4)
	}
	expect(t, reg, "tokengate_upstream_requests_total", want.String())
}

func TestHitAllocatesNothing(t *testing.T) {
	h := promhook.New(promhook.Config{}).Hooks()
	ctx := context.Background()
	allowed := introspect.Decision{Outcome: introspect.OutcomeAllowed}
	if n := testing.AllocsPerRun(1000, func() {
		h.Lookup(ctx, introspect.TierMemory, introspect.LookupHit)
		h.Decision(ctx, allowed)
	}); n != 0 {
		t.Errorf("a hit allocates %v times, want 0", n)
	}
	call := introspect.UpstreamCall{Backend: "rfc7662", Result: introspect.ResultValid, Duration: time.Millisecond}
	h.UpstreamDone(ctx, call)
	if n := testing.AllocsPerRun(1000, func() { h.UpstreamDone(ctx, call) }); n != 0 {
		t.Errorf("an upstream call of a known backend allocates %v times, want 0", n)
	}
}

// BenchmarkHooksHit counts what a cache hit reports: a lookup found in
// memory, then the middleware's decision to let the request through.
func BenchmarkHooksHit(b *testing.B) {
	h := promhook.New(promhook.Config{}).Hooks()
	ctx := context.Background()
	allowed := introspect.Decision{Outcome: introspect.OutcomeAllowed}
	b.ReportAllocs()
	for b.Loop() {
		h.Lookup(ctx, introspect.TierMemory, introspect.LookupHit)
		h.Decision(ctx, allowed)
	}
}

// BenchmarkHooksUpstream counts what an upstream call reports, its
// backend's series found in the map.
func BenchmarkHooksUpstream(b *testing.B) {
	h := promhook.New(promhook.Config{Backends: []string{"rfc7662"}}).Hooks()
	ctx := context.Background()
	call := introspect.UpstreamCall{Backend: "rfc7662", Result: introspect.ResultValid, Duration: 20 * time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		h.InFlight(+1)
		h.UpstreamDone(ctx, call)
		h.InFlight(-1)
	}
}
