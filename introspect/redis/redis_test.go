package redis_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/redistest"
	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/redis"
)

// fixture is an authorization server, a Redis, and the replicas of one
// service in front of them.
type fixture struct {
	t     *testing.T
	srv   *introspecttest.Server
	redis *redistest.Server // the standalone Redis, or the Sentinel's master; nil for a cluster
	// replicaClient returns a new go-redis client of the deployment, as
	// one replica would have; nil means f.client.
	replicaClient func() goredis.UniversalClient
}

func newFixture(t *testing.T, redisArgs ...string) *fixture {
	t.Helper()
	rs := redistest.Start(t, redisArgs...)
	srv := introspecttest.NewServer()
	t.Cleanup(srv.Close)
	return &fixture{t: t, srv: srv, redis: rs}
}

// client returns a go-redis client of the fixture's Redis (the Sentinel's
// master, not through the Sentinel), as one replica would have, that gives
// up quickly on a dead server.
func (f *fixture) client() *goredis.Client {
	rdb := goredis.NewClient(&goredis.Options{
		Addr:                  f.redis.Addr,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialTimeout:           200 * time.Millisecond,
	})
	f.t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// replica returns a Cache in front of the fixture's Geosecure endpoint
// with the Redis tier, as one replica of the service holds it.
func (f *fixture) replica(cfg introspect.CacheConfig) *introspect.Cache {
	f.t.Helper()
	if f.replicaClient == nil {
		return f.replicaOn(f.client(), cfg)
	}
	return f.replicaOn(f.replicaClient(), cfg)
}

func (f *fixture) replicaOn(rdb goredis.UniversalClient, cfg introspect.CacheConfig) *introspect.Cache {
	f.t.Helper()
	g, err := geosecure.New(geosecure.Config{URL: f.srv.VerifyURL()})
	require.NoError(f.t, err)
	tier, err := redis.New(rdb, redis.Config{HealthCheck: 200 * time.Millisecond})
	require.NoError(f.t, err)
	cfg.Shared = tier
	if cfg.SharedNamespace == "" {
		cfg.SharedNamespace = f.srv.VerifyURL()
	}
	c, err := introspect.NewCache(g, cfg)
	require.NoError(f.t, err)
	f.t.Cleanup(c.Close)
	// Wait for the first subscription, which empties memory once.
	testutil.WaitFor(f.t, "the replica's subscription", func() bool { return c.Stats().SharedFlushes >= 1 })
	return c
}

func (f *fixture) token() string {
	return f.srv.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest", "gipod_pdo_read"}, ClientID: "38890"})
}

// dump returns every key in Redis with its value.
func (f *fixture) dump() map[string]string {
	f.t.Helper()
	rdb := f.client()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	require.NoError(f.t, err)
	all := make(map[string]string, len(keys))
	for _, k := range keys {
		v, err := rdb.Get(ctx, k).Result()
		require.NoError(f.t, err)
		all[k] = v
	}
	return all
}

// valueKeys returns the keys of the values in Redis, without the claims.
func (f *fixture) valueKeys() []string {
	var keys []string
	for k, v := range f.dump() {
		if strings.HasPrefix(v, "v") {
			keys = append(keys, k)
		}
	}
	return keys
}

func verify(t *testing.T, c *introspect.Cache, token string) *introspect.TokenInfo {
	t.Helper()
	info, err := c.Verify(context.Background(), token)
	require.NoError(t, err)
	return info
}

func TestTokenVerifiedOnOneReplicaServesAnother(t *testing.T) {
	onDeployments(t, testTokenVerifiedOnOneReplicaServesAnother, standalone, cluster, sentinel)
}

func testTokenVerifiedOnOneReplicaServesAnother(t *testing.T, f *fixture) {
	a, b := f.replica(introspect.CacheConfig{}), f.replica(introspect.CacheConfig{})
	token := f.token()

	fromA := verify(t, a, token)
	require.Equal(t, 1, f.srv.Calls(token))
	fromB := verify(t, b, token)
	assert.Equal(t, 1, f.srv.Calls(token), "B asked the authorization server")
	assert.True(t, fromB.HasScope("MapRequest"))
	assert.True(t, fromB.HasScope("gipod_pdo_read"))
	assert.Equal(t, fromA.ClientID, fromB.ClientID)
	assert.WithinDuration(t, fromA.ExpiresAt, fromB.ExpiresAt, time.Second)
	assert.EqualValues(t, 1, b.Stats().SharedHits)

	// Now in B's memory: a hit that does not reach Redis.
	verify(t, b, token)
	assert.EqualValues(t, 1, b.Stats().Hits)
	assert.EqualValues(t, 1, b.Stats().SharedHits)

	// An invalid answer is shared too.
	_, err := a.Verify(context.Background(), "not-a-token")
	require.ErrorIs(t, err, introspect.ErrInvalidToken)
	_, err = b.Verify(context.Background(), "not-a-token")
	require.ErrorIs(t, err, introspect.ErrInvalidToken)
	assert.Equal(t, 1, f.srv.Calls("not-a-token"))
}

func TestHerdAcrossReplicasMakesOneUpstreamCall(t *testing.T) {
	onDeployments(t, testHerdAcrossReplicasMakesOneUpstreamCall, standalone, cluster, sentinel)
}

func testHerdAcrossReplicasMakesOneUpstreamCall(t *testing.T, f *fixture) {
	// A generous SharedTimeout: a replica's first command on a new client
	// dials (and, on a Cluster, learns the slots), which on a loaded
	// machine can take longer than the default, and a read that times
	// out rightly asks the authorization server itself.
	cfg := introspect.CacheConfig{SharedTimeout: 10 * time.Second}
	replicas := []*introspect.Cache{f.replica(cfg), f.replica(cfg), f.replica(cfg)}
	token := f.token()
	f.srv.Hold()

	const n = 200
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := replicas[i%len(replicas)].Verify(context.Background(), token)
			errs <- err
		})
	}
	// Every request waits: on the claimant for its upstream call, on the
	// others for the claimant's answer.
	testutil.WaitFor(t, "the herd to gather", func() bool {
		waiting, lockWaits := int64(0), uint64(0)
		for _, r := range replicas {
			waiting += r.Stats().Waiting
			lockWaits += r.Stats().LockWaits
		}
		return f.srv.Held() == 1 && waiting == n && lockWaits == uint64(len(replicas)-1)
	})
	f.srv.Release()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 1, f.srv.Calls(token))
	var upstream, sharedHits uint64
	for _, r := range replicas {
		upstream += r.Stats().UpstreamCalls
		sharedHits += r.Stats().SharedHits
	}
	assert.EqualValues(t, 1, upstream)
	assert.EqualValues(t, len(replicas)-1, sharedHits)
}

