package introspect_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
)

// recorder is Hooks that write down every event as a line.
type recorder struct {
	mu     sync.Mutex
	events []string
	// inFlight and waiting are the sums of the deltas reported.
	inFlight, waiting int
}

type recorderKey struct{}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

// take returns the events so far and forgets them.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

// mark returns ctx marked with what, and the marks ctx holds.
func mark(ctx context.Context, what string) context.Context {
	return context.WithValue(ctx, recorderKey{}, marks(ctx)+"/"+what)
}

func marks(ctx context.Context) string {
	s, _ := ctx.Value(recorderKey{}).(string)
	return s
}

func (r *recorder) hooks() *introspect.Hooks {
	return &introspect.Hooks{
		VerifyStart: func(ctx context.Context) context.Context { return mark(ctx, "verify") },
		VerifyDone: func(ctx context.Context, v introspect.Verification) {
			r.add("verify %s %s %s in %s", v.Backend, v.Cache, v.Result, marks(ctx))
		},
		Lookup: func(ctx context.Context, tier introspect.Tier, result introspect.LookupResult) {
			r.add("lookup %s %s in %s", tier, result, marks(ctx))
		},
		Evicted: func() { r.add("evicted") },
		UpstreamStart: func(ctx context.Context, backend string) context.Context {
			return mark(ctx, "upstream")
		},
		UpstreamDone: func(ctx context.Context, u introspect.UpstreamCall) {
			r.add("upstream %s %s in %s", u.Backend, u.Result, marks(ctx))
		},
		InFlight: func(d int) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.inFlight += d
		},
		Waiting: func(d int) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.waiting += d
		},
		Invalidation: func(d introspect.Direction) { r.add("invalidation %s", d) },
	}
}

func (r *recorder) gauges() (inFlight, waiting int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inFlight, r.waiting
}

// namedVerifier is a Verifier with a BackendName.
type namedVerifier struct {
	introspect.Verifier
	name string
}

func (n namedVerifier) BackendName() string { return n.name }

func TestCacheReportsToHooks(t *testing.T) {
	clock := testutil.NewClock()
	down := false
	var seen []string
	next := namedVerifier{name: "test", Verifier: introspect.VerifierFunc(func(ctx context.Context, token string) (*introspect.TokenInfo, error) {
		seen = append(seen, marks(ctx))
		switch {
		case down:
			return nil, &introspect.UnavailableError{Reason: "down"}
		case token == "bad":
			return &introspect.TokenInfo{Active: false}, nil
		}
		return &introspect.TokenInfo{Active: true, ExpiresAt: clock.Now().Add(time.Hour)}, nil
	})}
	rec := &recorder{}
	c := newCache(t, next, introspect.CacheConfig{Now: clock.Now, MaxTTL: time.Minute, StaleIfError: time.Minute, Hooks: rec.hooks()})
	ctx := context.Background()

	verify := func(token string) {
		t.Helper()
		_, _ = c.Verify(ctx, token)
	}
	verify("good")
	assert.Equal(t, []string{
		"upstream test valid in /verify/upstream",
		"lookup memory miss in /verify",
		"verify test miss valid in /verify",
	}, rec.take())

	// The store may take a moment to show the answer; the Cache answers
	// from the finished call meanwhile, as a hit either way.
	verify("good")
	assert.Equal(t, []string{"lookup memory hit in /verify", "verify test hit valid in /verify"}, rec.take())

	verify("bad")
	assert.Equal(t, []string{
		"upstream test invalid in /verify/upstream",
		"lookup memory miss in /verify",
		"verify test miss invalid in /verify",
	}, rec.take())

	clock.Advance(90 * time.Second) // past MaxTTL, within StaleIfError
	down = true
	verify("good")
	assert.Equal(t, []string{
		"upstream test error in /verify/upstream",
		"lookup memory stale in /verify",
		"verify test stale valid in /verify",
	}, rec.take())

	verify("other")
	assert.Equal(t, []string{
		"upstream test error in /verify/upstream",
		"lookup memory miss in /verify",
		"verify test miss error in /verify",
	}, rec.take())

	assert.Equal(t, []string{"/verify/upstream", "/verify/upstream", "/verify/upstream", "/verify/upstream"}, seen,
		"the Verifier runs in the upstream hook's context, inside the verification's")
	inFlight, waiting := rec.gauges()
	assert.Zero(t, inFlight)
	assert.Zero(t, waiting)
}

