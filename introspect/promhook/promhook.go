package promhook

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokengate/tokengate/introspect"
)

// namespace is the prefix of every metric's name. It is fixed, so that
// dashboards and alerts written for one service fit every other.
const namespace = "tokengate"

// defaultUpstreamBuckets are the default bounds, in seconds, of the
// buckets of tokengate_upstream_request_duration_seconds. An introspection
// call to an authorization server in the same region answers in a few
// milliseconds to a few tens of them, one across the internet in tens to
// hundreds, and a struggling one in seconds, up to the Cache's timeout
// (introspect.DefaultTimeout, 5 s, wait included): 1 ms to 10 s covers all
// of it, with the finest steps where a healthy server answers, so that
// p50 and p99 read well on a good day and on a bad one. A local JWT check
// (backend "jwt") takes microseconds and lands in the first bucket.
var defaultUpstreamBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// maxBackends bounds the values of the backend label. A backend's name is
// its Verifier's BackendName, chosen by code rather than by requests, and
// a service has one or two; the bound only keeps a Verifier that names
// itself anew for each call from making series without end.
const maxBackends = 32

// maxNames bounds the backend names remembered, past those that became
// label values: the invalid, long or excess ones that are all "other".
const maxNames = 2 * maxBackends

// maxBackendLen bounds the length of a backend label value, in bytes.
const maxBackendLen = 64

// OtherBackend is the backend label value of the upstream calls of a
// backend whose name is not valid UTF-8 or is longer than 64 bytes, and of
// every backend after the 32nd that a Collector sees.
const OtherBackend = "other"

// The label values of each labelled metric, in a fixed order: a pre-resolved
// series is found by its label value's index in these lists, and the first
// of each list is the hot path's.
var (
	outcomes = [...]introspect.Outcome{
		introspect.OutcomeAllowed,
		introspect.OutcomeNoToken,
		introspect.OutcomeMalformed,
		introspect.OutcomeInvalidToken,
		introspect.OutcomeInsufficientScope,
		introspect.OutcomeUnavailable,
	}
	tiers           = [...]introspect.Tier{introspect.TierMemory, introspect.TierShared}
	lookupResults   = [...]introspect.LookupResult{introspect.LookupHit, introspect.LookupMiss, introspect.LookupStale}
	upstreamResults = [...]introspect.Result{introspect.ResultValid, introspect.ResultInvalid, introspect.ResultError}
	keySetResults   = [...]introspect.Result{introspect.ResultValid, introspect.ResultError}
	directions      = [...]introspect.Direction{introspect.DirectionSent, introspect.DirectionReceived}
	sharedOps       = [...]introspect.SharedOp{
		introspect.SharedGet,
		introspect.SharedSet,
		introspect.SharedClaim,
		introspect.SharedRelease,
		introspect.SharedInvalidate,
	}
	sharedResults = [...]string{"ok", "error"}
)

// index returns the index of v in values, or -1. The lists are short and
// the hot path's value comes first, so a scan beats a map and allocates
// nothing.
func index[T comparable](values []T, v T) int {
	for i, x := range values {
		if x == v {
			return i
		}
	}
	return -1
}

// Config is the configuration of a [Collector]. The zero Config is ready
// to use.
type Config struct {
	// ConstLabels are added to every series the Collector exports, as
	// prometheus.Opts.ConstLabels are: to tell apart two Collectors
	// registered in one registry, say, as in {"cache": "gipod"}. Their
	// names must be valid label names other than the labels the metrics
	// have already (outcome, tier, result, backend, direction, op), or
	// registering the Collector fails, and other than le, or New panics. Nil adds none. Like every label,
	// they must never hold a token, a client id, a subject or a secret.
	ConstLabels prometheus.Labels

	// UpstreamBuckets are the upper bounds, in seconds and in increasing
	// order, of the buckets of tokengate_upstream_request_duration_seconds.
	// Nil or empty means 1 ms, 2.5 ms, 5 ms, 10 ms, 25 ms, 50 ms, 100 ms, 250 ms,
	// 500 ms, 1 s, 2.5 s, 5 s and 10 s: from an authorization server next
	// door to one at the end of its timeout.
	UpstreamBuckets []float64

	// Backends names the backends (see introspect.BackendName) whose
	// upstream series are exported, at zero, from New on, such as
	// "rfc7662" or "geosecure", so that an alert on the rate of upstream
	// errors sees the first error after a restart. A backend not listed
	// gets its series at its first upstream call. Nil lists none.
	Backends []string
}

