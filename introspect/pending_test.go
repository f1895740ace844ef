package introspect_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
)

// downTier is a shared tier in memory whose Invalidate fails while down
// is set, and which counts its Gets.
type downTier struct {
	down   atomic.Bool
	gets   atomic.Int64
	mu     sync.Mutex
	values map[string][]byte
	sent   []string
}

func (d *downTier) Get(_ context.Context, key string) ([]byte, bool, error) {
	d.gets.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.values[key], false, nil
}

func (d *downTier) Set(_ context.Context, key string, value []byte, _ time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.values[key] = value
	return nil
}

func (d *downTier) Claim(context.Context, string, time.Duration) (string, error) { return "mine", nil }
func (d *downTier) Release(context.Context, string, string) error                { return nil }

func (d *downTier) Invalidate(_ context.Context, key string) error {
	if d.down.Load() {
		return errors.New("tier down")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.values, key)
	d.sent = append(d.sent, key)
	return nil
}

func (d *downTier) Listen(ctx context.Context, _ func(string), subscribed func()) {
	subscribed()
	<-ctx.Done()
}

func (d *downTier) ContextBounded() bool { return true }

// TestPendingInvalidationKeepsTheTierOut: after an invalidation the tier
// did not take, the Cache does not read the token's entry from the tier,
// which still holds the answer it forgot, but asks the authorization
// server; once the tier is back, the invalidation is sent again and the
// tier is read again.
func TestPendingInvalidationKeepsTheTierOut(t *testing.T) {
	tier := &downTier{values: map[string][]byte{}}
	var calls atomic.Int64
	v := introspect.VerifierFunc(func(context.Context, string) (*introspect.TokenInfo, error) {
		calls.Add(1)
		return &introspect.TokenInfo{Active: true, ClientID: "38890", ExpiresAt: time.Now().Add(time.Hour)}, nil
	})
	c, err := introspect.NewCache(v, introspect.CacheConfig{Shared: tier, SharedNamespace: "ns"})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	testutil.WaitFor(t, "the Cache listening", func() bool { return c.Stats().SharedFlushes == 1 })
	ctx := context.Background()
	const token = "a-token"
	_, err = c.Verify(ctx, token)
	require.NoError(t, err)
	testutil.WaitFor(t, "the answer in the tier", func() bool {
		tier.mu.Lock()
		defer tier.mu.Unlock()
		return len(tier.values) == 1
	})

	tier.down.Store(true)
	c.Invalidate(token)
	assert.EqualValues(t, 1, c.Stats().InvalidationsPending)
	gets := tier.gets.Load()
	_, err = c.Verify(ctx, token)
	require.NoError(t, err)
	assert.Equal(t, gets, tier.gets.Load(), "the tier was read for a token whose invalidation it has not taken")
	assert.EqualValues(t, 2, calls.Load(), "the answer did not come from the authorization server")

	tier.down.Store(false)
	testutil.WaitFor(t, "the invalidation sent again", func() bool { return c.Stats().InvalidationsPending == 0 })
	tier.mu.Lock()
	assert.Len(t, tier.sent, 1)
	tier.mu.Unlock()
	c.Invalidate(token) // taken at once
	assert.EqualValues(t, 2, c.Stats().InvalidationsSent)
	_, err = c.Verify(ctx, token)
	require.NoError(t, err)
	assert.Greater(t, tier.gets.Load(), gets, "the tier is not read again")
}
