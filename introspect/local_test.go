package introspect_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
)

// localStub is a LocalVerifier: now answers a Verify told not to wait,
// later one that may.
type localStub struct {
	nowCalls, laterCalls atomic.Int64
	now, later           func(ctx context.Context, token string) (*introspect.TokenInfo, error)
}

func (s *localStub) Verify(ctx context.Context, token string) (*introspect.TokenInfo, error) {
	if !introspect.MayWait(ctx) {
		s.nowCalls.Add(1)
		return s.now(ctx, token)
	}
	s.laterCalls.Add(1)
	return s.later(ctx, token)
}

func (s *localStub) VerifiesLocally() bool { return true }

func wouldWait(context.Context, string) (*introspect.TokenInfo, error) {
	return nil, introspect.ErrWouldWait
}

// goroutineID returns the ID of the calling goroutine, from its stack's
// first line.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := bytes.Cut(bytes.TrimPrefix(buf, []byte("goroutine ")), []byte(" "))
	return string(id)
}

func TestCacheVerifiesLocallyOnTheCallersGoroutine(t *testing.T) {
	clock := testutil.NewClock()
	var on string
	var deadline time.Time
	var ctxMarks string
	next := &localStub{
		now: func(ctx context.Context, token string) (*introspect.TokenInfo, error) {
			on, ctxMarks = goroutineID(), marks(ctx)
			deadline, _ = ctx.Deadline()
			if token == "bad" {
				return nil, errors.Join(introspect.ErrInvalidToken, errors.New("bad signature"))
			}
			return &introspect.TokenInfo{Active: true, ExpiresAt: clock.Now().Add(time.Hour)}, nil
		},
		later: func(context.Context, string) (*introspect.TokenInfo, error) {
			t.Error("the call went on, though the check answered")
			return nil, nil
		},
	}
	rec := &recorder{}
	var peakWaiting atomic.Int64
	hooks := rec.hooks()
	countWaiting := hooks.Waiting
	hooks.Waiting = func(d int) {
		countWaiting(d)
		if _, w := rec.gauges(); int64(w) > peakWaiting.Load() {
			peakWaiting.Store(int64(w))
		}
	}
	c := newCache(t, next, introspect.CacheConfig{Now: clock.Now, Hooks: hooks, Timeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	before := time.Now()
	_, err := c.Verify(ctx, "good")
	require.NoError(t, err)
	assert.Equal(t, goroutineID(), on, "the check runs on the caller's goroutine")
	assert.WithinRange(t, deadline, before.Add(time.Hour), time.Now().Add(time.Hour), "the check runs within the cache's Timeout")
	assert.Equal(t, "/verify/upstream", ctxMarks, "the check runs in the upstream hook's context")
	assert.Equal(t, []string{
		"upstream custom valid in /verify/upstream",
		"lookup memory miss in /verify",
		"verify custom miss valid in /verify",
	}, rec.take())

	_, err = c.Verify(ctx, "good")
	require.NoError(t, err)
	_, err = c.Verify(ctx, "bad")
	require.ErrorIs(t, err, introspect.ErrInvalidToken)
	_, err = c.Verify(ctx, "bad")
	require.ErrorIs(t, err, introspect.ErrInvalidToken)
	assert.EqualValues(t, 2, next.nowCalls.Load(), "a valid and an invalid answer are both cached")
	stats := c.Stats()
	assert.EqualValues(t, 2, stats.UpstreamCalls)
	assert.EqualValues(t, 1, stats.Invalid)
	assert.Zero(t, peakWaiting.Load(), "nothing was handed to a worker")
	inFlight, _ := rec.gauges()
	assert.Zero(t, inFlight)
}

// TestCacheGoesOnWithVerify: when the check would wait, the call goes on
// on a worker: one upstream call as the Hooks and Stats see
// it, which callers leave as they would any other.
func TestCacheGoesOnWithVerify(t *testing.T) {
	clock := testutil.NewClock()
	entered, release := make(chan string, 1), make(chan struct{})
	var deadline bool
	next := &localStub{
		now: wouldWait,
		later: func(ctx context.Context, _ string) (*introspect.TokenInfo, error) {
			_, deadline = ctx.Deadline()
			entered <- goroutineID()
			<-release
			return &introspect.TokenInfo{Active: true, ExpiresAt: clock.Now().Add(time.Hour)}, nil
		},
	}
	rec := &recorder{}
	c := newCache(t, next, introspect.CacheConfig{Now: clock.Now, Hooks: rec.hooks()})

	first, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() { _, err := c.Verify(first, "token"); firstErr <- err }()
	on := <-entered
	cancel()
	require.ErrorIs(t, <-firstErr, context.Canceled, "the first caller gives up")

	second := make(chan error, 1)
	go func() { _, err := c.Verify(context.Background(), "token"); second <- err }()
	testutil.WaitFor(t, "the second caller to wait", func() bool { return c.Stats().Waiting == 1 })
	close(release)
	require.NoError(t, <-second)
	assert.NotEqual(t, goroutineID(), on)
	assert.True(t, deadline, "Verify runs within the cache's Timeout")
	_, err := c.Verify(context.Background(), "token")
	require.NoError(t, err)

	assert.EqualValues(t, 1, next.nowCalls.Load())
	assert.EqualValues(t, 1, next.laterCalls.Load())
	assert.EqualValues(t, 1, c.Stats().UpstreamCalls)
	upstream := 0
	for _, e := range rec.take() {
		if e == "upstream custom valid in /verify/upstream" {
			upstream++
		}
	}
	assert.Equal(t, 1, upstream, "one upstream call, begun on the caller's goroutine, ended on a worker")
	testutil.WaitFor(t, "the slot given back", func() bool { i, _ := rec.gauges(); return i == 0 })
}

// TestCacheLocalWaitsInLine: with every slot taken, a new token's call
// waits for one on a worker like any other, and is never told not to
// wait.
func TestCacheLocalWaitsInLine(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan string, 2)
	next := &localStub{
		now: func(ctx context.Context, token string) (*introspect.TokenInfo, error) {
			if token == "a" {
				return wouldWait(ctx, token)
			}
			t.Errorf("%q checked on the caller's goroutine with no slot free", token)
			return nil, nil
		},
		later: func(_ context.Context, token string) (*introspect.TokenInfo, error) {
			entered <- token
			<-release
			return &introspect.TokenInfo{Active: true}, nil
		},
	}
	c := newCache(t, next, introspect.CacheConfig{MaxConcurrent: 1})

	var wg sync.WaitGroup
	wg.Go(func() { _, _ = c.Verify(context.Background(), "a") })
	require.Equal(t, "a", <-entered)
	wg.Go(func() { _, _ = c.Verify(context.Background(), "b") })
	testutil.WaitFor(t, "b's call waiting for the slot", func() bool { return c.Stats().Queued == 1 })
	release <- struct{}{}
	require.Equal(t, "b", <-entered)
	release <- struct{}{}
	wg.Wait()
	assert.EqualValues(t, 1, next.nowCalls.Load())
}

func TestCacheLocalFailsClosed(t *testing.T) {
	next := &localStub{
		now: func(_ context.Context, token string) (*introspect.TokenInfo, error) {
			switch token {
			case "secret-token":
				panic("broken verifier saw secret-token")
			case "inactive":
				return &introspect.TokenInfo{}, nil
			}
			return nil, errors.New("not a documented error")
		},
		later: func(context.Context, string) (*introspect.TokenInfo, error) {
			// ErrWouldWait when waiting is allowed breaks the contract.
			return nil, introspect.ErrWouldWait
		},
	}
	c := newCache(t, next, introspect.CacheConfig{})
	ctx := context.Background()

	for range 2 {
		_, err := c.Verify(ctx, "secret-token")
		var ue *introspect.UnavailableError
		require.ErrorAs(t, err, &ue)
		assert.Equal(t, "verifier panicked", ue.Reason)
		assert.NotContains(t, err.Error(), "secret-token")
	}
	assert.EqualValues(t, 2, next.nowCalls.Load(), "a failure is not cached")

	_, err := c.Verify(ctx, "undocumented")
	var ue *introspect.UnavailableError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, "verifier failed", ue.Reason)

	_, err = c.Verify(ctx, "inactive")
	assert.ErrorIs(t, err, introspect.ErrInvalidToken)

	next.now = wouldWait
	_, err = c.Verify(ctx, "waits")
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, "verifier failed", ue.Reason, "only a Verify told not to wait may answer ErrWouldWait")
	assert.ErrorIs(t, err, introspect.ErrUnavailable)
}

