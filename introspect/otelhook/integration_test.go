package otelhook_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/jwt"
	"github.com/tokengate/tokengate/introspect/rfc7662"
)

// A real Cache around an RFC 7662 introspector, whose HTTPClient uses the
// Transport, makes the span tree the package doc draws, the metrics of a
// miss then a hit, and no attribute holding the token or client secret
// that went to the authorization server.
func TestCacheAroundIntrospector(t *testing.T) {
	r := newRecorder(t, nil)
	srv := introspecttest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddClient(introspecttest.Client{ID: "my-api", Secret: clientSecret})
	srv.AddToken(secretToken, introspecttest.Token{Scopes: []string{"gipod_pdo_read"}, Subject: "u1"})

	client := &http.Client{Transport: r.tel.Transport(nil)}
	t.Cleanup(client.CloseIdleConnections)
	in, err := rfc7662.New(rfc7662.Config{
		Endpoint: srv.IntrospectionURL(), ClientID: "my-api", ClientSecret: clientSecret, HTTPClient: client,
	})
	require.NoError(t, err)
	t.Cleanup(in.Close)
	cache, err := introspect.NewCache(in, introspect.CacheConfig{Hooks: r.tel.Hooks()})
	require.NoError(t, err)
	t.Cleanup(cache.Close)

	// A miss: the introspection endpoint is asked.
	ctx, server := r.serverSpan(context.Background())
	_, err = cache.Verify(ctx, secretToken)
	require.NoError(t, err)
	server.End()
	spans := r.spans.Ended()
	require.Len(t, spans, 4, "HTTP POST, tokengate.upstream, tokengate.verify, the server span")
	httpSpan := spanByName(t, spans, "HTTP POST")
	upstream := spanByName(t, spans, "tokengate.upstream")
	verify := spanByName(t, spans, "tokengate.verify")
	root := spanByName(t, spans, "GET /v1/resource")
	assert.True(t, isChild(httpSpan, upstream), "the HTTP span's parent is tokengate.upstream")
	assert.True(t, isChild(upstream, verify), "tokengate.upstream's parent is tokengate.verify")
	assert.True(t, isChild(verify, root), "tokengate.verify's parent is the server span")
	assert.Equal(t, trace.SpanKindClient, httpSpan.SpanKind())
	assert.Equal(t, map[string]string{
		"tokengate.backend": "rfc7662", "tokengate.cache": "miss", "tokengate.result": "valid",
	}, stringAttrs(verify))
	assert.Equal(t, map[string]string{"tokengate.backend": "rfc7662", "tokengate.result": "valid"}, stringAttrs(upstream))

	// A hit: no upstream call.
	ctx, server = r.serverSpan(context.Background())
	_, err = cache.Verify(ctx, secretToken)
	require.NoError(t, err)
	server.End()
	spans = r.spans.Ended()
	require.Len(t, spans, 6)
	assert.Equal(t, "tokengate.verify", spans[4].Name())
	assert.Equal(t, "hit", stringAttrs(spans[4])["tokengate.cache"])
	assert.True(t, isChild(spans[4], spans[5]))

	// An invalid token is an answer, not an error.
	_, err = cache.Verify(context.Background(), "tg-unknown-token")
	require.ErrorIs(t, err, introspect.ErrInvalidToken)
	verify = r.spans.Ended()[8]
	assert.Equal(t, "tokengate.verify", verify.Name())
	assert.Equal(t, "invalid", stringAttrs(verify)["tokengate.result"])
	assert.Equal(t, codes.Unset, verify.Status().Code)

	// An authorization server that fails is an error on every span.
	srv.SetFault(introspecttest.Fault{Status: http.StatusServiceUnavailable})
	_, err = cache.Verify(context.Background(), "tg-another-token")
	require.ErrorIs(t, err, introspect.ErrUnavailable)
	spans = r.spans.Ended()
	require.Len(t, spans, 12)
	for _, s := range spans[9:] {
		assert.Equal(t, codes.Error, s.Status().Code, s.Name())
	}
	assert.Equal(t, "error", stringAttrs(spans[11])["tokengate.result"])

	rm := r.collect(t)
	lookups, _ := sums(t, rm, "tokengate.cache.lookups")
	assert.Equal(t, map[string]int64{"result=miss,tier=memory": 3, "result=hit,tier=memory": 1}, nonZero(lookups))
	calls, _ := sums(t, rm, "tokengate.upstream.requests")
	assert.Equal(t, map[string]int64{
		"backend=rfc7662,result=valid": 1, "backend=rfc7662,result=invalid": 1, "backend=rfc7662,result=error": 1,
	}, calls)
	inFlight, _ := sums(t, rm, "tokengate.upstream.in_flight")
	assert.Equal(t, map[string]int64{"": 0}, inFlight)
	waiting, _ := sums(t, rm, "tokengate.upstream.waiting")
	assert.Equal(t, map[string]int64{"": 0}, waiting)
	m, _ := findMetric(t, rm, "tokengate.upstream.request.duration")
	hist := m.Data.(metricdata.Histogram[float64])
	require.Len(t, hist.DataPoints, 1)
	assert.Equal(t, uint64(3), hist.DataPoints[0].Count)

	assert.Greater(t, assertNoSecret(t, r, r.spans.Ended(), secretToken, clientSecret, "SECRET"), 30)
}

