package introspect

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/tokengate/tokengate/internal/redact"
)

// Defaults of [CacheConfig].
const (
	DefaultMaxTTL        = 5 * time.Minute
	DefaultInvalidTTL    = 10 * time.Second
	DefaultMaxCost       = 64 << 20
	DefaultMaxConcurrent = 64
	DefaultMaxWaiting    = 512
)

// CacheConfig configures a [Cache]. The zero value of every field is a
// sensible default. As in every configuration of tokengate, a negative
// duration means none where none makes sense (no stored result, no stale
// answer) and is an error where it does not (a timeout).
type CacheConfig struct {
	// MaxTTL is the longest a valid token's facts are reused; they are never
	// reused past the token's expiry. Zero means [DefaultMaxTTL]; a negative
	// value stores no result at all (concurrent calls for one token still
	// share one upstream call).
	MaxTTL time.Duration
	// InvalidTTL is how long an invalid-token answer is reused, so that a
	// client repeating a bad token does not reach the authorization server
	// each time. Zero means [DefaultInvalidTTL]; a negative value stores no
	// invalid answer.
	InvalidTTL time.Duration
	// MaxCost bounds the memory the cache holds, in bytes as estimated from
	// each result's size. Zero means [DefaultMaxCost] (64 MiB, about 75,000
	// typical results).
	MaxCost int64
	// MaxConcurrent bounds the calls to the authorization server in flight
	// at once. Calls beyond it wait for a slot within their timeout. Zero
	// means [DefaultMaxConcurrent].
	MaxConcurrent int
	// MaxWaiting bounds the upstream calls waiting for a slot. A call for
	// a new token beyond it fails at once as unavailable (counted in
	// [CacheStats.Rejected]), so that a stalled authorization server cannot
	// make work pile up without limit. Zero means [DefaultMaxWaiting].
	MaxWaiting int
	// Timeout limits one shared upstream call, including the wait for a
	// slot. The call runs on a context detached from the requests that
	// wait for it (keeping their values but not their cancellation), so a
	// client that disconnects does not fail the others. Zero means
	// [DefaultTimeout]; a negative value is an error.
	Timeout time.Duration
	// StaleIfError, when positive, lets a valid token's cached facts be
	// served for up to this long after MaxTTL has run out, but never past
	// the token's own expiry, while the authorization server is unavailable
	// (RFC 5861's stale-if-error). Each request still asks the server
	// first; only when that fails is the stale answer used, and counted in
	// [CacheStats.Stale]. Invalid answers are never served stale. Zero, the
	// default, and a negative value turn it off. The price is revocation: a
	// token revoked during an outage stays accepted up to MaxTTL +
	// StaleIfError.
	StaleIfError time.Duration
	// Now tells the time for expiry decisions. Nil means [time.Now]. Tests
	// inject a fake clock here.
	Now func() time.Time

	// Shared, when not nil, is a second tier the replicas of a service
	// share, such as Redis (see introspect/redis): a lookup that misses
	// memory asks it before the authorization server, replicas take turns
	// so that concurrent first requests for a token make one upstream call
	// in all, and [Cache.Invalidate] reaches every replica. It holds no
	// token and no plaintext fact (see [SharedTier]). A failing tier never
	// fails a request: the Cache carries on with memory and the
	// authorization server. Nil, the default, keeps everything in memory.
	Shared SharedTier
	// SharedNamespace names the backend this Cache verifies against, such
	// as its issuer or endpoint URL, in every key and sealed value of
	// Shared: replicas share entries only within a namespace, and one
	// namespace's values do not open in another. Required with Shared:
	// printable ASCII without spaces or braces, at most 256 bytes.
	//
	// Within a namespace, Caches share entries only when their Verifiers
	// are of one type and have the same [AnswerScope]: the settings that
	// change their answers, such as the client that introspects or the
	// audiences a JWT Verifier accepts (see [AnswerScoper]). For a
	// Verifier that is not an AnswerScoper, a [VerifierFunc] say, make the
	// namespace change with every such setting: two services whose
	// Verifiers could answer one token differently must never share a
	// namespace. Invalidations travel within a namespace and answer scope
	// too: a service set up otherwise keeps its own answers.
	SharedNamespace string
	// SharedPepper, when set, is a server secret mixed into the shared
	// keys and value keys, so that someone who holds a token but not the
	// pepper cannot find or read its entry in a dump. Every replica of a
	// namespace needs the same pepper. Nil means none.
	SharedPepper []byte
	// SharedTimeout bounds each operation on Shared, whatever its client's
	// own timeouts. Zero means [DefaultSharedTimeout]; a negative value is
	// an error.
	SharedTimeout time.Duration

	// FailingFor is how long the authorization server's failures keep
	// [Cache.Ready] failing: three upstream calls or more failed in a row,
	// the latest less than FailingFor ago, with no answer since. Zero
	// means [DefaultFailingFor]; a negative value makes Ready follow only
	// the wrapped Verifier's readiness (discovery, keys), never the calls.
	FailingFor time.Duration

	// Hooks, when not nil, receive what the Cache does: every lookup, each
	// upstream call with its duration and result, the slots in use and
	// the calls waiting for one, evictions, the shared tier's operations
	// and invalidations (see [Hooks]). The Cache reads the Hooks once, in
	// NewCache. Nil means none.
	Hooks *Hooks
}

