package introspect_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/scopes"
)

// switchable answers as its mode says: a token valid until expires, the
// server down, or the token revoked.
type switchable struct {
	calls   atomic.Int64
	mode    atomic.Value // "up", "down" or "revoked"
	expires time.Time
}

func newSwitchable(expires time.Time) *switchable {
	s := &switchable{expires: expires}
	s.mode.Store("up")
	return s
}

func (s *switchable) Verify(context.Context, string) (*introspect.TokenInfo, error) {
	s.calls.Add(1)
	switch s.mode.Load() {
	case "down":
		return nil, &introspect.UnavailableError{StatusCode: 503, Reason: "unexpected status"}
	case "revoked":
		return nil, introspect.ErrInvalidToken
	}
	return &introspect.TokenInfo{Active: true, Scopes: scopes.New("MapRequest"), ExpiresAt: s.expires}, nil
}

func TestStaleIfError(t *testing.T) {
	ctx := context.Background()
	const maxTTL, grace = 5 * time.Minute, 10 * time.Minute

	// setup returns a clock, a server whose tokens expire after life, and a
	// cache in front of it with the given stale-if-error window.
	setup := func(t *testing.T, life, window time.Duration) (*testutil.Clock, *switchable, *introspect.Cache) {
		clock := testutil.NewClock()
		up := newSwitchable(clock.Now().Add(life))
		return clock, up, newCache(t, up, introspect.CacheConfig{MaxTTL: maxTTL, StaleIfError: window, Now: clock.Now})
	}

	t.Run("off by default", func(t *testing.T) {
		clock, up, c := setup(t, time.Hour, 0)
		_, err := c.Verify(ctx, "tok")
		require.NoError(t, err)
		clock.Advance(maxTTL)
		up.mode.Store("down")
		_, err = c.Verify(ctx, "tok")
		assert.ErrorIs(t, err, introspect.ErrUnavailable)
		assert.Zero(t, c.Stats().Stale)
	})

	t.Run("serves stale facts within the grace window while the server is down", func(t *testing.T) {
		clock, up, c := setup(t, time.Hour, grace)
		first, err := c.Verify(ctx, "tok")
		require.NoError(t, err)

		clock.Advance(maxTTL + time.Minute)
		up.mode.Store("down")
		for range 3 {
			info, err := c.Verify(ctx, "tok")
			require.NoError(t, err)
			assert.Same(t, first, info)
		}
		assert.EqualValues(t, 3, c.Stats().Stale)
		assert.EqualValues(t, 4, up.calls.Load(), "each stale answer follows a real attempt")

		clock.Advance(grace) // past MaxTTL + grace
		_, err = c.Verify(ctx, "tok")
		assert.ErrorIs(t, err, introspect.ErrUnavailable)

		up.mode.Store("up")
		_, err = c.Verify(ctx, "tok")
		assert.NoError(t, err, "a recovered server gives fresh facts")
		assert.EqualValues(t, 3, c.Stats().Stale)
	})

	t.Run("never past the token's expiry", func(t *testing.T) {
		clock, up, c := setup(t, maxTTL+2*time.Minute, grace)
		_, err := c.Verify(ctx, "tok")
		require.NoError(t, err)
		up.mode.Store("down")
		clock.Advance(maxTTL + time.Minute)
		_, err = c.Verify(ctx, "tok")
		require.NoError(t, err, "stale, and the token is still valid")
		clock.Advance(time.Minute)
		_, err = c.Verify(ctx, "tok")
		assert.ErrorIs(t, err, introspect.ErrUnavailable, "the token has expired: no stale answer")
	})

	t.Run("never for invalid answers", func(t *testing.T) {
		clock, up, c := setup(t, time.Hour, grace)
		up.mode.Store("revoked")
		_, err := c.Verify(ctx, "tok")
		require.ErrorIs(t, err, introspect.ErrInvalidToken)
		clock.Advance(introspect.DefaultInvalidTTL)
		up.mode.Store("down")
		_, err = c.Verify(ctx, "tok")
		assert.ErrorIs(t, err, introspect.ErrUnavailable)
		assert.NotErrorIs(t, err, introspect.ErrInvalidToken)
	})

	t.Run("a revocation seen after the fresh time wins over the stale facts", func(t *testing.T) {
		clock, up, c := setup(t, time.Hour, grace)
		_, err := c.Verify(ctx, "tok")
		require.NoError(t, err)
		clock.Advance(maxTTL)
		up.mode.Store("revoked")
		_, err = c.Verify(ctx, "tok")
		assert.ErrorIs(t, err, introspect.ErrInvalidToken)
		up.mode.Store("down")
		_, err = c.Verify(ctx, "tok")
		assert.ErrorIs(t, err, introspect.ErrInvalidToken, "the invalid answer replaced the stale facts")
		clock.Advance(introspect.DefaultInvalidTTL)
		_, err = c.Verify(ctx, "tok")
		assert.ErrorIs(t, err, introspect.ErrUnavailable, "and they do not come back")
		assert.Zero(t, c.Stats().Stale)
	})

	t.Run("negative grace is none", func(t *testing.T) {
		clock, up, c := setup(t, time.Hour, -time.Second)
		_, err := c.Verify(ctx, "tok")
		require.NoError(t, err)
		clock.Advance(maxTTL)
		up.mode.Store("down")
		_, err = c.Verify(ctx, "tok")
		assert.ErrorIs(t, err, introspect.ErrUnavailable)
		assert.Zero(t, c.Stats().Stale)
	})
}
