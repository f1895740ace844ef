package introspect

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"time"
)

// DefaultSharedTimeout bounds one operation on a [SharedTier] when
// [CacheConfig.SharedTimeout] is zero.
const DefaultSharedTimeout = 50 * time.Millisecond

// SharedTier is a store that the replicas of a service share, kept behind
// a [Cache]'s memory and in front of the authorization server: a token one
// replica has verified is served by the others from it, and a token one
// replica invalidates is forgotten by all. introspect/redis implements it
// on Redis.
//
// Keys and values are opaque to the tier. The Cache names an entry by a
// domain-separated keyed hash of the token, and seals its value with an
// AEAD whose key is derived from the token, so the tier never sees a token
// or a fact about one. A key ends with its hash in braces, so that a Redis
// Cluster keeps the names a tier derives from it in one slot.
//
// The Cache bounds every call by [CacheConfig.SharedTimeout] itself and
// takes a late answer as a failure, stops calling for a while after
// repeated failures, and never fails a request because of the tier: a
// failure is a miss. Implementations must still honour ctx, and be safe
// for concurrent use.
type SharedTier interface {
	// Get returns the value stored under key (nil when there is none), and
	// whether a replica holds a claim on key (see Claim).
	Get(ctx context.Context, key string) (value []byte, claimed bool, err error)
	// Set stores value under key for ttl, which is at least a millisecond.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Claim tries to claim key for ttl, so that one replica asks the
	// authorization server while the others wait for its answer. It
	// returns a non-empty claim when the caller got it, and "" when another
	// replica holds one or a value is stored under key, checked in one
	// atomic step: a replica that read no value just before another stored
	// one must not get the claim.
	Claim(ctx context.Context, key string, ttl time.Duration) (claim string, err error)
	// Release gives up a claim Claim returned, if it still stands.
	Release(ctx context.Context, key, claim string) error
	// Invalidate deletes what is stored under key, a value or a claim, and
	// announces key to every replica's Listen.
	Invalidate(ctx context.Context, key string) error
	// Listen calls invalidated with each key any replica announces through
	// Invalidate, and subscribed each time it starts listening: at first,
	// and again after any gap during which announcements may have been
	// lost. It returns when ctx ends. The Cache runs it on a goroutine of
	// its own.
	Listen(ctx context.Context, invalidated func(key string), subscribed func())
}

// ContextBounded is implemented by a [SharedTier] that can tell whether
// its operations end when their context's deadline passes, as go-redis
// clients with ContextTimeoutEnabled do. When ContextBounded returns true
// the Cache calls the tier on the request's goroutine, relying on the
// deadline; otherwise it calls it on a goroutine of its own, so that it can
// stop waiting at the deadline however long the call takes.
type ContextBounded interface {
	ContextBounded() bool
}

// An AnswerScoper is a [Verifier] whose answer for a token depends on
// its own settings as well as on the token and the authorization server:
// the client it asks as, the issuers and audiences it accepts, how it
// maps claims to scopes. Two Caches that share a tier and a
// [CacheConfig.SharedNamespace] share answers only when their Verifiers
// are of the same type and have the same AnswerScope (or neither has
// one): the Cache mixes both into every shared key and sealed value. So a
// service that accepts audience "api-a" never takes the answers of one
// that accepts "api-b" for its own, even where both name the issuer as
// their namespace. The Verifiers of introspect/jwt, introspect/rfc7662 and
// introspect/geosecure are AnswerScopers, and so is a Cache, which reports
// the one it wraps.
//
// A type that embeds an AnswerScoper inherits its AnswerScope. When it
// changes what Verify answers by a setting of its own, it should override
// AnswerScope to add that setting: its type alone tells it from the
// embedded Verifier, not from another value of its type.
type AnswerScoper interface {
	Verifier
	// AnswerScope returns a text, fixed for the Verifier's life, that is
	// the same for two Verifiers of one type only when they would give
	// every token the same answer. The Cache hashes it and never stores
	// or shows it; it should hold no secret all the same.
	AnswerScope() string
}

// AnswerScope returns v's AnswerScope when v is an [AnswerScoper], and ""
// otherwise.
func AnswerScope(v Verifier) string {
	if s, ok := v.(AnswerScoper); ok {
		return s.AnswerScope()
	}
	return ""
}

// sharingScope is what the shared tier separates v's answers by besides
// the namespace: v's type, with its package path, and its AnswerScope.
func sharingScope(v Verifier) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return ""
	}
	name := t.String()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return strconv.Quote(t.PkgPath()+" "+name) + " " + strconv.Quote(AnswerScope(v))
}

// ErrSharedSkipped is the error [Hooks.SharedDone] reports for an
// operation on the shared tier that was not tried, because the tier had
// failed repeatedly and the Cache is leaving it alone for a while (see
// [CacheStats.SharedSkipped]).
var ErrSharedSkipped = errors.New("introspect: shared tier skipped after repeated failures")

// errSharedTimeout is the answer of a shared call that took longer than
// the configured bound.
var errSharedTimeout = errors.New("introspect: shared tier did not answer in time")

// sharedResult is what a shared call returns.
type sharedResult[T any] struct {
	v   T
	err error
}

// sharedCall runs op against the shared tier, bounded by timeout however
// the tier's client is configured: on the caller's goroutine when the tier
// is ContextBounded, and otherwise on a goroutine of its own whose late
// answer is dropped. The breaker decides whether op runs at all, except
// for an invalidation, which always runs, and learns from its outcome.
// parent lends its values, not its cancellation. name is the operation,
// for the Cache's Hooks.
func sharedCall[T any](c *Cache, parent context.Context, name SharedOp, timeout time.Duration, op func(context.Context) (T, error)) (_ T, err error) {
	var zero T
	if c.hooks.SharedStart != nil {
		parent = c.hooks.SharedStart(parent, name)
	}
	if c.hooks.SharedDone != nil {
		defer func() { c.hooks.SharedDone(parent, name, err) }()
	}
	if name != SharedInvalidate && !c.breaker.allow() {
		// Reported as failed, so that the tier's error rate stays up
		// while it is left alone.
		c.sharedSkipped.Add(1)
		return zero, ErrSharedSkipped
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), timeout)
	defer cancel()
	var r sharedResult[T]
	if c.sharedBounded {
		// The tier ends the operation at the deadline itself.
		r.v, r.err = op(ctx)
		if r.err != nil && ctx.Err() != nil {
			r.err = errSharedTimeout
		}
	} else {
		done := make(chan sharedResult[T], 1)
		go func() {
			v, err := op(ctx)
			done <- sharedResult[T]{v, err}
		}()
		select {
		case r = <-done:
		case <-ctx.Done():
			r.err = errSharedTimeout
		}
	}
	if r.err != nil {
		c.sharedErrors.Add(1)
		c.breaker.failure()
		return zero, r.err
	}
	c.breaker.success()
	return r.v, nil
}
