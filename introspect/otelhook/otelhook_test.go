package otelhook_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/otelhook"
)

// A scripted mix of hook calls gives exact counts, under the attributes
// the Prometheus adapter uses as labels.
func TestMetricsCounts(t *testing.T) {
	r := newRecorder(t, nil)
	h := r.tel.Hooks()
	ctx := context.Background()

	for range 3 {
		h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeAllowed})
	}
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeInvalidToken, Status: 401})
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeInvalidToken, Status: 401})
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeUnavailable, Status: 503})
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeInsufficientScope, Status: 403})
	h.Decision(ctx, introspect.Decision{Outcome: "some_future_outcome", Status: 400})

	for range 4 {
		h.Lookup(ctx, introspect.TierMemory, introspect.LookupHit)
	}
	h.Lookup(ctx, introspect.TierMemory, introspect.LookupMiss)
	h.Lookup(ctx, introspect.TierMemory, introspect.LookupMiss)
	h.Lookup(ctx, introspect.TierMemory, introspect.LookupStale)
	h.Lookup(ctx, introspect.TierShared, introspect.LookupMiss)
	h.Lookup(ctx, introspect.TierShared, introspect.LookupHit)

	h.Evicted()
	h.Evicted()

	h.UpstreamDone(ctx, introspect.UpstreamCall{Backend: "rfc7662", Result: introspect.ResultValid, Duration: 20 * time.Millisecond})
	h.UpstreamDone(ctx, introspect.UpstreamCall{Backend: "rfc7662", Result: introspect.ResultValid, Duration: 40 * time.Millisecond})
	h.UpstreamDone(ctx, introspect.UpstreamCall{Backend: "rfc7662", Result: introspect.ResultError, Duration: 5 * time.Second})
	h.UpstreamDone(ctx, introspect.UpstreamCall{Backend: "jwt", Result: introspect.ResultInvalid, Duration: 500 * time.Microsecond})
	h.UpstreamDone(ctx, introspect.UpstreamCall{Backend: "my-verifier", Result: introspect.ResultValid, Duration: 300 * time.Millisecond})

	h.InFlight(1)
	h.InFlight(1)
	h.InFlight(-1)
	h.Waiting(1)
	h.Waiting(-1)

	h.KeySetDone(ctx, introspect.KeySetRefresh{Result: introspect.ResultValid, Keys: 2})
	h.KeySetDone(ctx, introspect.KeySetRefresh{Result: introspect.ResultError, Forced: true})

	h.Invalidation(introspect.DirectionSent)
	h.Invalidation(introspect.DirectionReceived)
	h.Invalidation(introspect.DirectionReceived)

	for range 2 {
		h.SharedDone(ctx, introspect.SharedGet, nil)
	}
	h.SharedDone(ctx, introspect.SharedGet, errors.New("redis: i/o timeout"))
	h.SharedDone(ctx, introspect.SharedClaim, nil)
	h.SharedDone(ctx, "subscribe", errors.New("redis: closed"))

	rm := r.collect(t)
	want := []struct {
		name      string
		monotonic bool
		points    map[string]int64
	}{
		{"tokengate.requests", true, map[string]int64{
			"outcome=allowed":             3,
			"outcome=no_token":            0,
			"outcome=malformed":           0,
			"outcome=invalid_token":       2,
			"outcome=unavailable":         1,
			"outcome=insufficient_scope":  1,
			"outcome=some_future_outcome": 1,
		}},
		{"tokengate.cache.lookups", true, map[string]int64{
			"result=hit,tier=memory":   4,
			"result=miss,tier=memory":  2,
			"result=stale,tier=memory": 1,
			"result=miss,tier=shared":  1,
			"result=hit,tier=shared":   1,
			"result=stale,tier=shared": 0,
		}},
		{"tokengate.cache.evictions", true, map[string]int64{"": 2}},
		{"tokengate.upstream.requests", true, map[string]int64{
			"backend=rfc7662,result=valid":     2,
			"backend=rfc7662,result=error":     1,
			"backend=jwt,result=invalid":       1,
			"backend=my-verifier,result=valid": 1,
		}},
		{"tokengate.upstream.in_flight", false, map[string]int64{"": 1}},
		{"tokengate.upstream.waiting", false, map[string]int64{"": 0}},
		{"tokengate.keyset.refreshes", true, map[string]int64{"result=valid": 1, "result=error": 1}},
		{"tokengate.invalidations", true, map[string]int64{"direction=sent": 1, "direction=received": 2}},
		{"tokengate.shared.operations", true, map[string]int64{
			"op=get,result=ok":           2,
			"op=get,result=error":        1,
			"op=claim,result=ok":         1,
			"op=subscribe,result=error":  1,
			"op=claim,result=error":      0,
			"op=set,result=ok":           0,
			"op=set,result=error":        0,
			"op=release,result=ok":       0,
			"op=release,result=error":    0,
			"op=invalidate,result=ok":    0,
			"op=invalidate,result=error": 0,
		}},
	}
	for _, w := range want {
		points, monotonic := sums(t, rm, w.name)
		assert.Equal(t, w.points, points, w.name)
		assert.Equal(t, w.monotonic, monotonic, w.name)
	}

	m, scope := findMetric(t, rm, "tokengate.upstream.request.duration")
	assert.Equal(t, otelhook.ScopeName, scope)
	assert.Equal(t, "s", m.Unit)
	hist, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok, "%T", m.Data)
	byBackend := make(map[string]metricdata.HistogramDataPoint[float64])
	for _, dp := range hist.DataPoints {
		byBackend[encode(dp.Attributes)] = dp
	}
	require.Len(t, byBackend, 3)
	rfc := byBackend["backend=rfc7662"]
	assert.Equal(t, uint64(3), rfc.Count)
	assert.InDelta(t, 5.06, rfc.Sum, 1e-9)
	bounds := []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	assert.Equal(t, bounds, rfc.Bounds)
	//                         ≤1ms 2.5 5 10 25 50 100 250 500 1s 2.5 5s 10 +Inf
	assert.Equal(t, []uint64{0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0}, rfc.BucketCounts)
	assert.Equal(t, uint64(1), byBackend["backend=jwt"].Count)
	assert.Equal(t, []uint64{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, byBackend["backend=jwt"].BucketCounts)
	assert.Equal(t, uint64(1), byBackend["backend=my-verifier"].Count)

	// Each instrument has its unit, and every one is in this package's
	// scope alone.
	units := map[string]string{
		"tokengate.requests":           "{request}",
		"tokengate.cache.lookups":      "{lookup}",
		"tokengate.cache.evictions":    "{eviction}",
		"tokengate.upstream.requests":  "{request}",
		"tokengate.upstream.in_flight": "{request}",
		"tokengate.upstream.waiting":   "{request}",
		"tokengate.keyset.refreshes":   "{refresh}",
		"tokengate.invalidations":      "{invalidation}",
		"tokengate.shared.operations":  "{operation}",
	}
	for name, unit := range units {
		m, scope := findMetric(t, rm, name)
		assert.Equal(t, unit, m.Unit, name)
		assert.Equal(t, otelhook.ScopeName, scope, name)
		assert.NotEmpty(t, m.Description, name)
	}
	require.Len(t, rm.ScopeMetrics, 1)
	assert.Len(t, rm.ScopeMetrics[0].Metrics, len(units)+1)
}

