package upstream

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/tokengate/tokengate/introspect"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{" 5 ", 5 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"1.5", 0},
		{"99999999", time.Hour},
		{t0.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{t0.Add(-30 * time.Second).Format(http.TimeFormat), 0},
		{"tomorrow", 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, parseRetryAfter(tt.in, t0), "%q", tt.in)
	}
}

// TestAnnotate: an answer that parsed is passed on without an allocation,
// which every miss makes; an UnavailableError gets the answer's status and
// Retry-After.
func TestAnnotate(t *testing.T) {
	header := http.Header{"Retry-After": {"7"}}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = annotate(nil, http.StatusOK, header, t0) }))

	var ue *introspect.UnavailableError
	err := annotate(&introspect.UnavailableError{Reason: "garbled"}, http.StatusBadGateway, header, t0)
	if assert.ErrorAs(t, err, &ue) {
		assert.Equal(t, http.StatusBadGateway, ue.StatusCode)
		assert.Equal(t, 7*time.Second, ue.RetryAfter)
	}
}
