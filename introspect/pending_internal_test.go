package introspect

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestPendingInvalidations: a key stays pending until a send takes it,
// one added again during a send stays, and past maxPending the tier is
// kept out for every key, for good.
func TestPendingInvalidations(t *testing.T) {
	p := newPendingInvalidations()
	assert.False(t, p.has("a"))
	p.add("a")
	p.add("b")
	assert.True(t, p.has("a"))
	assert.False(t, p.has("c"))

	assert.Equal(t, 2, p.retry(func(string) bool { return false }))
	left := p.retry(func(key string) bool {
		if key == "b" {
			p.add("b") // a second logout while the first is sent
		}
		return true
	})
	assert.Equal(t, 1, left)
	assert.False(t, p.has("a"))
	assert.True(t, p.has("b"))
	assert.Zero(t, p.retry(func(string) bool { return true }))
	assert.False(t, p.has("b"))
	assert.Zero(t, p.n.Load())

	for i := range maxPending + 1 {
		p.add(strconv.Itoa(i))
	}
	assert.EqualValues(t, maxPending, p.n.Load())
	assert.Zero(t, p.retry(func(string) bool { return true }))
	assert.True(t, p.has("never added"), "an invalidation that could not be kept was undone")
}