// Every series whose attributes take a fixed set of values is there, at
// zero, from New on; the backends' series come with their first call.
func TestZeroSeries(t *testing.T) {
	r := newRecorder(t, nil)
	rm := r.collect(t)
	want := map[string]int{
		"tokengate.requests":           6,
		"tokengate.cache.lookups":      6,
		"tokengate.cache.evictions":    1,
		"tokengate.upstream.in_flight": 1,
		"tokengate.upstream.waiting":   1,
		"tokengate.keyset.refreshes":   2,
		"tokengate.invalidations":      2,
		"tokengate.shared.operations":  10,
	}
	for name, n := range want {
		points, _ := sums(t, rm, name)
		assert.Len(t, points, n, name)
		for attrs, v := range points {
			assert.Zero(t, v, "%s{%s}", name, attrs)
		}
	}
	require.Len(t, rm.ScopeMetrics, 1)
	assert.Len(t, rm.ScopeMetrics[0].Metrics, len(want), "no upstream series yet")
}

// Each span has its name, kind, attributes and status; a result of error
// is an Error status, an invalid token is not.
func TestSpans(t *testing.T) {
	r := newRecorder(t, nil)
	h := r.tel.Hooks()
	ctx := context.Background()

	vctx := h.VerifyStart(ctx)
	sctx := h.SharedStart(vctx, introspect.SharedGet)
	h.SharedDone(sctx, introspect.SharedGet, nil)
	sctx = h.SharedStart(vctx, introspect.SharedClaim)
	h.SharedDone(sctx, introspect.SharedClaim, errors.New("redis: connection pool timeout"))
	uctx := h.UpstreamStart(vctx, "geosecure")
	h.UpstreamDone(uctx, introspect.UpstreamCall{Backend: "geosecure", Result: introspect.ResultError, Duration: time.Second})
	h.VerifyDone(vctx, introspect.Verification{Backend: "geosecure", Cache: introspect.CacheMiss, Result: introspect.ResultError})

	vctx = h.VerifyStart(ctx)
	uctx = h.UpstreamStart(vctx, "a-custom-one")
	h.UpstreamDone(uctx, introspect.UpstreamCall{Backend: "a-custom-one", Result: introspect.ResultInvalid})
	h.VerifyDone(vctx, introspect.Verification{Backend: "a-custom-one", Cache: introspect.CacheMiss, Result: introspect.ResultInvalid})

	kctx := h.KeySetStart(ctx)
	h.KeySetDone(kctx, introspect.KeySetRefresh{Result: introspect.ResultValid, Forced: true, Keys: 3})
	kctx = h.KeySetStart(ctx)
	h.KeySetDone(kctx, introspect.KeySetRefresh{Result: introspect.ResultError})

	spans := r.spans.Ended()
	require.Len(t, spans, 8)
	for _, s := range spans {
		assert.Equal(t, trace.SpanKindInternal, s.SpanKind(), s.Name())
		assert.Equal(t, otelhook.ScopeName, s.InstrumentationScope().Name, s.Name())
	}

	verify, upstream := spans[3], spans[2]
	assert.Equal(t, "tokengate.verify", verify.Name())
	assert.Equal(t, "tokengate.upstream", upstream.Name())
	assert.Equal(t, map[attribute.Key]attribute.Value{
		"tokengate.backend": attribute.StringValue("geosecure"),
		"tokengate.cache":   attribute.StringValue("miss"),
		"tokengate.result":  attribute.StringValue("error"),
	}, attrs(verify.Attributes()))
	assert.Equal(t, codes.Error, verify.Status().Code)
	assert.NotEmpty(t, verify.Status().Description)
	assert.Equal(t, map[attribute.Key]attribute.Value{
		"tokengate.backend": attribute.StringValue("geosecure"),
		"tokengate.result":  attribute.StringValue("error"),
	}, attrs(upstream.Attributes()))
	assert.Equal(t, codes.Error, upstream.Status().Code)
	assert.True(t, isChild(upstream, verify))

	get, claim := spans[0], spans[1]
	assert.Equal(t, "tokengate.shared.get", get.Name())
	assert.Equal(t, codes.Unset, get.Status().Code)
	assert.Empty(t, get.Events())
	assert.Equal(t, "tokengate.shared.claim", claim.Name())
	assert.Equal(t, codes.Error, claim.Status().Code)
	assert.Equal(t, "shared tier operation failed", claim.Status().Description)
	require.Len(t, claim.Events(), 1)
	assert.Equal(t, "exception", claim.Events()[0].Name)
	assert.True(t, isChild(get, verify))
	assert.True(t, isChild(claim, verify))

	verify, upstream = spans[5], spans[4]
	assert.Equal(t, "a-custom-one", attrs(upstream.Attributes())["tokengate.backend"].AsString())
	assert.Equal(t, "invalid", attrs(upstream.Attributes())["tokengate.result"].AsString())
	assert.Equal(t, codes.Unset, upstream.Status().Code)
	assert.Equal(t, codes.Unset, verify.Status().Code)
	assert.Equal(t, "invalid", attrs(verify.Attributes())["tokengate.result"].AsString())
	assert.True(t, isChild(upstream, verify))

	keys, failed := spans[6], spans[7]
	assert.Equal(t, "tokengate.keyset.fetch", keys.Name())
	assert.Equal(t, map[attribute.Key]attribute.Value{
		"tokengate.result":        attribute.StringValue("valid"),
		"tokengate.keyset.forced": attribute.BoolValue(true),
		"tokengate.keyset.keys":   attribute.IntValue(3),
	}, attrs(keys.Attributes()))
	assert.Equal(t, codes.Unset, keys.Status().Code)
	assert.False(t, keys.Parent().IsValid())
	assert.Equal(t, "tokengate.keyset.fetch", failed.Name())
	assert.Equal(t, codes.Error, failed.Status().Code)
	assert.Equal(t, int64(0), attrs(failed.Attributes())["tokengate.keyset.keys"].AsInt64())
}

