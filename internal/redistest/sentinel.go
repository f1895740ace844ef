package redistest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// MasterName is the name under which a Sentinel from [StartSentinel]
// monitors its master.
const MasterName = "mymaster"

// Sentinel is a Redis Sentinel process monitoring one master.
type Sentinel struct {
	// Server is the sentinel process: Addr is the address a client asks
	// for the master.
	*Server
	// MasterName is the name the master is monitored under, MasterName.
	MasterName string
}

// StartSentinel starts a Sentinel (redis-server --sentinel, with a
// generated configuration file) on a loopback port, monitoring master
// with a quorum of one and a down-after of one second, and waits until
// it reports the master's address and is connected to it. It stops when
// the test ends. It skips the test when redis-server is not on PATH, or
// fails it under CI=true.
//
// The master has no replica, so the Sentinel never fails over: a master
// that stops is down until it is restarted on the same address.
func StartSentinel(t testing.TB, master *Server) *Sentinel {
	t.Helper()
	host, port, err := net.SplitHostPort(master.Addr)
	if err != nil {
		t.Fatalf("redistest: the master's address: %v", err)
	}
	s := launch(t, func(dir string, p int) ([]string, error) {
		// Sentinel rewrites its configuration file: it must be its own
		// and writable.
		conf := filepath.Join(dir, "sentinel.conf")
		text := "sentinel monitor " + MasterName + " " + host + " " + port + " 1\n" +
			"sentinel down-after-milliseconds " + MasterName + " 1000\n" +
			"sentinel failover-timeout " + MasterName + " 2000\n"
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return nil, err
		}
		return []string{conf, "--sentinel",
			"--port", strconv.Itoa(p), "--bind", "127.0.0.1", "--dir", dir,
			"--daemonize", "no", "--loglevel", "warning",
		}, nil
	})

	sc := goredis.NewSentinelClient(&goredis.Options{Addr: s.Addr, MaxRetries: -1})
	defer sc.Close()
	ctx := context.Background()
	var addr []string
	var state map[string]string
	err = poll(10*time.Second, func() bool {
		var err error
		if addr, err = sc.GetMasterAddrByName(ctx, MasterName).Result(); err != nil || len(addr) != 2 ||
			net.JoinHostPort(addr[0], addr[1]) != master.Addr {
			return false
		}
		// "master", without "disconnected" or "s_down": the Sentinel has
		// reached it.
		state, err = sc.Master(ctx, MasterName).Result()
		return err == nil && state["flags"] == "master"
	})
	if err != nil {
		t.Fatalf("redistest: the sentinel does not report %s after 10s: %v %v\n%s", master.Addr, addr, state, s.output())
	}
	return &Sentinel{Server: s, MasterName: MasterName}
}
