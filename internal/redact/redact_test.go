package redact

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestError(t *testing.T) {
	sentinel := errors.New("sentinel")
	err := fmt.Errorf("upstream said tok-123 is bad: %w", sentinel)
	got := Error(err, "tok-123")
	assert.Equal(t, "upstream said [token] is bad: sentinel", got.Error())
	assert.ErrorIs(t, got, sentinel, "the chain is kept")
	assert.Same(t, err, Error(err, "other"), "an error without the token is itself")
	assert.Same(t, err, Error(err, ""))
	assert.Nil(t, Error(nil, "tok-123"))
	assert.Equal(t, "a [token] b [token]", Text("a tok b tok", "tok"))
	assert.Equal(t, "text", Text("text", ""))
}