// A shared tier operation with a name not listed still gets a span of its
// own name.
func TestSharedOpNotListed(t *testing.T) {
	r := newRecorder(t, nil)
	h := r.tel.Hooks()
	ctx := h.SharedStart(context.Background(), "subscribe")
	h.SharedDone(ctx, "subscribe", nil)
	spans := r.spans.Ended()
	require.Len(t, spans, 1)
	assert.Equal(t, "tokengate.shared.subscribe", spans[0].Name())
}

// The decision goes on the request's span, as an attribute and an event;
// the span's http.response.status_code is left alone.
func TestDecisionOnServerSpan(t *testing.T) {
	r := newRecorder(t, nil)
	h := r.tel.Hooks()

	ctx, span := r.serverSpan(context.Background())
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeAllowed})
	span.End()
	ctx, span = r.serverSpan(context.Background())
	span.SetAttributes(attribute.Int("http.response.status_code", 401))
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeInvalidToken, Status: 401})
	span.End()
	// No span at all, and a span that does not record: counted only.
	h.Decision(context.Background(), introspect.Decision{Outcome: introspect.OutcomeNoToken, Status: 401})
	h.Decision(trace.ContextWithSpanContext(context.Background(), trace.SpanContext{}), introspect.Decision{Outcome: introspect.OutcomeNoToken, Status: 401})

	spans := r.spans.Ended()
	require.Len(t, spans, 2)
	allowed, refused := spans[0], spans[1]
	assert.Equal(t, map[attribute.Key]attribute.Value{
		"tokengate.outcome": attribute.StringValue("allowed"),
	}, attrs(allowed.Attributes()))
	require.Len(t, allowed.Events(), 1)
	assert.Equal(t, "tokengate.decision", allowed.Events()[0].Name)
	assert.Equal(t, map[attribute.Key]attribute.Value{
		"tokengate.outcome": attribute.StringValue("allowed"),
	}, attrs(allowed.Events()[0].Attributes))

	assert.Equal(t, map[attribute.Key]attribute.Value{
		"tokengate.outcome":         attribute.StringValue("invalid_token"),
		"http.response.status_code": attribute.IntValue(401),
	}, attrs(refused.Attributes()))
	require.Len(t, refused.Events(), 1)
	assert.Equal(t, map[attribute.Key]attribute.Value{
		"tokengate.outcome":         attribute.StringValue("invalid_token"),
		"http.response.status_code": attribute.IntValue(401),
	}, attrs(refused.Events()[0].Attributes))
	assert.Equal(t, codes.Unset, refused.Status().Code)

	points, _ := sums(t, r.collect(t), "tokengate.requests")
	assert.Equal(t, map[string]int64{"outcome=allowed": 1, "outcome=invalid_token": 1, "outcome=no_token": 2}, nonZero(points))
}

