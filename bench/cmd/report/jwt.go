package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// jwtFamily is the benchmark of local JWT validation: tokengate's jwt
// Verifier behind the cache against auth0 RS256 and against an opaque hit.
const jwtFamily = "BenchmarkJWT"

// jwtPaired is the sub-benchmark that times BenchmarkJWT's routes in the
// same iterations, which the targets are judged on when the raw file holds
// it.
const jwtPaired = jwtFamily + "/paired"

// The targets of BenchmarkJWT.
const (
	jwtHitCheaper   = 100 // a repeated JWT: auth0 RS256 overhead / tokengate's
	jwtFirstSeenMax = 1.1 // a first-seen JWT: tokengate / auth0 RS256
	jwtHitVsOpaque  = 1.1 // a JWT hit / an opaque hit
	floodFetchesMax = 1   // key set fetches per refresh cooldown in an unknown-kid flood
)

// hasJWT reports whether the raw output holds BenchmarkJWT.
func (r *results) hasJWT() bool {
	_, ok := r.metrics[jwtFamily+"/bare"]
	return ok
}

// jwtOverhead is a BenchmarkJWT sub-benchmark's median cost over its bare
// route.
func (r *results) jwtOverhead(sub string) float64 {
	return r.med(jwtFamily+"/"+sub, "ns/op") - r.med(jwtFamily+"/bare", "ns/op")
}

// jwtFigures are the ratios the targets are about, the overheads they are
// made of, and how they were measured.
type jwtFigures struct {
	hitTG, hitAuth0, hitOpaque, hitSameLength   float64 // overheads, ns
	firstTG, firstAuth0                         float64
	cheaper, firstRatio, opaqueRatio, sameRatio float64
	how                                         string
	flood                                       []float64 // fetches/cooldown, per run
	refused                                     float64   // ns per refused request
}

// jwtPairedUnits are the units of jwtPaired's routes.
var jwtPairedUnits = struct{ bare, hit, auth0Hit, opaque, sameLength, first, auth0First string }{
	"bare-ns/op", "hit-ns/op", "auth0-hit-ns/op", "opaque-ns/op", "same-length-ns/op", "first-ns/op", "auth0-first-ns/op",
}

// jwtFigures takes the figures from jwtPaired, each run's overheads over
// the same run's bare route, when the raw file holds it, and from the
// separate sub-benchmarks otherwise.
func (r *results) jwtFigures() jwtFigures {
	f := jwtFigures{refused: r.med(jwtFamily+"/unknown-kid", "ns/refused")}
	if s, ok := r.metrics[jwtFamily+"/unknown-kid"]; ok {
		f.flood = s.byUnit["fetches/cooldown"]
	}
	u := jwtPairedUnits
	overhead := func(unit string) float64 {
		return r.perRun(jwtPaired, []string{unit, u.bare}, func(v []float64) float64 { return v[0] - v[1] })
	}
	ratio := func(of, to string) float64 {
		return r.perRun(jwtPaired, []string{of, to, u.bare}, func(v []float64) float64 { return (v[0] - v[2]) / (v[1] - v[2]) })
	}
	f.cheaper, f.firstRatio = ratio(u.auth0Hit, u.hit), ratio(u.first, u.auth0First)
	f.opaqueRatio, f.sameRatio = ratio(u.hit, u.opaque), ratio(u.hit, u.sameLength)
	if !math.IsNaN(f.cheaper + f.firstRatio + f.opaqueRatio + f.sameRatio) {
		f.hitTG, f.hitAuth0 = overhead(u.hit), overhead(u.auth0Hit)
		f.hitOpaque, f.hitSameLength = overhead(u.opaque), overhead(u.sameLength)
		f.firstTG, f.firstAuth0 = overhead(u.first), overhead(u.auth0First)
		f.how = "in the same iterations; medians of each run's figures"
		return f
	}
	f.hitTG, f.hitAuth0 = r.jwtOverhead("hit/tokengate"), r.jwtOverhead("hit/auth0-RS256")
	f.hitOpaque, f.hitSameLength = r.jwtOverhead("hit/opaque"), r.jwtOverhead("hit/opaque-jwt-length")
	f.firstTG, f.firstAuth0 = r.jwtOverhead("first/tokengate"), r.jwtOverhead("first/auth0-RS256")
	f.cheaper, f.firstRatio = f.hitAuth0/f.hitTG, f.firstTG/f.firstAuth0
	f.opaqueRatio, f.sameRatio = f.hitTG/f.hitOpaque, f.hitTG/f.hitSameLength
	f.how = "separate runs; " + r.pairedMissing(jwtPaired)
	return f
}