// CacheStats counts what a [Cache] has done since it was made.
type CacheStats struct {
	// Hits counts calls answered from the cache, valid or invalid.
	Hits uint64
	// Misses counts calls not answered from the cache; many of them may
	// share one upstream call.
	Misses uint64
	// UpstreamCalls counts calls made to the wrapped Verifier.
	UpstreamCalls uint64
	// Invalid counts upstream answers of [ErrInvalidToken].
	Invalid uint64
	// Failures counts upstream calls that failed ([ErrUnavailable]),
	// including those that timed out waiting for a slot.
	Failures uint64
	// Rejected counts upstream calls refused at once because MaxWaiting
	// calls were already waiting for a slot. They are not in Failures.
	Rejected uint64
	// Abandoned counts upstream calls never made because every caller
	// waiting for them gave up while they waited for a slot.
	Abandoned uint64
	// Evictions counts results removed to make room for others. A result
	// whose time is up is not removed by itself: it is never served again,
	// and stays, within MaxCost, until it is evicted or replaced.
	Evictions uint64
	// Stale counts calls answered with stale facts because the
	// authorization server was unavailable (see [CacheConfig.StaleIfError]).
	Stale uint64
	// Waiting is the number of callers waiting, right now, for an upstream
	// call to answer.
	Waiting int64
	// Queued is the number of upstream calls waiting, right now, for a
	// slot (see [CacheConfig.MaxWaiting]).
	Queued int64

	// The counts below stay zero without [CacheConfig.Shared].

	// SharedHits counts memory misses answered from the shared tier,
	// including those that waited for another replica's call.
	SharedHits uint64
	// SharedMisses counts memory misses the shared tier could not answer,
	// which went on to the authorization server.
	SharedMisses uint64
	// SharedUnreadable counts values in the shared tier that did not open
	// or decode (tampered, corrupted, or of another namespace or pepper);
	// each is also a shared miss.
	SharedUnreadable uint64
	// SharedErrors counts operations on the shared tier that failed or
	// timed out.
	SharedErrors uint64
	// SharedSkipped counts operations not tried because the tier had
	// failed repeatedly (the circuit breaker was open).
	SharedSkipped uint64
	// LockWaits counts memory misses that waited for another replica's
	// upstream call.
	LockWaits uint64
	// InvalidationsSent counts invalidations announced to the other
	// replicas; InvalidationsReceived those heard and applied (the token
	// forgotten from memory), this replica's own included.
	InvalidationsSent, InvalidationsReceived uint64
	// InvalidationsPending is how many invalidations the shared tier has
	// not taken yet: they are sent again until it does (see
	// [Cache.Invalidate]).
	InvalidationsPending int64
	// SharedFlushes counts the times the memory tier was emptied because
	// the tier's invalidations (re)started, after a gap in which some may
	// have been lost.
	SharedFlushes uint64
}

