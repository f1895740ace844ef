package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/auth0/go-jwt-middleware/v2/validator"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	tgjwt "github.com/tokengate/tokengate/introspect/jwt"
	"github.com/tokengate/tokengate/middleware"
)

// jwtPool is how many distinct JWTs the first-seen benchmarks cycle
// through: signing one RS256 token takes about a millisecond, too long to
// sign one per iteration.
const jwtPool = 512

// firstBlock is how many first-seen JWTs each first-seen route of
// BenchmarkJWT/paired serves a turn.
const firstBlock = 8

// jwtFixture is the fake RS256 issuer of BenchmarkJWT and what both
// libraries need to validate its tokens.
type jwtFixture struct {
	is     *introspecttest.Issuer
	claims introspecttest.JWT // every token's claims
}

func newJWTFixture(b *testing.B) *jwtFixture {
	is := introspecttest.NewIssuer()
	b.Cleanup(is.Close)
	return &jwtFixture{is: is, claims: introspecttest.JWT{
		Subject: "user-1", ClientID: "38890", Audience: []string{audience}, Scopes: []string{"MapRequest"},
	}}
}

// issue returns n fresh tokens, signed on every core.
func (f *jwtFixture) issue(n int) []string {
	tokens := make([]string, n)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 4 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				tokens[i] = f.is.IssueJWT(f.claims) // a random jti each
			}
		})
	}
	wg.Wait()
	return tokens
}

// verifier returns a tokengate JWT verifier for the issuer, its key set
// loaded.
func (f *jwtFixture) verifier(b *testing.B, cfg tgjwt.Config) *tgjwt.Verifier {
	cfg.JWKSURL, cfg.Issuer, cfg.Audiences = f.is.JWKSURL(), f.is.TokenIssuer(), []string{audience}
	v, err := tgjwt.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(v.Close)
	if err := v.WaitReady(context.Background()); err != nil {
		b.Fatal(err)
	}
	return v
}

