package introspect_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tokengate/tokengate/introspect"
)

func TestUnavailableErrorText(t *testing.T) {
	err := &introspect.UnavailableError{StatusCode: 503, Reason: "unexpected status", Err: errors.New("cause")}
	assert.Equal(t, "introspect: authorization server unavailable: unexpected status (HTTP 503): cause", err.Error())
	assert.ErrorIs(t, err, introspect.ErrUnavailable)
	assert.Equal(t, "cause", errors.Unwrap(err).Error())
	assert.True(t, strings.HasPrefix(introspect.ErrInvalidToken.Error(), "introspect: "))
}
