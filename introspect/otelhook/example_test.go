package otelhook_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/otelhook"
)

// The Telemetry's Hooks go to the Cache (and to a JWT verifier's and the
// middleware's Config, where there are some), its Transport to the
// backend's HTTPClient. A miss then makes a verification span with the
// upstream call below it and the HTTP request below that; a hit makes a
// verification span alone.
func Example() {
	// The application's providers: here the SDK's, keeping what they
	// record in memory. A nil provider in the Config means the global one.
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()

	tel, err := otelhook.New(otelhook.Config{MeterProvider: mp, TracerProvider: tp})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = tel.Close() }()

	srv := introspecttest.NewServer()
	defer srv.Close()
	token := srv.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "38890"})

	client := &http.Client{Transport: tel.Transport(nil)}
	defer client.CloseIdleConnections()
	verifier, err := geosecure.New(geosecure.Config{URL: srv.VerifyURL(), HTTPClient: client})
	if err != nil {
		log.Fatal(err)
	}
	defer verifier.Close()
	cache, err := introspect.NewCache(verifier, introspect.CacheConfig{Hooks: tel.Hooks()})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	for range 2 {
		if _, err := cache.Verify(context.Background(), token); err != nil {
			log.Fatal(err)
		}
	}

	printTree(spans.GetSpans())
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelhook.ScopeName {
			continue // otelhttp's
		}
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range sum.DataPoints {
					if dp.Value == 0 {
						continue // a series New made, for an event yet to come
					}
					lines = append(lines, fmt.Sprintf("%s{%s} %d", m.Name, dp.Attributes.Encoded(attribute.DefaultEncoder()), dp.Value))
				}
			}
		}
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// tokengate.verify (internal) backend=geosecure cache=miss result=valid
	//   tokengate.upstream (internal) backend=geosecure result=valid
	//     HTTP GET (client)
	// tokengate.verify (internal) backend=geosecure cache=hit result=valid
	// tokengate.cache.lookups{result=hit,tier=memory} 1
	// tokengate.cache.lookups{result=miss,tier=memory} 1
	// tokengate.upstream.requests{backend=geosecure,result=valid} 1
}

// printTree prints spans in the order they started, each indented below
// its parent, with its tokengate attributes.
func printTree(spans tracetest.SpanStubs) {
	slices.SortStableFunc(spans, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
	depth := make(map[trace.SpanID]int)
	for _, s := range spans {
		d := 0
		if p, ok := depth[s.Parent.SpanID()]; ok {
			d = p + 1
		}
		depth[s.SpanContext.SpanID()] = d
		line := strings.Repeat("  ", d) + s.Name + " (" + s.SpanKind.String() + ")"
		for _, kv := range s.Attributes {
			if name, ok := strings.CutPrefix(string(kv.Key), "tokengate."); ok {
				line += " " + name + "=" + kv.Value.String()
			}
		}
		fmt.Println(line)
	}
}
