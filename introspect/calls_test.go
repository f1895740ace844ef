package introspect

import (
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCalls(t *testing.T) {
	var cs calls
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))

	first, _, isNew := cs.enter(a, 0)
	assert.True(t, isNew, "the first caller starts the call")
	second, _, isNew := cs.enter(a, 0)
	assert.False(t, isNew)
	assert.Same(t, first, second, "later callers share the call under way")
	_, _, isNew = cs.enter(b, 0)
	assert.True(t, isNew, "another token, another call")

	first.finish(&TokenInfo{Active: true}, nil, &entry{expires: 100})
	got, _, isNew := cs.enter(a, 99)
	assert.False(t, isNew)
	assert.Same(t, first, got, "a finished, stored, fresh answer is shared until removed")
	next, replaced, isNew := cs.enter(a, 100)
	assert.True(t, isNew, "an expired answer is not")
	assert.NotSame(t, first, next)
	assert.Same(t, first, replaced, "the replaced call is handed back, for its stale answer")

	cs.remove(a, first)
	got, _, isNew = cs.enter(a, 0)
	assert.False(t, isNew)
	assert.Same(t, next, got, "removing a replaced call leaves its successor")

	next.finish(nil, ErrUnavailable, nil)
	_, _, isNew = cs.enter(a, 0)
	assert.True(t, isNew, "an answer that was not stored, such as a failure, is not shared after it arrived")

	cs.discard(a)
	_, _, isNew = cs.enter(a, 0)
	assert.True(t, isNew, "a discarded call is not shared")
}

func TestCallsAbandonedByEveryWaiter(t *testing.T) {
	var cs calls
	a := sha256.Sum256([]byte("a"))
	cl, _, _ := cs.enter(a, 0)
	cs.enter(a, 0)

	cs.leave(a, cl)
	assert.False(t, cl.abandoned(), "one caller still waits")
	cs.leave(a, cl)
	assert.True(t, cl.abandoned(), "the last caller left before the call started")
	assert.False(t, cs.start(cl), "an abandoned call never starts")
	_, _, isNew := cs.enter(a, 0)
	assert.True(t, isNew, "the next caller starts afresh")

	started, _, _ := cs.enter(sha256.Sum256([]byte("b")), 0)
	assert.True(t, cs.start(started))
	cs.leave(sha256.Sum256([]byte("b")), started)
	assert.False(t, started.abandoned(), "a call under way goes on for the callers to come")
}

func TestCallsSweep(t *testing.T) {
	var cs calls
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	finished, _, _ := cs.enter(a, 0)
	finished.finish(&TokenInfo{Active: true}, nil, &entry{expires: 100})
	running, _, _ := cs.enter(b, 0)

	cs.sweep(finished.finishedAt.Add(keepFinished / 2))
	assert.Len(t, cs.m, 2, "a call that finished just now stays shared")
	cs.sweep(finished.finishedAt.Add(keepFinished + 1))
	assert.Len(t, cs.m, 1, "an old finished call is removed")
	assert.Same(t, running, cs.m[b], "a call under way is never swept")
}
