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
//			slog.WarnContext(r.Context(), "not ready", "reason", err)
//			http.Error(w, "not ready", http.StatusServiceUnavailable)
//			return
//		}
//		io.WriteString(w, "ready\n")
//	})
//
// The errors of this module's Verifiers name no token and no secret; a
// Cache's wrap those of the Verifier it wraps, whose own may say more.
// They may name internal hosts and addresses: log them, and answer the
// probe with a fixed text.
func Ready(ctx context.Context, v Verifier) error {
	if r, ok := v.(ReadyChecker); ok {
		return r.Ready(ctx)
	}
	return nil
}

// DefaultFailingFor is [CacheConfig.FailingFor]'s default: long enough
// that a readiness probe sees an outage, short enough that a replica taken
// out of service by its probe (and so sent no requests, which would show
// that the authorization server is back) is tried again soon.
const DefaultFailingFor = 30 * time.Second

// failuresToFail is how many upstream calls in a row must fail before a
// Cache is not ready: one failed call is a blip, not an outage.
const failuresToFail = 3

// Ready reports whether the Cache can verify tokens now: nil when the
// Verifier it wraps is ready (see [Ready]), unless its latest upstream
// calls failed — three or more in a row, the latest less than
// [CacheConfig.FailingFor] ago, with no answer since. A Cache that has made
// no call yet is ready once its Verifier is. An invalid-token answer is an
// answer, and a failure that concerns one token alone
// ([UnavailableError.TokenOnly], such as a JWT naming a key not yet
// published) is not a failure of the authorization server: neither
// makes a Cache unready, so that no client can make it so.
//
// Failures from before the wrapped Verifier was last seen not ready, at an
// earlier call of Ready, are forgotten once it is ready: they were its (an
// endpoint not yet discovered, keys not yet loaded), and it has recovered.
func (c *Cache) Ready(ctx context.Context) error {
	now := c.clock.instant()
	if err := Ready(ctx, c.next); err != nil {
		c.health.notReady()
		return err
	}
	return c.health.check(now, c.failingFor)
}

// health is what the latest upstream calls of a Cache said, for Ready.
type health struct {
	mu       sync.Mutex
	failures int     // upstream calls failed in a row
	failed   instant // when the latest of them ended
	err      error   // and how
	// wasNotReady is whether the latest probe found the wrapped Verifier not
	// ready.
	wasNotReady bool
}

// record records the outcome err of an upstream call that ended at now.
func (h *health) record(now instant, err error) {
	if err != nil && tokenOnly(err) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil || errors.Is(err, ErrInvalidToken) {
		h.failures, h.err = 0, nil
		return
	}
	h.failures++
	h.failed, h.err = now, err
}

// tokenOnly reports whether err is an [*UnavailableError] about the token
// alone. errors.As's target escapes, and is allocated where it is
// declared: here, only when record has an error to look at.
func tokenOnly(err error) bool {
	var ue *UnavailableError
	return errors.As(err, &ue) && ue.TokenOnly
}

// notReady records that a probe found the wrapped Verifier not ready.
func (h *health) notReady() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.wasNotReady = true
}

// check is a probe that found the wrapped Verifier ready. It returns the
// latest failure when failuresToFail calls or more have failed in a row,
// the latest less than window before now; a negative window turns it off.
// The failures up to a probe that finds the Verifier ready again, after
// one that found it not ready, are forgotten: they were the Verifier's
// own, which it reported, and a replica out of service gets no requests
// to prove it is back.
func (h *health) check(now instant, window time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.wasNotReady {
		h.wasNotReady, h.failures, h.err = false, 0, nil
	}
	if h.failures < failuresToFail || window < 0 {
		return nil
	}
	ago := time.Duration(now - h.failed)
	if ago >= window {
		return nil
	}
	return fmt.Errorf("introspect: the authorization server failed %d calls in a row, the latest %s ago, and has not answered since: %w",
		h.failures, ago.Round(time.Millisecond), h.err)
}
