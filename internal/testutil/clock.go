package testutil

import (
	"sync"
	"testing"
	"time"
)

// Clock is a clock that stands still until moved, for the Now of a
// configuration under test. It starts at 2026-11-22 10:00 UTC. It is safe
// for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at 2026-11-22 10:00 UTC.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d, which may be negative.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// WaitFor polls cond until it holds, failing the test after a generous
// deadline. It orders events between goroutines; it asserts nothing about
// time.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}
