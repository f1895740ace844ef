package otelhook_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/middleware"
)

// A scripted mix of requests through the whole stack — otelhttp's server
// handler, the middleware, a Cache, the Geosecure backend with the
// Transport, the test authorization server — gives exact metrics and the
// spans of each request: the decision on the server span, a verification
// below it for each request with a token, an upstream call below that for
// each miss, and the HTTP request below that. No span, event or metric
// holds any of the tokens.
func TestStack(t *testing.T) {
	r := newRecorder(t, nil)
	hooks := r.tel.Hooks()

	srv := introspecttest.NewServer()
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: r.tel.Transport(nil)}
	t.Cleanup(client.CloseIdleConnections)
	backend, err := geosecure.New(geosecure.Config{URL: srv.VerifyURL(), HTTPClient: client})
	require.NoError(t, err)
	t.Cleanup(backend.Close)
	cache, err := introspect.NewCache(backend, introspect.CacheConfig{Hooks: hooks})
	require.NoError(t, err)
	t.Cleanup(cache.Close)
	auth, err := middleware.New(middleware.Config{
		Verifier: cache,
		Hooks:    hooks,
		Logger:   slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)

	protected := auth.Require(middleware.AllOf("MapRequest"))(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if introspect.FromContext(req.Context()) == nil {
			http.Error(w, "no token info", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	handler := otelhttp.NewHandler(protected, "resource",
		otelhttp.WithTracerProvider(r.tp), otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))

	mapRequest := srv.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "38890"})
	readOnly := srv.IssueToken(introspecttest.Token{Scopes: []string{"gipod_pdo_read"}, ClientID: "38890"})
	unknown := introspecttest.NewToken()
	duringFault := srv.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "38890"})

	// step sends one request with the Authorization header authz ("" for
	// none), checks its status, and checks the spans it ended: the server
	// span with the decision, and below it the verification (for a request
	// with a token) with cache and result, the upstream call and its HTTP
	// request (for a miss).
	seen := 0
	step := func(name, authz string, status int, outcome, cache, result string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/v1/resource", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		require.Equal(t, status, rec.Code, name)

		spans := r.spans.Ended()[seen:]
		seen += len(spans)
		want := 1 // the server span
		if cache != "" {
			want++
		}
		if cache == "miss" {
			want += 2
		}
		require.Len(t, spans, want, name)
		server := spans[len(spans)-1]
		assert.Equal(t, trace.SpanKindServer, server.SpanKind(), name)
		assert.Equal(t, outcome, stringAttrs(server)["tokengate.outcome"], name)
		require.Len(t, server.Events(), 1, name)
		assert.Equal(t, "tokengate.decision", server.Events()[0].Name, name)
		if cache == "" {
			return
		}
		verify := spanByName(t, spans, "tokengate.verify")
		assert.True(t, isChild(verify, server), name)
		assert.Equal(t, map[string]string{
			"tokengate.backend": "geosecure", "tokengate.cache": cache, "tokengate.result": result,
		}, stringAttrs(verify), name)
		wantCode := codes.Unset
		if result == "error" {
			wantCode = codes.Error
		}
		assert.Equal(t, wantCode, verify.Status().Code, name)
		if cache != "miss" {
			return
		}
		upstream := spanByName(t, spans, "tokengate.upstream")
		assert.True(t, isChild(upstream, verify), name)
		assert.Equal(t, map[string]string{"tokengate.backend": "geosecure", "tokengate.result": result}, stringAttrs(upstream), name)
		assert.Equal(t, wantCode, upstream.Status().Code, name)
		httpGet := spanByName(t, spans, "HTTP GET")
		assert.True(t, isChild(httpGet, upstream), name)
		assert.Equal(t, trace.SpanKindClient, httpGet.SpanKind(), name)
	}

	step("1. MapRequest", "Bearer "+mapRequest, http.StatusOK, "allowed", "miss", "valid")
	step("2. again", "Bearer "+mapRequest, http.StatusOK, "allowed", "hit", "valid")
	step("2. and again", "Bearer "+mapRequest, http.StatusOK, "allowed", "hit", "valid")
	step("3. read only", "Bearer "+readOnly, http.StatusForbidden, "insufficient_scope", "miss", "valid")
	step("4. unknown", "Bearer "+unknown, http.StatusUnauthorized, "invalid_token", "miss", "invalid")
	step("4. unknown again", "Bearer "+unknown, http.StatusUnauthorized, "invalid_token", "hit", "invalid")
	step("5. no token", "", http.StatusUnauthorized, "no_token", "", "")
	step("6. malformed", "Bearer a b", http.StatusBadRequest, "malformed", "", "")
	srv.SetFault(introspecttest.Fault{Status: http.StatusServiceUnavailable})
	step("7. during a fault", "Bearer "+duringFault, http.StatusServiceUnavailable, "unavailable", "miss", "error")

	spans := r.spans.Ended()
	assert.Equal(t, map[string]int{
		"GET":                9, // otelhttp names a server span by its method
		"tokengate.verify":   7,
		"tokengate.upstream": 4,
		"HTTP GET":           4,
	}, spanNames(spans))

	rm := r.collect(t)
	requests, _ := sums(t, rm, "tokengate.requests")
	assert.Equal(t, map[string]int64{
		"outcome=allowed":            3,
		"outcome=insufficient_scope": 1,
		"outcome=invalid_token":      2,
		"outcome=no_token":           1,
		"outcome=malformed":          1,
		"outcome=unavailable":        1,
	}, requests)
	lookups, _ := sums(t, rm, "tokengate.cache.lookups")
	assert.Equal(t, map[string]int64{
		"result=hit,tier=memory":   3,
		"result=miss,tier=memory":  4,
		"result=stale,tier=memory": 0,
		"result=hit,tier=shared":   0,
		"result=miss,tier=shared":  0,
		"result=stale,tier=shared": 0,
	}, lookups)
	calls, _ := sums(t, rm, "tokengate.upstream.requests")
	assert.Equal(t, map[string]int64{
		"backend=geosecure,result=valid":   2,
		"backend=geosecure,result=invalid": 1,
		"backend=geosecure,result=error":   1,
	}, calls)
	m, _ := findMetric(t, rm, "tokengate.upstream.request.duration")
	hist, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok, "%T", m.Data)
	require.Len(t, hist.DataPoints, 1)
	assert.Equal(t, "backend=geosecure", encode(hist.DataPoints[0].Attributes))
	assert.Equal(t, uint64(4), hist.DataPoints[0].Count)
	inFlight, _ := sums(t, rm, "tokengate.upstream.in_flight")
	assert.Equal(t, map[string]int64{"": 0}, inFlight)
	waiting, _ := sums(t, rm, "tokengate.upstream.waiting")
	assert.Equal(t, map[string]int64{"": 0}, waiting)

	assert.Greater(t, assertNoSecret(t, r, spans, mapRequest, readOnly, unknown, duringFault), 100)
}

// spanNames counts spans by name.
func spanNames(spans []sdktrace.ReadOnlySpan) map[string]int {
	n := make(map[string]int)
	for _, s := range spans {
		n[s.Name()]++
	}
	return n
}
