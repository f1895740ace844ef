package main

import (
	"fmt"
	"math"
	"strings"
)

// adapter is a framework adapter of tokengate, by its BenchmarkHit rows:
// stack/bare, stack/tokengate and, where the stack has one,
// stack/passthrough, a route middleware that only calls next.
type adapter struct {
	name  string // as the report names the framework
	stack string // the first part of its sub-benchmark names
}

// adapters are the adapters whose hit overhead is held against the net/http
// middleware's.
var adapters = []adapter{{"Echo", "echo"}, {"gin", "gin"}}

// has reports whether the raw output holds a benchmark.
func (r *results) has(name string) bool {
	_, ok := r.metrics[name]
	return ok
}

// measured reports whether family holds the adapter's bare and tokengate
// rows.
func (r *results) measured(family string, a adapter) bool {
	return r.has(family+"/"+a.stack+"/bare") && r.has(family+"/"+a.stack+"/tokengate")
}

// adapterRatio is the adapter's hit overhead over the net/http middleware's,
// in family.
func (r *results) adapterRatio(family string, a adapter) float64 {
	ns, _ := r.overhead(family, a.stack+"/tokengate")
	base, _ := r.overhead(family, "nethttp/tokengate")
	return ns / base
}

// adaptersPaired times every stack's bare and tokengate routes in the same
// iterations: the adapter targets' measure of time. Separate runs of
// BenchmarkHit drift apart by more than the targets' margins.
const adaptersPaired = "BenchmarkAdaptersPaired"

// pairedUnits are the units of adaptersPaired that time stack's tokengate
// route and its bare route.
func pairedUnits(stack string) []string {
	return []string{stack + "-tokengate-ns/op", stack + "-bare-ns/op"}
}

// pairedOverhead is the median over the runs of adaptersPaired of stack's
// tokengate route over its bare route, each run's against the same run's.
func (r *results) pairedOverhead(stack string) float64 {
	return r.perRun(adaptersPaired, pairedUnits(stack), func(v []float64) float64 { return v[0] - v[1] })
}

// pairedAdapterRatio is the median over the runs of adaptersPaired of the
// adapter's hit overhead over the net/http middleware's, each run's against
// the same run's; NaN when the raw file lacks them.
func (r *results) pairedAdapterRatio(a adapter) float64 {
	units := append(pairedUnits(a.stack), pairedUnits("nethttp")...)
	return r.perRun(adaptersPaired, units, func(v []float64) float64 { return (v[0] - v[1]) / (v[2] - v[3]) })
}

// adapterFigures are what an adapter target is judged on: its ratio and
// both overheads, paired when the raw file holds adaptersPaired and from
// BenchmarkHit otherwise, and how they were measured.
func (r *results) adapterFigures(a adapter) (ratio, ns, nsHTTP float64, how string) {
	if ratio := r.pairedAdapterRatio(a); !math.IsNaN(ratio) {
		return ratio, r.pairedOverhead(a.stack), r.pairedOverhead("nethttp"), "in the same iterations; medians of each run's figures"
	}
	ns, _ = r.overhead("BenchmarkHit", a.stack+"/tokengate")
	nsHTTP, _ = r.overhead("BenchmarkHit", "nethttp/tokengate")
	return r.adapterRatio("BenchmarkHit", a), ns, nsHTTP, "separate runs of `BenchmarkHit`; " + r.pairedMissing(adaptersPaired)
}

// pairedAdapters reports whether every adapter target is judged on
// adaptersPaired.
func (r *results) pairedAdapters() bool {
	for _, a := range adapters {
		if math.IsNaN(r.pairedAdapterRatio(a)) {
			return false
		}
	}
	return true
}

// writeAdapterTargets adds a row per adapter to the targets table: its hit
// overhead against the net/http middleware's, in time and allocations.
func (r *results) writeAdapterTargets(p func(string, ...any)) {
	for _, a := range adapters {
		target := fmt.Sprintf("%s hit overhead ≤ %.1f× the net/http hit overhead", a.name, adapterOverheadMax)
		if !r.measured("BenchmarkHit", a) {
			p("| %s | `BenchmarkHit/%s/…` is not in this raw file | not measured |\n", target, a.stack)
			continue
		}
		ratio, ns, nsHTTP, how := r.adapterFigures(a)
		_, allocs := r.overhead("BenchmarkHit", a.stack+"/tokengate")
		_, allocsHTTP := r.overhead("BenchmarkHit", "nethttp/tokengate")
		p("| %s | %.2f× (+%s against +%s, %s; in `BenchmarkHit`, %s against %s) | %s |\n", target, ratio, duration(ns), duration(nsHTTP), how,
			allocations(allocs), allocations(allocsHTTP), mark(ratio <= adapterOverheadMax))
	}
}