// floodOK reports whether every run's flood stayed within the target.
func (f jwtFigures) floodOK() bool {
	ok := len(f.flood) > 0
	for _, v := range f.flood {
		ok = ok && v <= floodFetchesMax
	}
	return ok
}

// writeJWTTargets adds BenchmarkJWT's rows to the targets table, or says
// the raw output lacks it.
func (r *results) writeJWTTargets(p func(string, ...any)) {
	names := []string{
		fmt.Sprintf("repeated JWT (jwt Verifier behind the cache) ≥ %d× cheaper per request than auth0 RS256", jwtHitCheaper),
		fmt.Sprintf("first-seen JWT (one RS256 check) ≤ %.1f× auth0 RS256", jwtFirstSeenMax),
		fmt.Sprintf("JWT cache hit ≤ %.1f× an opaque cache hit", jwtHitVsOpaque),
		fmt.Sprintf("unknown-kid flood: ≤ %d key set fetch per refresh cooldown, every run", floodFetchesMax),
		"unknown-kid flood: time per refused request (no target; against a first-seen JWT)",
	}
	if !r.hasJWT() {
		for _, n := range names {
			p("| %s | `BenchmarkJWT` is not in this raw file | not measured |\n", n)
		}
		return
	}
	f := r.jwtFigures()
	p("| %s | %.0f× (auth0: +%s, tokengate: +%s; %s) | %s |\n", names[0], f.cheaper, duration(f.hitAuth0), duration(f.hitTG), f.how, mark(f.cheaper >= jwtHitCheaper))
	p("| %s | %.3f× (+%s against +%s; %s) | %s |\n", names[1], f.firstRatio, duration(f.firstTG), duration(f.firstAuth0), f.how, mark(f.firstRatio <= jwtFirstSeenMax))
	p("| %s | %.2f× (+%s against +%s; %s) | %s |\n", names[2], f.opaqueRatio, duration(f.hitTG), duration(f.hitOpaque), f.how, mark(f.opaqueRatio <= jwtHitVsOpaque))
	p("| %s | %s | %s |\n", names[3], joinNums(f.flood), mark(f.floodOK()))
	p("| %s | %s, %.2f× a first-seen JWT's overhead | — |\n", names[4], duration(f.refused), f.refused/f.firstTG)
}

