package redis_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/redistest"
	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/redis"
)

// A deployment is a way to run Redis, with the go-redis client a replica
// has for it.
type deployment struct {
	name    string
	fixture func(t *testing.T) *fixture
}

var (
	standalone = deployment{"standalone", func(t *testing.T) *fixture { return newFixture(t) }}
	cluster    = deployment{"cluster", newClusterFixture}
	sentinel   = deployment{"sentinel", newSentinelFixture}
)

// onDeployments runs test on a fixture of each deployment, as subtests.
func onDeployments(t *testing.T, test func(*testing.T, *fixture), ds ...deployment) {
	for _, d := range ds {
		t.Run(d.name, func(t *testing.T) { test(t, d.fixture(t)) })
	}
}

// clusterFixture is a fixture on a Redis Cluster of three masters.
type clusterFixture struct {
	*fixture
	nodes []*redistest.Server
}

// newClusterFixture returns a fixture whose replicas each have a
// ClusterClient of a three-master Redis Cluster, seeded with every node.
func newClusterFixture(t *testing.T) *fixture { return newCluster(t).fixture }

func newCluster(t *testing.T) *clusterFixture {
	t.Helper()
	nodes := redistest.StartCluster(t, 3)
	srv := introspecttest.NewServer()
	t.Cleanup(srv.Close)
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr
	}
	f := &fixture{t: t, srv: srv}
	f.replicaClient = func() goredis.UniversalClient {
		rdb := goredis.NewClusterClient(&goredis.ClusterOptions{
			Addrs:                 addrs,
			ContextTimeoutEnabled: true,
			MaxRetries:            -1,
			DialTimeout:           200 * time.Millisecond,
		})
		t.Cleanup(func() { _ = rdb.Close() })
		return rdb
	}
	return &clusterFixture{fixture: f, nodes: nodes}
}

// newSentinelFixture returns a fixture whose replicas each have a
// failover client that finds the master through a Sentinel.
func newSentinelFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	s := redistest.StartSentinel(t, f.redis)
	f.replicaClient = func() goredis.UniversalClient {
		rdb := goredis.NewFailoverClient(&goredis.FailoverOptions{
			MasterName:            s.MasterName,
			SentinelAddrs:         []string{s.Addr},
			ContextTimeoutEnabled: true,
			MaxRetries:            -1,
			DialTimeout:           200 * time.Millisecond,
		})
		t.Cleanup(func() { _ = rdb.Close() })
		return rdb
	}
	return f
}

// node returns a plain client of one cluster node.
func (c *clusterFixture) node(i int) *goredis.Client {
	rdb := goredis.NewClient(&goredis.Options{Addr: c.nodes[i].Addr})
	c.t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// publishes returns how many PUBLISH commands each node has run.
func (c *clusterFixture) publishes() []int {
	c.t.Helper()
	counts := make([]int, len(c.nodes))
	for i := range c.nodes {
		info, err := c.node(i).Info(context.Background(), "commandstats").Result()
		require.NoError(c.t, err)
		counts[i] = stat(c.t, info, "cmdstat_publish:calls=")
	}
	return counts
}

// moved returns how many MOVED answers a node has given.
func (c *clusterFixture) moved(i int) int {
	c.t.Helper()
	info, err := c.node(i).Info(context.Background(), "errorstats").Result()
	require.NoError(c.t, err)
	return stat(c.t, info, "errorstat_MOVED:count=")
}

// stat returns the number after prefix in an INFO answer, or 0.
func stat(t *testing.T, info, prefix string) int {
	t.Helper()
	for line := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			n, _, _ := strings.Cut(strings.TrimSpace(rest), ",")
			v, err := strconv.Atoi(n)
			require.NoError(t, err, line)
			return v
		}
	}
	return 0
}

// In a cluster, every replica subscribes on the master of the channel's
// slot, and a replica's PUBLISH runs on a master of the client's choosing:
// the invalidation crosses the cluster bus to reach the others.
func TestClusterInvalidationCrossesNodes(t *testing.T) {
	c := newCluster(t)
	a, b := c.replica(introspect.CacheConfig{}), c.replica(introspect.CacheConfig{})
	ctx := context.Background()
	subscribers := make([]int64, len(c.nodes))
	total := int64(0)
	for i := range c.nodes {
		n, err := c.node(i).PubSubNumSub(ctx, redis.DefaultChannel).Result()
		require.NoError(t, err)
		subscribers[i] = n[redis.DefaultChannel]
		total += subscribers[i]
	}
	require.EqualValues(t, 2, total, "one subscription per replica")

	// Invalidate until a PUBLISH has run on a node without subscribers:
	// go-redis spreads commands without keys over the masters.
	crossed := func() bool {
		for i, n := range c.publishes() {
			if n > 0 && subscribers[i] == 0 {
				return true
			}
		}
		return false
	}
	for i := 0; !crossed(); i++ {
		require.Less(t, i, 3*len(c.nodes), "every PUBLISH ran where the subscribers are")
		token := c.token()
		verify(t, a, token)
		verify(t, b, token)
		c.srv.RevokeToken(token)
		received := b.Stats().InvalidationsReceived
		a.Invalidate(token)
		testutil.WaitFor(t, "B to hear the invalidation", func() bool { return b.Stats().InvalidationsReceived > received })
		_, err := b.Verify(ctx, token)
		require.ErrorIs(t, err, introspect.ErrInvalidToken)
	}
	t.Logf("subscribers per node %v, PUBLISH per node %v", subscribers, c.publishes())
}