// wrapped embeds a LocalVerifier to add a check of its own.
type wrapped struct {
	*localStub
	refused string
}

func (w wrapped) Verify(ctx context.Context, token string) (*introspect.TokenInfo, error) {
	if token == w.refused {
		return nil, errors.Join(introspect.ErrInvalidToken, errors.New("refused by the wrapper"))
	}
	return w.localStub.Verify(ctx, token)
}

// TestCacheCallsTheWrapper: a type that embeds a LocalVerifier and adds
// to its Verify is called on the caller's goroutine too, so its checks
// are never passed by; one that reports it does not verify locally is
// called on a worker, allowed to wait.
func TestCacheCallsTheWrapper(t *testing.T) {
	valid := func(context.Context, string) (*introspect.TokenInfo, error) {
		return &introspect.TokenInfo{Active: true}, nil
	}
	stub := &localStub{now: valid, later: valid}
	c := newCache(t, wrapped{localStub: stub, refused: "revoked"}, introspect.CacheConfig{})
	_, err := c.Verify(context.Background(), "revoked")
	assert.ErrorIs(t, err, introspect.ErrInvalidToken)
	_, err = c.Verify(context.Background(), "fine")
	require.NoError(t, err)
	assert.EqualValues(t, 1, stub.nowCalls.Load())

	c = newCache(t, remote{stub}, introspect.CacheConfig{})
	_, err = c.Verify(context.Background(), "other")
	require.NoError(t, err)
	assert.EqualValues(t, 1, stub.nowCalls.Load())
	assert.EqualValues(t, 1, stub.laterCalls.Load())
}

