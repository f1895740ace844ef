package introspect

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPendingInvalidations: a key stays pending until a send takes it,
// one added again during a send stays, and past maxPending the tier is
// kept out for every key, for good.
func TestPendingInvalidations(t *testing.T) {
	p := newPendingInvalidations()
	assert.False(t, p.has("a"))
	p.add("a")
	p.add("b")
	assert.True(t, p.has("a"))
	assert.False(t, p.has("c"))

	assert.Equal(t, 2, p.retry(func(string) bool { return false }))
	left := p.retry(func(key string) bool {
		if key == "b" {
			p.add("b") // a second logout while the first is sent
		}
		return true
	})
	assert.Equal(t, 1, left)
	assert.False(t, p.has("a"))
	assert.True(t, p.has("b"))
	assert.Zero(t, p.retry(func(string) bool { return true }))
	assert.False(t, p.has("b"))
	assert.Zero(t, p.n.Load())

	for i := range maxPending + 1 {
		p.add(strconv.Itoa(i))
	}
	assert.EqualValues(t, maxPending, p.n.Load())
	assert.Zero(t, p.retry(func(string) bool { return true }))
	assert.True(t, p.has("never added"), "an invalidation that could not be kept was undone")
}

// countingTier is a shared tier that holds nothing and counts the
// invalidations it takes.
type countingTier struct{ invalidations atomic.Int64 }

func (t *countingTier) Get(context.Context, string) ([]byte, bool, error) { return nil, false, nil }
func (t *countingTier) Set(context.Context, string, []byte, time.Duration) error {
	return nil
}
func (t *countingTier) Claim(context.Context, string, time.Duration) (string, error) { return "", nil }
func (t *countingTier) Release(context.Context, string, string) error                { return nil }
func (t *countingTier) Invalidate(context.Context, string) error {
	t.invalidations.Add(1)
	return nil
}
func (t *countingTier) Listen(ctx context.Context, _ func(string), subscribed func()) {
	subscribed()
	<-ctx.Done()
}

// TestInvalidateIgnoresAnOpenBreaker: with the breaker held open, other
// operations are skipped, a caller's invalidation goes through, and a
// background retry waits for the breaker.
func TestInvalidateIgnoresAnOpenBreaker(t *testing.T) {
	tier := &countingTier{}
	c, err := NewCache(VerifierFunc(func(context.Context, string) (*TokenInfo, error) {
		return &TokenInfo{Active: true}, nil
	}), CacheConfig{Shared: tier, SharedNamespace: "ns"})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	c.breaker.openUntil.Store(c.breaker.now() + int64(time.Hour))

	_, err = c.Verify(context.Background(), "a-token")
	require.NoError(t, err)
	assert.NotZero(t, c.Stats().SharedSkipped, "the breaker is not open")
	c.Invalidate("a-token")
	assert.EqualValues(t, 1, tier.invalidations.Load(), "the invalidation was skipped")
	assert.EqualValues(t, 1, c.Stats().InvalidationsSent)

	c.breaker.openUntil.Store(c.breaker.now() + int64(time.Hour))
	c.pending.add("a-key")
	assert.Equal(t, 1, c.pending.retry(func(key string) bool { return c.resend(context.Background(), key) }))
	assert.EqualValues(t, 1, tier.invalidations.Load(), "a retry went past the open breaker")
}
