package introspect

import (
	"sync/atomic"
	"time"
)

// breakerThreshold is how many shared calls in a row must fail to open the
// breaker, and breakerCooldown how long it then stays open before one call
// may try again.
const (
	breakerThreshold = 3
	breakerCooldown  = time.Second
)

// breaker stops calls to the shared tier while it keeps failing, so that
// not every request pays the tier's timeout during an outage. Closed, it
// lets every call through; after breakerThreshold failures in a row it
// opens for breakerCooldown; then it lets one call through, a probe, whose
// success closes it and whose failure opens it again. It reads the
// monotonic clock: its timing is not about tokens' expiry, and a test's
// fake clock must not hold it open.
type breaker struct {
	failures  atomic.Int32
	openUntil atomic.Int64 // nanoseconds since epoch; 0 when closed
	probing   atomic.Bool
	epoch     time.Time
}

func newBreaker() *breaker { return &breaker{epoch: time.Now()} }

func (b *breaker) now() int64 { return int64(time.Since(b.epoch)) }

// allow reports whether a call may go to the tier now.
func (b *breaker) allow() bool {
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	if b.now() < until {
		return false
	}
	// Cooled down: one probe at a time.
	return b.probing.CompareAndSwap(false, true)
}

// success records a call that worked, closing the breaker.
func (b *breaker) success() {
	b.failures.Store(0)
	if b.openUntil.Load() != 0 {
		b.openUntil.Store(0)
	}
	b.probing.Store(false)
}

// failure records a call that failed, opening the breaker when it was the
// probe or the last of breakerThreshold in a row.
func (b *breaker) failure() {
	if b.probing.Load() || b.failures.Add(1) >= breakerThreshold {
		b.openUntil.Store(b.now() + int64(breakerCooldown))
		b.failures.Store(0)
		b.probing.Store(false)
	}
}

// open reports whether the breaker is stopping calls.
func (b *breaker) open() bool { return b.openUntil.Load() != 0 }
