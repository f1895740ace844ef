// Command load measures tokengate end to end: a real HTTP server on a
// loopback port serves the same handler unprotected (A) and protected by
// tokengate on a cache hit (B), and a pool of keep-alive clients in this
// process drives it for a fixed time per round and side. Within a round the
// sides take turns in short slices, A B B A A B …, so that drift of a noisy
// machine hits both alike: whole rounds of A then B differed by a tenth and
// more either way on two cores, with nothing changed in between. It prints
// requests per second per round and side, and the median of the rounds' B/A
// ratios.
//
//	go run ./cmd/load -rounds 6 -duration 3s
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/middleware/echogate"
	"github.com/tokengate/tokengate/scopes"
)

func main() {
	rounds := flag.Int("rounds", 6, "number of rounds, each giving one B/A ratio")
	duration := flag.Duration("duration", 3*time.Second, "time each side is driven in one round")
	slices := flag.Int("slices", 10, "turns each side takes in one round")
	concurrency := flag.Int("concurrency", 32, "clients sending requests at once")
	stack := flag.String("stack", "http", "server stack: http (net/http) or echo")
	flag.Parse()
	if err := run(*stack, *rounds, *slices, *duration, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(stack string, rounds, turns int, duration time.Duration, concurrency int) error {
	if rounds < 1 || turns < 1 || duration <= 0 || concurrency < 1 {
		return errors.New("-rounds, -slices, -duration and -concurrency must be positive")
	}
	token := newToken()
	handler, err := newHandler(stack, token)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // loopback only
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, IdleConnTimeout: time.Minute,
	}}
	fmt.Printf("load: stack=%s rounds=%d slices=%d duration=%v concurrency=%d\n", stack, rounds, turns, duration, concurrency)

	// A short warm-up of both, so that neither pays for connections,
	// caches and the heap's growth.
	for _, path := range []string{"/bare", "/protected"} {
		if _, _, err := drive(client, base+path, token, duration/3, concurrency); err != nil {
			return err
		}
	}
	var ratios []float64
	paths := [2]string{base + "/bare", base + "/protected"}
	for i := 1; i <= rounds; i++ {
		// Turn t goes to A when t mod 4 is 0 or 3: A B B A A B B A …
		var n [2]int64
		var took [2]time.Duration
		for t := range 2 * turns {
			side := 0
			if t%4 == 1 || t%4 == 2 {
				side = 1
			}
			done, d, err := drive(client, paths[side], token, duration/time.Duration(turns), concurrency)
			if err != nil {
				return err
			}
			n[side] += done
			took[side] += d
		}
		a, b := float64(n[0])/took[0].Seconds(), float64(n[1])/took[1].Seconds()
		fmt.Printf("load: round %d A bare %.0f req/s\n", i, a)
		fmt.Printf("load: round %d B protected %.0f req/s\n", i, b)
		ratios = append(ratios, b/a)
	}
	slices.Sort(ratios)
	fmt.Printf("load: paired median ratio protected/bare %.3f\n", median(ratios))
	return nil
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func newToken() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b) // 64 bytes
}

// newHandler serves /bare and /protected with the same handler, the second
// behind tokengate with token already cached.
func newHandler(stack, token string) (http.Handler, error) {
	stub := introspect.VerifierFunc(func(context.Context, string) (*introspect.TokenInfo, error) {
		return &introspect.TokenInfo{Active: true, Scopes: scopes.New("MapRequest"), ClientID: "38890",
			ExpiresAt: time.Now().Add(time.Hour)}, nil
	})
	cache, err := introspect.NewCache(stub, introspect.CacheConfig{})
	if err != nil {
		return nil, err
	}
	if _, err := cache.Verify(context.Background(), token); err != nil {
		return nil, err
	}
	auth, err := middleware.New(middleware.Config{Verifier: cache})
	if err != nil {
		return nil, err
	}
	body := []byte(`{"layers":["GRB_Basiskaart","Ortho"]}`)
	switch stack {
	case "http":
		ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
		mux := http.NewServeMux()
		mux.Handle("GET /bare", ok)
		mux.Handle("GET /protected", auth.Require(middleware.AllOf("MapRequest"))(ok))
		return mux, nil
	case "echo":
		ok := func(c echo.Context) error { return c.Blob(http.StatusOK, "application/json", body) }
		e := echo.New()
		e.GET("/bare", ok)
		gate, err := echogate.New(echogate.Config{Verifier: cache})
		if err != nil {
			return nil, err
		}
		e.GET("/protected", ok, gate.Require(echogate.AllOf("MapRequest")))
		return e, nil
	}
	return nil, fmt.Errorf("-stack must be http or echo, not %q", stack)
}

// drive sends requests from concurrency clients for d and returns how many
// succeeded and how long they took. Any failed request fails the run: a
// rate of errors is no throughput.
func drive(client *http.Client, url, token string, d time.Duration, concurrency int) (int64, time.Duration, error) {
	var done atomic.Int64
	var firstErr error
	var errOnce sync.Once
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := get(client, url, token); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, 0, firstErr
	}
	return done.Load(), time.Since(start), nil
}

func get(client *http.Client, url, token string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	return nil
}