// Cache is a [Verifier] that remembers the answers of another Verifier, so
// that a token is checked with the authorization server once and then served
// from memory until its result expires.
//
// Results are kept in a ristretto cache keyed by the SHA-256 of the token;
// the token itself is never stored. Concurrent calls for a token that is not
// cached share one upstream call. Failures are never stored.
//
// A valid answer is reused until MaxTTL has passed or the token expires.
// When next has a method Leeway() time.Duration, as the RFC 7662
// Introspector does, that much past "exp" still counts as unexpired, so that
// the Cache accepts for as long as next alone would.
//
// A Cache is safe for concurrent use. Call [Cache.Close] when done with it.
type Cache struct {
	// How it works. A hit is one ristretto Get, confirmed against the
	// token's whole SHA-256 and the entry's expiry. A miss enters the
	// token's shared call in calls: the first caller starts it, later
	// callers wait for the same call. The call runs on a worker goroutine
	// (see workers), on a context detached from every caller's and bounded
	// by timeout, so that a caller giving up fails no one else. It first
	// waits for one of the slots (at most MaxConcurrent calls in flight);
	// at most MaxWaiting calls wait so, and a call whose callers have all
	// gone before it got a slot is abandoned without being made. Its answer
	// is stored in ristretto (valid or invalid, never a failure) and handed
	// to the waiting callers. New entries reach ristretto in batches (see
	// fills), which it applies asynchronously, so a finished call stays in
	// calls for a moment (keepFinished): callers that miss the store in
	// that window take its answer instead of calling again.
	next       Verifier
	local      bool // next is a LocalVerifier that verifies locally
	store      *ristretto.Cache[uint64, *entry]
	fills      fills
	calls      calls
	workers    workers
	slots      chan struct{}
	maxWaiting int64
	maxTTL     time.Duration
	invalidTTL time.Duration
	timeout    time.Duration
	stale      time.Duration // StaleIfError
	leeway     time.Duration // next's, when it has one
	failingFor time.Duration // CacheConfig.FailingFor
	clock      clock
	hooks      Hooks  // CacheConfig.Hooks; the zero Hooks without
	backend    string // next's name, for hooks

	// health is the latest upstream answer or failure, for Ready.
	health health

	// invalidation orders Invalidate against stores of results that were
	// fetched before it: gen changes under the write lock, and a result is
	// stored only if gen is unchanged since its fetch began.
	invalidation sync.RWMutex
	gen          uint64

	// life orders Close against the store's Set and Wait, which must not
	// run on a closed store: ristretto's own check of that is racy.
	life   sync.RWMutex
	closed bool

	hits, misses, upstream, invalid, failures, evictions, staleServed paddedCounter
	rejected, abandoned                                               atomic.Uint64
	waiting, queued                                                   atomic.Int64

	// The shared tier, when configured: see cache_shared.go.
	shared        SharedTier
	sealer        sealer
	sharedTimeout time.Duration
	sharedBounded bool // the tier honours deadlines: see ContextBounded
	breaker       *breaker
	index         sharedIndex
	stopListen    context.CancelFunc
	listening     chan struct{} // closed when Listen has returned
	retrying      chan struct{} // closed when retryInvalidations has returned
	pending       *pendingInvalidations

	sharedHits, sharedMisses, sharedUnreadable, sharedErrors, sharedSkipped atomic.Uint64
	lockWaits, invalidationsSent, invalidationsReceived, sharedFlushes      atomic.Uint64
}

// paddedCounter keeps each hot counter on its own cache line, so that
// parallel hits do not slow each other down through false sharing.
type paddedCounter struct {
	atomic.Uint64
	_ [56]byte
}

// lookup is the token a Verify call is about.
type lookup struct {
	token string
	sum   [sha256.Size]byte
	key   uint64 // the store's key: the leading bytes of sum
}

