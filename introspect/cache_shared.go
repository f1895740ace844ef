package introspect

import (
	"cmp"
	"context"
	"encoding/binary"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// What the Cache does with a shared tier. On a memory miss, the first
// caller for the token reads the tier on its own goroutine (sharedNow): a
// value there fills memory with the time it has left, and answers every
// caller waiting. Finding none, it hands what it found to a worker, which
// claims the key, asks the authorization server, and stores the answer in
// memory and in the tier before releasing the claim; a worker that finds
// the key claimed by another replica polls for that replica's answer while
// the claim stands, for at most the Cache's Timeout, and then asks the
// authorization server itself. Every call to the tier goes through
// sharedCall: bounded by SharedTimeout, skipped while the breaker is open,
// and a failure is a miss.
//
// Invalidations arrive by shared key. The index maps each memory entry's
// sharedID back to the entry, so that the memory tier can forget it; when
// the tier (re)starts listening, every indexed entry is forgotten, as some
// invalidations may have been missed.

// sharedFill is what fetch knows about the token in the shared tier.
type sharedFill struct {
	key   string
	id    uint64
	claim string // the claim this replica holds, or ""
}

// Polling for another replica's answer starts at pollFirst and doubles up
// to pollMax between reads.
const (
	pollFirst = time.Millisecond
	pollMax   = 16 * time.Millisecond
)

func (c *Cache) startShared(cfg CacheConfig) {
	c.shared = cfg.Shared
	c.sealer = newSealer(cfg.SharedNamespace, sharingScope(c.next), cfg.SharedPepper)
	c.sharedTimeout = cmp.Or(cfg.SharedTimeout, DefaultSharedTimeout)
	c.breaker = newBreaker()
	if b, ok := cfg.Shared.(ContextBounded); ok {
		c.sharedBounded = b.ContextBounded()
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopListen = cancel
	c.listening, c.retrying = make(chan struct{}), make(chan struct{})
	c.pending = newPendingInvalidations()
	go func() {
		defer close(c.listening)
		c.shared.Listen(ctx, c.invalidated, c.resubscribed)
	}()
	go c.retryInvalidations(ctx)
}

// sharedRead is what the first read of a token's entry in the shared tier
// found, when it found no answer.
type sharedRead struct {
	fill sharedFill
	// gen is the invalidation generation the read began at: the worker
	// that goes on from it stores its answer only if it is unchanged.
	gen uint64
	// found tells what to do next: ask the authorization server at once
	// (sharedNothing), claim the key first (sharedUnclaimed), or wait
	// for the replica that claimed it (sharedClaimed).
	found sharedFound
}

type sharedFound int

const (
	// sharedNothing: the read failed, or found a value that did not
	// serve (unreadable or out of time), which no claim can be had
	// against and which this replica's answer will replace.
	sharedNothing sharedFound = iota
	sharedUnclaimed
	sharedClaimed
)

// sharedNow reads the token's entry in the shared tier on the caller's
// goroutine, when the Cache has a tier and cl is a new call, and reports
// whether it did. A value there answers cl at once, before MaxWaiting is
// looked at: only a call that goes on to the authorization server waits
// in line. Otherwise cl goes to a worker with what the read found. The
// read is bounded by SharedTimeout and detached from the caller's ctx, as
// it may answer others: a caller whose ctx ends meanwhile waits that long
// at most.
//
// A call whose replaced call stored an answer lets the store settle first
// (see start): its read is made on the worker.
func (c *Cache) sharedNow(callerCtx context.Context, l lookup, cl, replaced *call) bool {
	if c.shared == nil || mustSettle(replaced) {
		return false
	}
	settled := false
	defer func() {
		if p := recover(); p != nil {
			// A hook or the tier panicked: the callers for the token
			// must not wait for a call nobody makes, once the panic goes
			// on up the caller's stack.
			if !settled {
				c.finish(l, cl, nil, nil, &UnavailableError{Reason: "shared tier read panicked"})
			}
			panic(p)
		}
	}()
	read := &sharedRead{gen: c.generation()}
	info, stored, err, done := c.readShared(callerCtx, l, read.gen, read)
	settled = true
	if done {
		cl.from = CacheSharedHit
		c.finish(l, cl, info, stored, err)
		return true
	}
	c.start(callerCtx, l, cl, replaced, read)
	return true
}

// readShared reads the token's entry in the shared tier. done reports
// that it found the answer, and stored it in memory at generation gen;
// when it did not, read says what it found.
func (c *Cache) readShared(ctx context.Context, l lookup, gen uint64, read *sharedRead) (info *TokenInfo, stored *entry, err error, done bool) {
	sf := &read.fill
	sf.key, sf.id = c.sealer.key(l.token)
	if c.pending.has(sf.key) {
		// This replica forgot the token, but the tier has not yet taken
		// the invalidation: what it holds must not come back.
		read.found = sharedNothing
		return nil, nil, nil, false
	}
	got, gotErr := c.sharedGet(ctx, sf.key)
	switch {
	case gotErr != nil:
		c.sharedMiss(ctx)
		read.found = sharedNothing
	case got.value != nil:
		if info, stored, err, ok := c.openShared(ctx, l, sf, got.value, gen); ok {
			return info, stored, err, true
		}
		c.sharedMiss(ctx)
		read.found = sharedNothing
	case got.claimed:
		read.found = sharedClaimed
	default:
		read.found = sharedUnclaimed
	}
	return nil, nil, nil, false
}

// fromShared goes on from what the first read of the token's shared entry
// found: it claims the key when nobody has, and waits for another
// replica's answer when one is asking the authorization server. done
// reports that it has the answer (or that every caller gave up); when it
// has not, read.fill holds the claim when this replica got it.
func (c *Cache) fromShared(ctx context.Context, l lookup, cl *call, gen uint64, read *sharedRead) (info *TokenInfo, stored *entry, err error, done bool) {
	sf := &read.fill
	switch read.found {
	case sharedNothing:
		return nil, nil, nil, false
	case sharedUnclaimed:
		claim, err := sharedCall(c, ctx, SharedClaim, c.sharedTimeout, func(ctx context.Context) (string, error) {
			return c.shared.Claim(ctx, sf.key, c.timeout)
		})
		if err != nil || claim != "" {
			sf.claim = claim
			c.sharedMiss(ctx)
			return nil, nil, nil, false
		}
	}

	// Another replica is asking: wait for its answer while its claim
	// stands, within Timeout.
	c.lockWaits.Add(1)
	deadline := time.Now().Add(c.timeout)
	delay := pollFirst
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-cl.abandon:
			c.abandoned.Add(1)
			return nil, nil, errAbandoned(), true
		}
		got, gotErr := c.sharedGet(ctx, sf.key)
		if gotErr != nil {
			break
		}
		if got.value != nil {
			if info, stored, err, ok := c.openShared(ctx, l, sf, got.value, gen); ok {
				return info, stored, err, true
			}
			break
		}
		if !got.claimed || time.Now().After(deadline) {
			break
		}
		delay = min(2*delay, pollMax)
		timer.Reset(delay)
	}
	c.sharedMiss(ctx)
	return nil, nil, nil, false
}

