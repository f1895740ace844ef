package introspect_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/rfc7662"
)

// blockingVerifier holds every call until release is closed.
func blockingVerifier(release <-chan struct{}) *stubVerifier {
	return &stubVerifier{answer: func(ctx context.Context, _ string) (*introspect.TokenInfo, error) {
		select {
		case <-release:
			return &introspect.TokenInfo{Active: true}, nil
		case <-ctx.Done():
			return nil, &introspect.UnavailableError{Reason: "timeout", Err: ctx.Err()}
		}
	}}
}

func TestCacheBoundsCallsWaitingForASlot(t *testing.T) {
	release := make(chan struct{})
	stub := blockingVerifier(release)
	c := newCache(t, stub, introspect.CacheConfig{MaxConcurrent: 1, MaxWaiting: 2, Timeout: time.Minute})

	var wg sync.WaitGroup
	for i, token := range []string{"in-flight", "queued-1", "queued-2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Verify(context.Background(), token)
			assert.NoError(t, err)
		}()
		// One at a time, so that which call holds the slot is known.
		testutil.WaitFor(t, "the call to be in flight or queued", func() bool {
			s := c.Stats()
			return s.UpstreamCalls == 1 && s.Queued == int64(i)
		})
	}

	_, err := c.Verify(context.Background(), "one-too-many")
	require.ErrorIs(t, err, introspect.ErrUnavailable, "refused at once, not queued")
	assert.ErrorContains(t, err, "too many calls waiting")
	assert.EqualValues(t, 1, c.Stats().Rejected)

	close(release)
	wg.Wait()
	s := c.Stats()
	assert.EqualValues(t, 3, s.UpstreamCalls, "the refused call was never made")
	assert.Zero(t, s.Queued)
	assert.Zero(t, s.Failures, "a refusal is counted apart from failures")

	_, err = c.Verify(context.Background(), "one-too-many")
	assert.NoError(t, err, "the refusal was not stored")
}

func TestCacheMakesNoCallNobodyWaitsFor(t *testing.T) {
	release := make(chan struct{})
	stub := blockingVerifier(release)
	c := newCache(t, stub, introspect.CacheConfig{MaxConcurrent: 1, Timeout: time.Minute})

	held := make(chan struct{})
	go func() {
		defer close(held)
		_, err := c.Verify(context.Background(), "holds-the-slot")
		assert.NoError(t, err)
	}()
	testutil.WaitFor(t, "the slot to fill", func() bool { return c.Stats().UpstreamCalls == 1 })

	// Three callers for one token give up while its call waits for the slot.
	ctx, cancel := context.WithCancel(context.Background())
	var gaveUp sync.WaitGroup
	for range 3 {
		gaveUp.Add(1)
		go func() {
			defer gaveUp.Done()
			_, err := c.Verify(ctx, "nobody-waits")
			assert.ErrorIs(t, err, introspect.ErrUnavailable)
		}()
	}
	testutil.WaitFor(t, "the call to queue", func() bool { return c.Stats().Queued == 1 && c.Stats().Waiting == 4 })
	cancel()
	gaveUp.Wait()
	testutil.WaitFor(t, "the abandoned call to leave the queue", func() bool { return c.Stats().Queued == 0 })
	assert.EqualValues(t, 1, c.Stats().Abandoned)

	close(release)
	<-held
	assert.EqualValues(t, 1, stub.calls.Load(), "no call was made for a token whose callers had all gone")

	_, err := c.Verify(context.Background(), "nobody-waits")
	assert.NoError(t, err, "a later caller starts afresh")
	assert.EqualValues(t, 2, stub.calls.Load())
}