// NewCache returns a Cache in front of next.
func NewCache(next Verifier, cfg CacheConfig) (*Cache, error) {
	if next == nil {
		return nil, errors.New("introspect: cache needs a Verifier to wrap")
	}
	if cfg.MaxCost < 0 || cfg.MaxConcurrent < 0 || cfg.MaxWaiting < 0 || cfg.Timeout < 0 || cfg.SharedTimeout < 0 {
		return nil, errors.New("introspect: negative MaxCost, MaxConcurrent, MaxWaiting, Timeout or SharedTimeout")
	}
	if cfg.Shared != nil && !validNamespace(cfg.SharedNamespace) {
		return nil, errors.New("introspect: a shared tier needs a SharedNamespace of printable ASCII without spaces or braces, at most 256 bytes")
	}
	c := &Cache{
		next:       next,
		slots:      make(chan struct{}, cmp.Or(cfg.MaxConcurrent, DefaultMaxConcurrent)),
		maxWaiting: int64(cmp.Or(cfg.MaxWaiting, DefaultMaxWaiting)),
		workers:    newWorkers(),
		maxTTL:     cmp.Or(cfg.MaxTTL, DefaultMaxTTL),
		invalidTTL: cmp.Or(cfg.InvalidTTL, DefaultInvalidTTL),
		timeout:    cmp.Or(cfg.Timeout, DefaultTimeout),
		stale:      max(cfg.StaleIfError, 0),
		failingFor: cmp.Or(cfg.FailingFor, DefaultFailingFor),
		clock:      clock{now: cfg.Now, epoch: time.Now()},
		backend:    BackendName(next),
	}
	if cfg.Hooks != nil {
		c.hooks = *cfg.Hooks
	}
	if l, ok := next.(LocalVerifier); ok {
		c.local = l.VerifiesLocally()
	}
	if l, ok := next.(interface{ Leeway() time.Duration }); ok {
		c.leeway = max(l.Leeway(), 0)
	}
	maxCost := cmp.Or(cfg.MaxCost, DefaultMaxCost)
	store, err := ristretto.NewCache(&ristretto.Config[uint64, *entry]{
		// Ristretto advises ten counters per entry the cache can hold.
		NumCounters: max(10*maxCost/typicalEntryCost, 1000),
		MaxCost:     maxCost,
		BufferItems: 64,
		// The key already is the leading bytes of a SHA-256: uniformly
		// distributed, so it needs no further hashing.
		KeyToHash: func(key uint64) (uint64, uint64) { return key, 0 },
		OnEvict: func(*ristretto.Item[*entry]) {
			c.evictions.Add(1)
			if c.hooks.Evicted != nil {
				c.hooks.Evicted()
			}
		},
		OnExit: func(e *entry) {
			if e != nil && e.indexed {
				c.index.remove(e)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("introspect: creating cache: %w", err)
	}
	c.store = store
	c.fills.flush = c.flushFills
	if cfg.Shared != nil {
		c.startShared(cfg)
	}
	return c, nil
}

// Verify returns the cached result for token, or asks the wrapped Verifier
// and caches its answer. Concurrent calls for the same uncached token make a
// single upstream call; a caller whose ctx ends stops waiting without
// cancelling that call for the others. The first caller for a token may
// do one thing on its own goroutine first: a [LocalVerifier]'s check, in
// its ctx and within [CacheConfig.Timeout], or, with a shared tier, the
// read of the tier, which it finishes before it can stop waiting, within
// [CacheConfig.SharedTimeout].
//
// The returned TokenInfo is shared by every caller for the token: do not
// modify it.
func (c *Cache) Verify(ctx context.Context, token string) (*TokenInfo, error) {
	if c.hooks.VerifyStart != nil {
		ctx = c.hooks.VerifyStart(ctx)
	}
	sum := tokenSum(token)
	key := binary.LittleEndian.Uint64(sum[:8])
	var stale *entry
	if e, ok := c.store.Get(key); ok && e.sum == sum {
		now := c.clock.instant()
		if now < e.expires {
			c.hits.Add(1)
			c.lookedUp(ctx, TierMemory, LookupHit)
			c.verified(ctx, CacheHit, e.err)
			return e.info, e.err
		}
		if now < e.staleUntil {
			stale = e
		}
	}
	return c.miss(ctx, lookup{token: token, sum: sum, key: key}, stale)
}

// miss waits for the shared upstream call for the token, starting it if
// none is under way. It is apart from Verify so that what the call captures
// is moved to the heap on a miss only. stale is an expired entry that may
// still serve if the authorization server fails.
func (c *Cache) miss(ctx context.Context, l lookup, stale *entry) (*TokenInfo, error) {
	cl, replaced, isNew := c.calls.enter(l.sum, c.clock.instant())
	if replaced != nil {
		// The store may not show the previous answer yet, or show one
		// older than it, but the previous answer is the latest there is.
		if e := replaced.lastStored(); e != nil {
			stale = nil
			if c.clock.instant() < e.staleUntil {
				stale = e
			}
		}
	}
	if !isNew && cl.finished() && cl.stored != nil {
		// The answer is stored, but the store does not show it yet. (A
		// call that finished without storing its answer, a failure say,
		// is waited for below, which returns at once and falls back on a
		// stale answer if there is one.)
		c.hits.Add(1)
		c.lookedUp(ctx, TierMemory, LookupHit)
		c.verified(ctx, CacheHit, cl.err)
		return cl.info, cl.err
	}
	c.misses.Add(1)
	if isNew && !c.verifyNow(ctx, l, cl, replaced) && !c.sharedNow(ctx, l, cl, replaced) {
		c.start(ctx, l, cl, replaced, nil)
	}
	c.waiting.Add(1)
	defer c.waiting.Add(-1)
	var info *TokenInfo
	var err error
	from := CacheMiss
	select {
	case <-cl.done:
		info, err, from = cl.info, cl.err, cl.from
	case <-ctx.Done():
		c.calls.leave(l.sum, cl)
		err = &UnavailableError{Reason: "gave up waiting for the authorization server", Err: ctx.Err()}
	}
	if err != nil && stale != nil && errors.Is(err, ErrUnavailable) && c.clock.instant() < stale.staleUntil {
		c.staleServed.Add(1)
		c.lookedUp(ctx, TierMemory, LookupStale)
		c.verified(ctx, CacheStale, nil)
		return stale.info, nil
	}
	c.lookedUp(ctx, TierMemory, LookupMiss)
	c.verified(ctx, from, err)
	return info, err
}

// lookedUp reports a lookup in tier to the Hooks.
func (c *Cache) lookedUp(ctx context.Context, tier Tier, result LookupResult) {
	if c.hooks.Lookup != nil {
		c.hooks.Lookup(ctx, tier, result)
	}
}

// verified reports the end of a verification to the Hooks.
func (c *Cache) verified(ctx context.Context, from CacheResult, err error) {
	if c.hooks.VerifyDone != nil {
		c.hooks.VerifyDone(ctx, Verification{Backend: c.backend, Cache: from, Result: resultOf(err)})
	}
}

// start hands the new call cl to a worker, or fails it at once when
// MaxWaiting calls already wait for a slot. replaced is the finished call
// cl replaced, if any; read is what the caller found in the shared tier,
// or nil when it did not look.
func (c *Cache) start(callerCtx context.Context, l lookup, cl, replaced *call, read *sharedRead) {
	if c.queued.Add(1) > c.maxWaiting {
		c.queued.Add(-1)
		c.rejected.Add(1)
		cl.finish(nil, &UnavailableError{Reason: "too many calls waiting for the authorization server"}, nil)
		c.calls.remove(l.sum, cl)
		return
	}
	// Ristretto may still be applying the set of the answer the replaced
	// call stored, and would drop a second set of the same key made before
	// it is done, keeping the older answer: so the new answer waits for the
	// store to settle first.
	settleFirst := mustSettle(replaced)
	if c.hooks.Waiting != nil {
		c.hooks.Waiting(1)
	}
	c.workers.run(func() {
		info, stored, err := c.fetch(callerCtx, l, cl, settleFirst, read)
		c.finish(l, cl, info, stored, err)
	})
}

// mustSettle reports whether a new call must let the store settle before
// it stores its answer, because the finished call it replaced stored one
// (see start).
func mustSettle(replaced *call) bool {
	return replaced != nil && replaced.lastStored() != nil
}

// fetch makes the upstream call cl for a token and stores its answer,
// returning the stored entry (nil when it stored none). It runs on a
// worker, never on a caller's goroutine. read is what the caller found in
// the shared tier, or nil when it did not look.
func (c *Cache) fetch(callerCtx context.Context, l lookup, cl *call, settleFirst bool, read *sharedRead) (info *TokenInfo, stored *entry, err error) {
	gen := c.generation()
	if read != nil {
		// An invalidation since the caller's read must not let an answer
		// of another replica's from before it into memory.
		gen = read.gen
	}

	// A caller that missed the store just before the previous call for
	// this token stored its answer, and entered only after that call was
	// removed, starts this one: the answer is there now.
	if e, ok := c.store.Get(l.key); ok && e.sum == l.sum && c.clock.instant() < e.expires {
		c.dequeued()
		cl.from = CacheHit
		return e.info, nil, e.err
	}

	var sf *sharedFill
	if settleFirst {
		// Before anything is stored, the shared tier's answer included.
		c.waitForStore()
	}
	if c.shared != nil {
		if read == nil {
			read = &sharedRead{gen: gen}
			if info, stored, err, done := c.readShared(callerCtx, l, gen, read); done {
				c.dequeued()
				cl.from = CacheSharedHit
				return info, stored, err
			}
		}
		sf = &read.fill
		info, stored, err, done := c.fromShared(callerCtx, l, cl, gen, read)
		if done {
			c.dequeued()
			cl.from = CacheSharedHit
			return info, stored, err
		}
		defer c.releaseClaim(callerCtx, sf)
	}

	ctx, cancel := context.WithTimeout(context.WithoutCancel(callerCtx), c.timeout)
	defer cancel()
	select {
	case c.slots <- struct{}{}:
		c.dequeued()
		c.slotTaken(1)
	case <-cl.abandon:
		c.dequeued()
		c.abandoned.Add(1)
		return nil, nil, errAbandoned()
	case <-ctx.Done():
		c.dequeued()
		c.failures.Add(1)
		return nil, nil, &UnavailableError{Reason: "too many calls to the authorization server in flight", Err: ctx.Err()}
	}
	if !c.calls.start(cl) {
		// Every caller gave up just as the slot came free.
		c.slotTaken(-1)
		<-c.slots
		c.abandoned.Add(1)
		return nil, nil, errAbandoned()
	}
	u := c.beginUpstream(ctx)
	info, err = c.callNext(u.ctx, l.token, false)
	c.endUpstream(u, err)
	c.releaseSlot()
	return c.answer(callerCtx, l, gen, sf, info, err)
}

// answer stores what the upstream call for a token answered, in memory
// and in the shared tier when sf is not nil, and returns the answer and
// the entry stored (nil when none was). An answer that expired is turned
// into an invalid one; a failure is never stored.
func (c *Cache) answer(callerCtx context.Context, l lookup, gen uint64, sf *sharedFill, info *TokenInfo, err error) (*TokenInfo, *entry, error) {
	now := c.clock.Now()
	var e *entry
	var ttl, staleTTL time.Duration
	switch {
	case err == nil && info.ExpiresAt.IsZero():
		e, ttl, staleTTL = &entry{info: info}, c.maxTTL, c.maxTTL+c.stale
	case err == nil && info.ExpiresAt.Add(c.leeway).After(now):
		left := info.ExpiresAt.Add(c.leeway).Sub(now)
		e, ttl, staleTTL = &entry{info: info}, min(c.maxTTL, left), min(c.maxTTL+c.stale, left)
	case err == nil:
		info, err = nil, invalidToken("token expired")
		fallthrough
	case errors.Is(err, ErrInvalidToken):
		c.invalid.Add(1)
		e, ttl, staleTTL = &entry{err: err}, c.invalidTTL, c.invalidTTL
	default:
		c.failures.Add(1)
	}
	var stored *entry
	if e != nil {
		if sf != nil {
			e.sharedID, e.indexed = sf.id, true
		}
		stored = c.put(l, gen, e, ttl, staleTTL, now)
		if sf != nil {
			c.toShared(callerCtx, l, sf, gen, e, ttl, now)
		}
	}
	return info, stored, err
}

// verifyNow makes the new call cl for a token on the caller's goroutine,
// when the wrapped Verifier is a LocalVerifier and a slot is free, and
// reports whether it did: otherwise start hands cl to a worker.
//
// The check runs in the caller's ctx, within Timeout. Should it answer
// that it would wait, or fail because the caller's ctx ended (a Verifier
// that embeds a LocalVerifier may wait on something of its own), the call
// goes on on a worker, in the slot it holds and detached from the caller,
// for the others waiting for it: no caller's leaving fails the others.
//
// A Cache with a shared tier asks the tier first (see sharedNow), and one
// whose replaced call stored an answer lets the store settle first (see
// start); neither is made here.
func (c *Cache) verifyNow(callerCtx context.Context, l lookup, cl, replaced *call) bool {
	if !c.local || c.shared != nil || mustSettle(replaced) {
		return false
	}
	select {
	case c.slots <- struct{}{}:
	default:
		return false // as many calls as MaxConcurrent are in flight
	}
	// held is whether this goroutine holds the slot, counted whether the
	// Hooks were told, and settled whether cl is finished or handed on,
	// for the recovery below.
	held, counted, settled := true, false, false
	release := func() {
		// Cleared first: a hook that panics in slotTaken must not be
		// told twice by the recovery, which still frees the slot.
		counted = false
		c.slotTaken(-1)
		held = false
		<-c.slots
	}
	defer func() {
		if p := recover(); p != nil {
			// A hook panicked. The call must not keep its slot, nor keep
			// the callers for the token waiting, once the panic goes on
			// up the caller's stack, where net/http or a framework's
			// recovery may catch it.
			if !settled {
				c.finish(l, cl, nil, nil, &UnavailableError{Reason: "cache hook panicked"})
			}
			if held {
				<-c.slots
			}
			if counted {
				c.slotTaken(-1)
			}
			panic(p)
		}
	}()
	c.slotTaken(1)
	counted = true
	c.calls.start(cl) // never abandoned: its first caller is here
	gen := c.generation()
	u := c.beginUpstream(callerCtx)
	ctx, cancel := context.WithTimeout(u.ctx, c.timeout)
	info, err := c.callNext(ctx, l.token, true)
	cancel()
	if errors.Is(err, ErrWouldWait) || (errors.Is(err, ErrUnavailable) && callerCtx.Err() != nil) {
		held, counted, settled = false, false, true // the worker's now
		c.workers.run(func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), c.timeout)
			defer cancel()
			info, err := c.callNext(ctx, l.token, false)
			c.endUpstream(u, err)
			c.releaseSlot()
			info, stored, err := c.answer(callerCtx, l, gen, nil, info, err)
			c.finish(l, cl, info, stored, err)
		})
		return true
	}
	c.endUpstream(u, err)
	release()
	info, stored, err := c.answer(callerCtx, l, gen, nil, info, err)
	settled = true
	c.finish(l, cl, info, stored, err)
	return true
}