// sharedMiss counts a lookup the shared tier could not answer.
func (c *Cache) sharedMiss(ctx context.Context) {
	c.sharedMisses.Add(1)
	c.lookedUp(ctx, TierShared, LookupMiss)
}

// sharedValue is what Get found.
type sharedValue struct {
	value   []byte
	claimed bool
}

func (c *Cache) sharedGet(ctx context.Context, key string) (sharedValue, error) {
	return sharedCall(c, ctx, SharedGet, c.sharedTimeout, func(ctx context.Context) (sharedValue, error) {
		v, claimed, err := c.shared.Get(ctx, key)
		return sharedValue{v, claimed}, err
	})
}

// openShared opens a value read from the shared tier and stores its answer
// in memory for the time it has left, reporting false when it does not
// open or has no time left.
func (c *Cache) openShared(ctx context.Context, l lookup, sf *sharedFill, value []byte, gen uint64) (info *TokenInfo, stored *entry, err error, ok bool) {
	a, openErr := c.sealer.open(l.token, sf.key, value)
	if openErr != nil {
		c.sharedUnreadable.Add(1)
		return nil, nil, nil, false
	}
	now := c.clock.Now()
	left := a.until().Sub(now)
	if left <= 0 {
		return nil, nil, nil, false
	}
	info, err = a.answer()
	e := &entry{info: info, err: err, sharedID: sf.id, indexed: true}
	var ttl, staleTTL time.Duration
	if err == nil {
		staleTTL = c.maxTTL + c.stale
		if !info.ExpiresAt.IsZero() {
			exp := info.ExpiresAt.Add(c.leeway).Sub(now)
			if exp <= 0 {
				return nil, nil, nil, false
			}
			left, staleTTL = min(left, exp), min(staleTTL, exp)
		}
		ttl = min(c.maxTTL, left)
	} else {
		ttl = min(c.invalidTTL, left)
		staleTTL = ttl
	}
	c.sharedHits.Add(1)
	c.lookedUp(ctx, TierShared, LookupHit)
	return info, c.put(l, gen, e, ttl, staleTTL, now), err, true
}

