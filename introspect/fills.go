package introspect

import (
	"cmp"
	"sync"
	"time"
)

// fills are new entries on their way into the store. Ristretto applies a
// set on a goroutine of its own, which the set of a new key wakes when it
// sleeps: where the answer took tens of microseconds (a shared-tier hit, a
// JWT check), that wake was a fifth of the caller's time. Queued here and
// set in batches, by the put that fills the queue or fillDelay after the
// first, one wake serves many. Until its batch is set, an answer is served
// by its finished call (see calls), which stays shared for keepFinished,
// far longer than fillDelay.
//
// The Cache queues, sets and drops its fills under its invalidation and
// life locks, read or write, so that an invalidation or a flush of the
// memory tier never races a set of an answer it removed; Close stops them
// under the life lock alone. The put that fills a batch sets it on its
// caller's goroutine: one caller in fillBatch pays for the batch.
type fills struct {
	mu    sync.Mutex
	queue []fill
	flush func()        // sets what is queued, from timer
	delay time.Duration // fillDelay when zero; tests hold fills longer
	timer *time.Timer
}

type fill struct {
	key uint64
	e   *entry
}

const (
	// fillBatch is how many fills a put queues before it sets them all.
	fillBatch = 64
	// fillDelay is how long a fill waits at most for others to join it.
	fillDelay = 5 * time.Millisecond
)

// add queues e under key, replacing an earlier fill of the key, and returns
// the queue, for the caller to set, when it holds fillBatch fills.
func (f *fills) add(key uint64, e *entry) (full []fill) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.queue {
		if f.queue[i].key == key {
			f.queue[i].e = e
			return nil
		}
	}
	if len(f.queue) == 0 {
		delay := cmp.Or(f.delay, fillDelay)
		if f.timer == nil {
			f.timer = time.AfterFunc(delay, f.flush)
		} else {
			f.timer.Reset(delay)
		}
	}
	f.queue = append(f.queue, fill{key, e})
	if len(f.queue) < fillBatch {
		return nil
	}
	return f.takeLocked()
}

// take empties the queue and returns what it held.
func (f *fills) take() []fill {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.takeLocked()
}

func (f *fills) takeLocked() []fill {
	if len(f.queue) == 0 {
		return nil
	}
	if f.timer != nil {
		f.timer.Stop()
	}
	q := f.queue
	f.queue = make([]fill, 0, fillBatch)
	return q
}

// drop removes the fill of key, if one is queued, and returns its entry.
func (f *fills) drop(key uint64) *entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, q := range f.queue {
		if q.key == key {
			f.queue = append(f.queue[:i], f.queue[i+1:]...)
			return q.e
		}
	}
	return nil
}

// stop stops the timer: nothing more is set.
func (f *fills) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timer != nil {
		f.timer.Stop()
	}
	f.queue = nil
}
