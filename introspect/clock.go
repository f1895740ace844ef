package introspect

import "time"

// instant is a reading of a [clock] in nanoseconds, comparable with other
// readings of the same clock only.
type instant int64

// clock tells the time for expiry decisions: the injected CacheConfig.Now,
// or the wall clock. With the wall clock an instant is read off the
// monotonic clock, as the time since epoch: half the cost of time.Now,
// which is a tenth of a hit. Ristretto's own TTL is not used, as its Get
// would read the wall clock again.
type clock struct {
	now   func() time.Time // nil: the wall clock
	epoch time.Time
}

// Now returns the current time.
func (c clock) Now() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// instant returns the current instant.
func (c clock) instant() instant {
	if c.now != nil {
		return instant(c.now().UnixNano())
	}
	return instant(time.Since(c.epoch))
}

// at returns the instant of t, a time read from c.Now or derived from one.
func (c clock) at(t time.Time) instant {
	if c.now != nil {
		return instant(t.UnixNano())
	}
	return instant(t.Sub(c.epoch))
}