func TestInvalidateReachesEveryReplica(t *testing.T) {
	onDeployments(t, testInvalidateReachesEveryReplica, standalone, cluster, sentinel)
}

func testInvalidateReachesEveryReplica(t *testing.T, f *fixture) {
	a, b := f.replica(introspect.CacheConfig{}), f.replica(introspect.CacheConfig{})
	token := f.token()
	verify(t, a, token)
	verify(t, b, token)
	verify(t, b, token) // a memory hit on B
	require.Equal(t, 1, f.srv.Calls(token))

	f.srv.RevokeToken(token)
	a.Invalidate(token)
	assert.EqualValues(t, 1, a.Stats().InvalidationsSent)
	testutil.WaitFor(t, "B to hear the invalidation", func() bool { return b.Stats().InvalidationsReceived >= 1 })

	_, err := b.Verify(context.Background(), token)
	require.ErrorIs(t, err, introspect.ErrInvalidToken)
	assert.Equal(t, 2, f.srv.Calls(token), "B did not ask the authorization server again")
	// A hears B's invalid answer through Redis.
	_, err = a.Verify(context.Background(), token)
	require.ErrorIs(t, err, introspect.ErrInvalidToken)
	assert.Equal(t, 2, f.srv.Calls(token))
}

func TestRedisKilledMidTraffic(t *testing.T) {
	f := newFixture(t)
	const timeout = 50 * time.Millisecond
	replicas := []*introspect.Cache{
		f.replica(introspect.CacheConfig{SharedTimeout: timeout}),
		f.replica(introspect.CacheConfig{SharedTimeout: timeout}),
	}
	tokens := make([]string, 20)
	for i := range tokens {
		tokens[i] = f.token()
	}

	stop := make(chan struct{})
	var failures sync.Map
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := replicas[w%2].Verify(context.Background(), tokens[(w+i)%len(tokens)]); err != nil {
					failures.Store(err.Error(), true)
				}
			}
		})
	}
	testutil.WaitFor(t, "traffic to be shared", func() bool { return replicas[1].Stats().SharedHits > 0 })
	f.redis.Stop()

	// New tokens, each a memory miss: the first few pay the tier's
	// timeout at most (connections are refused at once), then the breaker
	// keeps Redis out of the way.
	for range 10 {
		start := time.Now()
		verify(t, replicas[0], f.token())
		assert.Less(t, time.Since(start), time.Second, "a miss with Redis down took too long")
	}
	close(stop)
	wg.Wait()
	failures.Range(func(k, _ any) bool {
		t.Errorf("request failed with Redis down: %v", k)
		return true
	})
	st := replicas[0].Stats()
	assert.NotZero(t, st.SharedErrors)
	assert.NotZero(t, st.SharedSkipped, "the breaker never opened")
}

