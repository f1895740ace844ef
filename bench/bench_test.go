// Package bench measures tokengate side by side with the libraries a team
// would pick instead: local JWT validation with auth0's go-jwt-middleware and
// labstack's echo-jwt. It measures the net/http middleware and the Echo and
// gin adapters, each against a bare route of its own stack. It is a module
// of its own, so that those libraries never enter tokengate's go.mod.
//
// Run it with run.sh, which also makes BENCHMARKS.md; see README.md.
package bench

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/auth0/go-jwt-middleware/v2/validator"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	echojwt "github.com/labstack/echo-jwt/v4"
	"github.com/labstack/echo/v4"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/internal/tokenctx"
	"github.com/tokengate/tokengate/internal/upstream"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/otelhook"
	"github.com/tokengate/tokengate/introspect/promhook"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/middleware/echogate"
	"github.com/tokengate/tokengate/middleware/gingate"
	"github.com/tokengate/tokengate/scopes"
)

const (
	route    = "/v1/maps"
	issuer   = "https://authenticatie.vlaanderen.be/op"
	audience = "gipod-api"
)

// hmacKey signs the HS256 tokens; rsaKey the RS256 ones.
var (
	hmacKey = []byte("0123456789abcdef0123456789abcdef")
	rsaKey  = sync.OnceValue(func() *rsa.PrivateKey {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return key
	})
)

// opaqueToken returns a random 64-byte opaque token, as an authorization
// server issues them.
func opaqueToken() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// signedJWT returns a JWT with the claims a resource server checks, signed
// with alg.
func signedJWT(b *testing.B, alg jose.SignatureAlgorithm, key any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	token, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: issuer, Subject: "user-1", Audience: jwt.Audience{audience},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour)),
	}).Claims(map[string]any{"scope": "MapRequest"}).Serialize()
	if err != nil {
		b.Fatal(err)
	}
	return token
}

// okHandler is the protected handler on net/http; okEcho on Echo, okGin on
// gin: each answers 200 with no body.
var (
	okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	okEcho    = func(c echo.Context) error { return c.NoContent(http.StatusOK) }
	okGin     = func(c *gin.Context) { c.Status(http.StatusOK) }
)

// passthroughEcho is the least an Echo middleware can be: it only calls
// next. Echo applies a route's middleware on every request, so this is what
// any route middleware costs there before it does any work.
func passthroughEcho(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error { return next(c) }
}

// newGin returns a gin engine in release mode, without gin's default
// logger and recovery, serving okGin on the route behind handlers.
func newGin(handlers ...gin.HandlerFunc) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.GET(route, append(handlers, okGin)...)
	return e
}

// cachedVerifier returns a cache that already holds token.
func cachedVerifier(b *testing.B, token string) introspect.Verifier {
	return cachedVerifierWith(b, token, nil)
}

// cachedVerifierWith is cachedVerifier reporting to hooks.
func cachedVerifierWith(b *testing.B, token string, hooks *introspect.Hooks) introspect.Verifier {
	stub := introspect.VerifierFunc(func(context.Context, string) (*introspect.TokenInfo, error) {
		return &introspect.TokenInfo{Active: true, Scopes: scopes.New("MapRequest"), ClientID: "38890",
			Audience: []string{"38890"}, ExpiresAt: time.Now().Add(time.Hour)}, nil
	})
	cache, err := introspect.NewCache(stub, introspect.CacheConfig{Hooks: hooks})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cache.Close)
	if _, err := cache.Verify(context.Background(), token); err != nil {
		b.Fatal(err)
	}
	return cache
}

// hookedTokengate is the nethttp/tokengate route with hooks installed in
// the cache and the middleware, and its token.
func hookedTokengate(b *testing.B, hooks *introspect.Hooks) (http.Handler, string) {
	token := opaqueToken()
	auth, err := middleware.New(middleware.Config{Verifier: cachedVerifierWith(b, token, hooks), Hooks: hooks})
	if err != nil {
		b.Fatal(err)
	}
	return auth.Require(middleware.AllOf("MapRequest"))(okHandler), token
}