// finish hands the answer of cl to the callers waiting for it. A call
// whose answer was not stored is forgotten, so that the next caller for
// the token makes a new one.
func (c *Cache) finish(l lookup, cl *call, info *TokenInfo, stored *entry, err error) {
	cl.finish(info, err, stored)
	if stored == nil {
		c.calls.remove(l.sum, cl)
	}
}

// generation returns the invalidation generation, for put.
func (c *Cache) generation() uint64 {
	c.invalidation.RLock()
	defer c.invalidation.RUnlock()
	return c.gen
}

// upstream is one call to the wrapped Verifier, as the Hooks see it.
type upstream struct {
	ctx   context.Context // the call's, from UpstreamStart
	began time.Time
}

// beginUpstream counts an upstream call and reports its start to the
// Hooks.
func (c *Cache) beginUpstream(ctx context.Context) upstream {
	c.upstream.Add(1)
	if c.hooks.UpstreamStart != nil {
		ctx = c.hooks.UpstreamStart(ctx, c.backend)
	}
	return upstream{ctx: ctx, began: time.Now()}
}

// endUpstream reports the end of u to the Hooks and records its outcome
// for Ready.
func (c *Cache) endUpstream(u upstream, err error) {
	took := time.Since(u.began)
	c.health.record(c.clock.instant(), err)
	if c.hooks.UpstreamDone != nil {
		c.hooks.UpstreamDone(u.ctx, UpstreamCall{Backend: c.backend, Result: resultOf(err), Duration: took})
	}
}

