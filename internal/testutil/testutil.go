// Package testutil holds the helpers that the tests and benchmarks of
// several packages share. It imports nothing of tokengate, so that any
// package's tests may use it.
package testutil

import (
	"bytes"
	"net/http"
	"sync"
)

// SyncBuffer is a bytes.Buffer that is safe for concurrent use, for logs
// and process output that goroutines write while a test reads them. The
// zero value is an empty buffer ready to use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what has been written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// DiscardWriter is an http.ResponseWriter that keeps the status code and
// drops the body. It allocates nothing per request, so that a benchmark
// measures the handler rather than a recorder; reuse one across requests.
// The zero value is ready to use. It is not safe for concurrent use.
type DiscardWriter struct {
	// Code is the last status written, by WriteHeader or implied by Write.
	Code   int
	header http.Header
}

// Header returns the response header, the same map across requests.
func (w *DiscardWriter) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

// WriteHeader records code.
func (w *DiscardWriter) WriteHeader(code int) { w.Code = code }

// Write discards b; before any WriteHeader it implies 200 OK.
func (w *DiscardWriter) Write(b []byte) (int, error) {
	if w.Code == 0 {
		w.Code = http.StatusOK
	}
	return len(b), nil
}
