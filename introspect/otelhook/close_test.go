package otelhook_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/otelhook"
)

// Close unregisters the callback: a collection then exports none of the
// observable instruments, the synchronous upstream ones still, and the
// hooks go on without failing. A second Close does nothing. No goroutine
// is left behind.
func TestClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { require.NoError(t, mp.Shutdown(context.Background())) }()
	tel, err := otelhook.New(otelhook.Config{MeterProvider: mp})
	require.NoError(t, err)
	h := tel.Hooks()
	ctx := context.Background()
	h.Lookup(ctx, introspect.TierMemory, introspect.LookupHit)
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeAllowed})
	h.UpstreamDone(ctx, introspect.UpstreamCall{Backend: "jwt", Result: introspect.ResultValid, Duration: time.Millisecond})

	collect := func() metricdata.ResourceMetrics {
		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(ctx, &rm))
		return rm
	}
	observable := []string{
		"tokengate.requests", "tokengate.cache.lookups", "tokengate.cache.evictions",
		"tokengate.upstream.in_flight", "tokengate.upstream.waiting",
		"tokengate.keyset.refreshes", "tokengate.invalidations", "tokengate.shared.operations",
	}
	synchronous := []string{"tokengate.upstream.requests", "tokengate.upstream.request.duration"}
	assert.ElementsMatch(t, append(observable, synchronous...), metricNames(collect()))

	require.NoError(t, tel.Close())
	h.Lookup(ctx, introspect.TierMemory, introspect.LookupHit)
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeNoToken, Status: 401})
	h.Evicted()
	h.InFlight(1)
	h.UpstreamDone(ctx, introspect.UpstreamCall{Backend: "jwt", Result: introspect.ResultValid, Duration: time.Millisecond})
	rm := collect()
	assert.ElementsMatch(t, synchronous, metricNames(rm))
	calls, _ := sums(t, rm, "tokengate.upstream.requests")
	assert.Equal(t, map[string]int64{"backend=jwt,result=valid": 2}, calls)
	assert.NoError(t, tel.Close(), "a second Close")
}

// With a reader that asks for delta temporality, the SDK turns the
// cumulative values the callback observes into the changes since the
// last collection.
func TestDeltaTemporality(t *testing.T) {
	r := newDeltaRecorder(t)
	h := r.tel.Hooks()
	ctx := context.Background()

	for range 3 {
		h.Lookup(ctx, introspect.TierMemory, introspect.LookupHit)
	}
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeAllowed})
	h.InFlight(1)
	rm := r.collect(t)
	m, _ := findMetric(t, rm, "tokengate.cache.lookups")
	assert.Equal(t, metricdata.DeltaTemporality, m.Data.(metricdata.Sum[int64]).Temporality)
	lookups, _ := sums(t, rm, "tokengate.cache.lookups")
	assert.Equal(t, map[string]int64{"result=hit,tier=memory": 3}, nonZero(lookups))

	h.Lookup(ctx, introspect.TierMemory, introspect.LookupHit)
	h.Lookup(ctx, introspect.TierMemory, introspect.LookupMiss)
	h.InFlight(1)
	rm = r.collect(t)
	lookups, _ = sums(t, rm, "tokengate.cache.lookups")
	assert.Equal(t, map[string]int64{"result=hit,tier=memory": 1, "result=miss,tier=memory": 1}, nonZero(lookups))
	requests, _ := sums(t, rm, "tokengate.requests")
	assert.Empty(t, nonZero(requests), "no decision since the last collection")
	assert.Len(t, requests, 6, "every series observed, unchanged ones at zero")
	// An up-down counter stays cumulative: the SDK's delta selector
	// keeps it so.
	inFlight, monotonic := sums(t, rm, "tokengate.upstream.in_flight")
	assert.False(t, monotonic)
	assert.Equal(t, map[string]int64{"": 2}, inFlight)
}

// Hooks called from many goroutines while the reader collects count
// every call exactly once.
func TestConcurrentCounts(t *testing.T) {
	r := newRecorder(t, nil)
	h := r.tel.Hooks()
	ctx := context.Background()
	const goroutines, calls = 8, 1000
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range calls {
				h.Lookup(ctx, introspect.TierMemory, introspect.LookupHit)
				h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeAllowed})
				h.Decision(ctx, introspect.Decision{Outcome: "some_future_outcome", Status: 400})
				h.InFlight(1)
				h.InFlight(-1)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			var rm metricdata.ResourceMetrics
			assert.NoError(t, r.reader.Collect(ctx, &rm))
		}
	})
	wg.Wait()

	rm := r.collect(t)
	lookups, _ := sums(t, rm, "tokengate.cache.lookups")
	assert.Equal(t, map[string]int64{"result=hit,tier=memory": goroutines * calls}, nonZero(lookups))
	requests, _ := sums(t, rm, "tokengate.requests")
	assert.Equal(t, map[string]int64{
		"outcome=allowed":             goroutines * calls,
		"outcome=some_future_outcome": goroutines * calls,
	}, nonZero(requests))
	inFlight, _ := sums(t, rm, "tokengate.upstream.in_flight")
	assert.Equal(t, map[string]int64{"": 0}, inFlight)
}
