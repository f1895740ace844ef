package introspect

import (
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFlights(t *testing.T) {
	var fs flights
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))

	f, _, lead := fs.join(a, 0)
	assert.True(t, lead, "the first caller leads")
	g, _, lead := fs.join(a, 0)
	assert.False(t, lead)
	assert.Same(t, f, g, "later callers join the flight under way")
	_, _, lead = fs.join(b, 0)
	assert.True(t, lead, "another token, another flight")

	f.land(&TokenInfo{Active: true}, nil, &entry{expires: 100})
	g, _, lead = fs.join(a, 99)
	assert.False(t, lead)
	assert.Same(t, f, g, "a landed, stored, fresh answer is shared until forgotten")
	g, prev, lead := fs.join(a, 100)
	assert.True(t, lead, "an expired answer is not")
	assert.NotSame(t, f, g)
	assert.Same(t, f, prev, "the replaced flight is handed back, for its stale answer")

	fs.forget(a, f)
	h, _, lead := fs.join(a, 0)
	assert.False(t, lead)
	assert.Same(t, g, h, "forgetting a replaced flight leaves its successor")

	g.land(nil, ErrUnavailable, nil)
	_, _, lead = fs.join(a, 0)
	assert.True(t, lead, "an answer that was not stored, such as a failure, is not shared after landing")

	fs.drop(a)
	_, _, lead = fs.join(a, 0)
	assert.True(t, lead, "a dropped flight is not joined")
}

func TestFlightsSweep(t *testing.T) {
	var fs flights
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	landed, _, _ := fs.join(a, 0)
	landed.land(&TokenInfo{Active: true}, nil, &entry{expires: 100})
	flying, _, _ := fs.join(b, 0)

	fs.sweep(landed.landedAt.Add(landedRetention / 2))
	assert.Len(t, fs.m, 2, "a flight that landed just now stays joinable")
	fs.sweep(landed.landedAt.Add(landedRetention + 1))
	assert.Len(t, fs.m, 1, "an old landed flight is forgotten")
	assert.Same(t, flying, fs.m[b], "a flight under way is never swept")
}