// A JWT verifier's key-set fetch, through the Transport, is a
// tokengate.keyset.fetch span above the HTTP requests for the discovery
// document and the key set; a Cache around the verifier makes an upstream
// span with no HTTP request below it.
func TestJWTKeySet(t *testing.T) {
	r := newRecorder(t, nil)
	is := introspecttest.NewIssuer()
	t.Cleanup(is.Close)
	client := &http.Client{Transport: r.tel.Transport(nil)}
	t.Cleanup(client.CloseIdleConnections)
	hooks := r.tel.Hooks()
	v, err := jwt.New(jwt.Config{Issuer: is.Issuer(), Audiences: []string{"38890"}, HTTPClient: client, Hooks: hooks})
	require.NoError(t, err)
	t.Cleanup(v.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, v.WaitReady(ctx))
	// The fetch's span ends after WaitReady returns, just as the keys
	// are in place.
	require.Eventually(t, func() bool {
		for _, s := range r.spans.Ended() {
			if s.Name() == "tokengate.keyset.fetch" {
				return true
			}
		}
		return false
	}, 5*time.Second, time.Millisecond)

	spans := r.spans.Ended()
	fetch := spanByName(t, spans, "tokengate.keyset.fetch")
	assert.Equal(t, "valid", stringAttrs(fetch)["tokengate.result"])
	assert.Equal(t, int64(1), attrs(fetch.Attributes())["tokengate.keyset.keys"].AsInt64())
	assert.False(t, attrs(fetch.Attributes())["tokengate.keyset.forced"].AsBool())
	var gets int
	for _, s := range spans {
		if s.Name() == "HTTP GET" {
			gets++
			assert.True(t, isChild(s, fetch), "the key set's HTTP requests are below its fetch")
		}
	}
	assert.Equal(t, 2, gets, "the discovery document and the key set")

	cache, err := introspect.NewCache(v, introspect.CacheConfig{Hooks: hooks})
	require.NoError(t, err)
	t.Cleanup(cache.Close)
	token := is.IssueJWT(introspecttest.JWT{Audience: []string{"38890"}, Scopes: []string{"gipod_pdo_read"}})
	_, err = cache.Verify(context.Background(), token)
	require.NoError(t, err)
	spans = r.spans.Ended()[len(spans):]
	require.Len(t, spans, 2)
	assert.Equal(t, "tokengate.upstream", spans[0].Name())
	assert.Equal(t, "jwt", stringAttrs(spans[0])["tokengate.backend"])
	assert.True(t, isChild(spans[0], spans[1]))

	refreshes, _ := sums(t, r.collect(t), "tokengate.keyset.refreshes")
	assert.Equal(t, map[string]int64{"result=valid": 1, "result=error": 0}, refreshes)
	assert.Greater(t, assertNoSecret(t, r, r.spans.Ended(), token), 10)
}
