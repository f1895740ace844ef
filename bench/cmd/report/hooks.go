package main

import "math"

// hooksExtraMax is tokengate's bound on what Hooks add to a cache hit, in
// nanoseconds: a hit with hooks installed costs at most this much more
// than without, and no allocation more.
const hooksExtraMax = 50

// hooksPaired times the net/http hit without hooks and with each metrics
// adapter's in the same iterations.
const hooksPaired = "BenchmarkHooksPaired"

// hookedRows are the metrics adapters: the BenchmarkHit row of the net/http
// hit with its Hooks installed in the cache and the middleware, for the
// allocations, and its unit in hooksPaired, for the time.
var hookedRows = []struct{ name, sub, unit string }{
	{"Prometheus (promhook)", "nethttp/tokengate+promhook", "promhook-ns/op"},
	{"OpenTelemetry metrics (otelhook)", "nethttp/tokengate+otelhook", "otelhook-ns/op"},
}

// hooksExtra is the median over the runs of hooksPaired of what unit's
// route costs per request more than the route without hooks, each run's
// against the same run's.
func (r *results) hooksExtra(unit string) float64 {
	return r.perRun(hooksPaired, []string{unit, "plain-ns/op"}, func(v []float64) float64 { return v[0] - v[1] })
}

// writeHooksTargets adds a row per metrics adapter to the targets table:
// what its Hooks add to a net/http hit.
func (r *results) writeHooksTargets(p func(string, ...any)) {
	base := "BenchmarkHit/nethttp/tokengate"
	for _, h := range hookedRows {
		target := "a hit with " + h.name + " hooks ≤ +50 ns and no allocation more than without"
		name := "BenchmarkHit/" + h.sub
		ns := r.hooksExtra(h.unit)
		if !r.has(name) || !r.has(base) || math.IsNaN(ns) {
			p("| %s | `%s` or `%s` is not in this raw file | not measured |\n", target, name, hooksPaired)
			continue
		}
		allocs := r.med(name, "allocs/op") - r.med(base, "allocs/op")
		p("| %s | %+.0f ns (in the same iterations; paired median) and %s | %s |\n", target, ns, allocations(allocs),
			mark(ns <= hooksExtraMax && allocs <= 0))
	}
}
