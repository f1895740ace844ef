package introspect_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/scopes"
)

// stubVerifier answers from a function and counts its calls.
type stubVerifier struct {
	calls  atomic.Int64
	answer func(ctx context.Context, token string) (*introspect.TokenInfo, error)
}

func (s *stubVerifier) Verify(ctx context.Context, token string) (*introspect.TokenInfo, error) {
	s.calls.Add(1)
	return s.answer(ctx, token)
}

func validFor(clock *testutil.Clock, d time.Duration) *stubVerifier {
	return &stubVerifier{answer: func(context.Context, string) (*introspect.TokenInfo, error) {
		return &introspect.TokenInfo{Active: true, Scopes: scopes.New("MapRequest"), ExpiresAt: clock.Now().Add(d)}, nil
	}}
}

func newCache(t testing.TB, next introspect.Verifier, cfg introspect.CacheConfig) *introspect.Cache {
	t.Helper()
	c, err := introspect.NewCache(next, cfg)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func TestCacheServesHits(t *testing.T) {
	clock := testutil.NewClock()
	stub := validFor(clock, time.Hour)
	c := newCache(t, stub, introspect.CacheConfig{Now: clock.Now})

	first, err := c.Verify(context.Background(), "token-a")
	require.NoError(t, err)
	for range 10 {
		info, err := c.Verify(context.Background(), "token-a")
		require.NoError(t, err)
		assert.Same(t, first, info)
	}
	_, err = c.Verify(context.Background(), "token-b")
	require.NoError(t, err)

	assert.EqualValues(t, 2, stub.calls.Load())
	st := c.Stats()
	assert.EqualValues(t, 10, st.Hits)
	assert.EqualValues(t, 2, st.Misses)
	assert.EqualValues(t, 2, st.UpstreamCalls)
	assert.Zero(t, st.Waiting)
}

func TestCacheTTL(t *testing.T) {
	tests := []struct {
		name      string
		maxTTL    time.Duration
		tokenLife time.Duration
		fresh     time.Duration // still served from the cache after this
	}{
		{"max TTL first", 5 * time.Minute, time.Hour, 5 * time.Minute},
		{"token expiry first", 5 * time.Minute, 90 * time.Second, 90 * time.Second},
		{"default max TTL", 0, time.Hour, introspect.DefaultMaxTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := testutil.NewClock()
			stub := validFor(clock, tt.tokenLife)
			c := newCache(t, stub, introspect.CacheConfig{MaxTTL: tt.maxTTL, Now: clock.Now})

			_, err := c.Verify(context.Background(), "tok")
			require.NoError(t, err)
			clock.Advance(tt.fresh - time.Nanosecond)
			_, err = c.Verify(context.Background(), "tok")
			require.NoError(t, err)
			assert.EqualValues(t, 1, stub.calls.Load(), "still fresh")

			clock.Advance(time.Nanosecond)
			_, err = c.Verify(context.Background(), "tok")
			require.NoError(t, err)
			assert.EqualValues(t, 2, stub.calls.Load(), "expired")
		})
	}
}

func TestCacheNeverServesPastExpiry(t *testing.T) {
	clock := testutil.NewClock()
	stub := validFor(clock, 0) // the backend answers with an expiry of now
	c := newCache(t, stub, introspect.CacheConfig{Now: clock.Now})
	_, err := c.Verify(context.Background(), "tok")
	assert.ErrorIs(t, err, introspect.ErrInvalidToken)
	_, err = c.Verify(context.Background(), "tok")
	assert.ErrorIs(t, err, introspect.ErrInvalidToken)
	assert.EqualValues(t, 1, stub.calls.Load(), "the expired answer is cached as invalid")
}

func TestCacheInvalidTTL(t *testing.T) {
	clock := testutil.NewClock()
	stub := &stubVerifier{answer: func(context.Context, string) (*introspect.TokenInfo, error) {
		return nil, introspect.ErrInvalidToken
	}}
	c := newCache(t, stub, introspect.CacheConfig{Now: clock.Now})
	for range 5 {
		_, err := c.Verify(context.Background(), "bad")
		assert.ErrorIs(t, err, introspect.ErrInvalidToken)
	}
	assert.EqualValues(t, 1, stub.calls.Load())
	clock.Advance(introspect.DefaultInvalidTTL)
	_, err := c.Verify(context.Background(), "bad")
	assert.ErrorIs(t, err, introspect.ErrInvalidToken)
	assert.EqualValues(t, 2, stub.calls.Load())
	assert.EqualValues(t, 2, c.Stats().Invalid)
}

