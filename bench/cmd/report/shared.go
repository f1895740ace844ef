package main

import "fmt"

// The shared tier's benchmarks (redis_test.go) run where redis-server is on
// PATH; a raw file without them reports their targets as not measured.
const (
	sharedMiss = "BenchmarkSharedMiss"
	sharedHerd = "BenchmarkSharedHerd"
)

// sharedHitMax is tokengate's target for a shared-tier hit: a memory miss
// answered from Redis over a raw go-redis GET of a value as large.
const sharedHitMax = 1.3

// sharedRatio is a shared-tier hit over a raw Redis GET.
func (r *results) sharedRatio() float64 {
	return r.med(sharedMiss+"/shared-hit", "ns/op") / r.med(sharedMiss+"/raw-get", "ns/op")
}

// writeSharedTargets adds the shared tier's rows to the targets table.
func (r *results) writeSharedTargets(p func(string, ...any)) {
	hit := fmt.Sprintf("shared-tier hit (a memory miss answered from Redis) ≤ %.1f× a raw Redis GET", sharedHitMax)
	herd := "exactly 1 upstream call per herd of 300 over 3 replicas sharing Redis, every run"
	if r.has(sharedMiss+"/shared-hit") && r.has(sharedMiss+"/raw-get") {
		ratio := r.sharedRatio()
		p("| %s | %.2f× (%s against %s) | %s |\n", hit, ratio, duration(r.med(sharedMiss+"/shared-hit", "ns/op")),
			duration(r.med(sharedMiss+"/raw-get", "ns/op")), mark(ratio <= sharedHitMax))
	} else {
		p("| %s | `%s` is not in this raw file | not measured |\n", hit, sharedMiss)
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
	if !r.has(sharedMiss+"/shared-hit") || !r.has(sharedMiss+"/raw-get") {
		return
	}
	ratio := r.sharedRatio()
	if !(ratio > sharedHitMax) {
		return
	}
	hit, raw := sharedMiss+"/shared-hit", sharedMiss+"/raw-get"
	p("\n**Why a shared-tier hit costs %.2f× a raw Redis GET** (target %.1f×; %s against %s). Besides\n",
		ratio, sharedHitMax, duration(r.med(hit, "ns/op")), duration(r.med(raw, "ns/op")))
	p("the round trip, which the first caller makes on its own goroutine, a shared hit derives the key\n")
	p("(an HMAC of the token), reads the value and the claim with one MGET under a bounded context,\n")
	p("derives the value's key from the token (HKDF) to open it with AES-GCM, decodes the answer and\n")
	p("stores it in memory, which wakes ristretto's goroutine: %s and %s B per request, against the\n",
		allocations(r.med(hit, "allocs/op")), num(r.med(hit, "B/op")))
	p("raw GET's %s and %s B. The target is not met in this run and not loosened.\n",
		allocations(r.med(raw, "allocs/op")), num(r.med(raw, "B/op")))
}
