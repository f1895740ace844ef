package introspect

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRecordSuccessAllocatesNothing: recording an upstream call that
// succeeded, which every miss does, allocates nothing; a token-only
// failure is still left out of the count and any other one counted.
func TestRecordSuccessAllocatesNothing(t *testing.T) {
	var h health
	assert.Zero(t, testing.AllocsPerRun(100, func() { h.record(1, nil) }))

	h.record(2, &UnavailableError{Reason: "token too long for the server", TokenOnly: true})
	assert.Zero(t, h.failures)
	h.record(3, &UnavailableError{Reason: "server down", Err: errors.New("refused")})
	assert.Equal(t, 1, h.failures)
	h.record(4, nil)
	assert.Zero(t, h.failures)
}
