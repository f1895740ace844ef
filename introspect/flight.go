package introspect

import (
	"crypto/sha256"
	"sync"
	"time"
)

// flight is one shared upstream call for a token. Its answer is readable
// once done is closed.
type flight struct {
	done chan struct{}
	info *TokenInfo
	err  error
	// stored is the entry the answer was stored as, or nil when it was not
	// stored.
	stored *entry
	// previous is the latest entry stored by the flights this one replaced,
	// which the store may not show yet: a stale answer to fall back on.
	previous *entry
	// landedAt is when the flight landed, on the monotonic clock.
	landedAt time.Time

	// The fields below are guarded by the mutex of the flights holding f.
	//
	// waiters counts the callers waiting for the answer. When the last of
	// them gives up before the upstream call has started, the flight is
	// abandoned: gone closes, and the call is never made, so that a stalled
	// authorization server does not collect calls nobody waits for.
	waiters int
	started bool
	gone    chan struct{}
}

// latest returns the entry the flight stored or, when it stored none, the
// one stored before it; nil when there is none.
func (f *flight) latest() *entry {
	if f.stored != nil {
		return f.stored
	}
	return f.previous
}

// land records the answer and wakes every caller waiting for it.
func (f *flight) land(info *TokenInfo, err error, stored *entry) {
	f.info, f.err, f.stored, f.landedAt = info, err, stored, time.Now()
	close(f.done)
}

// landed reports whether the flight has its answer.
func (f *flight) landed() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// flights are the upstream calls under way, by token hash, and those that
// have landed with an answer the store may not show yet: ristretto applies
// sets asynchronously, within microseconds. A caller that misses the store
// in that window joins the landed flight and gets its answer at once,
// instead of making a second upstream call. Landed flights are swept once
// they are older than landedRetention, long after the store shows their
// answers: a later miss sweeps when landedRetention has passed since the
// last sweep, or sooner when the map has doubled. Waiting for the store
// instead (ristretto's Wait) costs a round of goroutine wake-ups per miss.
//
// This differs from x/sync/singleflight, which forgets a call as soon as it
// returns.
type flights struct {
	mu      sync.Mutex
	m       map[[sha256.Size]byte]*flight
	sweepAt int       // sweep when the map grows to this size
	swept   time.Time // when the last sweep was
}

// landedRetention is how long a landed flight stays joinable at least.
const landedRetention = 100 * time.Millisecond

// join returns the flight for sum, starting one when there is none, or when
// the one there has landed with an answer that was not stored or has
// expired by now; lead reports whether the caller started it, and so must
// run it and land it. A landed flight that is replaced is returned as prev.
func (fs *flights) join(sum [sha256.Size]byte, now int64) (f, prev *flight, lead bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.m[sum]; ok {
		if !f.landed() {
			f.waiters++
			return f, nil, false
		}
		if f.stored != nil && now < f.stored.expires {
			return f, nil, false
		}
		prev = f
	}
	if fs.m == nil {
		fs.m = make(map[[sha256.Size]byte]*flight)
	}
	f = &flight{done: make(chan struct{}), gone: make(chan struct{}), waiters: 1}
	if prev != nil {
		f.previous = prev.latest()
	}
	fs.m[sum] = f
	if now := time.Now(); len(fs.m) >= fs.sweepAt || now.Sub(fs.swept) >= landedRetention {
		fs.sweep(now)
	}
	return f, prev, true
}

// sweep forgets the flights that landed before now - landedRetention. It
// runs at most every landedRetention, or when the map has doubled since the
// last sweep, so its cost stays amortised constant per flight.
func (fs *flights) sweep(now time.Time) {
	cutoff := now.Add(-landedRetention)
	for sum, f := range fs.m {
		if f.landed() && f.landedAt.Before(cutoff) {
			delete(fs.m, sum)
		}
	}
	fs.swept, fs.sweepAt = now, max(2*len(fs.m), 64)
}

// leave records that a caller stopped waiting for f. When it was the last
// and the upstream call has not started, f is abandoned and forgotten, so
// that the next caller for the token starts afresh.
func (fs *flights) leave(sum [sha256.Size]byte, f *flight) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f.waiters--
	if f.waiters > 0 || f.started || f.abandoned() {
		return
	}
	close(f.gone)
	if fs.m[sum] == f {
		delete(fs.m, sum)
	}
}

// start marks f's upstream call as started, unless every caller has already
// given up on it, which start reports by returning false.
func (fs *flights) start(f *flight) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f.abandoned() {
		return false
	}
	f.started = true
	return true
}

// abandoned reports whether every caller gave up on f before its call
// started.
func (f *flight) abandoned() bool {
	select {
	case <-f.gone:
		return true
	default:
		return false
	}
}

// forget removes f, unless another flight has taken its place.
func (fs *flights) forget(sum [sha256.Size]byte, f *flight) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.m[sum] == f {
		delete(fs.m, sum)
	}
}

// drop removes whatever flight there is for sum, so that later callers
// start afresh; callers already waiting still get its answer.
func (fs *flights) drop(sum [sha256.Size]byte) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	delete(fs.m, sum)
}
