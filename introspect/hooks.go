package introspect

import (
	"context"
	"errors"
	"time"
)

// Hooks receive what tokengate does — decisions, cache lookups, upstream
// calls, key-set refreshes, invalidations — so that an application can
// count it, trace it and log it, while this module imports no metrics or
// tracing library. The adapters in introspect/promhook (Prometheus) and
// introspect/otelhook (OpenTelemetry) are Hooks; [JoinHooks] combines
// several.
//
// Give the same Hooks to every part that reports through them:
// [CacheConfig.Hooks] (lookups, upstream calls, the shared tier,
// invalidations), the JWT Verifier's Config.Hooks (key-set refreshes), and
// the middleware's Config.Hooks (decisions).
//
// Every field may be nil, and a nil field costs nothing. Hooks run
// synchronously, on the goroutine doing the work and mostly on the request
// path: they must be fast, must not block, and must be safe for concurrent
// use. They are never given a token, a claim's value or a secret, and must
// not put one in a metric label or a span attribute.
//
// A Start hook returns the context the work goes on in: the one it was
// given, or one derived from it (holding a span, say); the matching Done
// hook gets that context back. Work done for a verification (the upstream
// call, the shared tier's operations) runs in contexts derived from the
// verification's, so that spans nest: verification, then the upstream
// call, then its HTTP request.
type Hooks struct {
	// VerifyStart is called as a [Cache] starts to verify a token, hit or
	// miss.
	VerifyStart func(ctx context.Context) context.Context
	// VerifyDone is called when that verification has its answer.
	VerifyDone func(ctx context.Context, v Verification)

	// Lookup is called once for each lookup of a token in a tier of a
	// Cache: in memory for every verification, in the shared tier for each
	// upstream call that asks it first.
	Lookup func(ctx context.Context, tier Tier, result LookupResult)
	// Evicted is called when the memory tier removes a result to make
	// room for another. It runs on the memory tier's own goroutine.
	Evicted func()

	// UpstreamStart is called as a Cache calls the Verifier it wraps (the
	// authorization server, or a local JWT check), once per token however
	// many requests wait for it.
	UpstreamStart func(ctx context.Context, backend string) context.Context
	// UpstreamDone is called when that call has answered.
	UpstreamDone func(ctx context.Context, u UpstreamCall)
	// InFlight is called with +1 when an upstream call takes one of the
	// Cache's slots (CacheConfig.MaxConcurrent) and with -1 when it gives
	// it back.
	InFlight func(delta int)
	// Waiting is called with +1 when an upstream call starts to wait (at
	// most CacheConfig.MaxWaiting do) and with -1 when it stops: for a
	// slot and, with a shared tier, first for another replica's answer.
	Waiting func(delta int)

	// SharedStart is called as a Cache starts an operation on its shared
	// tier ([CacheConfig.Shared]).
	SharedStart func(ctx context.Context, op SharedOp) context.Context
	// SharedDone is called when that operation has ended; err is nil on
	// success, including a lookup that found nothing, and
	// [ErrSharedSkipped] when the tier, failing, was not tried.
	SharedDone func(ctx context.Context, op SharedOp, err error)
	// Invalidation is called when a Cache announces an invalidation to the
	// other replicas through its shared tier (DirectionSent), and when it
	// has heard and applied one, its own included (DirectionReceived).
	Invalidation func(d Direction)

	// KeySetStart is called as a JWT Verifier starts to fetch its
	// issuer's key set (and, first, the metadata naming it).
	KeySetStart func(ctx context.Context) context.Context
	// KeySetDone is called when that fetch has ended.
	KeySetDone func(ctx context.Context, r KeySetRefresh)

	// Decision is called when the middleware has decided on a request,
	// with the request's context.
	Decision func(ctx context.Context, d Decision)
}

// Verification is the end of one verification by a [Cache].
type Verification struct {
	// Backend names the Verifier the Cache wraps (see [BackendName]).
	Backend string
	// Cache says where the answer came from.
	Cache CacheResult
	// Result is the answer: valid, invalid, or an error.
	Result Result
}

// UpstreamCall is the end of one call of a [Cache] to the Verifier it
// wraps.
type UpstreamCall struct {
	// Backend names the Verifier (see [BackendName]).
	Backend string
	// Result is the answer: valid, invalid, or an error.
	Result Result
	// Duration is how long the call took, not counting the wait for a
	// slot.
	Duration time.Duration
}

// KeySetRefresh is the end of one fetch of a JWT issuer's key set.
type KeySetRefresh struct {
	// Result is ResultValid when keys were loaded and ResultError when the
	// fetch failed (the keys known before stay in use).
	Result Result
	// Forced reports that a token started the fetch (one naming an
	// unknown key, or any while no keys are loaded), rather than the
	// schedule or a readiness check.
	Forced bool
	// Keys is the number of usable keys loaded; zero on an error.
	Keys int
	// Duration is how long the fetch took.
	Duration time.Duration
}

// Decision is what the middleware decided about one request.
type Decision struct {
	// Outcome is the decision.
	Outcome Outcome
	// Status is the HTTP status of a refusal; 0 when allowed.
	Status int
}

