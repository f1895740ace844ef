package upstream_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tokengate/tokengate/internal/upstream"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/rfc7662"
)

// backend is what the Close tests need of each backend.
type backend struct {
	call  func(ctx context.Context) error
	close func()
}

// endpoints is where the backends under test find their server.
type endpoints interface {
	VerifyURL() string
	Issuer() string
	ProfileURL() string
}

// backends makes each backend against srv, with httpClient as its
// HTTPClient (nil for one of its own).
func backends(t *testing.T, srv endpoints, httpClient *http.Client) map[string]func() backend {
	t.Helper()
	return map[string]func() backend{
		"geosecure.Verifier": func() backend {
			g, err := geosecure.New(geosecure.Config{URL: srv.VerifyURL(), HTTPClient: httpClient})
			require.NoError(t, err)
			return backend{
				call:  func(ctx context.Context) error { _, err := g.Verify(ctx, "tok"); return err },
				close: g.Close,
			}
		},
		"rfc7662.Introspector": func() backend {
			// Discovery's requests go through the same client, so they are
			// covered too.
			in, err := rfc7662.New(rfc7662.Config{Issuer: srv.Issuer(),
				ClientID: "demo-client", ClientSecret: "demo-secret", HTTPClient: httpClient})
			require.NoError(t, err)
			return backend{
				call:  func(ctx context.Context) error { _, err := in.Verify(ctx, "tok"); return err },
				close: in.Close,
			}
		},
		"geosecure.ProfileClient": func() backend {
			p, err := geosecure.NewProfileClient(geosecure.ProfileConfig{URL: srv.ProfileURL(),
				ClientID: "demo-client", ClientSecret: "demo-secret", HTTPClient: httpClient})
			require.NoError(t, err)
			return backend{
				call:  func(ctx context.Context) error { _, err := p.Profile(ctx, "tok"); return err },
				close: p.Close,
			}
		},
	}
}

// callConcurrently makes n calls at once, so that the transport opens
// several connections. The fake answers each: an invalid token is an
// answer.
func callConcurrently(t *testing.T, b backend, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			assert.ErrorIs(t, b.call(context.Background()), introspect.ErrInvalidToken)
		})
	}
	wg.Wait()
}

// ignoreServer leaves out the fake's own goroutines, which are the test's
// to end with srv.Close; only the backends' are under test.
var ignoreServer = goleak.IgnoreAnyFunction("net/http.(*conn).serve")

func TestCloseLeavesNothingRunning(t *testing.T) {
	srv := introspecttest.NewServer()
	defer srv.Close()
	for name, newBackend := range backends(t, srv, nil) {
		t.Run(name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			b := newBackend()
			callConcurrently(t, b, 8)
			b.close()
			assert.NoError(t, goleak.Find(ignore, ignoreServer), "idle connections outlive Close")

			b.close()
			callConcurrently(t, b, 4)
			assert.NoError(t, goleak.Find(ignore, ignoreServer), "a call after Close left a connection behind")
		})
	}
}

func TestCloseConcurrentWithCalls(t *testing.T) {
	srv := introspecttest.NewServer()
	defer srv.Close()
	for name, newBackend := range backends(t, srv, nil) {
		t.Run(name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			b := newBackend()
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for range 20 {
						assert.ErrorIs(t, b.call(context.Background()), introspect.ErrInvalidToken)
					}
				})
			}
			for range 3 {
				wg.Go(b.close)
			}
			wg.Wait()
			assert.NoError(t, goleak.Find(ignore, ignoreServer), "a call in flight at Close left a connection behind")
		})
	}
}

// countingServer is a minimal authorization server that refuses every
// token and counts the connections made to it.
type countingServer struct {
	*httptest.Server
	conns atomic.Int32
}

func newCountingServer(t *testing.T) *countingServer {
	t.Helper()
	cs := &countingServer{}
	cs.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/op/.well-known/openid-configuration":
			_, _ = fmt.Fprintf(w, `{"issuer":%q,"introspection_endpoint":%q}`, cs.Issuer(), cs.Issuer()+"/introspect")
		case "/op/introspect":
			_, _ = w.Write([]byte(`{"active":false}`))
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_token"}`))
		}
	}))
	cs.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			cs.conns.Add(1)
		}
	}
	cs.Start()
	t.Cleanup(cs.Close)
	return cs
}

func (cs *countingServer) VerifyURL() string  { return cs.URL + "/verify" }
func (cs *countingServer) Issuer() string     { return cs.URL + "/op" }
func (cs *countingServer) ProfileURL() string { return cs.URL + "/profile" }

func TestCloseEmptiesItsOwnPool(t *testing.T) {
	srv := newCountingServer(t)
	for name, newBackend := range backends(t, srv, nil) {
		t.Run(name, func(t *testing.T) {
			b := newBackend()
			require.ErrorIs(t, b.call(context.Background()), introspect.ErrInvalidToken)
			before := srv.conns.Load()
			b.close()
			require.ErrorIs(t, b.call(context.Background()), introspect.ErrInvalidToken)
			assert.Equal(t, before+1, srv.conns.Load(), "the call after Close reused an idle connection")
		})
	}
}

func TestCloseLeavesCallersClientAlone(t *testing.T) {
	srv := newCountingServer(t)
	transport := upstream.NewTransport()
	defer transport.CloseIdleConnections()
	httpClient := &http.Client{Transport: transport, Timeout: 5 * time.Second}
	for name, newBackend := range backends(t, srv, httpClient) {
		t.Run(name, func(t *testing.T) {
			b := newBackend()
			require.ErrorIs(t, b.call(context.Background()), introspect.ErrInvalidToken)
			before := srv.conns.Load()
			b.close()
			require.ErrorIs(t, b.call(context.Background()), introspect.ErrInvalidToken)
			assert.Equal(t, before, srv.conns.Load(), "Close closed the idle connections of the caller's client")
		})
	}
}