// remote embeds a LocalVerifier but waits on something of its own.
type remote struct{ *localStub }

func (remote) VerifiesLocally() bool { return false }

// TestCacheLocalCallerLeaves: a check that waits on the caller's ctx (a
// Verifier embedding a LocalVerifier, with a wait of its own) lets that
// caller leave, and the call goes on on a worker for the others.
func TestCacheLocalCallerLeaves(t *testing.T) {
	checking := make(chan struct{})
	next := &localStub{
		now: func(ctx context.Context, _ string) (*introspect.TokenInfo, error) {
			close(checking)
			<-ctx.Done()
			return nil, &introspect.UnavailableError{Reason: "database: gave up", Err: ctx.Err()}
		},
		later: func(ctx context.Context, _ string) (*introspect.TokenInfo, error) {
			if ctx.Err() != nil {
				t.Error("the call on the worker runs in a ctx already done")
			}
			return &introspect.TokenInfo{Active: true}, nil
		},
	}
	c := newCache(t, next, introspect.CacheConfig{})
	first, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() { _, err := c.Verify(first, "token"); firstErr <- err }()
	<-checking
	second := make(chan error, 1)
	go func() { _, err := c.Verify(context.Background(), "token"); second <- err }()
	// The first caller is checking, not waiting yet.
	testutil.WaitFor(t, "the second caller to wait", func() bool { return c.Stats().Waiting == 1 })
	cancel()
	select {
	case err := <-firstErr:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("the first caller could not leave its own check")
	}
	require.NoError(t, <-second, "the others get the answer of the call made again")
	assert.EqualValues(t, 1, next.laterCalls.Load())
	assert.EqualValues(t, 1, c.Stats().UpstreamCalls)
}

// TestCacheLocalCheckInvalidated: a token invalidated while its check runs
// is not stored: the next request checks it again.
func TestCacheLocalCheckInvalidated(t *testing.T) {
	var c *introspect.Cache
	next := &localStub{
		now: func(_ context.Context, token string) (*introspect.TokenInfo, error) {
			if token == "logged-out" {
				c.Invalidate(token)
			}
			return &introspect.TokenInfo{Active: true}, nil
		},
	}
	c = newCache(t, next, introspect.CacheConfig{})
	for range 2 {
		_, err := c.Verify(context.Background(), "logged-out")
		require.NoError(t, err)
	}
	assert.EqualValues(t, 2, next.nowCalls.Load())
}