// cachedTokengate returns an Authenticator whose cache already holds token.
func cachedTokengate(b *testing.B, token string) *middleware.Authenticator {
	auth, err := middleware.New(middleware.Config{Verifier: cachedVerifier(b, token)})
	if err != nil {
		b.Fatal(err)
	}
	return auth
}

func auth0(b *testing.B, alg validator.SignatureAlgorithm, key any) func(http.Handler) http.Handler {
	v, err := validator.New(func(context.Context) (any, error) { return key, nil }, alg, issuer, []string{audience})
	if err != nil {
		b.Fatal(err)
	}
	return jwtmiddleware.New(v.ValidateToken).CheckJWT
}

// hitCase is one protected (or bare) route and the token it is sent.
type hitCase struct {
	name    string
	handler func(b *testing.B) (http.Handler, string)
}

// hitCases are the sub-benchmarks of BenchmarkHit and BenchmarkHitParallel,
// by the names the report expects.
var hitCases = []hitCase{
	{"nethttp/bare", func(b *testing.B) (http.Handler, string) { return okHandler, opaqueToken() }},
	{"nethttp/tokengate", func(b *testing.B) (http.Handler, string) {
		token := opaqueToken()
		return cachedTokengate(b, token).Require(middleware.AllOf("MapRequest"))(okHandler), token
	}},
	{"nethttp/naive", func(b *testing.B) (http.Handler, string) {
		token := opaqueToken()
		return naiveGate(b, token, "MapRequest", okHandler), token
	}},
	{"nethttp/tokengate+promhook", func(b *testing.B) (http.Handler, string) {
		return hookedTokengate(b, promhook.New(promhook.Config{}).Hooks())
	}},
	{"nethttp/tokengate+otelhook", func(b *testing.B) (http.Handler, string) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		tel, err := otelhook.New(otelhook.Config{MeterProvider: mp, TracerProvider: tracenoop.NewTracerProvider()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = tel.Close() })
		// Metrics only: a span per verification costs what the tracer's
		// Start costs, whatever tokengate does.
		hooks := tel.Hooks()
		hooks.VerifyStart, hooks.VerifyDone = nil, nil
		return hookedTokengate(b, hooks)
	}},
	{"nethttp/auth0-HS256", func(b *testing.B) (http.Handler, string) {
		return auth0(b, validator.HS256, hmacKey)(okHandler), signedJWT(b, jose.HS256, hmacKey)
	}},
	{"nethttp/auth0-RS256", func(b *testing.B) (http.Handler, string) {
		return auth0(b, validator.RS256, &rsaKey().PublicKey)(okHandler), signedJWT(b, jose.RS256, rsaKey())
	}},
	{"echo/bare", func(b *testing.B) (http.Handler, string) {
		e := echo.New()
		e.GET(route, okEcho)
		return e, opaqueToken()
	}},
	{"echo/passthrough", func(b *testing.B) (http.Handler, string) {
		// What any route middleware costs on Echo: one that only calls next.
		e := echo.New()
		e.GET(route, okEcho, passthroughEcho)
		return e, opaqueToken()
	}},
	{"echo/tokengate", func(b *testing.B) (http.Handler, string) {
		token := opaqueToken()
		gate, err := echogate.New(echogate.Config{Verifier: cachedVerifier(b, token)})
		if err != nil {
			b.Fatal(err)
		}
		e := echo.New()
		e.GET(route, okEcho, gate.Require(echogate.AllOf("MapRequest")))
		return e, token
	}},
	{"echo/echojwt-HS256", func(b *testing.B) (http.Handler, string) {
		e := echo.New()
		e.GET(route, okEcho, echojwt.JWT(hmacKey))
		return e, signedJWT(b, jose.HS256, hmacKey)
	}},
	{"gin/bare", func(b *testing.B) (http.Handler, string) { return newGin(), opaqueToken() }},
	{"gin/tokengate", func(b *testing.B) (http.Handler, string) {
		token := opaqueToken()
		gate, err := gingate.New(gingate.Config{Verifier: cachedVerifier(b, token)})
		if err != nil {
			b.Fatal(err)
		}
		return newGin(gate.Require(middleware.AllOf("MapRequest"))), token
	}},
}

