package introspect

import (
	"crypto/sha256"
	"sync"
	"time"
)

// call is one shared upstream call for a token. Its answer is readable once
// done is closed.
type call struct {
	done chan struct{}
	info *TokenInfo
	err  error
	// stored is the entry the answer was stored as, or nil when it was not
	// stored.
	stored *entry
	// storedBefore is the latest entry stored by the calls this one
	// replaced, which the store may not show yet: a stale answer to fall
	// back on.
	storedBefore *entry
	// finishedAt is when the answer arrived, on the monotonic clock.
	finishedAt time.Time
	// from is where the answer came from, for the Hooks: the authorization
	// server unless the worker set it otherwise before finishing.
	from CacheResult

	// The fields below are guarded by the mutex of the calls holding the
	// call.
	//
	// waiters counts the callers waiting for the answer. When the last of
	// them gives up before the upstream call has started, the call is
	// abandoned: abandon closes, and the call is never made, so that a
	// stalled authorization server does not collect calls nobody waits
	// for.
	waiters int
	started bool
	abandon chan struct{}
}

// lastStored returns the entry the call stored or, when it stored none, the
// one stored before it; nil when there is none.
func (cl *call) lastStored() *entry {
	if cl.stored != nil {
		return cl.stored
	}
	return cl.storedBefore
}

// finish records the answer and wakes every caller waiting for it.
func (cl *call) finish(info *TokenInfo, err error, stored *entry) {
	cl.info, cl.err, cl.stored, cl.finishedAt = info, err, stored, time.Now()
	close(cl.done)
}

// finished reports whether the call has its answer.
func (cl *call) finished() bool { return isClosed(cl.done) }

// abandoned reports whether every caller gave up on the call before it
// started.
func (cl *call) abandoned() bool { return isClosed(cl.abandon) }

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// calls are the upstream calls under way, by token hash, and those that
// have finished with an answer the store may not show yet: the Cache sets
// new entries in batches, within fillDelay (see fills), and ristretto
// applies sets asynchronously, within microseconds. A caller that misses
// the store in that window takes the finished call's answer at once,
// instead of making a second upstream call. Finished calls are removed once
// they are older than keepFinished, long after the store shows their
// answers: a later new call sweeps them when keepFinished has passed since
// the last sweep, or sooner when the map has doubled. Waiting for the store
// instead (ristretto's Wait) costs a round of goroutine wake-ups per miss.
//
// This differs from x/sync/singleflight, which forgets a call as soon as it
// returns, and cannot give up a call whose callers have all gone.
type calls struct {
	mu      sync.Mutex
	m       map[[sha256.Size]byte]*call
	sweepAt int       // sweep when the map grows to this size
	swept   time.Time // when the last sweep was
}

// keepFinished is how long a finished call's answer stays shared at least.
const keepFinished = 100 * time.Millisecond

// enter returns the call for sum, starting one when there is none, or when
// the one there has finished with an answer that was not stored or has
// expired at now; isNew reports whether the caller started it, and so must
// run it. A finished call that is replaced is returned as replaced.
func (cs *calls) enter(sum [sha256.Size]byte, now instant) (cl, replaced *call, isNew bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cl, ok := cs.m[sum]; ok {
		if !cl.finished() {
			cl.waiters++
			return cl, nil, false
		}
		if cl.stored != nil && now < cl.stored.expires {
			return cl, nil, false
		}
		replaced = cl
	}
	if cs.m == nil {
		cs.m = make(map[[sha256.Size]byte]*call)
	}
	cl = &call{done: make(chan struct{}), abandon: make(chan struct{}), waiters: 1, from: CacheMiss}
	if replaced != nil {
		cl.storedBefore = replaced.lastStored()
	}
	cs.m[sum] = cl
	if t := time.Now(); len(cs.m) >= cs.sweepAt || t.Sub(cs.swept) >= keepFinished {
		cs.sweep(t)
	}
	return cl, replaced, true
}

// sweep removes the calls that finished before t - keepFinished. It runs at
// most every keepFinished, or when the map has doubled since the last
// sweep, so its cost stays amortised constant per call.
func (cs *calls) sweep(t time.Time) {
	cutoff := t.Add(-keepFinished)
	for sum, cl := range cs.m {
		if cl.finished() && cl.finishedAt.Before(cutoff) {
			delete(cs.m, sum)
		}
	}
	cs.swept, cs.sweepAt = t, max(2*len(cs.m), 64)
}

// leave records that a caller stopped waiting for cl. When it was the last
// and the upstream call has not started, cl is abandoned and removed, so
// that the next caller for the token starts afresh.
func (cs *calls) leave(sum [sha256.Size]byte, cl *call) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cl.waiters--
	if cl.waiters > 0 || cl.started || cl.abandoned() {
		return
	}
	close(cl.abandon)
	if cs.m[sum] == cl {
		delete(cs.m, sum)
	}
}

// start marks cl's upstream call as started, unless every caller has
// already given up on it, which start reports by returning false.
func (cs *calls) start(cl *call) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cl.abandoned() {
		return false
	}
	cl.started = true
	return true
}

// remove removes cl, unless another call has taken its place.
func (cs *calls) remove(sum [sha256.Size]byte, cl *call) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.m[sum] == cl {
		delete(cs.m, sum)
	}
}

// removeStored removes the finished call for sum whose stored answer is
// e, if it is still there.
func (cs *calls) removeStored(sum [sha256.Size]byte, e *entry) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cl, ok := cs.m[sum]; ok && cl.finished() && cl.stored == e {
		delete(cs.m, sum)
	}
}

// discard removes whatever call there is for sum, so that later callers
// start afresh; callers already waiting still get its answer.
func (cs *calls) discard(sum [sha256.Size]byte) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.m, sum)
}

// clear removes every call, as discard does for one.
func (cs *calls) clear() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	clear(cs.m)
}