// writeJWTMisses explains, with the figures, each BenchmarkJWT target this
// run missed.
func (r *results) writeJWTMisses(p func(string, ...any)) {
	if !r.hasJWT() {
		return
	}
	f := r.jwtFigures()
	jwtBytes := r.med(jwtFamily+"/hit/tokengate", "token-bytes")
	opaqueBytes := r.med(jwtFamily+"/hit/opaque", "token-bytes")
	// length explains a JWT hit's cost by the token's length. Only the
	// paragraph on the 100× target measures the hash against what that
	// target leaves for the whole hit.
	length := func(againstCheaper bool) {
		p("A JWT hit costs what an opaque hit of the same length costs: `hit/opaque-jwt-length`, an opaque\n")
		p("token of the JWT's %s bytes, is +%s (the JWT +%s, the %s-byte opaque token +%s). A hit hashes\n",
			num(jwtBytes), duration(f.hitSameLength), duration(f.hitTG), num(opaqueBytes), duration(f.hitOpaque))
		p("the whole token with SHA-256 (the cache key by design) and checks it against the `b64token`\n")
		p("grammar, so it grows with the token; the JWT's signature is not checked again.\n")
		if sha := r.med("BenchmarkFloor/sha256-701B", "ns/op"); sha > 0 && jwtBytes == 701 {
			p("The SHA-256 of %s bytes alone takes %s in this run (`Floor/sha256-701B`), against %s for the\n",
				num(jwtBytes), duration(sha), duration(r.med("BenchmarkFloor/sha256-64B", "ns/op")))
			p("64-byte token: the hash of a JWT-sized key costs %.0f%% of the opaque hit's whole overhead\n", 100*sha/f.hitOpaque)
			if againstCheaper {
				p("by itself, and %.0f%% of what a %d× target leaves for the whole hit.\n", 100*sha*float64(jwtHitCheaper)/f.hitAuth0, jwtHitCheaper)
			} else {
				p("by itself.\n")
			}
		}
	}
	if f.cheaper < jwtHitCheaper {
		p("\n**Why a repeated JWT is only %.0f× cheaper than auth0 RS256 in this run** (target %d×). auth0\n", f.cheaper, jwtHitCheaper)
		p("checks the RS256 signature on every request (+%s); tokengate's hit is +%s. ", duration(f.hitAuth0), duration(f.hitTG))
		length(true)
		p("Against the %s-byte opaque hit, auth0 RS256 costs %.0f× more. The target is not met in this run\n", num(opaqueBytes), f.hitAuth0/f.hitOpaque)
		p("and not loosened.\n")
	}
	if f.opaqueRatio > jwtHitVsOpaque {
		p("\n**Why a JWT hit costs %.2f× an opaque hit** (target %.1f×). ", f.opaqueRatio, jwtHitVsOpaque)
		length(false)
		p("Against the opaque token of the same length, the JWT hit is %.2f×. The target is not met and not\n", f.sameRatio)
		p("loosened.\n")
	}
	if f.firstRatio > jwtFirstSeenMax {
		p("\n**Why a first-seen JWT costs %.3f× auth0 RS256** (target %.1f×; +%s against +%s). Besides the\n",
			f.firstRatio, jwtFirstSeenMax, duration(f.firstTG), duration(f.firstAuth0))
		p("one RS256 check both make, which tokengate makes on the caller's goroutine, its miss enters the\n")
		p("call others may share, maps the claims to a `TokenInfo` and stores it in the cache, which wakes\n")
		p("ristretto's goroutine: %s allocations and %s B\n",
			num(r.med(jwtFamily+"/first/tokengate", "allocs/op")), num(r.med(jwtFamily+"/first/tokengate", "B/op")))
		p("per request, against auth0's %s and %s B. The target is not met and not loosened.\n",
			num(r.med(jwtFamily+"/first/auth0-RS256", "allocs/op")), num(r.med(jwtFamily+"/first/auth0-RS256", "B/op")))
	}
	if !f.floodOK() {
		p("\n**The unknown-kid flood fetched the key set more than once per cooldown** (%s per run; target\n", joinNums(f.flood))
		p("≤ %d). Every such fetch is a request the flood made the issuer answer.\n", floodFetchesMax)
	}
}

// writeJWTTable writes BenchmarkJWT's sub-benchmarks.
func (r *results) writeJWTTable(p func(string, ...any)) {
	p("\n## %s\n\n", jwtFamily)
	if !r.hasJWT() {
		p("Not in this raw file.\n")
		return
	}
	p("Local JWT validation on net/http: tokengate's jwt Verifier behind the cache (`tokengate`), auth0\n")
	p("go-jwt-middleware RS256 (`auth0-RS256`), and tokengate's opaque-token hit, against the same route\n")
	p("bare. `hit/…` repeats one token (a cache hit for tokengate, a signature check every time for\n")
	p("auth0); `first/…` sends a token never seen before each time (one RS256 check; tokens signed in\n")
	p("advance); `unknown-kid` floods the route with new tokens naming a key the issuer does not\n")
	p("publish, on a clock that crosses a refresh cooldown every 1,000 requests.\n\n")
	p("| sub-benchmark | ns/op | B/op | allocs/op | overhead ns/op | other |\n| --- | ---: | ---: | ---: | ---: | --- |\n")
	for _, name := range r.order {
		sub, ok := strings.CutPrefix(name, jwtFamily+"/")
		if !ok || name == jwtPaired {
			continue // listed with the other paired benchmarks
		}
		var other []string
		for unit := range r.metrics[name].byUnit {
			if unit != "ns/op" && unit != "B/op" && unit != "allocs/op" {
				other = append(other, fmt.Sprintf("%s %s", num(r.med(name, unit)), unit))
			}
		}
		slices.Sort(other)
		overhead := "–"
		if sub != "bare" {
			overhead = duration(r.jwtOverhead(sub))
		}
		p("| `%s` | %s | %s | %s | %s | %s |\n", sub, num(r.med(name, "ns/op")), num(r.med(name, "B/op")),
			num(r.med(name, "allocs/op")), overhead, strings.Join(other, ", "))
	}
	if f := r.jwtFigures(); !math.IsNaN(f.cheaper) {
		p("\nRatios: auth0 RS256 / tokengate on a repeated JWT **%.0f×**; first-seen tokengate / auth0 RS256\n", f.cheaper)
		p("**%.3f×**; JWT hit / opaque hit **%.2f×** (/ opaque hit of the same length **%.2f×**); %s.\n",
			f.firstRatio, f.opaqueRatio, f.sameRatio, f.how)
	}
}