func TestCacheNegativeTTLsStoreNothing(t *testing.T) {
	clock := testutil.NewClock()
	valid := validFor(clock, time.Hour)
	c := newCache(t, valid, introspect.CacheConfig{MaxTTL: -1, Now: clock.Now})
	for range 3 {
		_, err := c.Verify(context.Background(), "tok")
		require.NoError(t, err)
	}
	assert.EqualValues(t, 3, valid.calls.Load())

	invalid := &stubVerifier{answer: func(context.Context, string) (*introspect.TokenInfo, error) {
		return nil, introspect.ErrInvalidToken
	}}
	c = newCache(t, invalid, introspect.CacheConfig{InvalidTTL: -1, Now: clock.Now})
	for range 3 {
		_, err := c.Verify(context.Background(), "tok")
		require.ErrorIs(t, err, introspect.ErrInvalidToken)
	}
	assert.EqualValues(t, 3, invalid.calls.Load())
}

func TestCacheNeverStoresFailures(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	clock := testutil.NewClock()
	stub := &stubVerifier{answer: func(context.Context, string) (*introspect.TokenInfo, error) {
		if fail.Load() {
			return nil, &introspect.UnavailableError{StatusCode: 503, Reason: "unexpected status"}
		}
		return &introspect.TokenInfo{Active: true, ExpiresAt: clock.Now().Add(time.Hour)}, nil
	}}
	c := newCache(t, stub, introspect.CacheConfig{Now: clock.Now})
	for range 3 {
		_, err := c.Verify(context.Background(), "tok")
		assert.ErrorIs(t, err, introspect.ErrUnavailable)
	}
	fail.Store(false)
	_, err := c.Verify(context.Background(), "tok")
	assert.NoError(t, err)
	assert.EqualValues(t, 4, stub.calls.Load())
	assert.EqualValues(t, 3, c.Stats().Failures)
}

func TestCacheHoldsVerifiersToTheirContract(t *testing.T) {
	tests := []struct {
		name   string
		answer func() (*introspect.TokenInfo, error)
		want   error
	}{
		{"panic", func() (*introspect.TokenInfo, error) { panic("boom") }, introspect.ErrUnavailable},
		{"panic naming the token", func() (*introspect.TokenInfo, error) { panic("bad token tok-secret-1") }, introspect.ErrUnavailable},
		{"nil without error", func() (*introspect.TokenInfo, error) { return nil, nil }, introspect.ErrUnavailable},
		{"unclassified error", func() (*introspect.TokenInfo, error) { return nil, errors.New("odd") }, introspect.ErrUnavailable},
		{"inactive without error", func() (*introspect.TokenInfo, error) { return &introspect.TokenInfo{}, nil }, introspect.ErrInvalidToken},
		{"result with invalid error", func() (*introspect.TokenInfo, error) {
			return &introspect.TokenInfo{Active: true}, introspect.ErrInvalidToken
		}, introspect.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCache(t, introspect.VerifierFunc(func(context.Context, string) (*introspect.TokenInfo, error) {
				return tt.answer()
			}), introspect.CacheConfig{})
			info, err := c.Verify(context.Background(), "tok-secret-1")
			assert.ErrorIs(t, err, tt.want)
			assert.NotContains(t, err.Error(), "tok-secret-1")
			assert.Nil(t, info)
		})
	}
}

// herd runs n concurrent Verify calls for one token through a cache in front
// of a held fake server, releases the server once every caller waits on the
// shared call, and returns the callers' errors.
func herd(t *testing.T, n int, srv *introspecttest.Server, c *introspect.Cache, token string, ctxFor func(i int) context.Context) []error {
	t.Helper()
	srv.Hold()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Verify(ctxFor(i), token)
		}()
	}
	testutil.WaitFor(t, "the herd to gather", func() bool {
		return c.Stats().Waiting == int64(n) && srv.Held() == 1
	})
	srv.Release()
	wg.Wait()
	return errs
}

func newHerdFixture(t *testing.T) (*introspecttest.Server, *introspect.Cache) {
	t.Helper()
	srv := introspecttest.NewServer()
	t.Cleanup(srv.Close)
	g, err := geosecure.New(geosecure.Config{URL: srv.VerifyURL()})
	require.NoError(t, err)
	return srv, newCache(t, g, introspect.CacheConfig{})
}

