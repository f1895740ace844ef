// Package tokenctx carries a verified token's facts in a request's context.
// It is shared by introspect, which reads them back (introspect.FromContext),
// and middleware, which puts them there on every authenticated request.
package tokenctx

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
)

// contextKey is a pointer type, so that no other package can set or read
// the value by accident.
type contextKey struct{ name string }

func (k *contextKey) String() string { return "tokenctx." + k.name }

// key is the context key of the token's facts; stampKey finds the
// innermost context that WithRequest made.
var (
	key      any = &contextKey{"tokeninfo"}
	stampKey any = &contextKey{"stamp"}
)

// NewContext returns a copy of ctx that carries val, without a stamp.
func NewContext(ctx context.Context, val any) context.Context {
	return context.WithValue(ctx, key, val)
}

// Value returns the value that NewContext or WithRequest last put in ctx,
// or nil.
func Value(ctx context.Context) any { return ctx.Value(key) }

// WithRequest returns a shallow copy of r whose context carries val,
// stamped with by, whoever verified it (see [VerifiedBy]). But for the
// stamp, it is r.WithContext(NewContext(r.Context(), val)) in one
// allocation instead of two: the copy of r and the context share one object.
// That is half of what handing a value to a handler costs in net/http, on a
// path every authenticated request takes.
func WithRequest(r *http.Request, val, by any) *http.Request {
	x := &request{ctx: valueCtx{Context: r.Context(), val: val, by: by}}
	// WithContext is inlined here and its copy does not escape, so it is
	// made on the stack; only x is allocated.
	x.r = *r.WithContext(&x.ctx)
	return &x.r
}

// request is a request and its context, allocated together.
type request struct {
	r   http.Request
	ctx valueCtx
}

// VerifiedBy returns the stamp WithRequest gave val in ctx, or nil when val
// did not come from WithRequest (it came from context.WithValue, say, or a
// later WithRequest put another value in). val must be comparable.
func VerifiedBy(ctx context.Context, val any) any {
	if c, ok := ctx.Value(stampKey).(*valueCtx); ok && c.val == val {
		return c.by
	}
	return nil
}

// valueCtx is what NewContext makes, and a stamp.
type valueCtx struct {
	context.Context
	val, by any
}

func (c *valueCtx) Value(k any) any {
	switch k {
	case key:
		return c.val
	case stampKey:
		return c
	}
	return c.Context.Value(k)
}

// String names the context as context.WithValue's does, without printing
// the value.
func (c *valueCtx) String() string {
	name := reflect.TypeOf(c.Context).String()
	if s, ok := c.Context.(fmt.Stringer); ok {
		name = s.String()
	}
	return fmt.Sprintf("%s.WithValue(%v, %T)", name, key, c.val)
}
