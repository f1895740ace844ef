package otelhook

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/introspect"
)

// ScopeName is the name of the instrumentation scope of the meter and the
// tracer a [Telemetry] uses: this package's import path, as the
// OpenTelemetry instrumentation libraries name theirs.
const ScopeName = "github.com/tokengate/tokengate/introspect/otelhook"

// modulePath is the path of the module this package belongs to, whose
// version is the instrumentation scope's.
const modulePath = "github.com/tokengate/tokengate"

// The instruments' names.
const (
	metricRequests         = "tokengate.requests"
	metricLookups          = "tokengate.cache.lookups"
	metricEvictions        = "tokengate.cache.evictions"
	metricUpstreamRequests = "tokengate.upstream.requests"
	metricUpstreamDuration = "tokengate.upstream.request.duration"
	metricInFlight         = "tokengate.upstream.in_flight"
	metricWaiting          = "tokengate.upstream.waiting"
	metricKeySetRefreshes  = "tokengate.keyset.refreshes"
	metricInvalidations    = "tokengate.invalidations"
	metricSharedOperations = "tokengate.shared.operations"
)

// The metric attributes' keys: the Prometheus adapter's label names.
const (
	labelOutcome   = "outcome"
	labelTier      = "tier"
	labelResult    = "result"
	labelBackend   = "backend"
	labelDirection = "direction"
	labelOp        = "op"
)

// The result attribute's values of a shared tier operation.
const (
	sharedOK    = "ok"
	sharedError = "error"
)

// The spans' names.
const (
	spanVerify       = "tokengate.verify"
	spanUpstream     = "tokengate.upstream"
	spanKeySet       = "tokengate.keyset.fetch"
	spanSharedPrefix = "tokengate.shared."
	eventDecision    = "tokengate.decision"
)

// The span and event attributes' keys.
const (
	attrBackend      = attribute.Key("tokengate.backend")
	attrCache        = attribute.Key("tokengate.cache")
	attrResult       = attribute.Key("tokengate.result")
	attrOutcome      = attribute.Key("tokengate.outcome")
	attrKeySetForced = attribute.Key("tokengate.keyset.forced")
	attrKeySetKeys   = attribute.Key("tokengate.keyset.keys")
	attrStatusCode   = attribute.Key("http.response.status_code")
)

// The descriptions of the Error status.
const (
	statusUnavailable  = "no answer from the verifier"
	statusKeySet       = "key set fetch failed"
	statusSharedFailed = "shared tier operation failed"
)

// durationBounds are the upstream duration histogram's bucket boundaries,
// in seconds: from a local JWT check or a near authorization server to
// past the default timeout.
var durationBounds = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// The values the attribute sets are built for in advance.
var (
	knownOutcomes = []introspect.Outcome{
		introspect.OutcomeAllowed, introspect.OutcomeNoToken, introspect.OutcomeMalformed,
		introspect.OutcomeInvalidToken, introspect.OutcomeInsufficientScope, introspect.OutcomeUnavailable,
	}
	knownTiers         = []introspect.Tier{introspect.TierMemory, introspect.TierShared}
	knownLookupResults = []introspect.LookupResult{introspect.LookupHit, introspect.LookupMiss, introspect.LookupStale}
	knownResults       = []introspect.Result{introspect.ResultValid, introspect.ResultInvalid, introspect.ResultError}
	knownDirections    = []introspect.Direction{introspect.DirectionSent, introspect.DirectionReceived}
	knownBackends      = []string{
		"rfc7662", "geosecure", "jwt", "custom",
		// A jwt.Fallback's: the JWT verifier, then the one for opaque tokens.
		"jwt+rfc7662", "jwt+geosecure", "jwt+custom",
	}
	knownSharedOps = []introspect.SharedOp{
		introspect.SharedGet, introspect.SharedSet, introspect.SharedClaim,
		introspect.SharedRelease, introspect.SharedInvalidate,
	}
)