// toShared stores e, an answer the authorization server just gave, in the
// shared tier for ttl, unless the token was invalidated since the fetch
// began at generation gen.
func (c *Cache) toShared(ctx context.Context, l lookup, sf *sharedFill, gen uint64, e *entry, ttl time.Duration, now time.Time) {
	ttl = ttl.Truncate(time.Millisecond)
	if ttl <= 0 {
		return
	}
	c.invalidation.RLock()
	current := c.gen == gen
	c.invalidation.RUnlock()
	if !current {
		return
	}
	a := sharedAnswer{Until: now.Add(ttl).UnixMilli(), Info: e.info}
	if e.err != nil {
		a.Invalid = e.err.Error()
	}
	value, err := c.sealer.seal(l.token, sf.key, a)
	if err != nil {
		return
	}
	_, _ = sharedCall(c, ctx, SharedSet, c.sharedTimeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, c.shared.Set(ctx, sf.key, value, ttl)
	})
}

// releaseClaim gives up the claim sf holds, if any.
func (c *Cache) releaseClaim(ctx context.Context, sf *sharedFill) {
	if sf.claim == "" {
		return
	}
	_, _ = sharedCall(c, ctx, SharedRelease, c.sharedTimeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, c.shared.Release(ctx, sf.key, sf.claim)
	})
}

// invalidateShared deletes token's entry from the shared tier and announces
// it to every replica.
func (c *Cache) invalidateShared(token string) {
	key, _ := c.sealer.key(token)
	if c.sendInvalidation(key) == nil {
		return
	}
	c.life.RLock()
	defer c.life.RUnlock()
	if !c.closed { // a closed Cache retries nothing
		c.pending.add(key)
	}
}

// sendInvalidation deletes key's entry from the shared tier and announces
// it. Unlike every other operation, it is tried even while the breaker is
// open: a logout must not be lost because the tier was slow a moment ago.
func (c *Cache) sendInvalidation(key string) error {
	_, err := sharedCall(c, context.Background(), SharedInvalidate, c.sharedTimeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, c.shared.Invalidate(ctx, key)
	})
	if err == nil {
		c.invalidationsSent.Add(1)
		if c.hooks.Invalidation != nil {
			c.hooks.Invalidation(DirectionSent)
		}
	}
	return err
}

// Invalidations the shared tier did not take are tried again after
// retryFirst, and then at intervals doubling up to retryMax.
const (
	retryFirst = 50 * time.Millisecond
	retryMax   = time.Second
)

// retryInvalidations sends the pending invalidations again, as the breaker
// allows, until the tier takes each or ctx ends.
func (c *Cache) retryInvalidations(ctx context.Context) {
	defer close(c.retrying)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.pending.wake:
		}
		for delay := retryFirst; ; delay = min(2*delay, retryMax) {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if c.pending.retry(func(key string) bool { return c.resend(ctx, key) }) == 0 {
				break
			}
		}
	}
}

// resend sends a pending invalidation of key again, unless ctx has ended
// or the breaker is open: only the caller's own attempt goes past an open
// breaker, retries wait for it like any operation. It reports whether the
// tier took it.
func (c *Cache) resend(ctx context.Context, key string) bool {
	return ctx.Err() == nil && c.breaker.allow() && c.sendInvalidation(key) == nil
}