// template is the request every benchmark sends, but for its token.
var template = httptest.NewRequest(http.MethodGet, route, nil)

// newRequest returns a GET of the route carrying token. It allocates little,
// so that a benchmark that needs a request per operation measures the
// middleware rather than the making of requests.
func newRequest(token string) *http.Request {
	r := *template
	r.Header = http.Header{"Authorization": {"Bearer " + token}}
	return &r
}

// BenchmarkHit measures one protected route on a cache hit (tokengate) or a
// local validation (the JWT libraries), against the same route bare.
func BenchmarkHit(b *testing.B) {
	for _, hc := range hitCases {
		b.Run(hc.name, func(b *testing.B) {
			h, token := hc.handler(b)
			r := newRequest(token)
			w := &testutil.DiscardWriter{}
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d, want 200", w.Code)
			}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkHitParallel is BenchmarkHit from GOMAXPROCS goroutines.
func BenchmarkHitParallel(b *testing.B) {
	for _, hc := range hitCases {
		b.Run(hc.name, func(b *testing.B) {
			h, token := hc.handler(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := newRequest(token)
				w := &testutil.DiscardWriter{Code: http.StatusOK}
				for pb.Next() {
					h.ServeHTTP(w, r)
				}
				if w.Code != http.StatusOK {
					b.Errorf("status %d, want 200", w.Code)
				}
			})
		})
	}
}

// newStore returns a ristretto cache as a Cache configures one, keyed by
// the leading bytes of a hash, closed when b ends.
func newStore(b *testing.B) *ristretto.Cache[uint64, *introspect.TokenInfo] {
	store, err := ristretto.NewCache(&ristretto.Config[uint64, *introspect.TokenInfo]{
		NumCounters: 1e6, MaxCost: 64 << 20, BufferItems: 64,
		KeyToHash: func(key uint64) (uint64, uint64) { return key, 0 },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(store.Close)
	return store
}

// pairedBlock is how many requests each route of a paired benchmark serves
// in a row, between two reads of the clock.
const pairedBlock = 64

// BenchmarkHooksPaired measures what the metrics adapters' Hooks add to a
// net/http hit, the figure the hooks targets bound. That is tens of
// nanoseconds in a hit of hundreds, less than separate runs of BenchmarkHit
// drift apart, so the three routes (nethttp/tokengate without hooks, with
// promhook's and with otelhook's) take turns as servePaired has them. It
// reports each route's time per request.
func BenchmarkHooksPaired(b *testing.B) {
	servePaired(b, []pairedRoute{
		{"nethttp/tokengate", "plain-ns/op"},
		{"nethttp/tokengate+promhook", "promhook-ns/op"},
		{"nethttp/tokengate+otelhook", "otelhook-ns/op"},
	})
}

// BenchmarkAdaptersPaired measures the Echo and gin hits against the
// net/http one, the figures the adapter targets divide: each stack's bare
// route and its tokengate route take turns as servePaired has them, so
// that a drift of the machine's speed, which moves separate runs of
// BenchmarkHit by more than the targets' margins, reaches all six alike.
// It reports each route's time per request.
func BenchmarkAdaptersPaired(b *testing.B) {
	servePaired(b, []pairedRoute{
		{"nethttp/bare", "nethttp-bare-ns/op"},
		{"nethttp/tokengate", "nethttp-tokengate-ns/op"},
		{"echo/bare", "echo-bare-ns/op"},
		{"echo/tokengate", "echo-tokengate-ns/op"},
		{"gin/bare", "gin-bare-ns/op"},
		{"gin/tokengate", "gin-tokengate-ns/op"},
	})
}

// BenchmarkFloorPaired measures the net/http hit against the naive
// hand-written middleware with tokengate's rules (naiveGate), the floor the
// hit target names: the bare route, the naive one and tokengate's take
// turns as servePaired has them. It reports each route's time per request.
func BenchmarkFloorPaired(b *testing.B) {
	servePaired(b, []pairedRoute{
		{"nethttp/bare", "bare-ns/op"},
		{"nethttp/naive", "naive-ns/op"},
		{"nethttp/tokengate", "tokengate-ns/op"},
	})
}

// naiveGate is the naive hand-written middleware with tokengate's rules
// that the hit target holds tokengate to, written as a team in a hurry
// would, with token's facts already cached: the token from the
// Authorization header, its SHA-256 the key of a ristretto cache of the
// facts (the leading bytes only: it does not compare the rest, as
// tokengate does), an expiry check on the clock, the scope check, and the
// facts handed on with r.WithContext. It refuses what it cannot accept
// with a bare status. Its []byte conversion of the token allocates, as it
// does in most such code; the rest is the least the rules take.
func naiveGate(b *testing.B, token, scope string, next http.Handler) http.Handler {
	store := newStore(b)
	key := func(token string) uint64 {
		sum := sha256.Sum256([]byte(token))
		return binary.LittleEndian.Uint64(sum[:8])
	}
	info := &introspect.TokenInfo{Active: true, Scopes: scopes.Parse(scope), ExpiresAt: time.Now().Add(time.Hour)}
	if !store.Set(key(token), info, 1) {
		b.Fatal("ristretto dropped the naive middleware's entry")
	}
	store.Wait()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		info, ok := store.Get(key(token))
		if !ok || !time.Now().Before(info.ExpiresAt) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if !info.Scopes.Has(scope) {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r.WithContext(introspect.NewContext(r.Context(), info)))
	})
}

// pairedRoute is a route of a paired benchmark: a hitCases name and the
// unit its time per request is reported in.
type pairedRoute struct{ name, unit string }

// servePaired builds routes as BenchmarkHit builds them and has them take
// turns within every iteration, pairedBlock requests each, in an order
// shuffled each time (see turns), timing each block on its own, and
// reports each route's time per request in its unit. Each route has a
// writer of its own, whose status is checked after every block.
//
// The times run lower than BenchmarkHit's, the bare routes' and the
// protected ones' alike: garbage is collected at another pace when
// allocation-free blocks come between the protected ones. The ratios the
// targets take agree with BenchmarkHit's on a quiet machine, and do not
// move with the size of a block (64 or 4096 requests).
func servePaired(b *testing.B, routes []pairedRoute) {
	handlers := make([]http.Handler, len(routes))
	requests := make([]*http.Request, len(routes))
	writers := make([]*testutil.DiscardWriter, len(routes))
	for i, route := range routes {
		c := slices.IndexFunc(hitCases, func(hc hitCase) bool { return hc.name == route.name })
		if c < 0 {
			b.Fatalf("no hit case %q", route.name)
		}
		h, token := hitCases[c].handler(b)
		handlers[i], requests[i], writers[i] = h, newRequest(token), &testutil.DiscardWriter{}
		mustServe(b, h, requests[i], http.StatusOK)
	}
	spent := make([]time.Duration, len(routes))
	order := newTurns(len(routes))
	n := 0
	for b.Loop() {
		for _, j := range order.next() {
			h, w, r := handlers[j], writers[j], requests[j]
			start := time.Now()
			for range pairedBlock {
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: status %d", routes[j].name, w.Code)
				}
			}
			spent[j] += time.Since(start)
		}
		n++
	}
	for i, route := range routes {
		b.ReportMetric(float64(spent[i].Nanoseconds())/float64(n*pairedBlock), route.unit)
	}
}

// turns is the order in which the operations of a paired benchmark take
// their turns, shuffled anew for every iteration, so that each follows
// each other one as often: none always pays for what the one before it
// leaves behind (caches warm with its code or cold, garbage to collect, a
// goroutine still finishing). The seed is fixed, so every run takes the
// same orders.
type turns struct {
	rng   *mrand.Rand
	order []int
}

func newTurns(n int) *turns {
	t := &turns{rng: mrand.New(mrand.NewPCG(1, 2)), order: make([]int, n)}
	for i := range t.order {
		t.order[i] = i
	}
	return t
}

// next returns the order of the next iteration.
func (t *turns) next() []int {
	t.rng.Shuffle(len(t.order), func(i, j int) { t.order[i], t.order[j] = t.order[j], t.order[i] })
	return t.order
}

// BenchmarkFloor measures the parts of a request that tokengate cannot
// skip, to explain BenchmarkHit's and BenchmarkMiss's overheads. A hit is
// made of what tokengate's security rules and net/http prescribe: the
// SHA-256 of the token (the cache key: a memory dump must not reveal a token,
// and a fast non-cryptographic hash would let a collision hand one token's
// facts to another), a ristretto lookup, a read of the monotonic clock (the
// expiry check), and handing the facts to the handler in a copy of the
// request with a new context, done the standard way (withcontext) and
// tokengate's way, in one allocation (handover). cache-hit is the whole
// introspect.Cache hit. handoff is what a miss pays to run its upstream call
// on a goroutine of its own. It runs right after the hit benchmarks, so that
// it finds the garbage collector as they did: a part that allocates costs
// more after BenchmarkMemory has grown and dropped a large heap.
func BenchmarkFloor(b *testing.B) {
	token := opaqueToken()
	info := &introspect.TokenInfo{}
	b.Run("withcontext", func(b *testing.B) {
		r := newRequest(token)
		b.ReportAllocs()
		for b.Loop() {
			sink = r.WithContext(introspect.NewContext(r.Context(), info))
		}
	})
	b.Run("handover", func(b *testing.B) {
		r := newRequest(token)
		b.ReportAllocs()
		for b.Loop() {
			sink = tokenctx.WithRequest(r, info, b)
		}
	})
	b.Run("clock", func(b *testing.B) {
		epoch := time.Now()
		b.ReportAllocs()
		for b.Loop() {
			nanos = int64(time.Since(epoch))
		}
	})
	b.Run("ristretto-get", func(b *testing.B) {
		store := newStore(b)
		store.Set(1, info, 1)
		store.Wait()
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := store.Get(1); !ok {
				b.Fatal("stored value not found")
			}
		}
	})
	b.Run("sha256-64B", func(b *testing.B) {
		data := []byte(token)
		b.ReportAllocs()
		for b.Loop() {
			sum = sha256.Sum256(data)
		}
	})
	// The key of the JWT that BenchmarkJWT repeats: a hit's cost grows
	// with the token by this much.
	b.Run("sha256-701B", func(b *testing.B) {
		data := make([]byte, 701)
		b.ReportAllocs()
		for b.Loop() {
			sum = sha256.Sum256(data)
		}
	})
	b.Run("handoff", func(b *testing.B) {
		// Start a goroutine and wait for it.
		b.ReportAllocs()
		for b.Loop() {
			done := make(chan struct{})
			go func() { close(done) }()
			<-done
		}
	})
	b.Run("cache-hit", func(b *testing.B) {
		stub := introspect.VerifierFunc(func(context.Context, string) (*introspect.TokenInfo, error) {
			return &introspect.TokenInfo{Active: true, ExpiresAt: time.Now().Add(time.Hour)}, nil
		})
		cache, err := introspect.NewCache(stub, introspect.CacheConfig{})
		if err != nil {
			b.Fatal(err)
		}
		defer cache.Close()
		ctx := context.Background()
		if _, err := cache.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cache.Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// verifyAnswer is what the fake verify endpoint says about every token.
const verifyAnswer = `{"audience":"38890","scope":"MapRequest","expires_in":"3600"}`

// fakeVerify starts a loopback verify endpoint that accepts every token,
// counting calls. When gate is not nil, answers wait for it to close.
func fakeVerify(b *testing.B, gate *atomic.Pointer[chan struct{}]) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if gate != nil {
			<-*gate.Load()
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, verifyAnswer)
	}))
	b.Cleanup(srv.Close)
	return srv, &calls
}

