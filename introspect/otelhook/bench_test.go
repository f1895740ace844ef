package otelhook_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/otelhook"
)

// BenchmarkHooksHit measures what the Hooks cost a cache hit that the
// middleware allows, with the SDK's MeterProvider and a noop
// TracerProvider: "metrics" is the lookup and the decision; "verify" adds
// the verification span's start and end around the lookup, as a Cache
// calls them; "metrics-parallel" is "metrics" on every P at once, all
// counting into the same two series; "verify-sampled" is "verify" with the SDK's TracerProvider
// sampling every span (and exporting none), for the cost of a span that
// records.
func BenchmarkHooksHit(b *testing.B) {
	h := benchHooks(b, tracenoop.NewTracerProvider())
	ctx := context.Background()
	allowed := introspect.Decision{Outcome: introspect.OutcomeAllowed}
	hit := introspect.Verification{Backend: "rfc7662", Cache: introspect.CacheHit, Result: introspect.ResultValid}

	b.Run("metrics", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.Lookup(ctx, introspect.TierMemory, introspect.LookupHit)
			h.Decision(ctx, allowed)
		}
	})
	b.Run("metrics-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h.Lookup(ctx, introspect.TierMemory, introspect.LookupHit)
				h.Decision(ctx, allowed)
			}
		})
	})
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			vctx := h.VerifyStart(ctx)
			h.Lookup(vctx, introspect.TierMemory, introspect.LookupHit)
			h.VerifyDone(vctx, hit)
			h.Decision(ctx, allowed)
		}
	})
	b.Run("verify-sampled", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		h := benchHooks(b, tp)
		b.ReportAllocs()
		for b.Loop() {
			vctx := h.VerifyStart(ctx)
			h.Lookup(vctx, introspect.TierMemory, introspect.LookupHit)
			h.VerifyDone(vctx, hit)
			h.Decision(ctx, allowed)
		}
	})
}

// benchHooks returns the Hooks of a Telemetry on the SDK's MeterProvider
// and tp.
func benchHooks(b *testing.B, tp trace.TracerProvider) *introspect.Hooks {
	b.Helper()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	tel, err := otelhook.New(otelhook.Config{MeterProvider: mp, TracerProvider: tp})
	if err != nil {
		b.Fatal(err)
	}
	return tel.Hooks()
}