// writeAdapterMisses explains, with the figures, each adapter target this
// run missed.
func (r *results) writeAdapterMisses(p func(string, ...any)) {
	for _, a := range adapters {
		if !r.measured("BenchmarkHit", a) {
			continue
		}
		ratio, ns, nsHTTP, how := r.adapterFigures(a)
		if !(ratio > adapterOverheadMax) {
			continue
		}
		_, allocs := r.overhead("BenchmarkHit", a.stack+"/tokengate")
		_, allocsHTTP := r.overhead("BenchmarkHit", "nethttp/tokengate")
		p("\n**Why the %s hit overhead is %.2f× the net/http one** (target %.1f×; +%s against +%s, %s;\n",
			a.name, ratio, adapterOverheadMax, duration(ns), duration(nsHTTP), how)
		p("in `BenchmarkHit`, %s against %s).", allocations(allocs), allocations(allocsHTTP))
		hitNS, _ := r.overhead("BenchmarkHit", a.stack+"/tokengate")
		hitHTTP, _ := r.overhead("BenchmarkHit", "nethttp/tokengate")
		if pass := "BenchmarkHit/" + a.stack + "/passthrough"; r.has(pass) {
			nsPass, allocsPass := r.overhead("BenchmarkHit", a.stack+"/passthrough")
			p(" In `BenchmarkHit`, +%s and %s are what any route middleware costs on %s\n", duration(nsPass), allocations(allocsPass), a.name)
			p("(`%s/passthrough`, one that only calls next); beyond that route, tokengate on %s costs +%s, %.2f× its\n",
				a.stack, a.name, duration(hitNS-nsPass), (hitNS-nsPass)/hitHTTP)
			p("net/http overhead there, and makes %s.", allocations(allocs-allocsPass))
		} else if allocs == allocsHTTP {
			p(" It makes as many allocations as the net/http middleware; no row here splits the\n")
			p("remaining +%s between %s and tokengate.", duration(ns-nsHTTP), a.name)
		}
		p(" See the attribution below. The target is not met in this run and not loosened.\n")
	}
}

// writeAdapterRatios writes, under a BenchmarkHit table, each measured
// adapter's overhead over the net/http middleware's.
func (r *results) writeAdapterRatios(p func(string, ...any), family string) {
	var parts []string
	for _, a := range adapters {
		if r.measured(family, a) {
			parts = append(parts, fmt.Sprintf("%s **%.2f×**", a.name, r.adapterRatio(family, a)))
		}
	}
	if len(parts) == 0 {
		return
	}
	p("\nAdapter hit overhead over the net/http middleware's (tokengate − bare, each on its own stack): %s", strings.Join(parts, ", "))
	if family == "BenchmarkHit" && r.pairedAdapters() {
		p(" in this table's separate runs; the targets (≤ %.1f×) are judged on `%s`, which\n", adapterOverheadMax, adaptersPaired)
		p("times the routes in the same iterations: %s", r.pairedRatios())
	} else if family == "BenchmarkHit" {
		p(" (target ≤ %.1f×)", adapterOverheadMax)
	}
	p(".\n")
}

// pairedRatios lists each adapter's paired ratio.
func (r *results) pairedRatios() string {
	var parts []string
	for _, a := range adapters {
		if ratio := r.pairedAdapterRatio(a); !math.IsNaN(ratio) {
			parts = append(parts, fmt.Sprintf("%s **%.2f×**", a.name, ratio))
		}
	}
	return strings.Join(parts, ", ")
}

