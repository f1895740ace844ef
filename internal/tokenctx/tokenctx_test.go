package tokenctx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type otherKey struct{}

type secret struct{ token string }

func TestWithRequest(t *testing.T) {
	cause := errors.New("client went away")
	parent, cancel := context.WithCancelCause(context.WithValue(context.Background(), otherKey{}, "kept"))
	parent, stop := context.WithDeadline(parent, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	defer stop()
	r := httptest.NewRequestWithContext(parent, http.MethodPost, "/v1/maps?x=1", nil)
	r.Header.Set("Authorization", "Bearer abc")
	val := &secret{"abc"}

	got := WithRequest(r, val, "verifier")

	require.NotSame(t, r, got)
	assert.Same(t, parent, r.Context(), "the original request keeps its context")
	assert.Nil(t, Value(r.Context()))
	assert.Equal(t, r.Method, got.Method)
	assert.Same(t, r.URL, got.URL, "a shallow copy, as WithContext makes")
	assert.Equal(t, r.Header, got.Header)

	ctx := got.Context()
	assert.Same(t, val, Value(ctx))
	assert.Equal(t, "kept", ctx.Value(otherKey{}), "other values still reachable")
	deadline, ok := ctx.Deadline()
	assert.True(t, ok)
	assert.Equal(t, 2030, deadline.Year())

	// Contexts derived from it see the value and the parent's cancellation.
	child, cancelChild := context.WithCancel(context.WithValue(ctx, otherKey{}, "shadowed"))
	defer cancelChild()
	assert.Same(t, val, Value(child))
	fired := make(chan struct{})
	context.AfterFunc(ctx, func() { close(fired) })

	require.NoError(t, ctx.Err())
	cancel(cause)
	<-ctx.Done()
	<-child.Done()
	<-fired
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
	assert.ErrorIs(t, context.Cause(ctx), cause)
	assert.ErrorIs(t, context.Cause(child), cause)
}

func TestVerifiedBy(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	first, second := &secret{"a"}, &secret{"b"}
	ctx := WithRequest(r, first, "one").Context()
	assert.Equal(t, "one", VerifiedBy(ctx, first))
	assert.Nil(t, VerifiedBy(ctx, second), "another value")
	assert.Nil(t, VerifiedBy(r.Context(), first), "nothing stamped")

	// NewContext on top hides the stamp of what it replaces.
	over := NewContext(ctx, second)
	assert.Same(t, second, Value(over))
	assert.Nil(t, VerifiedBy(over, second))
	// Other values on top do not.
	assert.Equal(t, "one", VerifiedBy(context.WithValue(ctx, otherKey{}, 1), first))

	// The innermost WithRequest decides.
	again := WithRequest(r.WithContext(over), second, "two").Context()
	assert.Equal(t, "two", VerifiedBy(again, second))
	assert.Nil(t, VerifiedBy(again, first))
}

func TestWithRequestNilContext(t *testing.T) {
	// A Request made without a constructor has no context; the copy gets
	// context.Background's, as WithContext's callers would.
	r := &http.Request{Method: http.MethodGet, Header: http.Header{}}
	got := WithRequest(r, 42, nil)
	assert.Equal(t, 42, Value(got.Context()))
	assert.Nil(t, got.Context().Done())
}

func TestWithRequestAllocatesOnce(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	val := &secret{"abc"}
	allocs := testing.AllocsPerRun(100, func() { sink = WithRequest(r, val, "verifier") })
	assert.Equal(t, 1.0, allocs)
}

func TestStringHidesTheValue(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	ctx := WithRequest(r, &secret{"s3cr3t-token"}, "verifier").Context()
	s := fmt.Sprint(ctx)
	assert.Equal(t, "context.Background.WithValue(tokenctx.tokeninfo, *tokenctx.secret)", s)
	assert.NotContains(t, fmt.Sprintf("%v %+v %s", ctx, ctx, ctx), "s3cr3t")
}

var sink *http.Request

func BenchmarkWithRequest(b *testing.B) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	val := &secret{"abc"}
	b.Run("tokenctx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = WithRequest(r, val, "verifier")
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = r.WithContext(NewContext(r.Context(), val))
		}
	})
}
