package upstream_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tokengate/tokengate/internal/upstream"
	"github.com/tokengate/tokengate/introspect"
)

func TestNewTransportBoundsConnectionsPerHost(t *testing.T) {
	tr := upstream.NewTransport()
	assert.Equal(t, 64, tr.MaxConnsPerHost, "a stalled server must not get a connection per waiting request")
	assert.Equal(t, introspect.DefaultMaxConcurrent, tr.MaxConnsPerHost)
	assert.LessOrEqual(t, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost, "idle connections beyond the bound are never used")
	assert.Positive(t, tr.MaxIdleConnsPerHost)
	assert.LessOrEqual(t, tr.MaxIdleConnsPerHost, tr.MaxIdleConns)
}