// Config configures a [Telemetry]. The zero value uses OpenTelemetry's
// global providers and propagator.
type Config struct {
	// MeterProvider provides the meter the instruments are created with.
	// Nil means [otel.GetMeterProvider]: the global provider, which
	// forwards to one set later with [otel.SetMeterProvider].
	MeterProvider metric.MeterProvider
	// TracerProvider provides the tracer the spans are started with, and
	// the one of the HTTP client spans of [Telemetry.Transport]. Nil means
	// [otel.GetTracerProvider]: the global provider, which forwards to one
	// set later with [otel.SetTracerProvider].
	TracerProvider trace.TracerProvider
	// Propagators write the trace context into the headers of the
	// requests sent through [Telemetry.Transport], so that an
	// authorization server that traces can join the trace. Nil means
	// [otel.GetTextMapPropagator], the global propagator (which writes
	// nothing until one is set); an empty
	// [propagation.NewCompositeTextMapPropagator] keeps the trace context
	// from reaching a server the application does not trust with it.
	Propagators propagation.TextMapPropagator
}

// Telemetry records what tokengate reports through its [introspect.Hooks]
// as OpenTelemetry metrics and spans, and instruments the backends' HTTP
// requests with [Telemetry.Transport]. Make one with [New]; it is safe for
// concurrent use, and one Telemetry serves any number of Caches,
// verifiers and middlewares.
type Telemetry struct {
	tp     trace.TracerProvider
	mp     metric.MeterProvider
	prop   propagation.TextMapPropagator
	tracer trace.Tracer

	requests         metric.Int64Counter
	lookups          metric.Int64Counter
	evictions        metric.Int64Counter
	upstreamRequests metric.Int64Counter
	upstreamDuration metric.Float64Histogram
	inFlight         metric.Int64UpDownCounter
	waiting          metric.Int64UpDownCounter
	keySetRefreshes  metric.Int64Counter
	invalidations    metric.Int64Counter
	sharedOperations metric.Int64Counter

	// The options of the known attribute values, built by New. allowed
	// and memoryHit are the ones of the hit path, looked up without a map.
	allowed          []metric.AddOption
	memoryHit        []metric.AddOption
	requestOpts      map[introspect.Outcome][]metric.AddOption
	lookupOpts       map[lookupKey][]metric.AddOption
	upstreamOpts     map[upstreamKey][]metric.AddOption
	durationOpts     map[string][]metric.RecordOption
	keySetOpts       map[introspect.Result][]metric.AddOption
	invalidationOpts map[introspect.Direction][]metric.AddOption
	sharedOpts       map[sharedKey][]metric.AddOption

	// The start options of the spans.
	internal      []trace.SpanStartOption
	upstreamStart map[string][]trace.SpanStartOption
	sharedNames   map[introspect.SharedOp]string

	hooks introspect.Hooks
}

type lookupKey struct {
	tier   introspect.Tier
	result introspect.LookupResult
}

type sharedKey struct {
	op     introspect.SharedOp
	failed bool
}

type upstreamKey struct {
	backend string
	result  introspect.Result
}

