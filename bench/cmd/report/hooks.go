package main

// hooksExtraMax is tokengate's bound on what Hooks add to a cache hit, in
// nanoseconds: a hit with hooks installed costs at most this much more
// than without, and no allocation more.
const hooksExtraMax = 50

// hookedRows are the BenchmarkHit rows of the net/http hit with each
// metrics adapter's Hooks installed in the cache and the middleware.
var hookedRows = []struct{ name, sub string }{
	{"Prometheus (promhook)", "nethttp/tokengate+promhook"},
	{"OpenTelemetry metrics (otelhook)", "nethttp/tokengate+otelhook"},
}

// writeHooksTargets adds a row per metrics adapter to the targets table:
// what its Hooks add to a net/http hit.
func (r *results) writeHooksTargets(p func(string, ...any)) {
	base := "BenchmarkHit/nethttp/tokengate"
	for _, h := range hookedRows {
		target := "a hit with " + h.name + " hooks ≤ +50 ns and no allocation more than without"
		name := "BenchmarkHit/" + h.sub
		if !r.has(name) || !r.has(base) {
			p("| %s | `%s` is not in this raw file | not measured |\n", target, name)
			continue
		}
		ns := r.med(name, "ns/op") - r.med(base, "ns/op")
		allocs := r.med(name, "allocs/op") - r.med(base, "allocs/op")
		p("| %s | %+.0f ns and %s | %s |\n", target, ns, allocations(allocs), mark(ns <= hooksExtraMax && allocs <= 0))
	}
}