// maxPending is how many invalidations the shared tier has not taken that
// a Cache keeps to send again.
const maxPending = 100_000

// pendingInvalidations are the invalidations the shared tier did not take,
// by key. While one is pending, its replica reads nothing from the tier
// for the key: the entry there may be the very answer it forgot, or one
// another replica stored, whose MaxTTL this one does not know. It is sent
// again until the tier takes it, however long that is. Past maxPending,
// the replica stops reading the tier for every token, until it is closed:
// an invalidation it could not keep must not be undone.
type pendingInvalidations struct {
	n        atomic.Int64 // len(m), read without the lock on every shared read
	overflow atomic.Bool
	wake     chan struct{}
	mu       sync.Mutex
	m        map[string]uint64 // key → how many times it was added
}

func newPendingInvalidations() *pendingInvalidations {
	return &pendingInvalidations{wake: make(chan struct{}, 1), m: make(map[string]uint64)}
}

func (p *pendingInvalidations) add(key string) {
	p.mu.Lock()
	if _, ok := p.m[key]; ok || len(p.m) < maxPending {
		p.m[key]++
	} else {
		p.overflow.Store(true)
	}
	p.n.Store(int64(len(p.m)))
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// has reports whether the tier must not be read for key.
func (p *pendingInvalidations) has(key string) bool {
	if p.overflow.Load() {
		return true
	}
	if p.n.Load() == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.m[key]
	return ok
}

// retry calls send for each pending key, forgetting those it took unless
// they were added again meanwhile, and returns how many are left.
func (p *pendingInvalidations) retry(send func(key string) bool) int {
	p.mu.Lock()
	keys := maps.Clone(p.m)
	p.mu.Unlock()
	for key, added := range keys {
		if !send(key) {
			continue
		}
		p.mu.Lock()
		if p.m[key] == added {
			delete(p.m, key)
			p.n.Store(int64(len(p.m)))
		}
		p.mu.Unlock()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// invalidated applies an invalidation another replica (or this one)
// announced: the memory tier forgets the key's entry.
func (c *Cache) invalidated(key string) {
	// Counted once applied, so that a replica that has heard an
	// invalidation has forgotten the token.
	defer func() {
		c.invalidationsReceived.Add(1)
		if c.hooks.Invalidation != nil {
			c.hooks.Invalidation(DirectionReceived)
		}
	}()
	id, ok := c.sealer.idOf(key)
	if !ok {
		return
	}
	// Under the lock, so that no answer is stored between the look in
	// the index and the forgetting.
	c.invalidation.Lock()
	defer c.invalidation.Unlock()
	if e := c.index.get(id); e != nil {
		c.forgetLocked(e.sum)
		return
	}
	// Nothing in memory, but a call under way must not store what it
	// fetched before the invalidation.
	c.gen++
}

// resubscribed empties the memory tier when the shared tier starts
// listening again, as invalidations sent while it did not may have been
// missed: what memory holds from before is asked for again.
func (c *Cache) resubscribed() {
	c.sharedFlushes.Add(1)
	c.invalidation.Lock()
	defer c.invalidation.Unlock()
	c.gen++
	c.calls.clear()
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return
	}
	for _, f := range c.fills.take() {
		c.unqueued(f.e)
	}
	for _, e := range c.index.all() {
		c.store.Del(binary.LittleEndian.Uint64(e.sum[:8]))
	}
	c.store.Wait()
}

// sharedIndex maps a shared key's id to the memory entry stored for it.
// The zero value is an empty index.
type sharedIndex struct {
	mu sync.Mutex
	m  map[uint64]*entry
}

func (x *sharedIndex) add(e *entry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m == nil {
		x.m = make(map[uint64]*entry)
	}
	x.m[e.sharedID] = e
}

// remove removes e, unless a newer entry has taken its place.
func (x *sharedIndex) remove(e *entry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m[e.sharedID] == e {
		delete(x.m, e.sharedID)
	}
}

func (x *sharedIndex) get(id uint64) *entry {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.m[id]
}

func (x *sharedIndex) all() []*entry {
	x.mu.Lock()
	defer x.mu.Unlock()
	all := make([]*entry, 0, len(x.m))
	for _, e := range x.m {
		all = append(all, e)
	}
	return all
}