// New returns a Telemetry that records through cfg's providers. It creates
// the instruments and the attribute sets of every known attribute value
// up front; its error is the meter's, should it refuse an instrument.
func New(cfg Config) (*Telemetry, error) {
	t := &Telemetry{tp: cfg.TracerProvider, mp: cfg.MeterProvider, prop: cfg.Propagators}
	if t.tp == nil {
		t.tp = otel.GetTracerProvider()
	}
	if t.mp == nil {
		t.mp = otel.GetMeterProvider()
	}
	if t.prop == nil {
		t.prop = otel.GetTextMapPropagator()
	}
	var (
		meterOpts  []metric.MeterOption
		tracerOpts []trace.TracerOption
	)
	if v := moduleVersion(); v != "" {
		meterOpts = append(meterOpts, metric.WithInstrumentationVersion(v))
		tracerOpts = append(tracerOpts, trace.WithInstrumentationVersion(v))
	}
	meter := t.mp.Meter(ScopeName, meterOpts...)
	t.tracer = t.tp.Tracer(ScopeName, tracerOpts...)

	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	upDown := func(name, unit, desc string) metric.Int64UpDownCounter {
		c, err := meter.Int64UpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	t.requests = counter(metricRequests, "{request}", "Requests the middleware decided on, by outcome.")
	t.lookups = counter(metricLookups, "{lookup}", "Lookups of a token in a tier of a cache, by tier and result.")
	t.evictions = counter(metricEvictions, "{eviction}", "Results the memory tier removed to make room for others.")
	t.upstreamRequests = counter(metricUpstreamRequests, "{request}", "Calls of a cache to the verifier it wraps, by backend and result.")
	var err error
	t.upstreamDuration, err = meter.Float64Histogram(metricUpstreamDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Duration of the calls of a cache to the verifier it wraps, by backend, not counting the wait for a slot."),
		metric.WithExplicitBucketBoundaries(durationBounds...))
	errs = append(errs, err)
	t.inFlight = upDown(metricInFlight, "{request}", "Upstream calls holding one of a cache's slots.")
	t.waiting = upDown(metricWaiting, "{request}", "Upstream calls waiting for one of a cache's slots.")
	t.keySetRefreshes = counter(metricKeySetRefreshes, "{refresh}", "Fetches of a JWT issuer's key set, by result.")
	t.invalidations = counter(metricInvalidations, "{invalidation}", "Invalidations sent to or heard from the other replicas, by direction.")
	t.sharedOperations = counter(metricSharedOperations, "{operation}", "Operations of a cache on its shared tier, by operation and result (ok, or error: the cache went on without the tier).")
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("otelhook: %w", err)
	}

	t.prebuild()
	t.zero()
	t.hooks = introspect.Hooks{
		VerifyStart:   t.verifyStart,
		VerifyDone:    t.verifyDone,
		Lookup:        t.lookup,
		Evicted:       t.evicted,
		UpstreamStart: t.upstreamStarted,
		UpstreamDone:  t.upstreamDone,
		InFlight:      t.inFlightChanged,
		Waiting:       t.waitingChanged,
		SharedStart:   t.sharedStart,
		SharedDone:    t.sharedDone,
		Invalidation:  t.invalidation,
		KeySetStart:   t.keySetStart,
		KeySetDone:    t.keySetDone,
		Decision:      t.decision,
	}
	return t, nil
}

// prebuild builds the options of every known attribute value.
func (t *Telemetry) prebuild() {
	t.requestOpts = make(map[introspect.Outcome][]metric.AddOption, len(knownOutcomes))
	for _, o := range knownOutcomes {
		t.requestOpts[o] = requestOpts(o)
	}
	t.lookupOpts = make(map[lookupKey][]metric.AddOption, len(knownTiers)*len(knownLookupResults))
	for _, tier := range knownTiers {
		for _, r := range knownLookupResults {
			t.lookupOpts[lookupKey{tier, r}] = lookupOpts(tier, r)
		}
	}
	t.upstreamOpts = make(map[upstreamKey][]metric.AddOption, len(knownBackends)*len(knownResults))
	t.durationOpts = make(map[string][]metric.RecordOption, len(knownBackends))
	t.upstreamStart = make(map[string][]trace.SpanStartOption, len(knownBackends))
	for _, b := range knownBackends {
		for _, r := range knownResults {
			t.upstreamOpts[upstreamKey{b, r}] = upstreamOpts(b, r)
		}
		t.durationOpts[b] = durationOpts(b)
		t.upstreamStart[b] = upstreamStartOpts(b)
	}
	t.keySetOpts = make(map[introspect.Result][]metric.AddOption, len(knownResults))
	for _, r := range knownResults {
		t.keySetOpts[r] = keySetOpts(r)
	}
	t.invalidationOpts = make(map[introspect.Direction][]metric.AddOption, len(knownDirections))
	for _, d := range knownDirections {
		t.invalidationOpts[d] = invalidationOpts(d)
	}
	t.sharedNames = make(map[introspect.SharedOp]string, len(knownSharedOps))
	t.sharedOpts = make(map[sharedKey][]metric.AddOption, 2*len(knownSharedOps))
	for _, op := range knownSharedOps {
		t.sharedNames[op] = spanSharedPrefix + string(op)
		t.sharedOpts[sharedKey{op, false}] = sharedOpts(op, false)
		t.sharedOpts[sharedKey{op, true}] = sharedOpts(op, true)
	}
	t.allowed = t.requestOpts[introspect.OutcomeAllowed]
	t.memoryHit = t.lookupOpts[lookupKey{introspect.TierMemory, introspect.LookupHit}]
	t.internal = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
}

