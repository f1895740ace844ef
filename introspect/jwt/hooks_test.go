package jwt

import (
	"context"
	"crypto"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
)

type hookKey struct{}

// keySetRecorder is Hooks that record each key-set fetch, with the value
// of hookKey in the context it started in.
type keySetRecorder struct {
	mu      sync.Mutex
	fetches []introspect.KeySetRefresh
	from    []any
}

func (r *keySetRecorder) hooks() *introspect.Hooks {
	return &introspect.Hooks{
		KeySetStart: func(ctx context.Context) context.Context {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.from = append(r.from, ctx.Value(hookKey{}))
			return ctx
		},
		KeySetDone: func(_ context.Context, k introspect.KeySetRefresh) {
			r.mu.Lock()
			defer r.mu.Unlock()
			k.Duration = 0 // not compared
			r.fetches = append(r.fetches, k)
		},
	}
}

func (r *keySetRecorder) take() ([]introspect.KeySetRefresh, []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, from := r.fetches, r.from
	r.fetches, r.from = nil, nil
	return f, from
}

func TestKeySetHooks(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1, "e1": ec1})
	clock := newClock()
	rec := &keySetRecorder{}
	cfg := testConfig(is, clock)
	cfg.Hooks = rec.hooks()
	v := newTestVerifier(t, cfg)
	assert.Equal(t, "jwt", introspect.BackendName(v))

	require.NoError(t, refresh(t, v))
	fetches, from := rec.take()
	assert.Equal(t, []introspect.KeySetRefresh{{Result: introspect.ResultValid, Keys: 2}}, fetches)
	assert.Equal(t, []any{nil}, from, "the schedule's fetch belongs to no request")

	// A token naming a new key starts a fetch on behalf of its request,
	// which nests in the request's context (a span, say).
	is.publish(map[string]crypto.Signer{"k1": rsa1, "k2": rsa2})
	ctx := context.WithValue(context.Background(), hookKey{}, "request")
	tok := token(map[string]any{"alg": "RS256", "kid": "k2"}, claimsAt(is, clock.Now(), nil), signRS(rsa2, crypto.SHA256))
	_, err := v.Verify(ctx, tok)
	require.NoError(t, err)
	fetches, from = rec.take()
	assert.Equal(t, []introspect.KeySetRefresh{{Result: introspect.ResultValid, Forced: true, Keys: 2}}, fetches)
	assert.Equal(t, []any{"request"}, from)

	is.set(func(is *issuer) { is.status = http.StatusServiceUnavailable })
	clock.Add(MaxKeySetLifetime)
	assert.Error(t, refresh(t, v))
	fetches, _ = rec.take()
	assert.Equal(t, []introspect.KeySetRefresh{{Result: introspect.ResultError}}, fetches)
	assert.NoError(t, v.Ready(ctx), "a failed refresh keeps the keys: still ready")
}

func TestReadyWhileKeysAreNotLoaded(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	is.set(func(is *issuer) { is.status = http.StatusServiceUnavailable })
	clock := newClock()
	v := newTestVerifier(t, testConfig(is, clock))

	err := v.Ready(context.Background())
	assert.ErrorIs(t, err, introspect.ErrUnavailable, "not loaded yet")
	settle(v) // Ready started the first fetch, as a token would
	err = introspect.Ready(context.Background(), v)
	assert.ErrorIs(t, err, introspect.ErrUnavailable)
	assert.Contains(t, err.Error(), "503")

	is.set(func(is *issuer) { is.status = 0 })
	clock.Add(DefaultRefreshCooldown)
	_ = v.Ready(context.Background())
	settle(v)
	assert.NoError(t, v.Ready(context.Background()))

	fb := WithFallback(v, nil)
	assert.Equal(t, "jwt", introspect.BackendName(fb))
	assert.NoError(t, introspect.Ready(context.Background(), fb))
	fb = WithFallback(v, introspect.VerifierFunc(nil))
	assert.Equal(t, "jwt+custom", introspect.BackendName(fb))
}