func TestRedisHungIsBoundedByTheTimeoutThenTheBreaker(t *testing.T) {
	for _, contextTimeouts := range []bool{true, false} {
		name := "client honours contexts"
		if !contextTimeouts {
			name = "client ignores contexts"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			rdb := goredis.NewClient(&goredis.Options{
				Addr: f.redis.Addr, ContextTimeoutEnabled: contextTimeouts, MaxRetries: -1,
				ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
			})
			t.Cleanup(func() { _ = rdb.Close() })
			const timeout = 50 * time.Millisecond
			c := f.replicaOn(rdb, introspect.CacheConfig{SharedTimeout: timeout})
			verify(t, c, f.token()) // a connection in the pool

			f.redis.Pause()
			t.Cleanup(f.redis.Resume)
			var slowest time.Duration
			for range 10 {
				start := time.Now()
				verify(t, c, f.token())
				slowest = max(slowest, time.Since(start))
			}
			// Each operation gives up after 50 ms; a miss makes at most
			// two before the breaker opens after three failures.
			assert.Less(t, slowest, time.Second)
			st := c.Stats()
			assert.GreaterOrEqual(t, st.SharedErrors, uint64(3))
			assert.NotZero(t, st.SharedSkipped)
			f.redis.Resume()
		})
	}
}

func TestRedisRestartedSharingAndInvalidationResume(t *testing.T) {
	onDeployments(t, testRedisRestartedSharingAndInvalidationResume, standalone, sentinel)
}

func testRedisRestartedSharingAndInvalidationResume(t *testing.T, f *fixture) {
	a, b := f.replica(introspect.CacheConfig{}), f.replica(introspect.CacheConfig{})
	before := f.token()
	verify(t, a, before)
	verify(t, b, before)
	require.Equal(t, 1, f.srv.Calls(before))
	flushesA, flushesB := a.Stats().SharedFlushes, b.Stats().SharedFlushes

	// While Redis is down, the token is revoked and invalidated on A: B
	// cannot hear it.
	f.redis.Stop()
	f.srv.RevokeToken(before)
	a.Invalidate(before)
	f.redis.Restart()

	testutil.WaitFor(t, "both replicas to subscribe again", func() bool {
		return a.Stats().SharedFlushes > flushesA && b.Stats().SharedFlushes > flushesB
	})
	// B emptied its memory on subscribing again: it asks again.
	_, err := b.Verify(context.Background(), before)
	require.ErrorIs(t, err, introspect.ErrInvalidToken)

	// Sharing resumes once the breaker lets calls through again.
	testutil.WaitFor(t, "a token to be shared again", func() bool {
		token := f.token()
		verify(t, a, token)
		verify(t, b, token)
		return f.srv.Calls(token) == 1
	})
	// And invalidation.
	token := f.token()
	verify(t, a, token)
	verify(t, b, token)
	f.srv.RevokeToken(token)
	received := b.Stats().InvalidationsReceived
	a.Invalidate(token)
	testutil.WaitFor(t, "B to hear the invalidation", func() bool { return b.Stats().InvalidationsReceived > received })
	_, err = b.Verify(context.Background(), token)
	require.ErrorIs(t, err, introspect.ErrInvalidToken)
}

