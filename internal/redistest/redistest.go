// Package redistest runs redis-server processes for tests: each on a free
// loopback port, without persistence, so that a test can stop, pause and
// restart its own Redis. Where redis-server is not installed, tests that
// need it are skipped, except under CI=true, where they fail.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/testutil"
)

// Server is a redis-server process on a loopback port. It is safe for
// concurrent use.
type Server struct {
	// Addr is the server's address, 127.0.0.1:port. It stays the same
	// across Restart.
	Addr string

	t    testing.TB
	path string
	dir  string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *testutil.SyncBuffer
}

// Start starts a redis-server with extra arguments, such as
// "--maxmemory", "1mb", and stops it when the test ends. It skips the test
// when redis-server is not on PATH, or fails it under CI=true.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	return launch(t, func(dir string, port int) ([]string, error) {
		return append(serverArgs(dir, port), extra...), nil
	})
}

// serverArgs are the arguments of a redis-server on port, without
// persistence, in dir.
func serverArgs(dir string, port int) []string {
	return []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--loglevel", "warning",
	}
}

// launch starts a redis-server on a free port with the arguments that args
// returns for the port and the server's own directory, trying other ports
// when one is taken, and stops it when the test ends.
func launch(t testing.TB, args func(dir string, port int) ([]string, error)) *Server {
	t.Helper()
	path := lookPath(t)
	s := &Server{t: t, path: path, dir: t.TempDir()}
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: finding a free port: %v", err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if s.args, err = args(s.dir, port); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		if err = s.start(); err == nil {
			break
		}
		if attempt == 4 {
			t.Fatalf("redistest: %v", err)
		}
	}
	t.Cleanup(s.Stop)
	return s
}

// requireMajor skips the test, or fails it under CI=true, when
// redis-server is older than major, which what needs.
func requireMajor(t testing.TB, major int, what string) {
	t.Helper()
	path := lookPath(t)
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		t.Fatalf("redistest: redis-server --version: %v", err)
	}
	// "Redis server v=7.0.15 sha=…"
	_, v, _ := strings.Cut(string(out), " v=")
	got, _, _ := strings.Cut(v, ".")
	if n, err := strconv.Atoi(got); err == nil && n >= major {
		return
	}
	msg := fmt.Sprintf("redistest: %s needs redis-server %d or later, and %s is %q", what, major, path, strings.TrimSpace(string(out)))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// lookPath returns the path of redis-server, or skips the test, or fails
// it under CI=true.
func lookPath(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not on PATH, and CI=true: install the Debian package redis-server")
		}
		t.Skip("redis-server is not on PATH: install the Debian package redis-server to run this test")
	}
	return path
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePortBut returns a free port other than port. The kernel may hand
// out the port a closed listener had again, so it asks a few times.
func freePortBut(port int) (int, error) {
	for range 8 {
		p, err := freePort()
		if err != nil || p != port {
			return p, err
		}
	}
	return 0, fmt.Errorf("no free port but %d", port)
}

// start runs the process and waits until it answers on s.Addr as itself:
// a server that another test started on the port meanwhile, while this
// one failed to bind it, answers with another process id.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.path, s.args...)
	// The server must not outlive a test binary that times out or
	// crashes, and so never runs its Cleanup.
	cmd.SysProcAttr = dieWithParent()
	log := new(testutil.SyncBuffer)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited, s.log = cmd, exited, log
	deadline := time.Now().Add(10 * time.Second)
	for {
		if pid, err := processID(s.Addr); err == nil && pid == cmd.Process.Pid {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited at start: %s", log.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server did not answer within 10s: %s", log.String())
		}
	}
}

// processID asks the server at addr for the process id it reports in
// INFO server, on a new connection.
func processID(addr string) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("INFO server\r\n")); err != nil {
		return 0, err
	}
	r := bufio.NewReader(conn)
	head, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if !strings.HasPrefix(head, "$") || err != nil || n < 0 {
		return 0, fmt.Errorf("unexpected answer to INFO: %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("INFO server names no process_id")
}

// output returns what the running process has written.
func (s *Server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

// Stop kills the server (SIGKILL, as a crash would) and waits until it has
// exited. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // a paused process must not linger
	_ = cmd.Process.Kill()
	<-exited
}

// Pause stops the process with SIGSTOP: connections stay open, and nothing
// answers, as with a hung server or a black-holed network.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused process.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}

// Restart stops the server and starts an empty one on the same address,
// as a Redis without persistence comes back after a crash.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restarting: %v", err)
	}
}
