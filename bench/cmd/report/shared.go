package main

import (
	"fmt"
	"math"
)

// The shared tier's benchmarks (redis_test.go) run where redis-server is on
// PATH; a raw file without them reports their targets as not measured.
const (
	sharedMiss = "BenchmarkSharedMiss"
	sharedHerd = "BenchmarkSharedHerd"
)

// sharedHitMax is tokengate's target for a shared-tier hit: a memory miss
// answered from Redis over a raw go-redis GET of a key and value as large.
const sharedHitMax = 1.3

// sharedPaired is the sub-benchmark that times a raw GET, a raw GET and a
// memory fill, and a shared hit in the same iterations.
const sharedPaired = sharedMiss + "/paired"

// pairedRatio is the median over the runs of sharedPaired of one of its
// units over its raw GET, each run's over the same run's.
func (r *results) pairedRatio(unit string) float64 {
	return r.perRun(sharedPaired, []string{unit, "raw-ns/op"}, func(v []float64) float64 { return v[0] / v[1] })
}

// perRun is the median over the runs of benchmark name of f of its units,
// each run's with the same run's: the figure of a benchmark that times
// several things in the same iterations. f is given the run's values in
// the order of units. NaN when name did not report every unit in every
// run, or when f of one run is not finite (a ratio over an overhead of
// zero, say): such a run has no figure, and a median without it would
// not say so.
func (r *results) perRun(name string, units []string, f func(v []float64) float64) float64 {
	s, ok := r.metrics[name]
	if !ok || len(units) == 0 {
		return math.NaN()
	}
	n := len(s.byUnit[units[0]])
	for _, u := range units {
		if len(s.byUnit[u]) != n {
			return math.NaN()
		}
	}
	if n == 0 {
		return math.NaN()
	}
	const unit = "per-run"
	per := &samples{byUnit: map[string][]float64{}}
	v := make([]float64, len(units))
	for i := range n {
		for j, u := range units {
			v[j] = s.byUnit[u][i]
		}
		x := f(v)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return math.NaN()
		}
		per.byUnit[unit] = append(per.byUnit[unit], x)
	}
	m, _ := per.median(unit)
	return m
}

// pairedMissing says why the paired benchmark name gave no figure: it is
// not in the raw file, or some run lacks a unit or gave no finite figure.
func (r *results) pairedMissing(name string) string {
	if !r.has(name) {
		return "`" + name + "` is not in this raw file"
	}
	return "`" + name + "` lacks a unit, or gave no finite figure, in some run"
}

// sharedRatio is a shared-tier hit over a raw Redis GET, paired.
func (r *results) sharedRatio() float64 { return r.pairedRatio("shared-ns/op") }

// writeSharedTargets adds the shared tier's rows to the targets table.
func (r *results) writeSharedTargets(p func(string, ...any)) {
	hit := fmt.Sprintf("shared-tier hit (a memory miss answered from Redis) ≤ %.1f× a raw Redis GET", sharedHitMax)
	herd := "exactly 1 upstream call per herd of 300 over 3 replicas sharing Redis, every run"
	if ratio := r.sharedRatio(); !math.IsNaN(ratio) {
		p("| %s | %.2f× (%s against %s in the same iterations; paired median) | %s |\n", hit, ratio,
			duration(r.med(sharedPaired, "shared-ns/op")), duration(r.med(sharedPaired, "raw-ns/op")), mark(ratio <= sharedHitMax))
	} else {
		p("| %s | `%s` is not in this raw file | not measured |\n", hit, sharedPaired)
	}
	if s, ok := r.metrics[sharedHerd]; ok {
		calls := s.byUnit["upstream-calls/herd"]
		ok := len(calls) > 0
		for _, v := range calls {
			ok = ok && v == 1
		}
		p("| %s | %s | %s |\n", herd, joinNums(calls), mark(ok))
	} else {
		p("| %s | `%s` is not in this raw file | not measured |\n", herd, sharedHerd)
	}
}

// writeSharedMisses explains, with the figures, a missed shared-hit target.
func (r *results) writeSharedMisses(p func(string, ...any)) {
	ratio := r.sharedRatio()
	if !(ratio > sharedHitMax) || !r.has(sharedMiss+"/shared-hit") || !r.has(sharedMiss+"/raw-get") {
		return
	}
	hit, raw := sharedMiss+"/shared-hit", sharedMiss+"/raw-get"
	p("\n**Why a shared-tier hit costs %.2f× a raw Redis GET** (target %.1f×; %s against %s). Besides\n",
		ratio, sharedHitMax, duration(r.med(sharedPaired, "shared-ns/op")), duration(r.med(sharedPaired, "raw-ns/op")))
	p("the round trip, which the first caller makes on its own goroutine, a shared hit derives the key\n")
	p("(an HMAC of the token), reads its entry (a value or a claim) with one GET under a bounded context,\n")
	p("derives the value's key from the token (HKDF) to open it with AES-GCM, decodes the answer and\n")
	p("stores it in memory. Storing a new entry in ristretto wakes its goroutine, so the Cache sets new\n")
	p("entries in batches; a raw GET followed by one set made at once costs %.2f× the raw GET in the same\n")
	p("iterations (`get-fill-ns/op`), %s of the %s that\n",
		r.pairedRatio("get-fill-ns/op"), fmt.Sprintf("%.0f%%", 100*(r.pairedRatio("get-fill-ns/op")-1)/(sharedHitMax-1)), duration((sharedHitMax-1)*r.med(sharedPaired, "raw-ns/op")))
	p("the target leaves for all of it. A shared hit makes %s and %s B, against the raw GET's %s and\n",
		allocations(r.med(hit, "allocs/op")), num(r.med(hit, "B/op")), allocations(r.med(raw, "allocs/op")))
	p("%s B. The target is not met in this run and not loosened.\n", num(r.med(raw, "B/op")))
}