func TestCacheReportsSlotsAndWaits(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan string, 2)
	next := introspect.VerifierFunc(func(ctx context.Context, token string) (*introspect.TokenInfo, error) {
		entered <- token
		<-release
		return &introspect.TokenInfo{Active: true}, nil
	})
	rec := &recorder{}
	c := newCache(t, next, introspect.CacheConfig{MaxConcurrent: 1, Hooks: rec.hooks()})

	var wg sync.WaitGroup
	for _, token := range []string{"a", "b"} {
		wg.Go(func() { _, _ = c.Verify(context.Background(), token) })
	}
	<-entered // one call holds the slot; the other waits for it
	testutil.WaitFor(t, "a call waiting for the slot", func() bool { _, w := rec.gauges(); return w == 1 })
	inFlight, waiting := rec.gauges()
	assert.Equal(t, 1, inFlight)
	assert.Equal(t, 1, waiting)

	release <- struct{}{}
	<-entered
	inFlight, waiting = rec.gauges()
	assert.Equal(t, 1, inFlight)
	assert.Zero(t, waiting)
	release <- struct{}{}
	wg.Wait()
	testutil.WaitFor(t, "the slot given back", func() bool { i, _ := rec.gauges(); return i == 0 })
	assert.Equal(t, "custom", introspect.BackendName(next))
	for _, e := range rec.take() {
		if strings.HasPrefix(e, "upstream") {
			assert.Equal(t, "upstream custom valid in /verify/upstream", e)
		}
	}
}

func TestCacheReportsEvictions(t *testing.T) {
	clock := testutil.NewClock()
	var mu sync.Mutex
	evicted := 0
	hooks := &introspect.Hooks{Evicted: func() {
		mu.Lock()
		defer mu.Unlock()
		evicted++
	}}
	c := newCache(t, validFor(clock, time.Hour), introspect.CacheConfig{MaxCost: 16 << 10, Now: clock.Now, Hooks: hooks})
	for i := range 2000 {
		_, err := c.Verify(context.Background(), strings.Repeat("x", i+1))
		require.NoError(t, err)
	}
	c.Close() // no eviction after this
	mu.Lock()
	defer mu.Unlock()
	assert.NotZero(t, evicted)
	assert.EqualValues(t, c.Stats().Evictions, evicted)
}

func TestJoinHooks(t *testing.T) {
	assert.Nil(t, introspect.JoinHooks())
	assert.Nil(t, introspect.JoinHooks(nil, nil))
	one := &introspect.Hooks{}
	assert.Same(t, one, introspect.JoinHooks(nil, one))

	var got []string
	h := func(name string) *introspect.Hooks {
		return &introspect.Hooks{
			VerifyStart: func(ctx context.Context) context.Context { return mark(ctx, name) },
			VerifyDone: func(ctx context.Context, v introspect.Verification) {
				got = append(got, name+" done in "+marks(ctx))
			},
			Decision: func(_ context.Context, d introspect.Decision) { got = append(got, name+" "+string(d.Outcome)) },
		}
	}
	j := introspect.JoinHooks(h("a"), nil, &introspect.Hooks{Evicted: func() { got = append(got, "evicted") }}, h("b"))
	ctx := j.VerifyStart(context.Background())
	assert.Equal(t, "/a/b", marks(ctx))
	j.VerifyDone(ctx, introspect.Verification{})
	j.Decision(ctx, introspect.Decision{Outcome: introspect.OutcomeAllowed})
	j.Evicted()
	assert.Nil(t, j.Lookup, "a field no Hooks sets stays nil, and costs nothing")
	assert.Equal(t, []string{"b done in /a/b", "a done in /a", "a allowed", "b allowed", "evicted"}, got,
		"each Done hook gets its own Start's context, in reverse: two tracers each end their own span, inner first")
}

// readyVerifier is a Verifier whose readiness a test sets.
type readyVerifier struct {
	introspect.Verifier
	mu  sync.Mutex
	err error
}