// releaseSlot gives back a slot for upstream calls. The slot is reported
// given back first, so that the gauge never shows more than
// MaxConcurrent.
func (c *Cache) releaseSlot() {
	c.slotTaken(-1)
	<-c.slots
}

// dequeued records that an upstream call stopped waiting for a slot.
func (c *Cache) dequeued() {
	c.queued.Add(-1)
	if c.hooks.Waiting != nil {
		c.hooks.Waiting(-1)
	}
}

// slotTaken reports a slot taken (+1) or given back (-1) to the Hooks.
func (c *Cache) slotTaken(delta int) {
	if c.hooks.InFlight != nil {
		c.hooks.InFlight(delta)
	}
}

// errAbandoned is the answer of a call every caller gave up on, seen only
// by the callers that gave up. It is a failure, never stored.
func errAbandoned() error {
	return &UnavailableError{Reason: "every caller gave up waiting for the authorization server"}
}

// waitForStore waits until the store has applied every put made so far.
func (c *Cache) waitForStore() {
	c.flushFills()
	c.life.RLock()
	defer c.life.RUnlock()
	if !c.closed {
		c.store.Wait()
	}
}

// callNext calls the wrapped Verifier, telling it not to wait when now is
// set, and holds it to its contract: an error that is neither invalid nor
// unavailable (nor ErrWouldWait, when now is set), a nil or inactive
// answer without an error, and a panic all fail closed.
func (c *Cache) callNext(ctx context.Context, token string, now bool) (info *TokenInfo, err error) {
	defer func() {
		if p := recover(); p != nil {
			// The panic's text ends up in logs; a careless Verifier may
			// have put the token in it.
			msg := redact.Text(fmt.Sprint(p), token)
			info, err = nil, &UnavailableError{Reason: "verifier panicked", Err: errors.New("panic: " + msg)}
		}
	}()
	if now {
		ctx = NoWait(ctx)
	}
	info, err = c.next.Verify(ctx, token)
	switch {
	case errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrUnavailable) || (now && errors.Is(err, ErrWouldWait)):
		return nil, redact.Error(err, token)
	case err != nil:
		return nil, &UnavailableError{Reason: "verifier failed", Err: redact.Error(err, token)}
	case info == nil:
		return nil, &UnavailableError{Reason: "verifier returned no result"}
	case !info.Active:
		return nil, invalidToken("token is not active")
	}
	return info, nil
}