func TestRedisHoldsNoTokenAndNoFact(t *testing.T) {
	f := newFixture(t)
	a := f.replica(introspect.CacheConfig{SharedPepper: []byte("server secret")})
	tok := introspecttest.Token{
		Scopes:   []string{"MapRequest", "gipod_pdo_write", "dv_ar_adres_beheer"},
		ClientID: "client-38890",
		Audience: []string{"audience-abc"},
		Subject:  "subject-0123456789",
		Claims:   map[string]any{"vo_orgcode": "OVO002949", "vo_id": "vo-id-77"},
	}
	token := f.srv.IssueToken(tok)
	verify(t, a, token)
	_, err := a.Verify(context.Background(), "an-invalid-token-value")
	require.ErrorIs(t, err, introspect.ErrInvalidToken)
	// A claim in flight shows in a dump too.
	f.srv.Hold()
	held := f.token()
	go func() { _, _ = a.Verify(context.Background(), held) }()
	testutil.WaitFor(t, "a call in flight", func() bool { return f.srv.Held() == 1 })

	dump := f.dump()
	f.srv.Release()
	require.Len(t, dump, 3, "a valid answer, an invalid one and a claim")
	secrets := []string{token, "an-invalid-token-value", held, introspect.Fingerprint(token), "client-38890", "audience-abc",
		"subject-0123456789", "OVO002949", "vo-id-77", "vo_orgcode", "38890"}
	secrets = append(secrets, tok.Scopes...)
	for k, v := range dump {
		assert.True(t, strings.HasPrefix(k, "tokengate:v1:"+f.srv.VerifyURL()+":{"), k)
		for _, s := range secrets {
			assert.NotContains(t, k, s)
			assert.NotContains(t, v, s)
			assert.NotContains(t, strings.ToLower(v), strings.ToLower(s))
		}
	}
}

func TestEntryTTLs(t *testing.T) {
	f := newFixture(t)
	a := f.replica(introspect.CacheConfig{InvalidTTL: 3 * time.Second})
	rdb := f.client()
	ctx := context.Background()
	ttlOf := func() time.Duration {
		keys := f.valueKeys()
		require.Len(t, keys, 1)
		ttl, err := rdb.PTTL(ctx, keys[0]).Result()
		require.NoError(t, err)
		require.NoError(t, rdb.FlushAll(ctx).Err())
		return ttl
	}

	shortLived := f.srv.IssueToken(introspecttest.Token{ExpiresAt: time.Now().Add(20 * time.Second)})
	verify(t, a, shortLived)
	assert.LessOrEqual(t, ttlOf(), 20*time.Second, "kept past the token's expiry")

	verify(t, a, f.token())
	ttl := ttlOf()
	assert.LessOrEqual(t, ttl, introspect.DefaultMaxTTL)
	assert.Greater(t, ttl, introspect.DefaultMaxTTL-time.Minute)

	_, err := a.Verify(ctx, "unknown")
	require.ErrorIs(t, err, introspect.ErrInvalidToken)
	assert.LessOrEqual(t, ttlOf(), 3*time.Second)

	// A failure is never stored.
	failing := f.token()
	f.srv.SetFault(introspecttest.Fault{Status: 503})
	_, err = a.Verify(ctx, failing)
	require.ErrorIs(t, err, introspect.ErrUnavailable)
	f.srv.SetFault(introspecttest.Fault{})
	assert.Empty(t, f.dump())
}

