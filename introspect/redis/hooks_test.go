package redis_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
)

// sharedRecorder is Hooks that record what one replica does with the
// shared tier.
type sharedRecorder struct {
	mu     sync.Mutex
	events []string
}

func (r *sharedRecorder) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *sharedRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

type opKey struct{}

func (r *sharedRecorder) hooks() *introspect.Hooks {
	return &introspect.Hooks{
		VerifyStart: func(ctx context.Context) context.Context { return context.WithValue(ctx, opKey{}, "verify") },
		Lookup: func(_ context.Context, tier introspect.Tier, result introspect.LookupResult) {
			r.add(fmt.Sprintf("lookup %s %s", tier, result))
		},
		SharedStart: func(ctx context.Context, op introspect.SharedOp) context.Context {
			if ctx.Value(opKey{}) != "verify" && op != introspect.SharedInvalidate {
				r.add("shared " + string(op) + " outside the verification")
			}
			return ctx
		},
		SharedDone: func(_ context.Context, op introspect.SharedOp, err error) {
			r.add(fmt.Sprintf("shared %s err=%v", op, err))
		},
		UpstreamDone: func(_ context.Context, u introspect.UpstreamCall) { r.add("upstream " + string(u.Result)) },
		Invalidation: func(d introspect.Direction) { r.add("invalidation " + string(d)) },
	}
}

func TestSharedTierReportsToHooks(t *testing.T) {
	onDeployments(t, testSharedTierReportsToHooks, standalone, cluster, sentinel)
}

func testSharedTierReportsToHooks(t *testing.T, f *fixture) {
	ra, rb := &sharedRecorder{}, &sharedRecorder{}
	a, b := f.replica(introspect.CacheConfig{Hooks: ra.hooks()}), f.replica(introspect.CacheConfig{Hooks: rb.hooks()})
	token := f.token()

	verify(t, a, token)
	assert.Equal(t, []string{
		"shared get err=<nil>",
		"shared claim err=<nil>",
		"lookup shared miss",
		"upstream valid",
		"shared set err=<nil>",
		"shared release err=<nil>",
		"lookup memory miss",
	}, ra.take())

	verify(t, b, token)
	assert.Equal(t, []string{"shared get err=<nil>", "lookup shared hit", "lookup memory miss"}, rb.take())

	a.Invalidate(token)
	testutil.WaitFor(t, "B to hear the invalidation", func() bool { return b.Stats().InvalidationsReceived >= 1 })
	testutil.WaitFor(t, "A to hear its own invalidation", func() bool { return a.Stats().InvalidationsReceived >= 1 })
	// Redis may deliver A's own announcement before Invalidate returns.
	assert.ElementsMatch(t, []string{"shared invalidate err=<nil>", "invalidation sent", "invalidation received"}, ra.take())
	assert.Equal(t, []string{"invalidation received"}, rb.take())
}

// TestSkippedOperationsAreReportedAsFailed: while the breaker leaves a
// dead Redis alone, each operation not tried is still reported, paired
// with its start, as introspect.ErrSharedSkipped, so that the tier's
// error rate does not drop to zero in the middle of the outage.
func TestSkippedOperationsAreReportedAsFailed(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	started, done, skipped := 0, 0, 0
	hooks := &introspect.Hooks{
		SharedStart: func(ctx context.Context, _ introspect.SharedOp) context.Context {
			mu.Lock()
			defer mu.Unlock()
			started++
			return ctx
		},
		SharedDone: func(_ context.Context, _ introspect.SharedOp, err error) {
			mu.Lock()
			defer mu.Unlock()
			done++
			if errors.Is(err, introspect.ErrSharedSkipped) {
				skipped++
			}
		},
	}
	c := f.replica(introspect.CacheConfig{Hooks: hooks, SharedTimeout: 50 * time.Millisecond})
	f.redis.Stop()
	for range 5 {
		verify(t, c, f.token())
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, started, done, "every operation reported is ended")
	assert.NotZero(t, skipped)
	assert.EqualValues(t, c.Stats().SharedSkipped, skipped)
}