// A Collector is a prometheus.Collector of what tokengate does, counted
// through the [introspect.Hooks] its Hooks method returns. Register it
// with a prometheus.Registerer, and give its Hooks to every part of
// tokengate that reports through them.
//
// One Collector may serve several Caches and middlewares; their counts add
// up, and its gauges are the sums of theirs. Its methods are safe for
// concurrent use. The zero Collector is not usable: call [New].
type Collector struct {
	all []prometheus.Collector // what Describe and Collect go through

	// The series whose label values are fixed, resolved once by New.
	requests      [len(outcomes)]prometheus.Counter
	lookups       [len(tiers)][len(lookupResults)]prometheus.Counter
	evictions     prometheus.Counter
	inFlight      prometheus.Gauge
	waiting       prometheus.Gauge
	keySets       [len(keySetResults)]prometheus.Counter
	invalidations [len(directions)]prometheus.Counter
	shared        [len(sharedOps)][len(sharedResults)]prometheus.Counter

	// The series of each backend, resolved at its first upstream call.
	upstreamVec *prometheus.CounterVec
	durationVec *prometheus.HistogramVec
	mu          sync.Mutex                                // held to add to byLabel and byName
	byLabel     map[string]*backendSeries                 // by backend label value
	named       int                                       // label values in byLabel but OtherBackend
	byName      atomic.Pointer[map[string]*backendSeries] // by name given, copied on write
}

// backendSeries are the upstream series of one backend.
type backendSeries struct {
	results  [len(upstreamResults)]prometheus.Counter
	duration prometheus.Observer
}