// Result is the answer of a verification or upstream call.
type Result string

// The results.
const (
	ResultValid   Result = "valid"   // the token is valid
	ResultInvalid Result = "invalid" // the token is invalid ([ErrInvalidToken])
	ResultError   Result = "error"   // no answer ([ErrUnavailable])
)

// resultOf returns the Result of an answer.
func resultOf(err error) Result {
	switch {
	case err == nil:
		return ResultValid
	case errors.Is(err, ErrInvalidToken):
		return ResultInvalid
	default:
		return ResultError
	}
}

// Tier is a tier of a [Cache].
type Tier string

// The tiers.
const (
	TierMemory Tier = "memory" // this process's memory
	TierShared Tier = "shared" // the tier the replicas share ([CacheConfig.Shared])
)

// LookupResult is what a lookup in a tier found.
type LookupResult string

// The results of a lookup. A stale result is an expired one served because
// the authorization server failed ([CacheConfig.StaleIfError]).
const (
	LookupHit   LookupResult = "hit"
	LookupMiss  LookupResult = "miss"
	LookupStale LookupResult = "stale"
)

// CacheResult is where a verification's answer came from.
type CacheResult string

// Where an answer came from.
const (
	CacheHit       CacheResult = "hit"        // memory
	CacheSharedHit CacheResult = "shared_hit" // the shared tier
	CacheMiss      CacheResult = "miss"       // the Verifier the Cache wraps
	CacheStale     CacheResult = "stale"      // memory, stale (CacheConfig.StaleIfError)
)

// SharedOp is an operation on a shared tier.
type SharedOp string

// The operations on a shared tier.
const (
	SharedGet        SharedOp = "get"
	SharedSet        SharedOp = "set"
	SharedClaim      SharedOp = "claim"
	SharedRelease    SharedOp = "release"
	SharedInvalidate SharedOp = "invalidate"
)

// Direction tells an invalidation sent from one heard.
type Direction string

// The directions of an invalidation.
const (
	DirectionSent     Direction = "sent"
	DirectionReceived Direction = "received"
)

// Outcome is a decision of the middleware. Its values are the label values
// of tokengate_requests_total.
type Outcome string

// The outcomes.
const (
	OutcomeAllowed           Outcome = "allowed"            // let through
	OutcomeNoToken           Outcome = "no_token"           // 401 without an error code
	OutcomeMalformed         Outcome = "malformed"          // 400 invalid_request
	OutcomeInvalidToken      Outcome = "invalid_token"      // 401 invalid_token
	OutcomeInsufficientScope Outcome = "insufficient_scope" // 403 insufficient_scope
	OutcomeUnavailable       Outcome = "unavailable"        // 503
)

// BackendName returns the name v gives itself for metrics and spans, such
// as "rfc7662", "geosecure" or "jwt", through a method
// BackendName() string, or "custom" when it has none.
func BackendName(v Verifier) string {
	if n, ok := v.(interface{ BackendName() string }); ok {
		if name := n.BackendName(); name != "" {
			return name
		}
	}
	return "custom"
}

// JoinHooks returns Hooks that call each of hooks in turn, skipping nil
// ones and nil fields. A Start hook gets the context the previous one
// returned, and each Done hook, called in reverse order, the context its
// own Start returned (or, for a Hooks without that Start, the last one's),
// so that two Hooks that both start spans each end their own, the inner
// one first. It returns nil when every one of hooks is nil.
func JoinHooks(hooks ...*Hooks) *Hooks {
	var hs []*Hooks
	for _, h := range hooks {
		if h != nil {
			hs = append(hs, h)
		}
	}
	switch len(hs) {
	case 0:
		return nil
	case 1:
		return hs[0]
	}
	j := &Hooks{}
	verifyStart, verifyDone := joinPair(j, 0, hs,
		func(h *Hooks) func(context.Context, struct{}) context.Context {
			return noArg(h.VerifyStart)
		},
		func(h *Hooks) func(context.Context, Verification) { return h.VerifyDone })
	if verifyStart != nil {
		j.VerifyStart = func(ctx context.Context) context.Context { return verifyStart(ctx, struct{}{}) }
	}
	j.VerifyDone = verifyDone
	j.UpstreamStart, j.UpstreamDone = joinPair(j, 1, hs,
		func(h *Hooks) func(context.Context, string) context.Context { return h.UpstreamStart },
		func(h *Hooks) func(context.Context, UpstreamCall) { return h.UpstreamDone })
	var sharedDone func(context.Context, sharedEnd)
	j.SharedStart, sharedDone = joinPair(j, 2, hs,
		func(h *Hooks) func(context.Context, SharedOp) context.Context { return h.SharedStart },
		func(h *Hooks) func(context.Context, sharedEnd) {
			if f := h.SharedDone; f != nil {
				return func(ctx context.Context, e sharedEnd) { f(ctx, e.op, e.err) }
			}
			return nil
		})
	if sharedDone != nil {
		j.SharedDone = func(ctx context.Context, op SharedOp, err error) { sharedDone(ctx, sharedEnd{op, err}) }
	}
	keySetStart, keySetDone := joinPair(j, 3, hs,
		func(h *Hooks) func(context.Context, struct{}) context.Context { return noArg(h.KeySetStart) },
		func(h *Hooks) func(context.Context, KeySetRefresh) { return h.KeySetDone })
	if keySetStart != nil {
		j.KeySetStart = func(ctx context.Context) context.Context { return keySetStart(ctx, struct{}{}) }
	}
	j.KeySetDone = keySetDone

	j.Lookup = join3(hs, func(h *Hooks) func(context.Context, Tier, LookupResult) { return h.Lookup })
	j.Evicted = join0(hs, func(h *Hooks) func() { return h.Evicted })
	j.InFlight = join1(hs, func(h *Hooks) func(int) { return h.InFlight })
	j.Waiting = join1(hs, func(h *Hooks) func(int) { return h.Waiting })
	j.Invalidation = join1(hs, func(h *Hooks) func(Direction) { return h.Invalidation })
	j.Decision = join2(hs, func(h *Hooks) func(context.Context, Decision) { return h.Decision })
	return j
}

