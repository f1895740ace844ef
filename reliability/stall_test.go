package reliability

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/upstream"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/middleware"
)

var (
	stallRequests = flag.Int("stall.requests", 10_000, "requests in TestStalledUpstreamFlood")
	stallReport   = flag.Bool("stall.report", false, "print TestStalledUpstreamFlood's figures for RELIABILITY.md")
)

// The stalled-upstream flood: clients that give up after clientPatience
// while the authorization server accepts connections and never answers.
const (
	stallTimeout     = 2 * time.Second // the cache's upstream timeout
	clientPatience   = 20 * time.Millisecond
	stallClients     = 256
	stallHeapBoundMB = 128 // documented bound on the heap in use during the flood, the test's own HTTP server and clients included
	// maxIdleWorkers and workerIdle are the cache's: how many workers it
	// keeps idle, and for how long (introspect's
	// TestWorkerLimitsMatchTheStallTest keeps them in step).
	maxIdleWorkers = 8
	workerIdle     = time.Second
	// goroutineSlack allows for the runtime's and net/http's own goroutines
	// that come and go between two counts.
	goroutineSlack = 10
)

// stalledServer accepts connections and reads from them, never answering.
type stalledServer struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool
}

func newStalledServer(t *testing.T) *stalledServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &stalledServer{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *stalledServer) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.conns[conn] = struct{}{}
		s.mu.Unlock()
		s.accepted.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_, _ = io.Copy(io.Discard, conn) // until the client hangs up
			s.mu.Lock()
			delete(s.conns, conn)
			s.mu.Unlock()
			conn.Close()
		}()
	}
}