// zero adds zero to the series of every instrument whose attributes take
// a fixed set of values, so that they are exported from the start, as the
// Prometheus adapter's are, and a rate over one sees the first event after
// a restart. The series of a backend appear at its first upstream call.
func (t *Telemetry) zero() {
	ctx := context.Background()
	for _, opts := range t.requestOpts {
		t.requests.Add(ctx, 0, opts...)
	}
	for _, opts := range t.lookupOpts {
		t.lookups.Add(ctx, 0, opts...)
	}
	t.evictions.Add(ctx, 0)
	t.inFlight.Add(ctx, 0)
	t.waiting.Add(ctx, 0)
	// A fetch of the key set loads keys or fails: it has no invalid.
	t.keySetRefreshes.Add(ctx, 0, t.keySetOpts[introspect.ResultValid]...)
	t.keySetRefreshes.Add(ctx, 0, t.keySetOpts[introspect.ResultError]...)
	for _, opts := range t.invalidationOpts {
		t.invalidations.Add(ctx, 0, opts...)
	}
	for _, opts := range t.sharedOpts {
		t.sharedOperations.Add(ctx, 0, opts...)
	}
}

// The builders of the options of one attribute value: New calls them for
// the known values, the hooks for any other.

func addOpts(kvs ...attribute.KeyValue) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}
}

func requestOpts(o introspect.Outcome) []metric.AddOption {
	return addOpts(attribute.String(labelOutcome, string(o)))
}

func lookupOpts(tier introspect.Tier, r introspect.LookupResult) []metric.AddOption {
	return addOpts(attribute.String(labelTier, string(tier)), attribute.String(labelResult, string(r)))
}

func upstreamOpts(backend string, r introspect.Result) []metric.AddOption {
	return addOpts(attribute.String(labelBackend, backend), attribute.String(labelResult, string(r)))
}

func durationOpts(backend string) []metric.RecordOption {
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String(labelBackend, backend)))}
}

func keySetOpts(r introspect.Result) []metric.AddOption {
	return addOpts(attribute.String(labelResult, string(r)))
}

func invalidationOpts(d introspect.Direction) []metric.AddOption {
	return addOpts(attribute.String(labelDirection, string(d)))
}

func sharedOpts(op introspect.SharedOp, failed bool) []metric.AddOption {
	result := sharedOK
	if failed {
		result = sharedError
	}
	return addOpts(attribute.String(labelOp, string(op)), attribute.String(labelResult, result))
}

func upstreamStartOpts(backend string) []trace.SpanStartOption {
	return []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attrBackend.String(backend)),
	}
}

// Hooks returns the Hooks that record into t, every field set. Each call
// returns a new copy, so that changing one changes neither t nor the
// Hooks given out before. Combine them with other Hooks with
// [introspect.JoinHooks].
func (t *Telemetry) Hooks() *introspect.Hooks {
	h := t.hooks
	return &h
}

func (t *Telemetry) verifyStart(ctx context.Context) context.Context {
	ctx, _ = t.tracer.Start(ctx, spanVerify, t.internal...)
	return ctx
}

func (t *Telemetry) verifyDone(ctx context.Context, v introspect.Verification) {
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.SetAttributes(
			attrBackend.String(v.Backend),
			attrCache.String(string(v.Cache)),
			attrResult.String(string(v.Result)),
		)
		if v.Result == introspect.ResultError {
			span.SetStatus(codes.Error, statusUnavailable)
		}
	}
	span.End()
}

func (t *Telemetry) lookup(ctx context.Context, tier introspect.Tier, r introspect.LookupResult) {
	opts := t.memoryHit
	if tier != introspect.TierMemory || r != introspect.LookupHit {
		if opts = t.lookupOpts[lookupKey{tier, r}]; opts == nil {
			opts = lookupOpts(tier, r)
		}
	}
	t.lookups.Add(ctx, 1, opts...)
}

func (t *Telemetry) evicted() {
	t.evictions.Add(context.Background(), 1)
}

func (t *Telemetry) upstreamStarted(ctx context.Context, backend string) context.Context {
	opts := t.upstreamStart[backend]
	if opts == nil {
		opts = upstreamStartOpts(backend)
	}
	ctx, _ = t.tracer.Start(ctx, spanUpstream, opts...)
	return ctx
}