func TestCacheKeepsACallWhileOneCallerWaits(t *testing.T) {
	release := make(chan struct{})
	stub := blockingVerifier(release)
	c := newCache(t, stub, introspect.CacheConfig{MaxConcurrent: 1, Timeout: time.Minute})

	held := make(chan struct{})
	go func() {
		defer close(held)
		_, _ = c.Verify(context.Background(), "holds-the-slot")
	}()
	testutil.WaitFor(t, "the slot to fill", func() bool { return c.Stats().UpstreamCalls == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	leaving := make(chan struct{})
	go func() {
		defer close(leaving)
		_, _ = c.Verify(ctx, "shared")
	}()
	staying := make(chan error, 1)
	go func() {
		_, err := c.Verify(context.Background(), "shared")
		staying <- err
	}()
	testutil.WaitFor(t, "both callers to wait", func() bool { return c.Stats().Waiting == 3 })
	cancel()
	<-leaving

	close(release)
	require.NoError(t, <-staying, "the call goes on for the caller still waiting")
	<-held
	assert.Zero(t, c.Stats().Abandoned)
	assert.EqualValues(t, 2, stub.calls.Load())
}

// leewayVerifier accepts tokens up to its leeway past their expiry, as the
// RFC 7662 Introspector does.
type leewayVerifier struct {
	*stubVerifier
	leeway time.Duration
}

func (v leewayVerifier) Leeway() time.Duration { return v.leeway }

func TestCacheKeepsTheVerifiersLeeway(t *testing.T) {
	clock := testutil.NewClock()
	exp := clock.Now().Add(-10 * time.Second) // expired, but within the leeway
	stub := &stubVerifier{answer: func(context.Context, string) (*introspect.TokenInfo, error) {
		if !clock.Now().Before(exp.Add(30 * time.Second)) {
			return nil, introspect.ErrInvalidToken
		}
		return &introspect.TokenInfo{Active: true, ExpiresAt: exp}, nil
	}}
	c := newCache(t, leewayVerifier{stub, 30 * time.Second}, introspect.CacheConfig{Now: clock.Now})

	info, err := c.Verify(context.Background(), "skewed")
	require.NoError(t, err, "the cache accepts what its verifier accepts")
	assert.Equal(t, exp, info.ExpiresAt, "the facts are not changed")

	clock.Advance(19 * time.Second) // 29 s past exp
	_, err = c.Verify(context.Background(), "skewed")
	require.NoError(t, err)
	assert.EqualValues(t, 1, stub.calls.Load(), "served from the cache within the leeway")

	clock.Advance(time.Second) // exp + leeway
	_, err = c.Verify(context.Background(), "skewed")
	require.ErrorIs(t, err, introspect.ErrInvalidToken)
	assert.EqualValues(t, 2, stub.calls.Load(), "never reused past exp plus the leeway")
}

func TestCacheWithoutLeewayRefusesAnExpiredAnswer(t *testing.T) {
	clock := testutil.NewClock()
	stub := validFor(clock, -time.Second)
	c := newCache(t, stub, introspect.CacheConfig{Now: clock.Now})
	_, err := c.Verify(context.Background(), "expired")
	assert.ErrorIs(t, err, introspect.ErrInvalidToken)
}

// TestCacheAgreesWithTheIntrospectorsLeeway runs the Introspector behind a
// Cache against an authorization server whose clock is 20 s behind ours:
// a token it still calls active is 10 s past its "exp" by our clock.
func TestCacheAgreesWithTheIntrospectorsLeeway(t *testing.T) {
	ours := testutil.NewClock()
	theirs := testutil.NewClock()
	theirs.Advance(-20 * time.Second)
	srv := introspecttest.NewUnstartedServer()
	srv.Now = theirs.Now
	srv.Start()
	t.Cleanup(srv.Close)
	token := srv.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ExpiresAt: theirs.Now().Add(10 * time.Second)})
	in, err := rfc7662.New(rfc7662.Config{
		Issuer: srv.Issuer(), ClientID: "demo-client", ClientSecret: "demo-secret", Now: ours.Now,
	})
	require.NoError(t, err)
	t.Cleanup(in.Close)
	c := newCache(t, in, introspect.CacheConfig{Now: ours.Now})

	_, err = in.Verify(context.Background(), token)
	require.NoError(t, err, "the Introspector alone accepts the token within its leeway")
	_, err = c.Verify(context.Background(), token)
	require.NoError(t, err, "and so does the Cache in front of it")
	calls := srv.Calls(token)

	ours.Advance(19 * time.Second) // 29 s past exp
	_, err = c.Verify(context.Background(), token)
	require.NoError(t, err)
	assert.Equal(t, calls, srv.Calls(token), "served from the cache within the leeway")

	ours.Advance(time.Second) // exp + leeway by our clock
	_, err = c.Verify(context.Background(), token)
	assert.ErrorIs(t, err, introspect.ErrInvalidToken, "never reused past exp plus the leeway")
}
