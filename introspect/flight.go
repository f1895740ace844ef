package introspect

import (
	"crypto/sha256"
	"sync"
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
	f.info, f.err, f.stored = info, err, stored
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
// have just landed but whose answer the store may not show yet. A caller
// that misses the store in that window joins the landed flight and gets its
// answer at once, instead of making a second upstream call; the flight is
// forgotten once the store shows the answer.
//
// This differs from x/sync/singleflight, which forgets a call as soon as it
// returns: waiting there for the store to apply the answer would keep every
// waiter waiting too.
type flights struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]*flight
}

// join returns the flight for sum, starting one when there is none, or when
// the one there has landed with an answer that was not stored or has
// expired by now; lead reports whether the caller started it, and so must
// run it and land it. A landed flight that is replaced is returned as prev.
func (fs *flights) join(sum [sha256.Size]byte, now int64) (f, prev *flight, lead bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.m[sum]; ok {
		if !f.landed() || (f.stored != nil && now < f.stored.expires) {
			return f, nil, false
		}
		prev = f
	}
	if fs.m == nil {
		fs.m = make(map[[sha256.Size]byte]*flight)
	}
	f = &flight{done: make(chan struct{})}
	if prev != nil {
		f.previous = prev.latest()
	}
	fs.m[sum] = f
	return f, prev, true
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
