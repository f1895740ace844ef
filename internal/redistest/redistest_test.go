package redistest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartCluster(t *testing.T) {
	var addrs []string
	t.Run("three nodes", func(t *testing.T) {
		nodes := StartCluster(t, 3)
		require.Len(t, nodes, 3)
		for _, n := range nodes {
			addrs = append(addrs, n.Addr)
		}
		ctx := context.Background()

		// Every node tells the same map: three shards, one per node, in
		// order, covering every slot, each a master without replicas.
		for _, n := range nodes {
			c := goredis.NewClient(&goredis.Options{Addr: n.Addr})
			shards, err := c.ClusterShards(ctx).Result()
			_ = c.Close()
			require.NoError(t, err)
			require.Len(t, shards, 3, n.Addr)
			slices.SortFunc(shards, func(a, b goredis.ClusterShard) int { return int(a.Slots[0].Start - b.Slots[0].Start) })
			next := int64(0)
			for i, s := range shards {
				require.Len(t, s.Slots, 1)
				assert.Equal(t, next, s.Slots[0].Start)
				next = s.Slots[0].End + 1
				require.Len(t, s.Nodes, 1)
				assert.Equal(t, "master", s.Nodes[0].Role)
				assert.Equal(t, "online", s.Nodes[0].Health)
				assert.Equal(t, addrs[i], net.JoinHostPort(s.Nodes[0].IP, strconv.FormatInt(s.Nodes[0].Port, 10)))
			}
			assert.EqualValues(t, 16384, next)
		}

		// A cluster client reaches every node, following the map.
		cc := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: addrs[:1]})
		defer cc.Close()
		for i := range 30 {
			key := "key-" + strconv.Itoa(i)
			require.NoError(t, cc.Set(ctx, key, i, 0).Err())
			got, err := cc.Get(ctx, key).Int()
			require.NoError(t, err)
			assert.Equal(t, i, got)
		}
		counts := make([]int64, 3)
		for i, n := range nodes {
			c := goredis.NewClient(&goredis.Options{Addr: n.Addr})
			counts[i], _ = c.DBSize(ctx).Result()
			_ = c.Close()
		}
		for i, n := range counts {
			assert.NotZero(t, n, "no key on node %d", i)
		}
	})
	assertStopped(t, addrs)
}

func TestStartClusterOfOne(t *testing.T) {
	nodes := StartCluster(t, 1)
	c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{nodes[0].Addr}})
	defer c.Close()
	require.NoError(t, c.Set(context.Background(), "k", "v", 0).Err())
}

func TestStartSentinel(t *testing.T) {
	var addrs []string
	t.Run("one master", func(t *testing.T) {
		master := Start(t)
		s := StartSentinel(t, master)
		addrs = []string{master.Addr, s.Addr}
		assert.Equal(t, "mymaster", s.MasterName)
		ctx := context.Background()

		sc := goredis.NewSentinelClient(&goredis.Options{Addr: s.Addr})
		defer sc.Close()
		addr, err := sc.GetMasterAddrByName(ctx, s.MasterName).Result()
		require.NoError(t, err)
		assert.Equal(t, master.Addr, net.JoinHostPort(addr[0], addr[1]))

		// A failover client finds the master through the Sentinel.
		fc := goredis.NewFailoverClient(&goredis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: []string{s.Addr}})
		defer fc.Close()
		require.NoError(t, fc.Set(ctx, "k", "v", 0).Err())
		direct := goredis.NewClient(&goredis.Options{Addr: master.Addr})
		defer direct.Close()
		got, err := direct.Get(ctx, "k").Result()
		require.NoError(t, err)
		assert.Equal(t, "v", got)
	})
	assertStopped(t, addrs)
}

// assertStopped asserts that nothing answers on addrs any more: the
// processes of a test ended with it.
func assertStopped(t *testing.T, addrs []string) {
	t.Helper()
	require.NotEmpty(t, addrs)
	for _, addr := range addrs {
		_, err := processID(addr)
		assert.Error(t, err, fmt.Sprintf("%s still answers", addr))
	}
}

// TestStartRefusesAnotherServersPort: a server started on a port another
// one holds fails to bind and exits; the one that answers there is not
// taken for it.
func TestStartRefusesAnotherServersPort(t *testing.T) {
	first := Start(t)
	_, port, err := net.SplitHostPort(first.Addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	s := &Server{t: t, path: lookPath(t), dir: t.TempDir(), Addr: first.Addr}
	s.args = serverArgs(s.dir, p)
	require.ErrorContains(t, s.start(), "exited at start")
	pid, err := processID(first.Addr)
	require.NoError(t, err)
	assert.Equal(t, first.cmd.Process.Pid, pid)
}