func (r *readyVerifier) Ready(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func TestCacheReady(t *testing.T) {
	clock := testutil.NewClock()
	var fail error
	next := &readyVerifier{Verifier: introspect.VerifierFunc(func(_ context.Context, token string) (*introspect.TokenInfo, error) {
		if fail != nil {
			return nil, fail
		}
		if token == "bad" {
			return nil, fmt.Errorf("%w: revoked", introspect.ErrInvalidToken)
		}
		return &introspect.TokenInfo{Active: true}, nil
	})}
	outage := &introspect.UnavailableError{Reason: "authorization server answered 502", StatusCode: 502}
	c := newCache(t, next, introspect.CacheConfig{Now: clock.Now, MaxTTL: -1, InvalidTTL: -1})
	ctx := context.Background()
	verify := func(n int, token string) {
		for range n {
			_, _ = c.Verify(ctx, token)
		}
	}
	require.NoError(t, c.Ready(ctx), "no call made yet")

	next.err = errors.New("discovery failed")
	assert.EqualError(t, introspect.Ready(ctx, c), "discovery failed", "the wrapped Verifier's readiness comes first")
	next.err = nil
	require.NoError(t, c.Ready(ctx))
	clock.Advance(time.Millisecond)

	fail = outage
	verify(2, "good")
	require.NoError(t, c.Ready(ctx), "two failures are a blip")
	verify(1, "good")
	clock.Advance(time.Second)
	err := c.Ready(ctx)
	require.Error(t, err, "three in a row are an outage")
	assert.ErrorIs(t, err, introspect.ErrUnavailable)
	assert.Contains(t, err.Error(), "failed 3 calls in a row, the latest 1s ago")
	assert.Contains(t, err.Error(), "502")

	fail = nil
	verify(1, "bad")
	assert.NoError(t, c.Ready(ctx), "an invalid-token answer is an answer")

	fail = outage
	verify(3, "good")
	require.Error(t, c.Ready(ctx))
	clock.Advance(introspect.DefaultFailingFor)
	assert.NoError(t, c.Ready(ctx), "after FailingFor without traffic, the Cache is tried again")

	// Anyone can make a token whose failure concerns it alone.
	fail = &introspect.UnavailableError{Reason: "key not yet published", TokenOnly: true}
	verify(10, "forged")
	assert.NoError(t, c.Ready(ctx), "a token-only failure is not the server's")

	// Failures while the wrapped Verifier was not ready (discovery, say)
	// are forgotten once it is; those after it recovered count.
	fail = outage
	next.err = errors.New("discovery failed")
	require.Error(t, c.Ready(ctx))
	clock.Advance(2 * time.Second) // requests fail after the probe
	verify(3, "good")
	clock.Advance(2 * time.Second)
	next.err = nil
	assert.NoError(t, c.Ready(ctx), "the failures were the Verifier's, which has recovered")
	clock.Advance(time.Millisecond)
	verify(3, "good")
	require.Error(t, c.Ready(ctx), "failures after it recovered count")

	// A negative FailingFor follows the wrapped Verifier alone.
	off := newCache(t, next, introspect.CacheConfig{Now: clock.Now, MaxTTL: -1, FailingFor: -1})
	for range 5 {
		_, _ = off.Verify(ctx, "good")
	}
	assert.NoError(t, off.Ready(ctx))

	assert.NoError(t, introspect.Ready(ctx, introspect.VerifierFunc(nil)), "a Verifier that cannot tell is ready")
}

// TestCacheServesStaleWhenAFailedCallHasJustFinished: a caller that joins
// a call which then fails without storing anything waits for it, and so
// falls back on the stale answer, rather than taking the failure as a
// stored hit.
func TestCacheServesStaleWhenAFailedCallHasJustFinished(t *testing.T) {
	clock := testutil.NewClock()
	var mu sync.Mutex
	down := false
	next := introspect.VerifierFunc(func(context.Context, string) (*introspect.TokenInfo, error) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return nil, &introspect.UnavailableError{Reason: "down"}
		}
		return &introspect.TokenInfo{Active: true, ExpiresAt: clock.Now().Add(time.Hour)}, nil
	})
	c := newCache(t, next, introspect.CacheConfig{Now: clock.Now, MaxTTL: time.Minute, StaleIfError: time.Hour})
	ctx := context.Background()
	_, err := c.Verify(ctx, "tok")
	require.NoError(t, err)
	c.WaitForStore() // the stale answer is in the store, not only in its call
	clock.Advance(2 * time.Minute)
	mu.Lock()
	down = true
	mu.Unlock()
	for range 300 {
		var wg sync.WaitGroup
		var failed atomic.Int64
		for range 32 {
			wg.Go(func() {
				if _, err := c.Verify(ctx, "tok"); err != nil {
					failed.Add(1)
				}
			})
		}
		wg.Wait()
		require.Zero(t, failed.Load(), "a caller got the failure although a stale answer was there")
	}
}

func BenchmarkCacheHitWithHooks(b *testing.B) {
	c, token := benchmarkCache(b, &introspect.Hooks{
		Lookup:     func(context.Context, introspect.Tier, introspect.LookupResult) {},
		VerifyDone: func(context.Context, introspect.Verification) {},
	})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}
