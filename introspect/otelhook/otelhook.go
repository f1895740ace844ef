package otelhook

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

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
// requests with [Telemetry.Transport]. Make one with [New] and, when the
// application is done with it, call [Telemetry.Close]; it is safe for
// concurrent use, and one Telemetry serves any number of Caches,
// verifiers and middlewares.
type Telemetry struct {
	// allowed and memoryHit are the series of a cache hit, each alone on
	// its cache lines; the families below hold them too.
	allowed   hotSeries
	memoryHit hotSeries

	tp     trace.TracerProvider
	mp     metric.MeterProvider
	prop   propagation.TextMapPropagator
	tracer trace.Tracer

	// The series of the observable instruments, which the hooks add to
	// and the callback observes.
	requests         *family[introspect.Outcome]
	lookups          *family[lookupKey]
	keySetRefreshes  *family[introspect.Result]
	invalidations    *family[introspect.Direction]
	sharedOperations *family[sharedKey]
	evictions        *series
	inFlight         *series
	waiting          *series

	// The observable instruments without attributes.
	evictionsInst metric.Int64ObservableCounter
	inFlightInst  metric.Int64ObservableUpDownCounter
	waitingInst   metric.Int64ObservableUpDownCounter

	// The synchronous instruments of the upstream calls, whose backend
	// attribute takes the name of any Verifier, with the options of the
	// known backends.
	upstreamRequests metric.Int64Counter
	upstreamDuration metric.Float64Histogram
	upstreamOpts     map[upstreamKey][]metric.AddOption
	durationOpts     map[string][]metric.RecordOption

	// reg is the callback's registration, which Close unregisters once.
	reg       metric.Registration
	closeOnce sync.Once

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
// the instruments, the series of every known attribute value and their
// attribute sets up front, and registers the callback that reports the
// series; its error is the meter's, should it refuse an instrument or the
// callback.
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
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	upDown := func(name, unit, desc string) metric.Int64ObservableUpDownCounter {
		c, err := meter.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	requests := counter(metricRequests, "{request}", "Requests the middleware decided on, by outcome.")
	lookups := counter(metricLookups, "{lookup}", "Lookups of a token in a tier of a cache, by tier and result.")
	t.evictionsInst = counter(metricEvictions, "{eviction}", "Results the memory tier removed to make room for others.")
	var err error
	t.upstreamRequests, err = meter.Int64Counter(metricUpstreamRequests,
		metric.WithUnit("{request}"),
		metric.WithDescription("Calls of a cache to the verifier it wraps, by backend and result."))
	errs = append(errs, err)
	t.upstreamDuration, err = meter.Float64Histogram(metricUpstreamDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Duration of the calls of a cache to the verifier it wraps, by backend, not counting the wait for a slot."),
		metric.WithExplicitBucketBoundaries(durationBounds...))
	errs = append(errs, err)
	t.inFlightInst = upDown(metricInFlight, "{request}", "Upstream calls holding one of a cache's slots.")
	t.waitingInst = upDown(metricWaiting, "{request}", "Upstream calls waiting now: for one of a cache's slots, or for another replica's answer.")
	keySetRefreshes := counter(metricKeySetRefreshes, "{refresh}", "Fetches of a JWT issuer's key set, by result.")
	invalidations := counter(metricInvalidations, "{invalidation}", "Invalidations sent to or heard from the other replicas, by direction.")
	sharedOperations := counter(metricSharedOperations, "{operation}", "Operations of a cache on its shared tier, by operation and result (ok, or error: the cache went on without the tier).")
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("otelhook: %w", err)
	}

	t.requests = newFamily(requests, requestAttrs, knownOutcomes,
		map[introspect.Outcome]*series{introspect.OutcomeAllowed: &t.allowed.series})
	t.lookups = newFamily(lookups, lookupAttrs, knownLookups(),
		map[lookupKey]*series{{introspect.TierMemory, introspect.LookupHit}: &t.memoryHit.series})
	// A fetch of the key set loads keys or fails: it has no invalid.
	t.keySetRefreshes = newFamily(keySetRefreshes, resultAttrs,
		[]introspect.Result{introspect.ResultValid, introspect.ResultError}, nil)
	t.invalidations = newFamily(invalidations, invalidationAttrs, knownDirections, nil)
	t.sharedOperations = newFamily(sharedOperations, sharedAttrs, knownShared(), nil)
	var empty attribute.Set
	t.evictions = newSeries(empty)
	t.inFlight = newSeries(empty)
	t.waiting = newSeries(empty)
	t.prebuild()

	t.reg, err = meter.RegisterCallback(t.observe,
		requests, lookups, t.evictionsInst, t.inFlightInst, t.waitingInst,
		keySetRefreshes, invalidations, sharedOperations)
	if err != nil {
		if t.reg != nil {
			// The SDK registers the callback for the instruments it
			// accepts even as it refuses others.
			_ = t.reg.Unregister()
		}
		return nil, fmt.Errorf("otelhook: %w", err)
	}

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

// Close unregisters the callback through which the observable instruments
// (every one but tokengate.upstream.requests and
// tokengate.upstream.request.duration) report: from then on a collection
// exports none of their series, and the meter no longer holds t. The hooks
// keep working, and still record spans and the upstream calls, but what
// they count in the observable instruments is no longer exported. Close
// leaves the providers alone: they are the application's to shut down.
// A Telemetry left unclosed costs one callback per collection for as long
// as its MeterProvider lives. Close returns the meter's error, if any; a
// second call does nothing and returns nil.
func (t *Telemetry) Close() error {
	var err error
	t.closeOnce.Do(func() { err = t.reg.Unregister() })
	return err
}

// observe is the callback of the observable instruments: it observes the
// current value of every series, so that each is exported, cumulative,
// from New on.
func (t *Telemetry) observe(_ context.Context, o metric.Observer) error {
	t.requests.observe(o)
	t.lookups.observe(o)
	o.ObserveInt64(t.evictionsInst, t.evictions.n.Load(), t.evictions.opts...)
	o.ObserveInt64(t.inFlightInst, t.inFlight.n.Load(), t.inFlight.opts...)
	o.ObserveInt64(t.waitingInst, t.waiting.n.Load(), t.waiting.opts...)
	t.keySetRefreshes.observe(o)
	t.invalidations.observe(o)
	t.sharedOperations.observe(o)
	return nil
}

// knownLookups returns the keys of every known lookup.
func knownLookups() []lookupKey {
	keys := make([]lookupKey, 0, len(knownTiers)*len(knownLookupResults))
	for _, tier := range knownTiers {
		for _, r := range knownLookupResults {
			keys = append(keys, lookupKey{tier, r})
		}
	}
	return keys
}

// knownShared returns the keys of every known shared tier operation, ok
// and failed.
func knownShared() []sharedKey {
	keys := make([]sharedKey, 0, 2*len(knownSharedOps))
	for _, op := range knownSharedOps {
		keys = append(keys, sharedKey{op, false}, sharedKey{op, true})
	}
	return keys
}

// prebuild builds the options of the upstream instruments and the spans
// for every known value.
func (t *Telemetry) prebuild() {
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
	t.sharedNames = make(map[introspect.SharedOp]string, len(knownSharedOps))
	for _, op := range knownSharedOps {
		t.sharedNames[op] = spanSharedPrefix + string(op)
	}
	t.internal = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
}

// The attribute sets of one series: New builds those of the known values,
// the hooks those of any other, once.

func requestAttrs(o introspect.Outcome) attribute.Set {
	return attribute.NewSet(attribute.String(labelOutcome, string(o)))
}

func lookupAttrs(k lookupKey) attribute.Set {
	return attribute.NewSet(attribute.String(labelTier, string(k.tier)), attribute.String(labelResult, string(k.result)))
}

func resultAttrs(r introspect.Result) attribute.Set {
	return attribute.NewSet(attribute.String(labelResult, string(r)))
}

func invalidationAttrs(d introspect.Direction) attribute.Set {
	return attribute.NewSet(attribute.String(labelDirection, string(d)))
}

func sharedAttrs(k sharedKey) attribute.Set {
	result := sharedOK
	if k.failed {
		result = sharedError
	}
	return attribute.NewSet(attribute.String(labelOp, string(k.op)), attribute.String(labelResult, result))
}

// The builders of the options of the upstream instruments: New calls them
// for the known backends, the hooks for any other.

func upstreamOpts(backend string, r introspect.Result) []metric.AddOption {
	s := attribute.NewSet(attribute.String(labelBackend, backend), attribute.String(labelResult, string(r)))
	return []metric.AddOption{metric.WithAttributeSet(s)}
}

func durationOpts(backend string) []metric.RecordOption {
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String(labelBackend, backend)))}
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

func (t *Telemetry) lookup(_ context.Context, tier introspect.Tier, r introspect.LookupResult) {
	if tier == introspect.TierMemory && r == introspect.LookupHit {
		t.memoryHit.n.Add(1)
		return
	}
	t.lookups.add(lookupKey{tier, r}, 1)
}

func (t *Telemetry) evicted() {
	t.evictions.n.Add(1)
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
	t.inFlight.n.Add(int64(delta))
}

func (t *Telemetry) waitingChanged(delta int) {
	t.waiting.n.Add(int64(delta))
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
	t.sharedOperations.add(sharedKey{op, err != nil}, 1)

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
	t.invalidations.add(d, 1)
}

func (t *Telemetry) keySetStart(ctx context.Context) context.Context {
	ctx, _ = t.tracer.Start(ctx, spanKeySet, t.internal...)
	return ctx
}

func (t *Telemetry) keySetDone(ctx context.Context, r introspect.KeySetRefresh) {
	t.keySetRefreshes.add(r.Result, 1)

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
	if d.Outcome == introspect.OutcomeAllowed {
		t.allowed.n.Add(1)
	} else {
		t.requests.add(d.Outcome, 1)
	}

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