// put stores e for ttl, and as a stale answer until staleTTL, unless ttl
// is not positive or the token was invalidated since its fetch began at
// generation gen. It returns e if it queued it for the store (see fills),
// and nil otherwise.
func (c *Cache) put(l lookup, gen uint64, e *entry, ttl, staleTTL time.Duration, now time.Time) *entry {
	if ttl <= 0 {
		return nil
	}
	e.sum = l.sum
	e.expires = c.clock.at(now.Add(ttl))
	e.staleUntil = c.clock.at(now.Add(max(ttl, staleTTL)))
	c.invalidation.RLock()
	defer c.invalidation.RUnlock()
	if c.gen != gen {
		return nil
	}
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return nil
	}
	if e.indexed {
		// Before the Set: ristretto may reject the entry, and remove it
		// from the index, at once.
		c.index.add(e)
	}
	if !c.setAll(c.fills.add(l.key, e), e) {
		return nil // its own batch, set at once, and dropped
	}
	return e
}

// flushFills sets every queued fill in the store.
func (c *Cache) flushFills() {
	c.invalidation.RLock()
	defer c.invalidation.RUnlock()
	c.life.RLock()
	defer c.life.RUnlock()
	if !c.closed {
		c.setAll(c.fills.take(), nil)
	}
}