// sharedEnd is what SharedDone is given, but its context.
type sharedEnd struct {
	op  SharedOp
	err error
}

// noArg adapts a Start hook without an argument to joinPair.
func noArg(f func(context.Context) context.Context) func(context.Context, struct{}) context.Context {
	if f == nil {
		return nil
	}
	return func(ctx context.Context, _ struct{}) context.Context { return f(ctx) }
}

// pairKey is the context key under which a joined Start keeps the context
// each of its hooks returned, for the matching Done hooks: one per joined
// Hooks and kind of work.
type pairKey struct {
	joined *Hooks
	kind   int
}

// joinPair joins the Start and Done hooks of one kind of work (kind tells
// the kinds apart) of hs into j's.
func joinPair[A, B any](j *Hooks, kind int, hs []*Hooks,
	start func(*Hooks) func(context.Context, A) context.Context,
	done func(*Hooks) func(context.Context, B),
) (func(context.Context, A) context.Context, func(context.Context, B)) {
	starts := make([]func(context.Context, A) context.Context, len(hs))
	dones := make([]func(context.Context, B), len(hs))
	var nStarts, nDones int
	for i, h := range hs {
		if starts[i] = start(h); starts[i] != nil {
			nStarts++
		}
		if dones[i] = done(h); dones[i] != nil {
			nDones++
		}
	}
	key := pairKey{j, kind}
	var joinedStart func(context.Context, A) context.Context
	var joinedDone func(context.Context, B)
	if nStarts > 0 {
		joinedStart = func(ctx context.Context, a A) context.Context {
			var own []context.Context
			if nStarts > 1 {
				own = make([]context.Context, len(hs))
			}
			for i, f := range starts {
				if f != nil {
					ctx = f(ctx, a)
					if own != nil {
						own[i] = ctx
					}
				}
			}
			if own != nil {
				ctx = context.WithValue(ctx, key, own)
			}
			return ctx
		}
	}
	if nDones > 0 {
		joinedDone = func(ctx context.Context, b B) {
			own, _ := ctx.Value(key).([]context.Context)
			// In reverse, as deferred calls run: a later Hooks' span
			// started inside an earlier one's, and ends first.
			for i := len(dones) - 1; i >= 0; i-- {
				f := dones[i]
				if f == nil {
					continue
				}
				if own != nil && own[i] != nil {
					f(own[i], b)
				} else {
					f(ctx, b)
				}
			}
		}
	}
	return joinedStart, joinedDone
}

// fields returns the non-nil field of each of hs that field picks.
func fields[F any](hs []*Hooks, field func(*Hooks) F, isNil func(F) bool) []F {
	var fs []F
	for _, h := range hs {
		if f := field(h); !isNil(f) {
			fs = append(fs, f)
		}
	}
	return fs
}

func join0(hs []*Hooks, field func(*Hooks) func()) func() {
	fs := fields(hs, field, func(f func()) bool { return f == nil })
	if len(fs) == 0 {
		return nil
	}
	return func() {
		for _, f := range fs {
			f()
		}
	}
}

func join1[A any](hs []*Hooks, field func(*Hooks) func(A)) func(A) {
	fs := fields(hs, field, func(f func(A)) bool { return f == nil })
	if len(fs) == 0 {
		return nil
	}
	return func(a A) {
		for _, f := range fs {
			f(a)
		}
	}
}

func join2[A, B any](hs []*Hooks, field func(*Hooks) func(A, B)) func(A, B) {
	fs := fields(hs, field, func(f func(A, B)) bool { return f == nil })
	if len(fs) == 0 {
		return nil
	}
	return func(a A, b B) {
		for _, f := range fs {
			f(a, b)
		}
	}
}

func join3[A, B, C any](hs []*Hooks, field func(*Hooks) func(A, B, C)) func(A, B, C) {
	fs := fields(hs, field, func(f func(A, B, C)) bool { return f == nil })
	if len(fs) == 0 {
		return nil
	}
	return func(a A, b B, c C) {
		for _, f := range fs {
			f(a, b, c)
		}
	}
}