func TestCacheHerdMakesOneCall(t *testing.T) {
	srv, c := newHerdFixture(t)
	token := srv.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}})

	errs := herd(t, 1000, srv, c, token, func(int) context.Context { return context.Background() })
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 1, srv.Calls(token))

	// Arrivals after the shared call ended find the stored result.
	for range 100 {
		_, err := c.Verify(context.Background(), token)
		require.NoError(t, err)
	}
	assert.Equal(t, 1, srv.Calls(token))
	assert.EqualValues(t, 1, c.Stats().UpstreamCalls)
}

func TestCacheHerdSurvivesFirstCallerLeaving(t *testing.T) {
	srv, c := newHerdFixture(t)
	token := srv.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}})

	first, cancel := context.WithCancel(context.Background())
	srv.Hold()
	firstErr := make(chan error, 1)
	go func() { _, err := c.Verify(first, token); firstErr <- err }()
	testutil.WaitFor(t, "the first call to reach the server", func() bool { return srv.Held() == 1 })
	cancel()
	err := <-firstErr
	assert.ErrorIs(t, err, context.Canceled, "the first caller gives up")
	assert.Equal(t, 1, srv.Held(), "the shared call goes on")

	errs := herd(t, 999, srv, c, token, func(int) context.Context { return context.Background() })
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 1, srv.Calls(token))
}

func TestCacheHerdSharesAFailureOnlyWithItsWaiters(t *testing.T) {
	srv, c := newHerdFixture(t)
	token := srv.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}})
	srv.SetFault(introspecttest.Fault{Status: 503, Body: "down", RetryAfter: "30"})

	errs := herd(t, 1000, srv, c, token, func(int) context.Context { return context.Background() })
	for _, err := range errs {
		require.ErrorIs(t, err, introspect.ErrUnavailable)
		var ue *introspect.UnavailableError
		require.ErrorAs(t, err, &ue)
		require.Equal(t, 30*time.Second, ue.RetryAfter)
	}
	assert.Equal(t, 1, srv.Calls(token))

	srv.SetFault(introspecttest.Fault{})
	_, err := c.Verify(context.Background(), token)
	require.NoError(t, err)
	assert.Equal(t, 2, srv.Calls(token), "the failure was not stored")
}

func TestCacheBoundsUpstreamConcurrency(t *testing.T) {
	const bound, callers = 3, 12
	var inFlight, peak atomic.Int64
	release := make(chan struct{})
	stub := &stubVerifier{answer: func(ctx context.Context, _ string) (*introspect.TokenInfo, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		return &introspect.TokenInfo{Active: true}, nil
	}}
	c := newCache(t, stub, introspect.CacheConfig{MaxConcurrent: bound})

	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Verify(context.Background(), strings.Repeat("t", i+1))
			assert.NoError(t, err)
		}()
	}
	testutil.WaitFor(t, "every caller to wait", func() bool { return c.Stats().Waiting == callers })
	testutil.WaitFor(t, "the slots to fill", func() bool { return inFlight.Load() == bound })
	assert.EqualValues(t, bound, c.Stats().UpstreamCalls, "the others wait for a slot")
	close(release)
	wg.Wait()
	assert.EqualValues(t, bound, peak.Load())
	assert.EqualValues(t, callers, stub.calls.Load())
}

func TestCacheSlotWaitIsBoundedByTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	stub := &stubVerifier{answer: func(ctx context.Context, _ string) (*introspect.TokenInfo, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, &introspect.UnavailableError{Reason: "timeout", Err: ctx.Err()}
	}}
	// One slot; the first call holds it until its own timeout.
	c := newCache(t, stub, introspect.CacheConfig{MaxConcurrent: 1, Timeout: 20 * time.Millisecond})
	var wg sync.WaitGroup
	for _, tok := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Verify(context.Background(), tok)
			assert.ErrorIs(t, err, introspect.ErrUnavailable)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 2, c.Stats().Failures)
}

func TestCacheInvalidate(t *testing.T) {
	clock := testutil.NewClock()
	stub := validFor(clock, time.Hour)
	c := newCache(t, stub, introspect.CacheConfig{Now: clock.Now})
	_, err := c.Verify(context.Background(), "tok")
	require.NoError(t, err)
	c.Invalidate("tok")
	_, err = c.Verify(context.Background(), "tok")
	require.NoError(t, err)
	assert.EqualValues(t, 2, stub.calls.Load())
}