// New returns a Collector whose series, every one with a fixed set of
// label values, are exported at zero from the start: a rate() over them
// sees the first event. Register it with a prometheus.Registerer, and
// give what c.Hooks returns to introspect.CacheConfig.Hooks, to the JWT
// Verifier's Config.Hooks and to the middleware's Config.Hooks.
//
// New panics if cfg.UpstreamBuckets is not in increasing order or
// cfg.ConstLabels has a label named le, as prometheus.NewHistogram does,
// rather than at the first upstream call. Other invalid cfg.ConstLabels
// make registering the Collector fail.
func New(cfg Config) *Collector {
	buckets := defaultUpstreamBuckets
	if len(cfg.UpstreamBuckets) > 0 {
		buckets = append([]float64(nil), cfg.UpstreamBuckets...)
		for i := 1; i < len(buckets); i++ {
			if !(buckets[i] > buckets[i-1]) {
				panic(fmt.Sprintf("promhook: UpstreamBuckets not in increasing order: %v", buckets))
			}
		}
	}
	cl := cfg.ConstLabels
	// The histogram of a backend is made at its first upstream call: what
	// would make prometheus panic then (a constant label named le, say)
	// panics here instead.
	prometheus.NewHistogram(prometheus.HistogramOpts{Name: "probe", ConstLabels: cl, Buckets: buckets})

	c := new(Collector)
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace:   namespace,
		Name:        "requests_total",
		Help:        "Requests the tokengate middleware decided on, by outcome: allowed, or the refusal (no_token, malformed, invalid_token, insufficient_scope, unavailable).",
		ConstLabels: cl,
	}, []string{"outcome"})
	for i, o := range outcomes {
		c.requests[i] = requests.WithLabelValues(string(o))
	}

	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace:   namespace,
		Name:        "cache_lookups_total",
		Help:        "Lookups of a token in a tier of the tokengate cache (memory or shared), by what they found: hit, miss or stale.",
		ConstLabels: cl,
	}, []string{"tier", "result"})
	for i, t := range tiers {
		for j, r := range lookupResults {
			c.lookups[i][j] = lookups.WithLabelValues(string(t), string(r))
		}
	}

	c.evictions = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace:   namespace,
		Name:        "cache_evictions_total",
		Help:        "Results the tokengate cache's memory tier removed to make room for others.",
		ConstLabels: cl,
	})

	c.upstreamVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace:   namespace,
		Name:        "upstream_requests_total",
		Help:        "Calls of the tokengate cache to the verifier it wraps (an authorization server, or a local JWT check), by backend and answer: valid, invalid or error.",
		ConstLabels: cl,
	}, []string{"backend", "result"})
	c.durationVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace:   namespace,
		Name:        "upstream_request_duration_seconds",
		Help:        "How long the tokengate cache's calls to the verifier it wraps took, not counting the wait for a slot, by backend.",
		ConstLabels: cl,
		Buckets:     buckets,
	}, []string{"backend"})
	c.byLabel = make(map[string]*backendSeries)
	names := make(map[string]*backendSeries)
	c.byName.Store(&names)
	for _, b := range cfg.Backends {
		c.backend(b)
	}

	c.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace:   namespace,
		Name:        "upstream_in_flight",
		Help:        "Calls of the tokengate cache to the verifier it wraps that hold a slot now.",
		ConstLabels: cl,
	})
	c.waiting = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace:   namespace,
		Name:        "upstream_waiting",
		Help:        "Calls of the tokengate cache to the verifier it wraps that wait now: for a slot, or for another replica's answer.",
		ConstLabels: cl,
	})

	keySets := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace:   namespace,
		Name:        "keyset_refreshes_total",
		Help:        "Fetches of a JWT issuer's key set by tokengate, by result: valid (keys loaded) or error (the keys known before stay in use).",
		ConstLabels: cl,
	}, []string{"result"})
	for i, r := range keySetResults {
		c.keySets[i] = keySets.WithLabelValues(string(r))
	}

	invalidations := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace:   namespace,
		Name:        "invalidations_total",
		Help:        "Token invalidations the tokengate cache announced to the other replicas (sent) or heard, its own included (received).",
		ConstLabels: cl,
	}, []string{"direction"})
	for i, d := range directions {
		c.invalidations[i] = invalidations.WithLabelValues(string(d))
	}

	shared := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace:   namespace,
		Name:        "shared_operations_total",
		Help:        "Operations of the tokengate cache on its shared tier, by operation (get, set, claim, release, invalidate) and result (ok, or error: the tier failed and the cache went on without it).",
		ConstLabels: cl,
	}, []string{"op", "result"})
	for i, op := range sharedOps {
		for j, r := range sharedResults {
			c.shared[i][j] = shared.WithLabelValues(string(op), r)
		}
	}

	c.all = []prometheus.Collector{
		requests, lookups, c.evictions, c.upstreamVec, c.durationVec,
		c.inFlight, c.waiting, keySets, invalidations, shared,
	}
	return c
}

// Describe sends the descriptors of every metric c exports to ch. It
// implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.all {
		m.Describe(ch)
	}
}

// Collect sends the current value of every series c exports to ch. It
// implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.all {
		m.Collect(ch)
	}
}

// Hooks returns Hooks that count into c: Lookup, Evicted, UpstreamDone,
// InFlight, Waiting, SharedDone, Invalidation, KeySetDone and Decision.
// The others (the Start hooks and VerifyDone) are nil, so they cost
// nothing; combine the Hooks with a tracer's through introspect.JoinHooks.
// Each call returns new Hooks, all counting into c.
//
// A label value the Hooks are given that is not in the package's table
// (an Outcome, Tier, LookupResult, Result, Direction or SharedOp added to
// introspect after this package, say) is not counted, so that no label
// ever takes a value outside it. A cache hit, Lookup(memory, hit) then
// Decision(allowed), is an atomic add on each of two counters resolved by
// New, and allocates nothing.
func (c *Collector) Hooks() *introspect.Hooks {
	return &introspect.Hooks{
		Lookup:       c.lookup,
		Evicted:      c.evictions.Inc,
		UpstreamDone: c.upstreamDone,
		InFlight:     c.addInFlight,
		Waiting:      c.addWaiting,
		SharedDone:   c.sharedDone,
		Invalidation: c.invalidation,
		KeySetDone:   c.keySetDone,
		Decision:     c.decision,
	}
}