// TestCacheLocalHookPanics: a hook that panics on the caller's goroutine
// leaves no slot taken and no call unfinished behind it.
func TestCacheLocalHookPanics(t *testing.T) {
	var armed atomic.Bool
	armed.Store(true)
	inFlight := 0
	var mu sync.Mutex
	hooks := &introspect.Hooks{
		UpstreamStart: func(ctx context.Context, _ string) context.Context {
			if armed.CompareAndSwap(true, false) {
				panic("hook bug")
			}
			return ctx
		},
		InFlight: func(d int) { mu.Lock(); inFlight += d; mu.Unlock() },
	}
	valid := func(context.Context, string) (*introspect.TokenInfo, error) {
		return &introspect.TokenInfo{Active: true}, nil
	}
	next := &localStub{now: valid, later: valid}
	c := newCache(t, next, introspect.CacheConfig{MaxConcurrent: 1, Hooks: hooks})
	func() {
		defer func() { assert.Equal(t, "hook bug", recover()) }()
		_, _ = c.Verify(context.Background(), "token")
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, token := range []string{"token", "other"} {
		_, err := c.Verify(ctx, token)
		require.NoError(t, err, "%s: the slot is free and the call gone", token)
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Zero(t, inFlight, "the gauge is back to 0")
}

// panickyTier is a SharedTier whose Get panics once: a bug in a tier
// called on the caller's goroutine.
type panickyTier struct{ armed atomic.Bool }

func (p *panickyTier) Get(context.Context, string) ([]byte, bool, error) {
	if p.armed.CompareAndSwap(true, false) {
		panic("tier bug")
	}
	return nil, false, nil
}
func (p *panickyTier) Set(context.Context, string, []byte, time.Duration) error { return nil }
func (p *panickyTier) Claim(context.Context, string, time.Duration) (string, error) {
	return "claim", nil
}
func (p *panickyTier) Release(context.Context, string, string) error { return nil }
func (p *panickyTier) Invalidate(context.Context, string) error      { return nil }
func (p *panickyTier) Listen(ctx context.Context, _ func(string), subscribed func()) {
	subscribed()
	<-ctx.Done()
}
func (p *panickyTier) ContextBounded() bool { return true }

func TestCacheSharedReadPanics(t *testing.T) {
	tier := &panickyTier{}
	tier.armed.Store(true)
	stub := &stubVerifier{answer: func(context.Context, string) (*introspect.TokenInfo, error) {
		return &introspect.TokenInfo{Active: true}, nil
	}}
	c := newCache(t, stub, introspect.CacheConfig{Shared: tier, SharedNamespace: "test"})
	func() {
		defer func() { assert.Equal(t, "tier bug", recover()) }()
		_, _ = c.Verify(context.Background(), "token")
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Verify(ctx, "token")
	require.NoError(t, err, "the token's call was not left unfinished")
}

// TestCacheScrubsTheToken: a Verifier that puts the token in its error
// does not get it into the error the Cache returns, nor into Ready's.
func TestCacheScrubsTheToken(t *testing.T) {
	const token = "careless-5f3a9d1e7c2b8406"
	failures := map[string]error{
		"undocumented": errors.New("lookup of " + token + " failed"),
		"invalid":      fmt.Errorf("%w: %s is revoked", introspect.ErrInvalidToken, token),
		"unavailable":  &introspect.UnavailableError{Reason: "db down for " + token, RetryAfter: time.Second},
	}
	for name, failure := range failures {
		t.Run(name, func(t *testing.T) {
			next := introspect.VerifierFunc(func(context.Context, string) (*introspect.TokenInfo, error) { return nil, failure })
			c := newCache(t, next, introspect.CacheConfig{})
			var err error
			for range 3 {
				_, err = c.Verify(context.Background(), token)
			}
			require.Error(t, err)
			assert.NotContains(t, err.Error(), token)
			assert.Contains(t, err.Error(), "[token]")
			assert.ErrorIs(t, err, failure, "the cause is still there for errors.Is")
			if name != "invalid" {
				var ue *introspect.UnavailableError
				require.ErrorAs(t, err, &ue)
				ready := c.Ready(context.Background())
				require.Error(t, ready)
				assert.NotContains(t, ready.Error(), token)
			}
		})
	}
}