// setAll sets fills in the store, and reports whether it kept mine, the
// caller's own entry, when it is among them. The caller holds the
// invalidation and life locks, and the store is open.
func (c *Cache) setAll(fills []fill, mine *entry) (keptMine bool) {
	keptMine = true
	for _, f := range fills {
		if c.store.Set(f.key, f.e, f.e.cost()) {
			continue
		}
		// Dropped (ristretto's set buffer is full): the finished call
		// must not go on serving an answer that an invalidation, which
		// looks in the index, could not reach. The caller's own call has
		// not finished: put tells it by returning nil.
		c.calls.removeStored(f.e.sum, f.e)
		if f.e.indexed {
			c.index.remove(f.e)
		}
		if f.e == mine {
			keptMine = false
		}
	}
	return keptMine
}

// unqueued removes from the index an entry dropped from the fills before
// the store saw it, which therefore never leaves it through OnExit.
func (c *Cache) unqueued(e *entry) {
	if e != nil && e.indexed {
		c.index.remove(e)
	}
}

// AnswerScope returns what the Cache's answers depend on besides the
// token: the type and [AnswerScope] of the Verifier it wraps, which also
// separate its entries in a shared tier. It makes a Cache an
// [AnswerScoper].
func (c *Cache) AnswerScope() string { return sharingScope(c.next) }

// Invalidate forgets what the cache knows about token, for example at
// logout: the next call for it asks the authorization server again. A call
// already under way for token is not stopped, but its answer is not stored.
//
// With a shared tier, Invalidate also deletes the token's entry there and
// tells every replica to forget it, within milliseconds; it waits for the
// tier at most [CacheConfig.SharedTimeout], and tries it even while the
// tier's recent failures keep other operations away. When the tier does
// not take the invalidation, it is sent again in the background, at
// intervals growing to a second, until the tier takes it
// ([CacheStats.InvalidationsPending]); until then this Cache reads nothing
// from the tier for the token, so that it cannot take back the answer it
// forgot. Past 100,000 pending, it reads nothing from the tier at all,
// until it is closed. The other replicas cannot hear an invalidation the
// tier has not taken, but they empty their memory when they hear the tier
// again after a gap. A closed Cache sends no invalidation again.
func (c *Cache) Invalidate(token string) {
	if c.shared != nil {
		c.invalidateShared(token)
	}
	c.forget(tokenSum(token))
}

// forget removes what the memory tier holds about the token whose SHA-256
// is sum, and makes the answers of calls under way unstored.
func (c *Cache) forget(sum [sha256.Size]byte) {
	c.invalidation.Lock()
	defer c.invalidation.Unlock()
	c.forgetLocked(sum)
}

// forgetLocked is forget for a caller that holds the invalidation lock.
func (c *Cache) forgetLocked(sum [sha256.Size]byte) {
	c.gen++
	c.calls.discard(sum)
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return
	}
	// A fill of the token's answer still queued is dropped. Ristretto
	// applies sets and deletes asynchronously, in order: waiting until it
	// has applied this delete means a set of the answer already made
	// cannot make it visible again after Invalidate returns.
	key := binary.LittleEndian.Uint64(sum[:8])
	c.unqueued(c.fills.drop(key))
	c.store.Del(key)
	c.store.Wait()
}

// Stats returns the counts since the cache was made. It is safe to call at
// any time.
func (c *Cache) Stats() CacheStats {
	st := CacheStats{
		Hits:          c.hits.Load(),
		Misses:        c.misses.Load(),
		UpstreamCalls: c.upstream.Load(),
		Invalid:       c.invalid.Load(),
		Failures:      c.failures.Load(),
		Rejected:      c.rejected.Load(),
		Abandoned:     c.abandoned.Load(),
		Evictions:     c.evictions.Load(),
		Stale:         c.staleServed.Load(),
		Waiting:       c.waiting.Load(),
		Queued:        c.queued.Load(),

		SharedHits:            c.sharedHits.Load(),
		SharedMisses:          c.sharedMisses.Load(),
		SharedUnreadable:      c.sharedUnreadable.Load(),
		SharedErrors:          c.sharedErrors.Load(),
		SharedSkipped:         c.sharedSkipped.Load(),
		LockWaits:             c.lockWaits.Load(),
		InvalidationsSent:     c.invalidationsSent.Load(),
		InvalidationsReceived: c.invalidationsReceived.Load(),
		SharedFlushes:         c.sharedFlushes.Load(),
	}
	if c.pending != nil {
		st.InvalidationsPending = c.pending.n.Load()
	}
	return st
}

// Close releases the cache's memory and background goroutines. A closed
// Cache still verifies tokens, sharing concurrent calls, but stores nothing.
func (c *Cache) Close() {
	if c.shared != nil {
		// Before taking life: the listener takes it to apply what it hears.
		c.stopListen()
		<-c.listening
		<-c.retrying
	}
	c.life.Lock()
	defer c.life.Unlock()
	if !c.closed {
		c.closed = true
		c.workers.stop()
		c.fills.stop()
		c.store.Close()
	}
}