func TestValueOfOneNamespaceDoesNotOpenInAnother(t *testing.T) {
	f := newFixture(t)
	a := f.replica(introspect.CacheConfig{SharedNamespace: "https://authenticatie.vlaanderen.be/op"})
	b := f.replica(introspect.CacheConfig{SharedNamespace: "https://authenticatie-ti.vlaanderen.be/op"})
	token := f.token()
	verify(t, a, token)
	keysA := f.valueKeys()
	require.Len(t, keysA, 1)
	verify(t, b, token)
	assert.Equal(t, 2, f.srv.Calls(token), "B took A's entry")
	keys := f.valueKeys()
	require.Len(t, keys, 2)
	keyB := keys[0]
	if keyB == keysA[0] {
		keyB = keys[1]
	}

	// Replay A's value under B's key.
	rdb := f.client()
	ctx := context.Background()
	valueA, err := rdb.Get(ctx, keysA[0]).Bytes()
	require.NoError(t, err)
	require.NoError(t, rdb.Set(ctx, keyB, valueA, time.Minute).Err())
	b2 := f.replica(introspect.CacheConfig{SharedNamespace: "https://authenticatie-ti.vlaanderen.be/op"})
	verify(t, b2, token)
	assert.Equal(t, 3, f.srv.Calls(token))
	assert.EqualValues(t, 1, b2.Stats().SharedUnreadable)
	assert.Zero(t, b2.Stats().SharedHits)
}

func TestCorruptedValueIsACountedMiss(t *testing.T) {
	f := newFixture(t)
	a, b := f.replica(introspect.CacheConfig{}), f.replica(introspect.CacheConfig{})
	token := f.token()
	verify(t, a, token)
	keys := f.valueKeys()
	require.Len(t, keys, 1)
	rdb := f.client()
	ctx := context.Background()
	value, err := rdb.Get(ctx, keys[0]).Bytes()
	require.NoError(t, err)
	value[len(value)/2] ^= 1
	require.NoError(t, rdb.Set(ctx, keys[0], value, time.Minute).Err())

	info := verify(t, b, token)
	assert.True(t, info.HasScope("MapRequest"))
	assert.Equal(t, 2, f.srv.Calls(token))
	st := b.Stats()
	assert.EqualValues(t, 1, st.SharedUnreadable)
	assert.EqualValues(t, 1, st.SharedMisses)
	assert.Zero(t, st.SharedHits)
}

func TestRedisOutOfMemoryAndEvicting(t *testing.T) {
	f := newFixture(t)
	a, b := f.replica(introspect.CacheConfig{}), f.replica(introspect.CacheConfig{})
	rdb := f.client()
	ctx := context.Background()

	// Out of memory: every write is refused.
	require.NoError(t, rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err())
	require.NoError(t, rdb.ConfigSet(ctx, "maxmemory", "1").Err())
	token := f.token()
	verify(t, a, token)
	verify(t, b, token)
	assert.Equal(t, 2, f.srv.Calls(token))
	assert.NotZero(t, a.Stats().SharedErrors)
	require.NoError(t, rdb.ConfigSet(ctx, "maxmemory", "0").Err())

	// Evicted: a miss, and the authorization server answers.
	testutil.WaitFor(t, "the breaker to close", func() bool {
		token := f.token()
		verify(t, a, token)
		return len(f.valueKeys()) > 0
	})
	token = f.token()
	verify(t, a, token)
	require.NoError(t, rdb.FlushAll(ctx).Err())
	verify(t, b, token)
	assert.Equal(t, 2, f.srv.Calls(token))
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := redis.New(nil, redis.Config{})
	require.Error(t, err)
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	_, err = redis.New(rdb, redis.Config{HealthCheck: -1})
	require.Error(t, err)
	tier, err := redis.New(rdb, redis.Config{})
	require.NoError(t, err)
	_, err = introspect.NewCache(introspect.VerifierFunc(func(context.Context, string) (*introspect.TokenInfo, error) {
		return nil, errors.New("unused")
	}), introspect.CacheConfig{Shared: tier})
	require.Error(t, err, "a shared tier without a namespace")
}