// writeAttribution writes which of the adapters' costs are the framework's
// own and which are tokengate's, from BenchmarkHit.
func (r *results) writeAttribution(p func(string, ...any)) {
	const family = "BenchmarkHit"
	p("\n## Whose cost is whose on Echo and gin\n\n")
	p("From `%s`. `echo/passthrough` is the bare Echo route behind a route middleware that only calls\n", family)
	p("next: what any Echo middleware costs before it does any work. Echo applies a route's middleware\n")
	p("on every request, so each middleware's closure is made anew for each request. gin keeps a route's\n")
	p("handlers in one slice built when the route is registered. `nethttp/tokengate` is the reference the\n")
	p("adapters' targets divide by.\n\n")
	p("| sub-benchmark | ns/op | B/op | allocs/op | over the bare route | allocs over the bare route | over the passthrough route | allocs over the passthrough route |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	rows := []string{"nethttp/tokengate"}
	for _, a := range adapters {
		for _, name := range r.order {
			sub, ok := strings.CutPrefix(name, family+"/"+a.stack+"/")
			if ok && sub != "bare" {
				rows = append(rows, a.stack+"/"+sub)
			}
		}
	}
	for _, sub := range rows {
		name := family + "/" + sub
		if !r.has(name) {
			continue
		}
		stack, rest, _ := strings.Cut(sub, "/")
		ns, allocs := r.overhead(family, sub)
		passNS, passAllocs := "–", "–"
		if pass := family + "/" + stack + "/passthrough"; rest != "passthrough" && r.has(pass) {
			passNS = duration(r.med(name, "ns/op") - r.med(pass, "ns/op"))
			passAllocs = num(r.med(name, "allocs/op") - r.med(pass, "allocs/op"))
		}
		p("| `%s` | %s | %s | %s | %s | %s | %s | %s |\n", sub, num(r.med(name, "ns/op")), num(r.med(name, "B/op")),
			num(r.med(name, "allocs/op")), duration(ns), num(allocs), passNS, passAllocs)
	}

	nsHTTP, allocsHTTP := r.overhead(family, "nethttp/tokengate")
	if r.measured(family, adapters[0]) && r.has(family+"/echo/passthrough") {
		nsPass, allocsPass := r.overhead(family, "echo/passthrough")
		ns, allocs := r.overhead(family, "echo/tokengate")
		p("\nOn Echo, a middleware that only calls next costs +%s and %s (%s B). Of\n",
			duration(nsPass), allocations(allocsPass), num(r.med(family+"/echo/passthrough", "B/op")))
		p("`echo/tokengate`'s allocations over the bare route (%s), Echo's own are %s and tokengate's %s; on\n",
			num(allocs), num(math.Min(allocsPass, allocs)), num(math.Max(allocs-allocsPass, 0)))
		p("net/http tokengate makes %s. Beyond the passthrough route, tokengate on Echo costs +%s, %.2f× its\n",
			allocations(allocsHTTP), duration(ns-nsPass), (ns-nsPass)/nsHTTP)
		p("net/http overhead (+%s).", duration(nsHTTP))
		if jwt := family + "/echo/echojwt-HS256"; r.has(jwt) {
			p(" echo-jwt HS256, the peer on Echo, costs +%s and %s beyond the passthrough\n",
				duration(r.med(jwt, "ns/op")-r.med(family+"/echo/passthrough", "ns/op")),
				allocations(r.med(jwt, "allocs/op")-r.med(family+"/echo/passthrough", "allocs/op")))
			p("route.")
		}
		p("\n")
	} else {
		p("\n`BenchmarkHit/echo/passthrough` is not in this raw file: it cannot tell Echo's allocations from tokengate's.\n")
	}
	if a := adapters[1]; r.measured(family, a) {
		ns, allocs := r.overhead(family, "gin/tokengate")
		p("\nOn gin, tokengate's overhead (`gin/tokengate` − `gin/bare`) is +%s and %s: %.2f× the\n",
			duration(ns), allocations(allocs), ns/nsHTTP)
		p("net/http overhead of +%s and %s", duration(nsHTTP), allocations(allocsHTTP))
		if r.pairedAdapters() {
			p(" in these separate runs (the target is judged on `%s`, above).\n", adaptersPaired)
		} else {
			p(" (target ≤ %.1f×).\n", adapterOverheadMax)
		}
	} else {
		p("\n`BenchmarkHit/gin/…` is not in this raw file.\n")
	}
}

// allocations formats a count of allocations for people.
func allocations(v float64) string {
	if v == 1 {
		return "1 allocation"
	}
	return num(v) + " allocations"
}