// jwtRoute returns the protected route with v behind a new cache, and the
// function that closes that cache.
func jwtRoute(b *testing.B, v introspect.Verifier) (http.Handler, func()) {
	cache, err := introspect.NewCache(v, introspect.CacheConfig{})
	if err != nil {
		b.Fatal(err)
	}
	auth, err := middleware.New(middleware.Config{Verifier: cache, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return auth.Require(middleware.AllOf("MapRequest"))(okHandler), cache.Close
}

// auth0 returns auth0's RS256 middleware for the issuer's signing key.
func (f *jwtFixture) auth0(b *testing.B) http.Handler {
	key := f.is.PrivateKey(f.is.KeyID()).Public()
	v, err := validator.New(func(context.Context) (any, error) { return key, nil }, validator.RS256, f.is.TokenIssuer(), []string{audience})
	if err != nil {
		b.Fatal(err)
	}
	return jwtmiddleware.New(v.ValidateToken).CheckJWT(okHandler)
}

// mustServe serves r once, for a status check before timing.
func mustServe(b *testing.B, h http.Handler, r *http.Request, want int) {
	w := &testutil.DiscardWriter{}
	h.ServeHTTP(w, r)
	if w.Code != want {
		b.Fatalf("status %d, want %d", w.Code, want)
	}
}

// BenchmarkJWT compares tokengate's local JWT validation (the jwt
// Verifier behind the cache, on net/http) with auth0 go-jwt-middleware
// RS256, which checks the signature on every request, and with
// tokengate's opaque-token cache hit, side by side:
//
//   - bare: the route unprotected;
//   - hit/…: one token, repeated: a cache hit for tokengate (hit/tokengate
//     a JWT, hit/opaque a 64-byte opaque token, hit/opaque-jwt-length an
//     opaque token as long as the JWT, which tells the token's length from
//     its kind), a signature check every time for auth0;
//   - first/…: a token never seen before on every request, from a pool of
//     jwtPool signed in advance: one RS256 check each. tokengate gets a new
//     cache, outside the timer, each time round the pool;
//   - unknown-kid: a flood of tokens that pass every cheap check but name
//     a key the issuer does not publish, each new, on a clock that crosses
//     a refresh cooldown every floodPerCooldown requests. It reports the
//     key set fetches they cause per cooldown and the time per refused
//     request.
func BenchmarkJWT(b *testing.B) {
	f := newJWTFixture(b)
	hitToken := f.is.IssueJWT(f.claims)
	pool := f.issue(jwtPool)
	poolRequests := make([]*http.Request, len(pool))
	for i, tok := range pool {
		poolRequests[i] = newRequest(tok)
	}
	v := f.verifier(b, tgjwt.Config{})

	hit := func(b *testing.B, h http.Handler, token string) {
		r := newRequest(token)
		mustServe(b, h, r, http.StatusOK)
		w := &testutil.DiscardWriter{}
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
		b.ReportMetric(float64(len(token)), "token-bytes")
	}
	b.Run("bare", func(b *testing.B) { hit(b, okHandler, hitToken) })
	b.Run("hit/opaque", func(b *testing.B) {
		token := opaqueToken()
		hit(b, cachedTokengate(b, token).Require(middleware.AllOf("MapRequest"))(okHandler), token)
	})
	b.Run("hit/opaque-jwt-length", func(b *testing.B) {
		token := (opaqueToken() + strings.Repeat("A", len(hitToken)))[:len(hitToken)]
		hit(b, cachedTokengate(b, token).Require(middleware.AllOf("MapRequest"))(okHandler), token)
	})
	b.Run("hit/tokengate", func(b *testing.B) {
		h, done := jwtRoute(b, v)
		defer done()
		hit(b, h, hitToken)
	})
	b.Run("hit/auth0-RS256", func(b *testing.B) { hit(b, f.auth0(b), hitToken) })

	b.Run("first/tokengate", func(b *testing.B) {
		h, done := jwtRoute(b, v)
		w := &testutil.DiscardWriter{}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if i > 0 && i%len(pool) == 0 {
				b.StopTimer()
				done()
				h, done = jwtRoute(b, v)
				b.StartTimer()
			}
			h.ServeHTTP(w, poolRequests[i%len(pool)])
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
		b.StopTimer()
		done()
	})
	b.Run("first/auth0-RS256", func(b *testing.B) {
		h := f.auth0(b)
		w := &testutil.DiscardWriter{}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			h.ServeHTTP(w, poolRequests[i%len(pool)])
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})

	b.Run("paired", func(b *testing.B) { benchmarkJWTPaired(b, f, v, hitToken, poolRequests) })
	b.Run("unknown-kid", benchmarkUnknownKID)
}

// benchmarkJWTPaired is what the JWT targets are judged on: in each
// iteration, in an order shuffled each time (see turns), the bare route,
// the three cache hits of BenchmarkJWT and auth0 on the repeated JWT
// (pairedBlock requests a turn each), and a first-seen JWT through
// tokengate and through auth0 (firstBlock a turn each), each timed, so
// that the machine's drift during the run weighs on all alike. The two
// sides of each target's ratio serve as many requests a turn, and so warm
// up alike. The first-seen route gets a new cache, outside the clock,
// each time round the pool (its first requests pay for its cold
// structures). Every request's status is checked.
func benchmarkJWTPaired(b *testing.B, f *jwtFixture, v *tgjwt.Verifier, hitToken string, pool []*http.Request) {
	opaque := opaqueToken()
	sameLength := (opaqueToken() + strings.Repeat("A", len(hitToken)))[:len(hitToken)]
	hitJWT, hitDone := jwtRoute(b, v)
	defer hitDone()
	first, firstDone := jwtRoute(b, v)
	defer func() { firstDone() }()
	auth0 := f.auth0(b)
	nextFirst, nextAuth0 := 0, 0
	type op struct {
		unit       string
		h          func() http.Handler
		r          func() *http.Request
		n          int    // requests a turn
		perRequest func() // outside the clock, after each request
	}
	fixed := func(h http.Handler) func() http.Handler { return func() http.Handler { return h } }
	same := func(r *http.Request) func() *http.Request { return func() *http.Request { return r } }
	ops := []op{
		{unit: "bare-ns/op", h: fixed(okHandler), r: same(newRequest(hitToken)), n: pairedBlock},
		{unit: "opaque-ns/op", h: fixed(cachedTokengate(b, opaque).Require(middleware.AllOf("MapRequest"))(okHandler)), r: same(newRequest(opaque)), n: pairedBlock},
		{unit: "same-length-ns/op", h: fixed(cachedTokengate(b, sameLength).Require(middleware.AllOf("MapRequest"))(okHandler)), r: same(newRequest(sameLength)), n: pairedBlock},
		{unit: "hit-ns/op", h: fixed(hitJWT), r: same(newRequest(hitToken)), n: pairedBlock},
		{unit: "auth0-hit-ns/op", h: fixed(auth0), r: same(newRequest(hitToken)), n: pairedBlock},
		{unit: "first-ns/op", h: func() http.Handler { return first }, r: func() *http.Request { return pool[nextFirst] }, n: firstBlock,
			perRequest: func() {
				if nextFirst++; nextFirst == len(pool) {
					nextFirst = 0
					firstDone()
					first, firstDone = jwtRoute(b, v)
				}
			}},
		{unit: "auth0-first-ns/op", h: fixed(auth0), r: func() *http.Request { return pool[nextAuth0] }, n: firstBlock,
			perRequest: func() { nextAuth0 = (nextAuth0 + 1) % len(pool) }},
	}
	for _, o := range ops {
		if o.perRequest == nil { // not the first-seen ones: they would be seen
			mustServe(b, o.h(), o.r(), http.StatusOK)
		}
	}
	spent := make([]time.Duration, len(ops))
	w := &testutil.DiscardWriter{}
	order := newTurns(len(ops))
	n := 0
	for b.Loop() {
		for _, j := range order.next() {
			o := ops[j]
			if o.perRequest == nil {
				h, r := o.h(), o.r()
				start := time.Now()
				for range o.n {
					h.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Fatalf("%s: status %d", o.unit, w.Code)
					}
				}
				spent[j] += time.Since(start)
				continue
			}
			for range o.n {
				h, r := o.h(), o.r()
				start := time.Now()
				h.ServeHTTP(w, r)
				spent[j] += time.Since(start)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: status %d", o.unit, w.Code)
				}
				o.perRequest()
			}
		}
		n++
	}
	for i, o := range ops {
		b.ReportMetric(float64(spent[i].Nanoseconds())/float64(n*o.n), o.unit)
	}
}

