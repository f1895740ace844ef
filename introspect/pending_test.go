package introspect_test

import (
	"context"
	"errors"
	"fmt"
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

// scoped is a Verifier with an AnswerScope; picky embeds it and refuses
// what it accepts without the scope "admin", as a user's type might.
type scoped struct{ scope string }

func (s scoped) Verify(context.Context, string) (*introspect.TokenInfo, error) {
	return &introspect.TokenInfo{Active: true, ClientID: "38890", ExpiresAt: time.Now().Add(time.Hour)}, nil
}

func (s scoped) AnswerScope() string { return s.scope }

type picky struct{ scoped }

func (p picky) Verify(ctx context.Context, token string) (*introspect.TokenInfo, error) {
	info, err := p.scoped.Verify(ctx, token)
	if err == nil && !info.HasScope("admin") {
		return nil, fmt.Errorf("%w: not an admin", introspect.ErrInvalidToken)
	}
	return info, err
}

// TestSharingNeedsTheSameTypeAndAnswerScope: Caches on one tier and
// namespace share answers only when their Verifiers have the same type
// and AnswerScope. A type that embeds a Verifier to refuse more inherits
// its AnswerScope, and must still not take the plain one's answers.
func TestSharingNeedsTheSameTypeAndAnswerScope(t *testing.T) {
	tier := &downTier{values: map[string][]byte{}}
	cache := func(v introspect.Verifier) *introspect.Cache {
		c, err := introspect.NewCache(v, introspect.CacheConfig{Shared: tier, SharedNamespace: "ns"})
		require.NoError(t, err)
		t.Cleanup(c.Close)
		testutil.WaitFor(t, "the Cache listening", func() bool { return c.Stats().SharedFlushes == 1 })
		return c
	}
	plain, same, other, embedding := cache(scoped{"a"}), cache(scoped{"a"}), cache(scoped{"b"}), cache(picky{scoped{"a"}})
	ctx := context.Background()
	const token = "a-token"
	_, err := plain.Verify(ctx, token)
	require.NoError(t, err)
	testutil.WaitFor(t, "the answer in the tier", func() bool {
		tier.mu.Lock()
		defer tier.mu.Unlock()
		return len(tier.values) == 1
	})

	_, err = same.Verify(ctx, token)
	require.NoError(t, err)
	assert.EqualValues(t, 1, same.Stats().SharedHits, "the same type and scope")
	_, err = other.Verify(ctx, token)
	require.NoError(t, err)
	assert.Zero(t, other.Stats().SharedHits, "another scope")
	_, err = embedding.Verify(ctx, token)
	require.ErrorIs(t, err, introspect.ErrInvalidToken, "the embedding type took the plain one's answer")
	assert.Zero(t, embedding.Stats().SharedHits)

	assert.Equal(t, plain.AnswerScope(), same.AnswerScope())
	assert.NotEqual(t, plain.AnswerScope(), embedding.AnswerScope())
	assert.Equal(t, plain.AnswerScope(), introspect.AnswerScope(plain))
}

// TestInvalidateAfterCloseLeavesNothingPending: a closed Cache sends no
// invalidation again, so it keeps none pending.
func TestInvalidateAfterCloseLeavesNothingPending(t *testing.T) {
	tier := &downTier{values: map[string][]byte{}}
	tier.down.Store(true)
	c, err := introspect.NewCache(scoped{"a"}, introspect.CacheConfig{Shared: tier, SharedNamespace: "ns"})
	require.NoError(t, err)
	c.Close()
	c.Invalidate("a-token")
	assert.Zero(t, c.Stats().InvalidationsPending)
}