// Hooks sets every field, and each call returns a copy of its own.
func TestHooks(t *testing.T) {
	r := newRecorder(t, nil)
	h := r.tel.Hooks()
	v := reflect.ValueOf(*h)
	for i := range v.NumField() {
		assert.Falsef(t, v.Field(i).IsNil(), "Hooks.%s is nil", v.Type().Field(i).Name)
	}
	h.Evicted = nil
	assert.NotNil(t, r.tel.Hooks().Evicted)
	assert.NotSame(t, r.tel.Hooks(), r.tel.Hooks())
}

// The zero Config uses the global providers, which record nothing until
// the application sets its own.
func TestZeroConfig(t *testing.T) {
	tel, err := otelhook.New(otelhook.Config{})
	require.NoError(t, err)
	h := tel.Hooks()
	ctx := h.VerifyStart(context.Background())
	h.Lookup(ctx, introspect.TierMemory, introspect.LookupHit)
	h.VerifyDone(ctx, introspect.Verification{Backend: "jwt", Cache: introspect.CacheHit, Result: introspect.ResultValid})
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeAllowed})
	assert.NotNil(t, tel.Transport(nil))
	assert.NoError(t, tel.Close())
}

// New reports a meter's refusal to create an instrument, synchronous or
// observable, or to register the callback; in the last case it
// unregisters what the meter may have registered all the same.
func TestNewMeterError(t *testing.T) {
	for _, refused := range []string{"tokengate.cache.lookups", "tokengate.upstream.requests"} {
		_, err := otelhook.New(otelhook.Config{MeterProvider: failingMeterProvider{refuse: refused}})
		require.Error(t, err, refused)
		assert.ErrorContains(t, err, "otelhook: ")
		assert.ErrorContains(t, err, refused)
	}

	reg := &countingRegistration{}
	_, err := otelhook.New(otelhook.Config{MeterProvider: failingMeterProvider{refuse: "callback", reg: reg}})
	require.Error(t, err)
	assert.ErrorContains(t, err, "otelhook: callback refused")
	assert.Equal(t, 1, reg.unregistered)
}

