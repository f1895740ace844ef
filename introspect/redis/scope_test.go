package redis_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/jwt"
	"github.com/tokengate/tokengate/introspect/redis"
)

// TestServicesSetUpOtherwiseShareNothing: two services that name the same
// issuer as their namespace, on one Redis, but accept different audiences.
// Each must answer by its own settings: neither takes the other's answer,
// valid or invalid, from the shared tier. Replicas of one service still
// share.
func TestServicesSetUpOtherwiseShareNothing(t *testing.T) {
	f := newFixture(t)
	is := introspecttest.NewIssuer()
	t.Cleanup(is.Close)
	service := func(audience string) *introspect.Cache {
		v, err := jwt.New(jwt.Config{JWKSURL: is.JWKSURL(), Issuer: is.TokenIssuer(), Audiences: []string{audience}})
		require.NoError(t, err)
		t.Cleanup(v.Close)
		require.NoError(t, v.WaitReady(context.Background()))
		tier, err := redis.New(f.client(), redis.Config{})
		require.NoError(t, err)
		c, err := introspect.NewCache(v, introspect.CacheConfig{Shared: tier, SharedNamespace: is.TokenIssuer()})
		require.NoError(t, err)
		t.Cleanup(c.Close)
		testutil.WaitFor(t, "the service's subscription", func() bool { return c.Stats().SharedFlushes >= 1 })
		return c
	}
	a, b, a2 := service("api-a"), service("api-b"), service("api-a")
	ctx := context.Background()
	// The answers are stored in Redis after they are given.
	waitStored := func(n int) {
		testutil.WaitFor(t, "the answers in Redis", func() bool { return len(f.valueKeys()) == n })
	}

	forA := is.IssueJWT(introspecttest.JWT{ClientID: "38890", Audience: []string{"api-a"}, Scopes: []string{"MapRequest"}})
	_, err := a.Verify(ctx, forA)
	require.NoError(t, err)
	waitStored(1)
	_, err = b.Verify(ctx, forA)
	require.ErrorIs(t, err, introspect.ErrInvalidToken, "B accepted a token for A's audience")
	assert.Zero(t, b.Stats().SharedHits)
	waitStored(2)

	info, err := a2.Verify(ctx, forA)
	require.NoError(t, err, "B's invalid answer reached a replica of A")
	assert.True(t, info.HasScope("MapRequest"))
	assert.Equal(t, uint64(1), a2.Stats().SharedHits, "a replica of A did not share A's answer")

	forB := is.IssueJWT(introspecttest.JWT{ClientID: "38890", Audience: []string{"api-b"}})
	_, err = b.Verify(ctx, forB)
	require.NoError(t, err)
	waitStored(3)
	_, err = a.Verify(ctx, forB)
	require.ErrorIs(t, err, introspect.ErrInvalidToken, "A accepted a token for B's audience")
}
