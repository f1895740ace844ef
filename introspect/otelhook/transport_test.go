package otelhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/introspect"
)

// secretToken is a token distinctive enough that finding it anywhere in
// the telemetry can only mean it leaked.
const secretToken = "tg-SECRET-7f3a9c1e-do-not-record-this-token"

// clientSecret is a client secret, sent in a form as an introspection
// request sends it.
const clientSecret = "client-SECRET-b81d55"

// newServer starts an HTTP server on a loopback address that answers
// every request with a small JSON body and passes each request's headers
// to seen, if not nil.
func newServer(t *testing.T, seen chan<- http.Header) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if seen != nil {
			seen <- r.Header.Clone()
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"active":true}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// post sends what an introspection request sends, the token in the form
// and in an Authorization header, through client on ctx.
func post(t *testing.T, ctx context.Context, client *http.Client, endpoint string) {
	t.Helper()
	form := url.Values{"token": {secretToken}, "client_id": {"my-api"}, "client_secret": {clientSecret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/op/v1/introspect", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+secretToken)
	resp, err := client.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
}

// The HTTP request's client span is a child of tokengate.upstream, itself
// a child of tokengate.verify, below the request's server span.
func TestSpanTreeThroughTransport(t *testing.T) {
	r := newRecorder(t, nil)
	h := r.tel.Hooks()
	srv := newServer(t, nil)
	client := &http.Client{Transport: r.tel.Transport(nil)}
	t.Cleanup(client.CloseIdleConnections)

	ctx, server := r.serverSpan(context.Background())
	vctx := h.VerifyStart(ctx)
	uctx := h.UpstreamStart(vctx, "rfc7662")
	post(t, uctx, client, srv.URL)
	h.UpstreamDone(uctx, introspect.UpstreamCall{Backend: "rfc7662", Result: introspect.ResultValid, Duration: time.Millisecond})
	h.VerifyDone(vctx, introspect.Verification{Backend: "rfc7662", Cache: introspect.CacheMiss, Result: introspect.ResultValid})
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeAllowed})
	server.End()

	spans := r.spans.Ended()
	require.Len(t, spans, 4)
	httpSpan := spanByName(t, spans, "HTTP POST")
	upstream := spanByName(t, spans, "tokengate.upstream")
	verify := spanByName(t, spans, "tokengate.verify")
	root := spanByName(t, spans, "GET /v1/resource")

	assert.True(t, isChild(httpSpan, upstream), "the HTTP span's parent is tokengate.upstream")
	assert.True(t, isChild(upstream, verify), "tokengate.upstream's parent is tokengate.verify")
	assert.True(t, isChild(verify, root), "tokengate.verify's parent is the server span")
	assert.Equal(t, trace.SpanKindClient, httpSpan.SpanKind())
	assert.Equal(t, trace.SpanKindInternal, upstream.SpanKind())
	assert.Equal(t, trace.SpanKindInternal, verify.SpanKind())
	assert.Equal(t, int64(200), attrs(httpSpan.Attributes())["http.response.status_code"].AsInt64())
	assert.Equal(t, "valid", attrs(upstream.Attributes())["tokengate.result"].AsString())
	assert.Equal(t, "allowed", attrs(root.Attributes())["tokengate.outcome"].AsString())

	// otelhttp's client metrics go to the same MeterProvider.
	m, _ := findMetric(t, r.collect(t), "http.client.request.duration")
	assert.NotEmpty(t, m.Data.(metricdata.Histogram[float64]).DataPoints)
}