// decision counts d. It compares what a cache hit reports with a constant
// first, as lookup does: the compiler makes that a load and a compare,
// where looking it up in the tables calls the runtime's string comparison
// for each entry.
func (c *Collector) decision(_ context.Context, d introspect.Decision) {
	if d.Outcome == introspect.OutcomeAllowed {
		c.requests[0].Inc()
		return
	}
	if i := index(outcomes[:], d.Outcome); i >= 0 {
		c.requests[i].Inc()
	}
}

func (c *Collector) lookup(_ context.Context, t introspect.Tier, r introspect.LookupResult) {
	if t == introspect.TierMemory && r == introspect.LookupHit {
		c.lookups[0][0].Inc()
		return
	}
	i, j := index(tiers[:], t), index(lookupResults[:], r)
	if i >= 0 && j >= 0 {
		c.lookups[i][j].Inc()
	}
}

func (c *Collector) upstreamDone(_ context.Context, u introspect.UpstreamCall) {
	i := index(upstreamResults[:], u.Result)
	if i < 0 {
		// Neither counted nor timed, so that the histogram's count stays
		// the sum of the backend's upstream_requests_total.
		return
	}
	b := c.backend(u.Backend)
	b.results[i].Inc()
	b.duration.Observe(u.Duration.Seconds())
}

func (c *Collector) addInFlight(delta int) { c.inFlight.Add(float64(delta)) }

func (c *Collector) addWaiting(delta int) { c.waiting.Add(float64(delta)) }

func (c *Collector) sharedDone(_ context.Context, op introspect.SharedOp, err error) {
	i := index(sharedOps[:], op)
	if i < 0 {
		return
	}
	j := 0
	if err != nil {
		j = 1 // the error's text goes nowhere: only that there was one
	}
	c.shared[i][j].Inc()
}

func (c *Collector) invalidation(d introspect.Direction) {
	if i := index(directions[:], d); i >= 0 {
		c.invalidations[i].Inc()
	}
}

func (c *Collector) keySetDone(_ context.Context, r introspect.KeySetRefresh) {
	if i := index(keySetResults[:], r.Result); i >= 0 {
		c.keySets[i].Inc()
	}
}

// backend returns the series of the backend called name, making them the
// first time. The names seen are looked up without a lock in a map copied
// on write; a new name is resolved under c.mu.
func (c *Collector) backend(name string) *backendSeries {
	if b, ok := (*c.byName.Load())[name]; ok {
		return b
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.byName.Load()
	if b, ok := old[name]; ok {
		return b
	}
	label := name
	switch {
	case name == "":
		label = "custom" // what introspect.BackendName calls a Verifier without a name
	case len(name) > maxBackendLen || !utf8.ValidString(name):
		label = OtherBackend
	}
	b, ok := c.byLabel[label]
	if !ok {
		if label != OtherBackend {
			if c.named >= maxBackends {
				label = OtherBackend
				b = c.byLabel[label]
			} else {
				c.named++
			}
		}
		if b == nil {
			b = &backendSeries{duration: c.durationVec.WithLabelValues(label)}
			for i, r := range upstreamResults {
				b.results[i] = c.upstreamVec.WithLabelValues(label, string(r))
			}
			c.byLabel[label] = b
		}
	}
	if len(old) < maxNames {
		m := make(map[string]*backendSeries, len(old)+1)
		for k, v := range old {
			m[k] = v
		}
		m[name] = b
		c.byName.Store(&m)
	}
	// Past maxNames, a name not yet seen is resolved here each time: slower,
	// but the map does not grow without end.
	return b
}
