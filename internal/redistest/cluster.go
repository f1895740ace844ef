package redistest

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// slots is the number of hash slots of a Redis Cluster.
const slots = 16384

// StartCluster starts a Redis Cluster of n masters without replicas, each
// a redis-server on a loopback port with its cluster bus on another, the
// slots split evenly between them in order, and waits until every node
// says the cluster is ok. The nodes stop when the test ends. It skips the
// test when redis-server is not on PATH or older than 7, or fails it
// under CI=true.
// A node's nodes.conf is in its own directory, which Restart keeps.
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	if n < 1 || n > slots {
		t.Fatalf("redistest: a cluster of %d nodes", n)
	}
	// --cluster-port and CLUSTER ADDSLOTSRANGE came with Redis 7.
	requireMajor(t, 7, "a cluster")
	nodes := make([]*Server, n)
	buses := make([]int, n)
	for i := range nodes {
		nodes[i] = launch(t, func(dir string, port int) ([]string, error) {
			bus, err := freePortBut(port)
			if err != nil {
				return nil, err
			}
			buses[i] = bus
			return append(serverArgs(dir, port),
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
				"--cluster-port", strconv.Itoa(bus),
				// Known from the start, rather than learnt from the first
				// MEET or PING, so that CLUSTER SLOTS never shows a node
				// without an address.
				"--cluster-announce-ip", "127.0.0.1",
			), nil
		})
	}

	ctx := context.Background()
	clients := make([]*goredis.Client, n)
	for i, node := range nodes {
		clients[i] = goredis.NewClient(&goredis.Options{Addr: node.Addr, MaxRetries: -1})
		defer clients[i].Close()
	}
	for i, c := range clients {
		lo, hi := i*slots/n, (i+1)*slots/n-1
		// Distinct epochs, as redis-cli --cluster create sets them, spare
		// the nodes resolving a collision.
		if err := c.Do(ctx, "cluster", "set-config-epoch", i+1).Err(); err != nil {
			t.Fatalf("redistest: CLUSTER SET-CONFIG-EPOCH on %s: %v", nodes[i].Addr, err)
		}
		if err := c.Do(ctx, "cluster", "addslotsrange", lo, hi).Err(); err != nil {
			t.Fatalf("redistest: CLUSTER ADDSLOTSRANGE %d %d on %s: %v", lo, hi, nodes[i].Addr, err)
		}
	}
	// Every pair meets, rather than each node learning of the others
	// through gossip, which may take seconds.
	for i := range nodes {
		for j := i + 1; j < n; j++ {
			host, port, _ := net.SplitHostPort(nodes[j].Addr)
			// The bus port is not the port + 10000 that MEET assumes
			// without it.
			if err := clients[i].Do(ctx, "cluster", "meet", host, port, buses[j]).Err(); err != nil {
				t.Fatalf("redistest: CLUSTER MEET %s on %s: %v", nodes[j].Addr, nodes[i].Addr, err)
			}
		}
	}

	// A master waits two seconds after its start before it says ok.
	want := []string{"cluster_state:ok", "cluster_slots_ok:" + strconv.Itoa(slots), "cluster_known_nodes:" + strconv.Itoa(n)}
	for i, c := range clients {
		var info string
		err := poll(15*time.Second, func() bool {
			var err error
			info, err = c.ClusterInfo(ctx).Result()
			return err == nil && hasLines(info, want)
		})
		if err != nil {
			t.Fatalf("redistest: the cluster is not ok on %s after 15s: %s\n%s", nodes[i].Addr, info, nodes[i].output())
		}
	}
	return nodes
}

// hasLines reports whether every line of want is a line of info.
func hasLines(info string, want []string) bool {
	lines := make(map[string]bool)
	for line := range strings.Lines(info) {
		lines[strings.TrimSpace(line)] = true
	}
	for _, w := range want {
		if !lines[w] {
			return false
		}
	}
	return true
}

// poll calls cond every 10 ms until it holds, or fails after bound.
func poll(bound time.Duration, cond func() bool) error {
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", bound)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