func TestContextBoundedOnEveryClient(t *testing.T) {
	const nowhere = "127.0.0.1:1"
	for _, enabled := range []bool{true, false} {
		clients := []struct {
			name   string
			client goredis.UniversalClient
		}{
			{"Client", goredis.NewClient(&goredis.Options{Addr: nowhere, ContextTimeoutEnabled: enabled})},
			// A *goredis.Client too.
			{"FailoverClient", goredis.NewFailoverClient(&goredis.FailoverOptions{
				MasterName: "mymaster", SentinelAddrs: []string{nowhere}, ContextTimeoutEnabled: enabled,
			})},
			{"ClusterClient", goredis.NewClusterClient(&goredis.ClusterOptions{
				Addrs: []string{nowhere}, ContextTimeoutEnabled: enabled,
			})},
			// A *goredis.ClusterClient on the Sentinel's master and replicas.
			{"FailoverClusterClient", goredis.NewFailoverClusterClient(&goredis.FailoverOptions{
				MasterName: "mymaster", SentinelAddrs: []string{nowhere}, RouteRandomly: true, ContextTimeoutEnabled: enabled,
			})},
			{"Ring", goredis.NewRing(&goredis.RingOptions{
				Addrs: map[string]string{"shard": nowhere}, ContextTimeoutEnabled: enabled,
			})},
			{"UniversalClient of one address", goredis.NewUniversalClient(&goredis.UniversalOptions{
				Addrs: []string{nowhere}, ContextTimeoutEnabled: enabled,
			})},
			{"UniversalClient of several addresses", goredis.NewUniversalClient(&goredis.UniversalOptions{
				Addrs: []string{nowhere, "127.0.0.1:2"}, ContextTimeoutEnabled: enabled,
			})},
			{"UniversalClient with a master name", goredis.NewUniversalClient(&goredis.UniversalOptions{
				MasterName: "mymaster", Addrs: []string{nowhere}, ContextTimeoutEnabled: enabled,
			})},
		}
		for _, c := range clients {
			tier, err := redis.New(c.client, redis.Config{})
			require.NoError(t, err)
			assert.Equal(t, enabled, tier.ContextBounded(), "%s, ContextTimeoutEnabled %v", c.name, enabled)
			require.NoError(t, c.client.Close())
		}
	}
}

// A slot that moves to another master under the replicas, with its value:
// a replica whose client has the old map follows the MOVED answer, and
// finds the value, claims and stores on the new master, rather than
// missing or failing.
func TestClusterSlotMovedUnderTheReplicas(t *testing.T) {
	c := newCluster(t)
	// Long enough that a redirection never times out: this is about
	// routing, not latency.
	cfg := introspect.CacheConfig{SharedTimeout: 5 * time.Second}
	a, b := c.replica(cfg), c.replica(cfg)
	ctx := context.Background()
	token := c.token()
	verify(t, a, token)

	// The value is on one node; move its slot and it to the next.
	src, key := -1, ""
	for i := range c.nodes {
		keys, err := c.node(i).Keys(ctx, "*").Result()
		require.NoError(t, err)
		if len(keys) > 0 {
			require.Equal(t, -1, src, "the value on two nodes")
			require.Len(t, keys, 1, "one value, the claim released")
			src, key = i, keys[0]
		}
	}
	require.NotEqual(t, -1, src)
	dst := (src + 1) % len(c.nodes)
	slot, err := c.node(src).ClusterKeySlot(ctx, key).Result()
	require.NoError(t, err)
	ids := make([]string, len(c.nodes))
	for i := range c.nodes {
		ids[i], err = c.node(i).ClusterMyID(ctx).Result()
		require.NoError(t, err)
	}
	host, port, _ := strings.Cut(c.nodes[dst].Addr, ":")
	require.NoError(t, c.node(dst).Do(ctx, "cluster", "setslot", slot, "importing", ids[src]).Err())
	require.NoError(t, c.node(src).Do(ctx, "cluster", "setslot", slot, "migrating", ids[dst]).Err())
	require.NoError(t, c.node(src).Do(ctx, "migrate", host, port, "", 0, 5000, "keys", key).Err())
	// The new owner first, then the old, then the others.
	order := []int{dst, src}
	for i := range c.nodes {
		if i != src && i != dst {
			order = append(order, i)
		}
	}
	for _, i := range order {
		require.NoError(t, c.node(i).Do(ctx, "cluster", "setslot", slot, "node", ids[dst]).Err())
	}
	n, err := c.node(dst).Exists(ctx, key).Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the value moved")

	// B's client still maps the slot to the old node.
	verify(t, b, token)
	assert.Equal(t, 1, c.srv.Calls(token), "B asked the authorization server")
	assert.EqualValues(t, 1, b.Stats().SharedHits)
	moved := c.moved(src)
	require.NotZero(t, moved, "B's client was not redirected")

	// A too, for the value and the claim, after the token is revoked and
	// invalidated.
	c.srv.RevokeToken(token)
	received, misses := a.Stats().InvalidationsReceived, a.Stats().SharedMisses
	b.Invalidate(token)
	testutil.WaitFor(t, "A to hear the invalidation", func() bool { return a.Stats().InvalidationsReceived > received })
	_, err = a.Verify(ctx, token)
	require.ErrorIs(t, err, introspect.ErrInvalidToken)
	assert.Equal(t, 2, c.srv.Calls(token))
	assert.Greater(t, c.moved(src), moved, "A's client was not redirected")
	assert.Equal(t, misses+1, a.Stats().SharedMisses)
	_, err = b.Verify(ctx, token)
	require.ErrorIs(t, err, introspect.ErrInvalidToken)
	assert.Equal(t, 2, c.srv.Calls(token), "B did not see A's invalid answer")
	for _, r := range []*introspect.Cache{a, b} {
		assert.Zero(t, r.Stats().SharedErrors)
	}
}