// An invalidation that reaches the replica holding a token's claim while
// its upstream call is under way keeps that call's answer out of Redis and
// out of the replica's memory: the caller gets it, nobody else does.
func TestInvalidationHeardDuringAClaimKeepsTheAnswerOut(t *testing.T) {
	f := newFixture(t)
	a, b := f.replica(introspect.CacheConfig{}), f.replica(introspect.CacheConfig{})
	token := f.token()

	f.srv.Hold()
	done := make(chan error, 1)
	go func() {
		_, err := a.Verify(context.Background(), token)
		done <- err
	}()
	testutil.WaitFor(t, "A's call in flight", func() bool { return f.srv.Held() == 1 })
	received := a.Stats().InvalidationsReceived
	b.Invalidate(token)
	testutil.WaitFor(t, "A to hear the invalidation", func() bool { return a.Stats().InvalidationsReceived > received })
	f.srv.Release()
	require.NoError(t, <-done, "the caller gets the answer its call brought")

	assert.Empty(t, f.valueKeys(), "no value in Redis")
	calls := f.srv.Calls(token)
	verify(t, a, token)
	assert.Equal(t, calls+1, f.srv.Calls(token), "A kept nothing in memory")
}

// revokedOnTwoReplicas returns two replicas that have both verified token,
// which the authorization server has since revoked: what a logout must
// make them forget.
func (f *fixture) revokedOnTwoReplicas() (a, b *introspect.Cache, token string) {
	f.t.Helper()
	a, b = f.replica(introspect.CacheConfig{}), f.replica(introspect.CacheConfig{})
	token = f.token()
	verify(f.t, a, token)
	verify(f.t, b, token)
	f.srv.RevokeToken(token)
	return a, b, token
}

// TestInvalidationTheTierMissedIsSentAgain: an invalidation made while
// Redis is hung is not lost. It is sent again once Redis answers, so the
// entry there is deleted and the other replica forgets the token, instead
// of serving the revoked token for as long as the entry lives.
func TestInvalidationTheTierMissedIsSentAgain(t *testing.T) {
	f := newFixture(t)
	a, b, token := f.revokedOnTwoReplicas()

	f.redis.Pause()
	t.Cleanup(f.redis.Resume)
	a.Invalidate(token)
	assert.Zero(t, a.Stats().InvalidationsSent)
	assert.EqualValues(t, 1, a.Stats().InvalidationsPending)
	flushes := b.Stats().SharedFlushes
	f.redis.Resume()

	testutil.WaitFor(t, "the invalidation to be sent again", func() bool { return a.Stats().InvalidationsPending == 0 })
	assert.EqualValues(t, 1, a.Stats().InvalidationsSent)
	testutil.WaitFor(t, "B to hear it, or to empty its memory after a lost subscription", func() bool {
		st := b.Stats()
		return st.InvalidationsReceived >= 1 || st.SharedFlushes > flushes
	})
	_, err := b.Verify(context.Background(), token)
	require.ErrorIs(t, err, introspect.ErrInvalidToken, "B served the revoked token")
	_, err = a.Verify(context.Background(), token)
	require.ErrorIs(t, err, introspect.ErrInvalidToken, "A served the revoked token")
}

// TestInvalidateGoesThroughAnOpenBreaker: a logout right after Redis was
// slow, while the breaker keeps other operations away, still reaches Redis
// and the other replicas.
func TestInvalidateGoesThroughAnOpenBreaker(t *testing.T) {
	f := newFixture(t)
	a, b, token := f.revokedOnTwoReplicas()

	f.redis.Pause()
	for range 3 {
		verify(t, a, f.token()) // failures of the tier: the breaker opens
	}
	f.redis.Resume()
	skipped := a.Stats().SharedSkipped
	verify(t, a, f.token())
	require.Greater(t, a.Stats().SharedSkipped, skipped, "the breaker is not open")
	// Within the breaker's second: a slower machine would find it
	// half-open, and let the invalidation through as its probe.
	// TestInvalidateIgnoresAnOpenBreaker (introspect) holds it open.
	a.Invalidate(token)
	assert.EqualValues(t, 1, a.Stats().InvalidationsSent)
	assert.Zero(t, a.Stats().InvalidationsPending)

	testutil.WaitFor(t, "B to hear the invalidation", func() bool { return b.Stats().InvalidationsReceived >= 1 })
	_, err := b.Verify(context.Background(), token)
	require.ErrorIs(t, err, introspect.ErrInvalidToken, "B served the revoked token")
}
