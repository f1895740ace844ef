package otelhook_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/introspect/otelhook"
)

// recorder is a Telemetry on SDK providers whose metrics and spans a test
// reads: a ManualReader and a SpanRecorder.
type recorder struct {
	tel    *otelhook.Telemetry
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
}

// newRecorder returns a recorder whose Telemetry uses prop (nil: the
// global propagator).
func newRecorder(t *testing.T, prop propagation.TextMapPropagator) *recorder {
	t.Helper()
	r := &recorder{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = r.tp.Shutdown(context.Background())
	})
	tel, err := otelhook.New(otelhook.Config{MeterProvider: mp, TracerProvider: r.tp, Propagators: prop})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, tel.Close()) })
	r.tel = tel
	return r
}

// newDeltaRecorder returns a recorder whose reader asks for delta
// temporality wherever the SDK has it.
func newDeltaRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{
		reader: sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(sdkmetric.DeltaTemporalitySelector)),
		spans:  tracetest.NewSpanRecorder(),
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = r.tp.Shutdown(context.Background())
	})
	tel, err := otelhook.New(otelhook.Config{MeterProvider: mp, TracerProvider: r.tp})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, tel.Close()) })
	r.tel = tel
	return r
}

// metricNames returns the names of the metrics of rm.
func metricNames(rm metricdata.ResourceMetrics) []string {
	var names []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			names = append(names, m.Name)
		}
	}
	return names
}

// collect reads every metric recorded so far.
func (r *recorder) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.reader.Collect(context.Background(), &rm))
	return rm
}

// findMetric returns the metric called name, failing the test when no
// scope has it.
func findMetric(t *testing.T, rm metricdata.ResourceMetrics, name string) (metricdata.Metrics, string) {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, sm.Scope.Name
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return metricdata.Metrics{}, ""
}

// sums returns the data points of the int64 sum called name by their
// encoded attributes ("k=v,k=v"), and whether the sum is monotonic.
func sums(t *testing.T, rm metricdata.ResourceMetrics, name string) (map[string]int64, bool) {
	t.Helper()
	m, _ := findMetric(t, rm, name)
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.Truef(t, ok, "%s is a %T", name, m.Data)
	points := make(map[string]int64, len(sum.DataPoints))
	for _, dp := range sum.DataPoints {
		points[encode(dp.Attributes)] = dp.Value
	}
	return points, sum.IsMonotonic
}

func encode(s attribute.Set) string {
	return s.Encoded(attribute.DefaultEncoder())
}

// spanByName returns the one ended span called name.
func spanByName(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			require.Nilf(t, found, "two spans called %s", name)
			found = s
		}
	}
	require.NotNilf(t, found, "no span called %s among %d", name, len(spans))
	return found
}

// attrs returns the attributes of a span or event as a map.
func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// isChild reports whether child's parent is parent.
func isChild(child, parent sdktrace.ReadOnlySpan) bool {
	return child.Parent().SpanID() == parent.SpanContext().SpanID() &&
		child.SpanContext().TraceID() == parent.SpanContext().TraceID()
}

// serverSpan starts a span of kind server on r's provider, standing in for
// the request's span of otelhttp's handler.
func (r *recorder) serverSpan(ctx context.Context) (context.Context, trace.Span) {
	return r.tp.Tracer("test").Start(ctx, "GET /v1/resource", trace.WithSpanKind(trace.SpanKindServer))
}

// assertNoSecret checks that no attribute of spans (their events' and
// links' included), no span name or status description and no attribute
// of r's metrics holds any of secrets. It returns the number of
// attributes it checked.
func assertNoSecret(t *testing.T, r *recorder, spans []sdktrace.ReadOnlySpan, secrets ...string) int {
	t.Helper()
	checked := 0
	check := func(where string, kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			checked++
			v := kv.Value.String()
			for _, secret := range secrets {
				assert.NotContainsf(t, v, secret, "%s: attribute %s", where, kv.Key)
				assert.NotContainsf(t, string(kv.Key), secret, "%s: attribute key", where)
			}
		}
	}
	for _, s := range spans {
		check(s.Name(), s.Attributes())
		for _, e := range s.Events() {
			check(s.Name()+" event "+e.Name, e.Attributes)
		}
		for _, l := range s.Links() {
			check(s.Name()+" link", l.Attributes)
		}
		for _, secret := range secrets {
			assert.NotContains(t, s.Status().Description, secret, s.Name())
			assert.NotContains(t, s.Name(), secret)
		}
	}
	for _, sm := range r.collect(t).ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, set := range metricAttributeSets(m.Data) {
				check("metric "+m.Name, set.ToSlice())
			}
		}
	}
	return checked
}

// metricAttributeSets returns the attribute sets of data's points.
func metricAttributeSets(data metricdata.Aggregation) []attribute.Set {
	var sets []attribute.Set
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	case metricdata.Sum[float64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	case metricdata.Histogram[int64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	}
	return sets
}

// stringAttrs returns the string attributes of s.
func stringAttrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := make(map[string]string)
	for _, kv := range s.Attributes() {
		if kv.Value.Type() == attribute.STRING {
			m[string(kv.Key)] = kv.Value.AsString()
		}
	}
	return m
}

// nonZero returns the points of points that are not zero.
func nonZero(points map[string]int64) map[string]int64 {
	m := make(map[string]int64)
	for k, v := range points {
		if v != 0 {
			m[k] = v
		}
	}
	return m
}