// No attribute of any span or event, no status description and no metric
// attribute holds the token or the client secret, though the request sent
// both in a header and in its form.
func TestNoSecretInTelemetry(t *testing.T) {
	r := newRecorder(t, propagation.TraceContext{})
	h := r.tel.Hooks()
	srv := newServer(t, nil)
	client := &http.Client{Transport: r.tel.Transport(nil)}
	t.Cleanup(client.CloseIdleConnections)

	ctx, server := r.serverSpan(context.Background())
	vctx := h.VerifyStart(ctx)
	sctx := h.SharedStart(vctx, introspect.SharedGet)
	h.Lookup(sctx, introspect.TierShared, introspect.LookupMiss)
	h.SharedDone(sctx, introspect.SharedGet, nil)
	uctx := h.UpstreamStart(vctx, "rfc7662")
	post(t, uctx, client, srv.URL)
	h.UpstreamDone(uctx, introspect.UpstreamCall{Backend: "rfc7662", Result: introspect.ResultInvalid})
	h.VerifyDone(vctx, introspect.Verification{Backend: "rfc7662", Cache: introspect.CacheMiss, Result: introspect.ResultInvalid})
	h.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeInvalidToken, Status: 401})
	server.End()
	kctx := h.KeySetStart(context.Background())
	post(t, kctx, client, srv.URL)
	h.KeySetDone(kctx, introspect.KeySetRefresh{Result: introspect.ResultValid, Keys: 1})

	spans := r.spans.Ended()
	require.Len(t, spans, 7)
	checked := assertNoSecret(t, r, spans, secretToken, clientSecret, "SECRET")
	assert.Greater(t, checked, 30, "the check looked at attributes at all")
}

// The configured propagators write the upstream span's context into the
// request; an empty composite writes nothing.
func TestTransportPropagators(t *testing.T) {
	for _, tc := range []struct {
		name   string
		prop   propagation.TextMapPropagator
		header bool
	}{
		{"trace context", propagation.TraceContext{}, true},
		{"none", propagation.NewCompositeTextMapPropagator(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder(t, tc.prop)
			h := r.tel.Hooks()
			seen := make(chan http.Header, 1)
			srv := newServer(t, seen)
			client := &http.Client{Transport: r.tel.Transport(nil)}
			t.Cleanup(client.CloseIdleConnections)

			vctx := h.VerifyStart(context.Background())
			uctx := h.UpstreamStart(vctx, "geosecure")
			post(t, uctx, client, srv.URL)
			h.UpstreamDone(uctx, introspect.UpstreamCall{Backend: "geosecure", Result: introspect.ResultValid})
			h.VerifyDone(vctx, introspect.Verification{Backend: "geosecure", Cache: introspect.CacheMiss, Result: introspect.ResultValid})

			header := <-seen
			if !tc.header {
				assert.Empty(t, header.Get("Traceparent"))
				return
			}
			httpSpan := spanByName(t, r.spans.Ended(), "HTTP POST")
			sc := httpSpan.SpanContext()
			assert.Equal(t, "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-01", header.Get("Traceparent"))
		})
	}
}

// The transport sends through the base given, and its CloseIdleConnections
// reaches the base's.
func TestTransportBase(t *testing.T) {
	r := newRecorder(t, nil)
	base := &countingTransport{next: http.DefaultTransport.(*http.Transport).Clone()}
	client := &http.Client{Transport: r.tel.Transport(base)}
	srv := newServer(t, nil)

	post(t, context.Background(), client, srv.URL)
	assert.Equal(t, 1, base.trips)
	client.CloseIdleConnections()
	assert.Equal(t, 1, base.closes)

	// A base without the method is left alone.
	client = &http.Client{Transport: r.tel.Transport(roundTripFunc(base.next.RoundTrip))}
	post(t, context.Background(), client, srv.URL)
	client.CloseIdleConnections()
	base.next.CloseIdleConnections()

	spans := r.spans.Ended()
	require.Len(t, spans, 2)
	for _, s := range spans {
		assert.Equal(t, trace.SpanKindClient, s.SpanKind())
		// With no span in the request's context the client span is a root.
		assert.False(t, s.Parent().IsValid())
	}
}

type countingTransport struct {
	next          *http.Transport
	trips, closes int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.trips++
	return c.next.RoundTrip(r)
}

func (c *countingTransport) CloseIdleConnections() {
	c.closes++
	c.next.CloseIdleConnections()
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
