package introspect

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestWorkersRunEveryJobAndEndOnStop(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	w := newWorkers()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ran := 0
	for range 100 {
		wg.Add(1)
		w.run(func() {
			defer wg.Done()
			mu.Lock()
			ran++
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Equal(t, 100, ran)
	w.stop()
	assert.NoError(t, goleak.Find(ignore), "idle workers must end when stopped")
}

func TestClosedCacheLeavesNoWorker(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	c, err := NewCache(VerifierFunc(func(ctx context.Context, token string) (*TokenInfo, error) {
		return &TokenInfo{Active: true}, nil
	}), CacheConfig{})
	assert.NoError(t, err)
	for _, token := range []string{"a", "b", "c"} {
		_, err := c.Verify(context.Background(), token)
		assert.NoError(t, err)
	}
	c.Close()
	_, err = c.Verify(context.Background(), "d")
	assert.NoError(t, err, "a closed cache still verifies")
	assert.NoError(t, goleak.Find(ignore))
}

// TestWorkerLimitsMatchTheStallTest is a tripwire: the stalled-upstream
// flood in reliability/stall_test.go cannot see these unexported limits and
// states them again in its bounds. Change both together.
func TestWorkerLimitsMatchTheStallTest(t *testing.T) {
	assert.Equal(t, 8, maxIdleWorkers)
	assert.Equal(t, time.Second, workerIdle)
}