func TestCacheInvalidateDuringFetchDropsTheAnswer(t *testing.T) {
	clock := testutil.NewClock()
	arrived, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	stub := introspect.VerifierFunc(func(context.Context, string) (*introspect.TokenInfo, error) {
		if calls.Add(1) == 1 {
			close(arrived)
			<-release
		}
		return &introspect.TokenInfo{Active: true, ExpiresAt: clock.Now().Add(time.Hour)}, nil
	})
	c := newCache(t, stub, introspect.CacheConfig{Now: clock.Now})
	done := make(chan error)
	go func() { _, err := c.Verify(context.Background(), "tok"); done <- err }()
	<-arrived
	c.Invalidate("tok") // logout while the verification is under way
	close(release)
	require.NoError(t, <-done)

	_, err := c.Verify(context.Background(), "tok")
	require.NoError(t, err)
	assert.EqualValues(t, 2, calls.Load(), "the answer fetched before the logout was not stored")
}

func TestCacheEvictsToStayWithinMaxCost(t *testing.T) {
	clock := testutil.NewClock()
	stub := validFor(clock, time.Hour)
	c := newCache(t, stub, introspect.CacheConfig{MaxCost: 16 << 10, Now: clock.Now})
	for i := range 2000 {
		_, err := c.Verify(context.Background(), strings.Repeat("x", i+1))
		require.NoError(t, err)
	}
	assert.NotZero(t, c.Stats().Evictions)
}

func TestClosedCacheStillVerifies(t *testing.T) {
	clock := testutil.NewClock()
	stub := validFor(clock, time.Hour)
	c, err := introspect.NewCache(stub, introspect.CacheConfig{Now: clock.Now})
	require.NoError(t, err)
	c.Close()
	for range 2 {
		_, err := c.Verify(context.Background(), "tok")
		require.NoError(t, err)
	}
	assert.EqualValues(t, 2, stub.calls.Load())
}

func TestNewCacheConfig(t *testing.T) {
	_, err := introspect.NewCache(nil, introspect.CacheConfig{})
	assert.Error(t, err)
	stub := validFor(testutil.NewClock(), time.Hour)
	for _, cfg := range []introspect.CacheConfig{{MaxCost: -1}, {MaxConcurrent: -1}, {MaxWaiting: -1}, {Timeout: -1}} {
		_, err := introspect.NewCache(stub, cfg)
		assert.Error(t, err, "%+v", cfg)
	}
	// A negative duration means none where none makes sense.
	for _, cfg := range []introspect.CacheConfig{{MaxTTL: -1}, {InvalidTTL: -1}, {StaleIfError: -1}} {
		_, err := introspect.NewCache(stub, cfg)
		assert.NoError(t, err, "%+v", cfg)
	}
}

func benchmarkCache(b *testing.B, hooks *introspect.Hooks) (*introspect.Cache, string) {
	stub := introspect.VerifierFunc(func(context.Context, string) (*introspect.TokenInfo, error) {
		return &introspect.TokenInfo{Active: true, Scopes: scopes.New("MapRequest"), ExpiresAt: time.Now().Add(time.Hour)}, nil
	})
	c := newCache(b, stub, introspect.CacheConfig{Hooks: hooks})
	token := strings.Repeat("A", 64)
	if _, err := c.Verify(context.Background(), token); err != nil {
		b.Fatal(err)
	}
	return c, token
}

func BenchmarkCacheHit(b *testing.B) {
	c, token := benchmarkCache(b, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCacheHitParallel(b *testing.B) {
	c, token := benchmarkCache(b, nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCacheMiss measures what the Cache adds to a miss, in front of a
// Verifier that answers at once with one shared TokenInfo: its bookkeeping,
// and the hand-off of the call to a worker (the stub is no LocalVerifier).
// Each iteration verifies a new token, whose making costs one of the
// allocations.
func BenchmarkCacheMiss(b *testing.B) {
	info := &introspect.TokenInfo{Active: true, Scopes: scopes.New("MapRequest"), ExpiresAt: time.Now().Add(time.Hour)}
	stub := introspect.VerifierFunc(func(context.Context, string) (*introspect.TokenInfo, error) { return info, nil })
	c := newCache(b, stub, introspect.CacheConfig{})
	ctx := context.Background()
	token := make([]byte, 48, 64) // room for the number: one allocation, the string
	copy(token, strings.Repeat("A", 48))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := c.Verify(ctx, string(strconv.AppendInt(token, int64(i), 10))); err != nil {
			b.Fatal(err)
		}
	}
}
