package introspecttest

import (
	"context"
	"sync"
)

// holder makes answers wait while it holds, so that a test can gather
// concurrent requests at a fake server. The zero holder holds nothing. It
// is safe for concurrent use.
type holder struct {
	mu   sync.Mutex
	gate chan struct{} // closed by release; nil when not holding
	held int
}

func (h *holder) hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gate == nil {
		h.gate = make(chan struct{})
	}
}

func (h *holder) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gate != nil {
		close(h.gate)
		h.gate = nil
	}
}

func (h *holder) waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

// wait returns at once when h does not hold, and otherwise when it is
// released or ctx ends.
func (h *holder) wait(ctx context.Context) {
	h.mu.Lock()
	gate := h.gate
	if gate == nil {
		h.mu.Unlock()
		return
	}
	h.held++
	h.mu.Unlock()
	select {
	case <-gate:
	case <-ctx.Done():
	}
	h.mu.Lock()
	h.held--
	h.mu.Unlock()
}
