package testutil

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() { fmt.Fprintf(&b, "%d\n", i) })
	}
	wg.Wait()
	assert.Len(t, b.String(), 20)
}

func TestDiscardWriter(t *testing.T) {
	var w DiscardWriter
	w.Header().Set("X", "1")
	assert.Equal(t, "1", w.Header().Get("X"))
	n, err := w.Write([]byte("body"))
	assert.NoError(t, err)
	assert.Equal(t, 4, n)
	assert.Equal(t, http.StatusOK, w.Code)
	w.WriteHeader(http.StatusTeapot)
	assert.Equal(t, http.StatusTeapot, w.Code)

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	assert.Zero(t, testing.AllocsPerRun(100, func() { h.ServeHTTP(&w, r) }))
}