// geosecureGate returns a net/http route protected by tokengate in front of
// the Geosecure backend at url, and its cache.
func geosecureGate(b *testing.B, url string, cfg introspect.CacheConfig) (http.Handler, *introspect.Cache) {
	g, err := geosecure.New(geosecure.Config{URL: url})
	if err != nil {
		b.Fatal(err)
	}
	cache, err := introspect.NewCache(g, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cache.Close)
	auth, err := middleware.New(middleware.Config{Verifier: cache})
	if err != nil {
		b.Fatal(err)
	}
	return auth.Require(middleware.AllOf("MapRequest"))(okHandler), cache
}

// BenchmarkMiss compares a plain GET to a loopback verify endpoint (raw)
// with a cache miss through the whole middleware to the same endpoint
// (tokengate), each alone, and (paired) a plain GET, the Geosecure
// Verifier alone, a Cache in front of it and the whole middleware in the
// same iterations.
func BenchmarkMiss(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		srv, _ := fakeVerify(b, nil)
		client := &http.Client{Transport: upstream.NewTransport(), Timeout: introspect.DefaultTimeout}
		b.ReportAllocs()
		for b.Loop() {
			rawGet(b, client, srv.URL, opaqueToken())
		}
	})
	b.Run("tokengate", func(b *testing.B) {
		srv, calls := fakeVerify(b, nil)
		h, _ := geosecureGate(b, srv.URL, introspect.CacheConfig{})
		w := &testutil.DiscardWriter{}
		b.ReportAllocs()
		n := int64(0)
		for b.Loop() {
			n++
			h.ServeHTTP(w, newRequest(opaqueToken())) // a new token: a miss
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
		if calls.Load() != n {
			b.Fatalf("%d upstream calls for %d misses", calls.Load(), n)
		}
	})
	// paired is the target's measure: each iteration makes a raw GET, a
	// call of the Geosecure Verifier alone, a miss of a Cache in front of
	// it and a miss through the whole middleware, in an order shuffled
	// each time (see turns), and times each, so that the machine's drift
	// during the run weighs on all alike; the steps between them tell what
	// each layer adds to a miss. Each is given a new token, and the
	// middleware an incoming request, made before its clock starts.
	b.Run("paired", func(b *testing.B) {
		srv, calls := fakeVerify(b, nil)
		client := &http.Client{Transport: upstream.NewTransport(), Timeout: introspect.DefaultTimeout}
		// The Verifier alone and the Cache's each have a client of their
		// own, as the middleware's has.
		newBackend := func() *geosecure.Verifier {
			g, err := geosecure.New(geosecure.Config{URL: srv.URL})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(g.Close)
			return g
		}
		backend := newBackend()
		cache, err := introspect.NewCache(newBackend(), introspect.CacheConfig{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(cache.Close)
		h, _ := geosecureGate(b, srv.URL, introspect.CacheConfig{})
		w := &testutil.DiscardWriter{}
		ctx := context.Background()
		verify := func(v introspect.Verifier, token string) {
			if _, err := v.Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
		// Each op is prepared with a new token before the clock starts
		// and returns what is timed.
		ops := [...]func(token string) func(){
			func(token string) func() { return func() { rawGet(b, client, srv.URL, token) } },
			func(token string) func() { return func() { verify(backend, token) } },
			func(token string) func() { return func() { verify(cache, token) } },
			func(token string) func() {
				r := newRequest(token)
				return func() {
					h.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Fatalf("middleware: status %d", w.Code)
					}
				}
			},
		}
		units := [len(ops)]string{"raw-ns/op", "backend-ns/op", "cache-ns/op", "miss-ns/op"}
		var spent [len(ops)]time.Duration
		order := newTurns(len(ops))
		n := 0
		for b.Loop() {
			for _, op := range order.next() {
				timed := ops[op](opaqueToken())
				start := time.Now()
				timed()
				spent[op] += time.Since(start)
			}
			n++
		}
		if want := int64(len(ops) * n); calls.Load() != want {
			b.Fatalf("%d upstream calls for %d iterations of %d calls", calls.Load(), n, len(ops))
		}
		for i, unit := range units {
			b.ReportMetric(float64(spent[i].Nanoseconds())/float64(n), unit)
		}
	})
}

// rawGet makes the plain GET a miss is measured against: token, a new one,
// to the fake verify endpoint at url, with nothing of tokengate's around
// it.
func rawGet(b *testing.B, client *http.Client, url, token string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// herdSize is how many concurrent requests make one herd.
const herdSize = 1000

// BenchmarkHerd sends herdSize concurrent requests for one uncached token,
// all waiting at once, and reports how many upstream calls each herd made.
func BenchmarkHerd(b *testing.B) {
	var gate atomic.Pointer[chan struct{}]
	srv, calls := fakeVerify(b, &gate)
	h, cache := geosecureGate(b, srv.URL, introspect.CacheConfig{})
	herds := 0
	for b.Loop() {
		herds++
		open := make(chan struct{})
		gate.Store(&open)
		r := newRequest(opaqueToken())
		var wg sync.WaitGroup
		var failed atomic.Int64
		for range herdSize {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := &testutil.DiscardWriter{}
				h.ServeHTTP(w, r.Clone(context.Background()))
				if w.Code != http.StatusOK {
					failed.Add(1)
				}
			}()
		}
		// Hold the upstream answer until the whole herd waits for it.
		for cache.Stats().Waiting < herdSize {
			runtime.Gosched()
		}
		close(open)
		wg.Wait()
		if failed.Load() > 0 {
			b.Fatalf("%d requests of a herd failed", failed.Load())
		}
	}
	b.ReportMetric(float64(calls.Load())/float64(herds), "upstream-calls/herd")
}

// memoryTokens is how many distinct tokens BenchmarkMemory caches.
const memoryTokens = 1_000_000

// BenchmarkMemory fills a cache with memoryTokens distinct tokens and
// reports the heap it holds per token.
func BenchmarkMemory(b *testing.B) {
	now := time.Now()
	stub := introspect.VerifierFunc(func(context.Context, string) (*introspect.TokenInfo, error) {
		return &introspect.TokenInfo{Active: true, Scopes: scopes.Parse("MapRequest gipod_pdo_read"), ClientID: "38890",
			Audience: []string{"38890"}, ExpiresAt: now.Add(time.Hour)}, nil
	})
	tokens := make([]string, memoryTokens)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("%064d", i) // 64 bytes, like the others
	}
	var perToken float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		cache, err := introspect.NewCache(stub, introspect.CacheConfig{MaxCost: 4 << 30})
		if err != nil {
			b.Fatal(err)
		}
		fill(b, cache, tokens)
		runtime.GC()
		runtime.ReadMemStats(&after)
		if ev := cache.Stats().Evictions; ev > 0 {
			b.Fatalf("%d evictions: the cache did not hold every token", ev)
		}
		if _, err := cache.Verify(context.Background(), tokens[0]); err != nil || cache.Stats().UpstreamCalls != memoryTokens {
			b.Fatal("the first token is no longer cached")
		}
		perToken = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / memoryTokens
		cache.Close()
	}
	b.ReportMetric(perToken, "B/token")
}

// fill verifies every token through cache, from a few goroutines.
func fill(b *testing.B, cache *introspect.Cache, tokens []string) {
	workers := 2 * runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(tokens); i += workers {
				if _, err := cache.Verify(context.Background(), tokens[i]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// sink, sum and nanos keep the compiler from optimising measured work away.
var (
	sink  *http.Request
	sum   [sha256.Size]byte
	nanos int64
)
