package main

import (
	"math"
	"strings"
)

// missPaired times a raw GET, the Geosecure Verifier alone, a Cache in
// front of it and a miss through the whole middleware in the same
// iterations: the miss target's measure, and the steps between them what
// each layer adds. Separate runs of BenchmarkMiss/raw and /tokengate
// drift apart by a good part of the target's margin.
const missPaired = "BenchmarkMiss/paired"

// missFigures are what the miss target is judged on: the ratio of a miss to
// a raw GET, both times, and how they were measured — paired when the raw
// file holds missPaired, from separate runs otherwise.
func (r *results) missFigures() (ratio, raw, miss float64, how string) {
	if ratio := r.perRun(missPaired, []string{"miss-ns/op", "raw-ns/op"}, func(v []float64) float64 { return v[0] / v[1] }); !math.IsNaN(ratio) {
		return ratio, r.med(missPaired, "raw-ns/op"), r.med(missPaired, "miss-ns/op"), "in the same iterations; medians of each run's figures"
	}
	raw, miss = r.med("BenchmarkMiss/raw", "ns/op"), r.med("BenchmarkMiss/tokengate", "ns/op")
	return miss / raw, raw, miss, "separate runs; " + r.pairedMissing(missPaired)
}

// missStep is the median over the runs of missPaired of what unit's layer
// adds to the one below it, each run's against the same run's; NaN when
// the raw file lacks them.
func (r *results) missStep(unit, below string) float64 {
	return r.perRun(missPaired, []string{unit, below}, func(v []float64) float64 { return v[0] - v[1] })
}

// writeMissExplanation explains, with the figures, a missed miss target.
func (r *results) writeMissExplanation(p func(string, ...any)) {
	ratio, raw, miss, how := r.missFigures()
	if !(ratio > missMax) {
		return
	}
	p("\n**Why a miss costs %.2f× a plain GET** (target %.2f×; %s over raw where the target allows %s;\n", ratio, missMax, duration(miss-raw), duration((missMax-1)*raw))
	p("%s).", how)
	backend, cache, mw := r.missStep("backend-ns/op", "raw-ns/op"), r.missStep("cache-ns/op", "backend-ns/op"), r.missStep("miss-ns/op", "cache-ns/op")
	if !math.IsNaN(backend) && !math.IsNaN(cache) && !math.IsNaN(mw) {
		p(" Layer by layer, in the same iterations (the median of each run's step, so that the steps\n")
		p("need not add up to the whole): the Geosecure Verifier called alone costs +%s over the plain GET\n", duration(backend))
		p("(the request with its `Accept` header, the answer read into memory, its JSON parsed into a\n")
		p("`TokenInfo`); a Cache in front of it adds +%s; the middleware adds +%s (extraction, checks,\n", duration(cache), duration(mw))
		p("the request copy). The Cache's step is the largest. Its work (the SHA-256 key, the lookup that\n")
		p("misses, the record of the shared call, a context with its timeout, the store) is a fraction of\n")
		p("it: the SHA-256 of the token takes %s and handing work to another goroutine and waiting for it\n", duration(r.med("BenchmarkFloor/sha256-64B", "ns/op")))
		p("%s (`BenchmarkFloor/handoff`), each alone. The rest is in no one frame of the\n", duration(r.med("BenchmarkFloor/handoff", "ns/op")))
		p("profile; most likely it is time the goroutines wait for each other: the Cache hands the call to\n")
		p("a worker and the worker wakes the caller when it ends, on a machine whose %s cores also run the\n", r.cpus())
		p("fake server and the client's connection goroutines.")
	} else {
		p(" Besides what the plain GET does, a miss makes the middleware's checks and request copy, a\n")
		p("context with the Cache's timeout, the parse of the JSON answer into a `TokenInfo`, the store, and\n")
		p("hands the upstream call to a worker goroutine.")
	}
	rawAllocs, tgAllocs := r.med("BenchmarkMiss/raw", "allocs/op"), r.med("BenchmarkMiss/tokengate", "allocs/op")
	rawBytes, tgBytes := r.med("BenchmarkMiss/raw", "B/op"), r.med("BenchmarkMiss/tokengate", "B/op")
	share := func(frame string) string { return r.cumShare("Miss/tokengate", frame) }
	p("\nThe call runs on a worker so that it is detached from the first caller: a client that\n")
	p("disconnects or times out neither fails the others waiting for the same token nor has to wait\n")
	p("for the call itself. A miss makes %s more allocations and %s more bytes than the plain GET.\n", num(tgAllocs-rawAllocs), num(tgBytes-rawBytes))
	p("Of the CPU time in the miss profile below: the detached call (`(*Cache).fetch`, the HTTP round\n")
	p("trip included) %s, system calls %s, allocation (`runtime.mallocgc`) %s, the garbage collector's\n",
		share("introspect.(*Cache).fetch"), share("internal/runtime/syscall/linux.Syscall6"), share("runtime.mallocgc"))
	p("background work (`runtime.gcBgMarkWorker`) %s, parsing the verify answer (`geosecure.parseVerify`)\n", share("runtime.gcBgMarkWorker"))
	p("%s, and growing goroutine stacks (`runtime.newstack`) %s.\n", share("geosecure.parseVerify"), share("runtime.newstack"))
	p("The gap is spread over these rather than in one frame. Fewer hand-offs would narrow it, but the\n")
	p("hand-off to a worker is what keeps one caller's leaving from failing the others, so it stays.\n")
	p("The target is not met and not loosened.\n")
}

// cpus is the machine's count of CPUs, from the raw file's header.
func (r *results) cpus() string {
	for _, h := range r.header {
		if v, ok := strings.CutPrefix(h, "cpus: "); ok {
			return v
		}
	}
	return "few"
}