func (s *stalledServer) close() {
	s.mu.Lock()
	s.closed = true
	for conn := range s.conns {
		conn.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

// TestStalledUpstreamFlood floods a protected route with distinct tokens
// from clients that give up after 20 ms, while the authorization server
// accepts connections and never answers. The work queued for it must stay
// bounded: calls waiting for a slot (MaxWaiting), calls in flight and
// upstream connections (MaxConcurrent), no call for a token whose callers
// have all gone, and every goroutine gone within the upstream timeout
// after the flood.
func TestStalledUpstreamFlood(t *testing.T) {
	stalled := newStalledServer(t)
	// The backend's own transport, with its dialer counting the
	// connections it holds open: the server sees a closed connection a
	// moment late.
	transport := upstream.NewTransport()
	conns := &connCounter{dial: transport.DialContext}
	transport.DialContext = conns.DialContext
	defer transport.CloseIdleConnections()
	verifier, err := geosecure.New(geosecure.Config{
		URL:        "http://" + stalled.ln.Addr().String() + "/verify",
		HTTPClient: &http.Client{Transport: transport},
	})
	require.NoError(t, err)
	defer verifier.Close()
	cache, err := introspect.NewCache(verifier, introspect.CacheConfig{Timeout: stallTimeout})
	require.NoError(t, err)
	defer cache.Close()
	auth, err := middleware.New(middleware.Config{Verifier: cache, Logger: discardLogger})
	require.NoError(t, err)
	api := httptest.NewServer(auth.Require(middleware.AllOf("MapRequest"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})))
	defer api.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: stallClients}}
	defer client.CloseIdleConnections()

	request := func(i int) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), clientPatience)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.URL+"/v1/maps", nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", fmt.Sprintf("Bearer stalled-flood-token-%08d", i))
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	baseline := runtime.NumGoroutine()

	var (
		next, gaveUp, got503, other atomic.Int64
		peakGoroutines, peakHeap    atomic.Int64
		peakQueued                  atomic.Int64
		done                        = make(chan struct{})
		sampler                     sync.WaitGroup
	)
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			storeMax(&peakHeap, int64(ms.HeapInuse))
			storeMax(&peakGoroutines, int64(runtime.NumGoroutine()))
			storeMax(&peakQueued, cache.Stats().Queued)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	var clients sync.WaitGroup
	for range stallClients {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= *stallRequests {
					return
				}
				switch status, err := request(i); {
				case err != nil:
					gaveUp.Add(1)
				case status == http.StatusServiceUnavailable:
					got503.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	clients.Wait()
	floodTime := time.Since(start)
	client.CloseIdleConnections()

	// Every goroutine the flood started ends within the upstream timeout,
	// as the calls in flight time out, but for the few idle workers the
	// cache keeps, which end within a second more.
	recovered := time.Now()
	inTimeout := waitGoroutines(baseline+maxIdleWorkers+goroutineSlack, recovered, recovered.Add(stallTimeout+margin))
	afterIdle := waitGoroutines(baseline+goroutineSlack, recovered, recovered.Add(stallTimeout+workerIdle+margin))
	left := runtime.NumGoroutine() - baseline
	close(done)
	sampler.Wait()
	st := cache.Stats()

	assert.Positive(t, inTimeout, "goroutines over baseline+%d %v after the flood", maxIdleWorkers, stallTimeout+margin)
	assert.Positive(t, afterIdle, "goroutines over baseline %v after the flood", stallTimeout+workerIdle+margin)
	assert.Zero(t, other.Load(), "a request got something else than a 503 or the client's own give-up")
	assert.LessOrEqual(t, conns.peak.Load(), int64(introspect.DefaultMaxConcurrent), "upstream connections open at once")
	assert.LessOrEqual(t, stalled.accepted.Load(), int64(st.UpstreamCalls), "an upstream connection per call at most")
	// A call starts only while a caller waits for it, so within
	// clientPatience of being queued, and then holds its slot until its
	// timeout, which counts from then: at most MaxConcurrent calls start
	// per stallTimeout - clientPatience.
	window := stallTimeout - clientPatience
	maxCalls := int64(introspect.DefaultMaxConcurrent) * (int64((floodTime+window-1)/window) + 1)
	assert.LessOrEqual(t, int64(st.UpstreamCalls), maxCalls, "upstream calls")
	assert.Positive(t, st.Abandoned, "no call was abandoned by its callers")
	assert.LessOrEqual(t, peakQueued.Load(), int64(introspect.DefaultMaxWaiting), "calls waiting for a slot")
	assert.Less(t, peakHeap.Load(), int64(stallHeapBoundMB)<<20, "heap in use during the flood")

	if *stallReport {
		fmt.Printf("stall: %d requests from %d clients with %v patience in %v: %d gave up, %d answered 503, %d other\n",
			*stallRequests, stallClients, clientPatience, floodTime.Round(time.Millisecond), gaveUp.Load(), got503.Load(), other.Load())
		fmt.Printf("stall: upstream calls %d (bound %d), abandoned %d, rejected %d, peak queued %d (bound %d)\n",
			st.UpstreamCalls, maxCalls, st.Abandoned, st.Rejected, peakQueued.Load(), introspect.DefaultMaxWaiting)
		fmt.Printf("stall: upstream connections accepted %d, at most %d open (bound %d)\n",
			stalled.accepted.Load(), conns.peak.Load(), introspect.DefaultMaxConcurrent)
		fmt.Printf("stall: goroutines baseline %d, peak %d; within %d of baseline %v after the flood, within %d %v after it, %d over at the end; peak heap in use %d MiB (bound %d MiB)\n",
			baseline, peakGoroutines.Load(), maxIdleWorkers+goroutineSlack, inTimeout.Round(10*time.Millisecond), goroutineSlack, afterIdle.Round(10*time.Millisecond), left, peakHeap.Load()>>20, stallHeapBoundMB)
	}
}

// waitGoroutines waits until at most n goroutines run, or deadline passes,
// and returns the time since start, or a negative duration at the deadline.
func waitGoroutines(n int, start, deadline time.Time) time.Duration {
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			return -1
		}
		time.Sleep(10 * time.Millisecond)
	}
	return max(time.Since(start), time.Nanosecond)
}

// connCounter counts the connections a transport holds open, and the most
// it ever held.
type connCounter struct {
	dial       func(ctx context.Context, network, addr string) (net.Conn, error)
	open, peak atomic.Int64
}

func (c *connCounter) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := c.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	storeMax(&c.peak, c.open.Add(1))
	return &countedConn{Conn: conn, open: &c.open}, nil
}

type countedConn struct {
	net.Conn
	open *atomic.Int64
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}