type failingMeterProvider struct {
	metricnoop.MeterProvider
	refuse string              // the instrument to refuse, or "callback"
	reg    metric.Registration // RegisterCallback's answer with its error
}

func (p failingMeterProvider) Meter(string, ...metric.MeterOption) metric.Meter {
	return failingMeter{refuse: p.refuse, reg: p.reg}
}

// failingMeter refuses the instrument called refuse, or the callback.
type failingMeter struct {
	metricnoop.Meter
	refuse string
	reg    metric.Registration
}

func (m failingMeter) refusal(name string) error {
	if name == m.refuse {
		return errors.New("instrument " + name + " refused")
	}
	return nil
}

func (m failingMeter) Int64Counter(name string, opts ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	c, _ := m.Meter.Int64Counter(name, opts...)
	return c, m.refusal(name)
}

func (m failingMeter) Int64ObservableCounter(name string, opts ...metric.Int64ObservableCounterOption) (metric.Int64ObservableCounter, error) {
	c, _ := m.Meter.Int64ObservableCounter(name, opts...)
	return c, m.refusal(name)
}

func (m failingMeter) RegisterCallback(f metric.Callback, insts ...metric.Observable) (metric.Registration, error) {
	if m.refuse == "callback" {
		return m.reg, errors.New("callback refused")
	}
	return m.Meter.RegisterCallback(f, insts...)
}

// countingRegistration counts the calls of Unregister.
type countingRegistration struct {
	metricnoop.Registration
	unregistered int
}

func (r *countingRegistration) Unregister() error {
	r.unregistered++
	return nil
}
