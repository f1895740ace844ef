package introspect

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// A ReadyChecker is a [Verifier] that can tell whether it is able to
// verify tokens now: whether it has found its authorization server's
// endpoint, loaded its issuer's keys, or heard its authorization server
// answer lately. The [Cache] is one, and so are the RFC 7662
// Introspector (ready once its endpoint is discovered) and the JWT
// Verifier (ready once its keys are loaded).
type ReadyChecker interface {
	Verifier
	// Ready returns nil when the Verifier can verify tokens, and an error
	// saying why not otherwise. It may do what it needs to become ready,
	// such as discovering its endpoint, within ctx; it never asks an
	// authorization server about a token.
	Ready(ctx context.Context) error
}

// Ready reports whether v can verify tokens now (see [ReadyChecker]): a
// Verifier that cannot tell is taken to be ready. It is the answer for a
// readiness probe, as in:
//
//	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
//		if err := introspect.Ready(r.Context(), cache); err != nil {
//			http.Error(w, err.Error(), http.StatusServiceUnavailable)
//			return
//		}
//		io.WriteString(w, "ready\n")
//	})
//
// The errors it returns name no token and no secret, so they may be shown.
func Ready(ctx context.Context, v Verifier) error {
	if r, ok := v.(ReadyChecker); ok {
		return r.Ready(ctx)
	}
	return nil
}

// FailingFor is how long after a failed upstream call a [Cache] is not
// ready, unless an answer comes first: long enough that a readiness probe
// sees an outage, short enough that a replica taken out of service by its
// probe (and so sent no requests, which would show that the authorization
// server is back) is tried again soon.
const FailingFor = 30 * time.Second

// Ready reports whether the Cache can verify tokens now: nil when the
// Verifier it wraps is ready (see [Ready]) and its latest upstream call,
// if any, did not fail within [FailingFor] without an answer since. A
// Cache that has made no call yet is ready once its Verifier is.
//
// When the wrapped Verifier was not ready at the previous call of Ready
// and is now, the failures before are forgotten: they were its (an
// endpoint not yet discovered, keys not yet loaded), and it has recovered.
func (c *Cache) Ready(ctx context.Context) error {
	if err := Ready(ctx, c.next); err != nil {
		c.health.nextFailing()
		return err
	}
	return c.health.check(c.clock.instant())
}

// health is what the latest upstream call of a Cache said, for Ready.
type health struct {
	mu      sync.Mutex
	failing bool    // the latest call failed
	failed  instant // when
	err     error   // and how
	// nextNotReady is set when the wrapped Verifier was not ready at the
	// latest check.
	nextNotReady bool
}

// nextFailing records that the wrapped Verifier is not ready.
func (h *health) nextFailing() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextNotReady = true
}

// record records the outcome err of an upstream call that ended at now.
func (h *health) record(now instant, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil || errors.Is(err, ErrInvalidToken) {
		h.failing, h.err = false, nil
		return
	}
	h.failing, h.failed, h.err = true, now, err
}

// check returns the latest call's failure, unless it is FailingFor old at
// now.
func (h *health) check(now instant) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.nextNotReady {
		h.nextNotReady, h.failing, h.err = false, false, nil
	}
	if !h.failing {
		return nil
	}
	ago := time.Duration(now - h.failed)
	if ago >= FailingFor {
		return nil
	}
	return fmt.Errorf("introspect: the authorization server failed %s ago and has not answered since: %w",
		ago.Round(time.Millisecond), h.err)
}