func (t *Telemetry) upstreamDone(ctx context.Context, u introspect.UpstreamCall) {
	opts := t.upstreamOpts[upstreamKey{u.Backend, u.Result}]
	if opts == nil {
		opts = upstreamOpts(u.Backend, u.Result)
	}
	t.upstreamRequests.Add(ctx, 1, opts...)
	rec := t.durationOpts[u.Backend]
	if rec == nil {
		rec = durationOpts(u.Backend)
	}
	t.upstreamDuration.Record(ctx, u.Duration.Seconds(), rec...)

	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.SetAttributes(attrResult.String(string(u.Result)))
		if u.Result == introspect.ResultError {
			span.SetStatus(codes.Error, statusUnavailable)
		}
	}
	span.End()
}

func (t *Telemetry) inFlightChanged(delta int) {
	t.inFlight.Add(context.Background(), int64(delta))
}

func (t *Telemetry) waitingChanged(delta int) {
	t.waiting.Add(context.Background(), int64(delta))
}

func (t *Telemetry) sharedStart(ctx context.Context, op introspect.SharedOp) context.Context {
	name, ok := t.sharedNames[op]
	if !ok {
		name = spanSharedPrefix + string(op)
	}
	ctx, _ = t.tracer.Start(ctx, name, t.internal...)
	return ctx
}

func (t *Telemetry) sharedDone(ctx context.Context, op introspect.SharedOp, err error) {
	key := sharedKey{op, err != nil}
	opts := t.sharedOpts[key]
	if opts == nil {
		opts = sharedOpts(op, key.failed)
	}
	t.sharedOperations.Add(ctx, 1, opts...)

	span := trace.SpanFromContext(ctx)
	if err != nil && span.IsRecording() {
		// The shared tier's errors name the operation and the failure,
		// never a token: no error of tokengate holds one.
		span.RecordError(err)
		span.SetStatus(codes.Error, statusSharedFailed)
	}
	span.End()
}

func (t *Telemetry) invalidation(d introspect.Direction) {
	opts := t.invalidationOpts[d]
	if opts == nil {
		opts = invalidationOpts(d)
	}
	t.invalidations.Add(context.Background(), 1, opts...)
}

func (t *Telemetry) keySetStart(ctx context.Context) context.Context {
	ctx, _ = t.tracer.Start(ctx, spanKeySet, t.internal...)
	return ctx
}

func (t *Telemetry) keySetDone(ctx context.Context, r introspect.KeySetRefresh) {
	opts := t.keySetOpts[r.Result]
	if opts == nil {
		opts = keySetOpts(r.Result)
	}
	t.keySetRefreshes.Add(ctx, 1, opts...)

	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.SetAttributes(
			attrResult.String(string(r.Result)),
			attrKeySetForced.Bool(r.Forced),
			attrKeySetKeys.Int(r.Keys),
		)
		if r.Result == introspect.ResultError {
			span.SetStatus(codes.Error, statusKeySet)
		}
	}
	span.End()
}

func (t *Telemetry) decision(ctx context.Context, d introspect.Decision) {
	opts := t.allowed
	if d.Outcome != introspect.OutcomeAllowed {
		if opts = t.requestOpts[d.Outcome]; opts == nil {
			opts = requestOpts(d.Outcome)
		}
	}
	t.requests.Add(ctx, 1, opts...)

	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	outcome := attrOutcome.String(string(d.Outcome))
	span.SetAttributes(outcome)
	if d.Status == 0 {
		span.AddEvent(eventDecision, trace.WithAttributes(outcome))
	} else {
		span.AddEvent(eventDecision, trace.WithAttributes(outcome, attrStatusCode.Int(d.Status)))
	}
}

// moduleVersion returns the version of tokengate the program was built
// with, or "" when the build does not say (a development build).
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	if bi.Main.Path == modulePath {
		return knownVersion(bi.Main.Version)
	}
	for _, d := range bi.Deps {
		if d.Path == modulePath {
			if d.Replace != nil {
				return knownVersion(d.Replace.Version)
			}
			return knownVersion(d.Version)
		}
	}
	return ""
}

// knownVersion returns v, or "" for the version of a development build.
func knownVersion(v string) string {
	if v == "(devel)" {
		return ""
	}
	return v
}
