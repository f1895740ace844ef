// Package otelhook reports what tokengate does through OpenTelemetry:
// metrics through a [metric.MeterProvider] and spans through a
// [trace.TracerProvider], both taken from the application (or OTel's
// global ones). It is the only package of tokengate that imports
// OpenTelemetry; the core reports through [introspect.Hooks], and
// [Telemetry.Hooks] are the Hooks that forward to OTel.
//
// [New] makes a [Telemetry] from a [Config]. Give its Hooks to every part
// that reports ([introspect.CacheConfig], the JWT verifier's Config, the
// middleware's Config), and give the backends an HTTPClient whose
// Transport is [Telemetry.Transport], so that each request to the
// authorization server is a span of its own below the verification that
// made it. When the application is done with the Telemetry, call
// [Telemetry.Close]: it unregisters the callback that reports most of the
// metrics (below), so that a MeterProvider that outlives the Telemetry no
// longer calls it, and leaves the providers, the application's, alone.
//
// # Metrics
//
// The instruments are those of the Prometheus adapter (introspect/promhook)
// under OpenTelemetry's names: dots between namespaces, no _total suffix,
// the unit in the instrument's unit. Their attributes carry the label
// names unchanged (outcome, tier, result, backend, direction, op), so that
// OTel's Prometheus exporter, with its default translation, exports the
// Prometheus adapter's metric names and labels (with labels of its own,
// such as otel_scope_name, added) and dashboards work with either.
//
//	Prometheus                                   OpenTelemetry                        kind                     unit            attributes
//	tokengate_requests_total                     tokengate.requests                   ObservableCounter        {request}       outcome
//	tokengate_cache_lookups_total                tokengate.cache.lookups              ObservableCounter        {lookup}        tier, result
//	tokengate_cache_evictions_total              tokengate.cache.evictions            ObservableCounter        {eviction}      -
//	tokengate_upstream_requests_total            tokengate.upstream.requests          Counter                  {request}       backend, result
//	tokengate_upstream_request_duration_seconds  tokengate.upstream.request.duration  Histogram                s               backend
//	tokengate_upstream_in_flight                 tokengate.upstream.in_flight         ObservableUpDownCounter  {request}       -
//	tokengate_upstream_waiting                   tokengate.upstream.waiting           ObservableUpDownCounter  {request}       -
//	tokengate_keyset_refreshes_total             tokengate.keyset.refreshes           ObservableCounter        {refresh}       result
//	tokengate_invalidations_total                tokengate.invalidations              ObservableCounter        {invalidation}  direction
//	tokengate_shared_operations_total            tokengate.shared.operations          ObservableCounter        {operation}     op, result
//
// The attribute values are those of the introspect package's types:
// outcome is an [introspect.Outcome] (allowed, no_token, malformed,
// invalid_token, insufficient_scope, unavailable); tier an
// [introspect.Tier] (memory, shared); result an [introspect.LookupResult]
// (hit, miss, stale) on lookups, ok or error on shared-tier operations
// (error: the tier failed and the Cache went on without it) and an
// [introspect.Result] (valid, invalid, error) elsewhere, a key-set
// fetch's being valid or error; backend the Verifier's
// [introspect.BackendName] (rfc7662, geosecure, jwt, jwt+rfc7662 and the
// like for a JWT verifier with a fallback, custom); direction an
// [introspect.Direction] (sent, received); op an [introspect.SharedOp]
// (get, set, claim, release, invalidate).
//
// The instruments whose attributes take a fixed set of values (all but
// the two of the upstream calls, whose backend is any Verifier's name) are
// asynchronous: the hooks add to counters of their own, one per series,
// and a callback, registered once by New, observes each counter's value
// at each collection, under the series' attribute set. The values are
// cumulative sums from New on, as those of a synchronous counter would
// be. As the Prometheus adapter does, New makes every series of the
// values listed here, so that they are exported from the start, at zero,
// and a rate over one sees the first event after a restart; a backend's
// series appear at its first upstream call. A value not listed here (an
// Outcome added to introspect after this package, say) is counted under
// its own attribute value from its first event on, where the Prometheus
// adapter drops it; such values come from tokengate's own constants,
// never from a request, so they stay few.
//
// A reader that asks for delta temporality (an OTLP exporter configured
// so, for a backend that prefers deltas) gets deltas of the observable
// counters too: OpenTelemetry defines an asynchronous counter's
// observation as the cumulative sum, and the SDK subtracts the value it
// reported last. One difference with synchronous counters remains: every
// series is observed at each collection, so a delta export carries a
// zero point for each series that did not change, where a synchronous
// counter's carries none. The up-down counters (in_flight, waiting) stay
// cumulative under the SDK's delta selector, as synchronous ones do.
//
// The duration histogram's bucket boundaries, in seconds, run from a
// millisecond (a local JWT check, a near authorization server) to ten
// seconds, past [introspect.DefaultTimeout]: 0.001, 0.0025, 0.005, 0.01,
// 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, the Prometheus adapter's
// default buckets. They are given as the instrument's advice; a View in the application's MeterProvider can
// replace them.
//
// The metrics of the HTTP requests themselves (http.client.request.duration
// and the rest) are otelhttp's, recorded by [Telemetry.Transport] through
// the same MeterProvider.
//
// # Spans
//
// A verification that reaches the authorization server makes this tree,
// every span but the last of kind internal:
//
//	(the request's server span, if any)
//	└── tokengate.verify                tokengate.backend, tokengate.cache, tokengate.result
//	    ├── tokengate.shared.get        (a shared tier, if any: get, claim, set, release, invalidate)
//	    └── tokengate.upstream          tokengate.backend, tokengate.result
//	        └── HTTP POST               otelhttp's client span (HTTP GET for Geosecure), through [Telemetry.Transport]
//
// A JWT verifier's key-set fetch is a tokengate.keyset.fetch span
// (tokengate.result, tokengate.keyset.forced, tokengate.keyset.keys), with
// its HTTP requests below it, under whatever span its context holds.
//
// tokengate.cache is where the answer came from (hit, shared_hit, miss,
// stale); tokengate.result is valid, invalid or error. A span whose result
// is error, and a shared-tier operation that failed, has status Error with
// a short description; the shared tier's error is recorded on its span as
// an exception event. An invalid token is an answer, not an error: its
// spans keep status Unset.
//
// The middleware's decision goes on the span in the request's context
// (the server span of otelhttp's handler, say): the attribute
// tokengate.outcome, and an event tokengate.decision with
// tokengate.outcome and, for a refusal, http.response.status_code. The
// span's own http.response.status_code is left to the server
// instrumentation, which knows the status actually written; on the event
// the decision's status cannot overwrite it.
//
// Span attributes are namespaced (tokengate.*) because they share a span,
// the server span, with other instrumentations' attributes; metric
// attributes are not, for the Prometheus names above.
//
// Each Done hook ends the span it finds in its context, the one its Start
// put there. [introspect.JoinHooks] gives each Done hook the context its
// own Start returned, so these Hooks may be joined with others that start
// spans too.
//
// # Security
//
// No span attribute, event or metric attribute holds a token, a claim's
// value or a secret: the hooks are never given one, and only the values
// listed above are recorded. otelhttp records the method, the URL (without
// any user information), the server address and the status of each
// request, never its headers or body, so neither the bearer token in an
// Authorization header nor a token or client secret in a form reaches a
// span.
//
// # Cost
//
// A hook of an observable instrument adds to an atomic counter and no
// more: no call into the SDK, no attribute set, no lock. (A value not
// listed takes a lock and a map lookup each time, and its attribute set
// is built the first time.) The counters of the two series of a cache
// hit, tokengate.cache.lookups{tier=memory,result=hit} and
// tokengate.requests{outcome=allowed}, are padded to cache lines of their
// own, so that no other counter, written by another core, shares a line
// with them. So the metrics of a memory hit and an allowed decision cost
// two atomic additions and allocate nothing: some 30 ns on a busy 2-core
// machine (BenchmarkHooksHit/metrics), against 400 to 700 ns for the
// SDK's synchronous counters. Cores that hit in parallel still add to the
// same two counters, and so share their lines. The work moves to the
// collection, whose callback observes every series, a few dozen, each
// under its attribute set, built once.
//
// The upstream calls' counter and histogram are synchronous, with the
// attribute sets of the known backends built in New and reused as
// options ([metric.WithAttributeSet]); a hook builds one only for a
// backend it has not seen listed (a custom one, say), and an upstream
// call, a network call or a JWT check, dwarfs either. Span attributes are
// set only on spans that record; the verification span of a hit costs
// what the tracer's Start costs, which with a tracer that records nothing
// is the one allocation of the context that holds the span.
//
// The instrumentation scope of both the meter and the tracer is
// [ScopeName].
package otelhook
