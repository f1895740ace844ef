package otelhook

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/tokengate/tokengate/internal/upstream"
)

// Transport returns an [http.RoundTripper] for the HTTPClient of a
// backend's Config (introspect/rfc7662, introspect/geosecure,
// introspect/jwt) that records each request as an otelhttp client span,
// a child of the span in the request's context (tokengate.upstream, or
// tokengate.keyset.fetch), and otelhttp's HTTP client metrics, through t's
// providers, and writes the trace context into the request's headers with
// t's propagators. It sends the requests through base; nil means a
// transport of tokengate's own, tuned for calls to an authorization server
// as a backend's default one is, and new at each call: give the backends
// that call one server one client, so that they share its connections.
//
// The RoundTripper has a CloseIdleConnections method that closes base's
// idle connections, so [http.Client.CloseIdleConnections] reaches them: a
// backend never closes the connections of a client it was given, so call
// it when the backends using the client are done with it.
//
//	verifier, err := rfc7662.New(rfc7662.Config{
//		// ...
//		HTTPClient: &http.Client{Transport: tel.Transport(nil)},
//	})
func (t *Telemetry) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = upstream.NewTransport()
	}
	return &transport{
		base: base,
		rt: otelhttp.NewTransport(base,
			otelhttp.WithTracerProvider(t.tp),
			otelhttp.WithMeterProvider(t.mp),
			otelhttp.WithPropagators(t.prop),
		),
	}
}

// transport is otelhttp's RoundTripper, with the CloseIdleConnections it
// lacks.
type transport struct {
	base http.RoundTripper
	rt   http.RoundTripper
}

// RoundTrip sends r through otelhttp's RoundTripper.
func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.rt.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of the base transport,
// if it has such a method.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