// floodPerCooldown is how many flood requests the clock of the unknown-kid
// benchmark takes to cross one refresh cooldown; floodChunk how many
// tokens are made at a time, outside the timer.
const (
	floodPerCooldown = 1000
	floodChunk       = 4096
)

// benchmarkUnknownKID floods the protected route with new tokens that pass
// the cheap checks (shape, alg, exp, aud, iss) but name a kid the key set
// lacks. The verifier may refresh the key set for them once per cooldown;
// every other such token must be refused at once, without waiting.
func benchmarkUnknownKID(b *testing.B) {
	clock := testutil.NewClock()
	is := introspecttest.NewUnstartedIssuer()
	is.Now = clock.Now
	is.Start()
	b.Cleanup(is.Close)
	forced := &forcedFetches{base: &http.Transport{}}
	b.Cleanup(forced.base.CloseIdleConnections)
	v, err := tgjwt.New(tgjwt.Config{
		JWKSURL: is.JWKSURL(), Issuer: is.TokenIssuer(), Audiences: []string{audience},
		Now: clock.Now, HTTPClient: &http.Client{Transport: forced},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(v.Close)
	// Valid for as long as the fast clock runs, so that the flood is
	// refused for its kid, not its expiry.
	claims := introspecttest.JWT{ClientID: "38890", Audience: []string{audience}, Scopes: []string{"MapRequest"},
		ExpiresAt: clock.Now().Add(100 * 365 * 24 * time.Hour)}
	template := is.IssueJWT(claims)
	if err := v.WaitReady(context.Background()); err != nil {
		b.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), template); err != nil {
		b.Fatal(err)
	}
	h, done := jwtRoute(b, v)
	defer done()
	step := tgjwt.DefaultRefreshCooldown / floodPerCooldown

	_, rest, _ := strings.Cut(template, ".")
	newFlood := func(n int) []*http.Request {
		reqs := make([]*http.Request, n)
		for i := range reqs {
			kid := make([]byte, 16)
			_, _ = rand.Read(kid)
			header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": base64.RawURLEncoding.EncodeToString(kid)})
			reqs[i] = newRequest(base64.RawURLEncoding.EncodeToString(header) + "." + rest)
		}
		return reqs
	}
	before := forced.n.Load()
	mustServe(b, h, newFlood(1)[0], http.StatusUnauthorized) // the first refresh

	w := &testutil.DiscardWriter{}
	var flood []*http.Request
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%floodChunk == 0 {
			b.StopTimer()
			flood = newFlood(floodChunk)
			b.StartTimer()
		}
		clock.Advance(step)
		h.ServeHTTP(w, flood[i%floodChunk])
		// Within the cooldown an unknown kid is a 503 while the keys may
		// predate the token, a 401 once they are newer: refused either way.
		if w.Code != http.StatusUnauthorized && w.Code != http.StatusServiceUnavailable {
			b.Fatalf("status %d, want 401 or 503", w.Code)
		}
	}
	b.StopTimer()
	cooldowns := float64(b.N/floodPerCooldown + 1) // the windows the flood touched
	b.ReportMetric(float64(forced.n.Load()-before)/cooldowns, "fetches/cooldown")
	// Every request of the flood is refused, so this is ns/op under the
	// name the report looks for.
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/refused")
}

// forcedFetches counts the key set requests that bypass caches
// (Cache-Control: no-cache), which the verifier sends for unknown kids.
type forcedFetches struct {
	base *http.Transport
	n    atomic.Int64
}

func (f *forcedFetches) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.Header.Get("Cache-Control"), "no-cache") {
		f.n.Add(1)
	}
	return f.base.RoundTrip(r)
}
