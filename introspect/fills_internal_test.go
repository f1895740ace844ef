package introspect

import (
	"context"
	"encoding/binary"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// heldFills returns a Cache whose fills wait for a full batch or an
// explicit flush, in front of a Verifier whose calls it counts.
func heldFills(t *testing.T, cfg CacheConfig) (*Cache, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	c, err := NewCache(VerifierFunc(func(context.Context, string) (*TokenInfo, error) {
		calls.Add(1)
		return &TokenInfo{Active: true}, nil
	}), cfg)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	c.fills.delay = time.Hour
	if cfg.Shared != nil {
		// Listening flushes memory: it must have begun before the test.
		require.Eventually(t, func() bool { return c.Stats().SharedFlushes > 0 }, 10*time.Second, time.Millisecond)
	}
	return c, &calls
}

// inStore reports whether the store shows an entry for token once it has
// applied every set made so far.
func inStore(c *Cache, token string) bool {
	c.store.Wait()
	sum := tokenSum(token)
	e, ok := c.store.Get(binary.LittleEndian.Uint64(sum[:8]))
	return ok && e.sum == sum
}

func queued(c *Cache) int {
	c.fills.mu.Lock()
	defer c.fills.mu.Unlock()
	return len(c.fills.queue)
}

// TestQueuedFillIsServedByItsCall: an answer waiting for its batch is not
// in the store yet, and later callers get it from its finished call.
func TestQueuedFillIsServedByItsCall(t *testing.T) {
	c, calls := heldFills(t, CacheConfig{})
	ctx := context.Background()
	_, err := c.Verify(ctx, "a-token")
	require.NoError(t, err)
	assert.Equal(t, 1, queued(c))
	assert.False(t, inStore(c, "a-token"), "the fill was set at once")

	_, err = c.Verify(ctx, "a-token")
	require.NoError(t, err)
	assert.EqualValues(t, 1, calls.Load(), "a queued answer was asked for again")
	assert.EqualValues(t, 1, c.Stats().Hits)

	c.waitForStore()
	assert.Zero(t, queued(c))
	assert.True(t, inStore(c, "a-token"))
}

// TestFullBatchIsSetAtOnce: the put that fills the batch sets it all,
// without waiting for the timer.
func TestFullBatchIsSetAtOnce(t *testing.T) {
	c, _ := heldFills(t, CacheConfig{})
	ctx := context.Background()
	for i := range fillBatch - 1 {
		_, err := c.Verify(ctx, "token-"+strconv.Itoa(i))
		require.NoError(t, err)
	}
	assert.Equal(t, fillBatch-1, queued(c))
	_, err := c.Verify(ctx, "token-last")
	require.NoError(t, err)
	assert.Zero(t, queued(c))
	for i := range fillBatch - 1 {
		assert.True(t, inStore(c, "token-"+strconv.Itoa(i)), i)
	}
	assert.True(t, inStore(c, "token-last"))
}

// TestFillsAreSetAfterTheDelay: a fill alone reaches the store by the
// timer.
func TestFillsAreSetAfterTheDelay(t *testing.T) {
	c, _ := heldFills(t, CacheConfig{})
	c.fills.delay = time.Millisecond
	_, err := c.Verify(context.Background(), "a-token")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return inStore(c, "a-token") }, 10*time.Second, time.Millisecond)
	assert.Zero(t, queued(c))
}

// TestTimerIsArmedForEveryBatch: a lone fill reaches the store after the
// timer has fired once, and after a full batch stopped it.
func TestTimerIsArmedForEveryBatch(t *testing.T) {
	c, _ := heldFills(t, CacheConfig{})
	c.fills.delay = time.Millisecond
	ctx := context.Background()
	lone := func(token string) {
		t.Helper()
		_, err := c.Verify(ctx, token)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return inStore(c, token) }, 10*time.Second, time.Millisecond, token)
	}
	lone("first")
	lone("second")
	c.fills.delay = time.Hour
	for i := range fillBatch {
		_, err := c.Verify(ctx, "batch-"+strconv.Itoa(i))
		require.NoError(t, err)
	}
	require.Zero(t, queued(c))
	c.fills.delay = time.Millisecond
	lone("after the batch")
}

// TestQueuedFillsAreDropped: an answer still waiting for its batch when
// the token is invalidated, or when the shared tier listens again after a
// gap, never reaches the store, nor stays in the tier's index.
func TestQueuedFillsAreDropped(t *testing.T) {
	for name, drop := range map[string]func(c *Cache){
		"invalidated":  func(c *Cache) { c.Invalidate("a-token") },
		"resubscribed": func(c *Cache) { c.resubscribed() },
	} {
		t.Run(name, func(t *testing.T) {
			c, calls := heldFills(t, CacheConfig{Shared: &countingTier{}, SharedNamespace: "ns"})
			ctx := context.Background()
			_, err := c.Verify(ctx, "a-token")
			require.NoError(t, err)
			_, id := c.sealer.key("a-token")
			require.NotNil(t, c.index.get(id))
			require.Equal(t, 1, queued(c))

			drop(c)
			assert.Zero(t, queued(c))
			assert.Nil(t, c.index.get(id), "the dropped entry stays in the index")
			c.waitForStore()
			assert.False(t, inStore(c, "a-token"), "the dropped answer reached the store")
			_, err = c.Verify(ctx, "a-token")
			require.NoError(t, err)
			assert.EqualValues(t, 2, calls.Load(), "the dropped answer served")
		})
	}
}

// TestFillReplacesAnEarlierFillOfTheKey: a key is queued once, with its
// latest entry.
func TestFillReplacesAnEarlierFillOfTheKey(t *testing.T) {
	f := &fills{flush: func() {}, delay: time.Hour}
	t.Cleanup(f.stop)
	first, second := &entry{}, &entry{}
	assert.Nil(t, f.add(1, first))
	assert.Nil(t, f.add(2, &entry{}))
	assert.Nil(t, f.add(1, second))
	q := f.take()
	require.Len(t, q, 2)
	assert.Same(t, second, q[0].e)
	assert.Nil(t, f.drop(1), "take left the key queued")
}

// TestCloseStopsTheFills: a closed Cache sets nothing, and its timer is
// stopped.
func TestCloseStopsTheFills(t *testing.T) {
	c, _ := heldFills(t, CacheConfig{})
	_, err := c.Verify(context.Background(), "a-token")
	require.NoError(t, err)
	c.Close()
	assert.Zero(t, queued(c))
	assert.False(t, c.fills.timer.Stop(), "the timer still runs")
	c.flushFills() // a late timer sets nothing
}
