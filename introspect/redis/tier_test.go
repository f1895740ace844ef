package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect/redis"
)

// TestTierEntryProtocol walks one key through everything an entry can hold:
// nothing, a claim, a value in its place, and nothing again after an
// invalidation, with every claim refused while another or a value stands
// and a release that removes only its own claim.
func TestTierEntryProtocol(t *testing.T) {
	f := newFixture(t)
	rdb := f.client()
	tier, err := redis.New(rdb, redis.Config{})
	require.NoError(t, err)
	ctx := context.Background()
	const key = "tokengate:v1:ns:{k}"

	get := func() ([]byte, bool) {
		t.Helper()
		value, claimed, err := tier.Get(ctx, key)
		require.NoError(t, err)
		return value, claimed
	}
	claim := func() string {
		t.Helper()
		c, err := tier.Claim(ctx, key, 2*time.Second)
		require.NoError(t, err)
		return c
	}
	pttl := func() time.Duration {
		t.Helper()
		ttl, err := rdb.PTTL(ctx, key).Result()
		require.NoError(t, err)
		return ttl
	}

	value, claimed := get()
	assert.Nil(t, value)
	assert.False(t, claimed, "nothing stored")

	first := claim()
	require.NotEmpty(t, first)
	value, claimed = get()
	assert.Nil(t, value)
	assert.True(t, claimed)
	assert.Greater(t, pttl(), time.Duration(0), "a claim expires")
	assert.LessOrEqual(t, pttl(), 2*time.Second)
	assert.Empty(t, claim(), "a second claim while one stands")
	require.NoError(t, tier.Release(ctx, key, first+"x"))
	_, claimed = get()
	assert.True(t, claimed, "released by someone who does not hold it")

	require.NoError(t, tier.Set(ctx, key, []byte("\x01sealed"), time.Minute))
	value, claimed = get()
	assert.Equal(t, []byte("\x01sealed"), value, "the value in the claim's place")
	assert.False(t, claimed)
	assert.Empty(t, claim(), "a claim while a value stands")
	require.NoError(t, tier.Release(ctx, key, first))
	value, _ = get()
	assert.Equal(t, []byte("\x01sealed"), value, "the holder's release leaves the value that replaced its claim")
	assert.Greater(t, pttl(), 59*time.Second, "the value's own TTL, not the claim's")

	require.NoError(t, tier.Invalidate(ctx, key))
	value, claimed = get()
	assert.Nil(t, value)
	assert.False(t, claimed, "invalidated")

	second := claim()
	require.NotEmpty(t, second)
	assert.NotEqual(t, first, second)
	require.NoError(t, tier.Release(ctx, key, second))
	_, claimed = get()
	assert.False(t, claimed, "released by its holder")
	assert.Equal(t, time.Duration(-2), pttl(), "no key left behind")

	// An invalidation deletes a claim too: the replicas waiting for its
	// holder's answer ask the authorization server themselves.
	require.NotEmpty(t, claim())
	require.NoError(t, tier.Invalidate(ctx, key))
	_, claimed = get()
	assert.False(t, claimed, "a claim invalidated")

	// An entry no Tier wrote reads as a value, whole, which the Cache
	// finds unreadable, and a claim is refused over it.
	require.NoError(t, rdb.Set(ctx, key, "written by someone else", time.Minute).Err())
	value, claimed = get()
	assert.Equal(t, []byte("written by someone else"), value)
	assert.False(t, claimed)
	assert.Empty(t, claim())
}
