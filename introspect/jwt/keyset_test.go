package jwt

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tokengate/tokengate/introspect"
)

func isUnavailable(t *testing.T, err error) *introspect.UnavailableError {
	t.Helper()
	var ue *introspect.UnavailableError
	require.ErrorAs(t, err, &ue)
	assert.ErrorIs(t, err, introspect.ErrUnavailable)
	assert.NotErrorIs(t, err, introspect.ErrInvalidToken)
	return ue
}

// TestUnknownKIDFlood: 10,000 tokens with random unknown kids make one
// key set fetch per cooldown, and while that fetch is held every other
// request has already been answered: none waits for it. The others are
// unavailable (503, never cached), not invalid: the key set was not seen
// after they were issued, so one of them may name a key published since.
// While the fetch is in flight they are told to come back in a second,
// when its keys are in; once it is done, when the cooldown ends.
func TestUnknownKIDFlood(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1, "e1": ec1})
	clock := newClock()
	cfg := testConfig(is, clock)
	// Starting 10,000 goroutines under -race on a busy machine can take
	// longer than the default timeout the held fetch would run into.
	cfg.Timeout = time.Minute
	v := newTestVerifier(t, cfg)
	require.NoError(t, refresh(t, v))
	require.EqualValues(t, 1, is.fetches.Load())
	<-is.entered
	now := clock.Now()
	c := claimsAt(is, now, nil)
	hold := make(chan struct{})
	is.set(func(is *issuer) { is.hold = hold })

	const n = 10000
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = token(map[string]any{"alg": "RS256", "kid": fmt.Sprintf("random-%d", i)}, c, func([]byte) []byte { return []byte("sig") })
	}
	var refused atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Verify(context.Background(), tok)
			if errors.Is(err, introspect.ErrUnavailable) {
				refused.Add(1)
			}
			errs <- err
		}()
	}
	// The one fetch arrives and is held; everyone else returns meanwhile.
	select {
	case <-is.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh for an unknown kid")
	}
	// Checked cheaply: the held fetch must not time out meanwhile.
	var wrong []error
	for range n - 1 {
		select {
		case err := <-errs:
			var ue *introspect.UnavailableError
			if !errors.As(err, &ue) || ue.RetryAfter != firstRetry {
				wrong = append(wrong, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("requests wait behind the held fetch: %d answered so far", refused.Load())
		}
	}
	assert.Empty(t, wrong, "unavailable, Retry-After a second while the fetch is in flight")
	assert.EqualValues(t, n-1, refused.Load())
	assert.EqualValues(t, 2, is.fetches.Load(), "one fetch for 10,000 unknown kids")
	close(hold)
	wg.Wait()
	assert.Equal(t, errUnknownKID, <-errs, "the request that triggered the refresh waited for it")
	_, err := v.Verify(context.Background(), tokens[3])
	assert.Equal(t, DefaultRefreshCooldown, isUnavailable(t, err).RetryAfter, "the fetch done: Retry-After the cooldown left")

	// Still within the cooldown: unavailable at once, no fetch.
	clock.Add(DefaultRefreshCooldown - time.Second)
	_, err = v.Verify(context.Background(), tokens[0])
	ue := isUnavailable(t, err)
	assert.Equal(t, time.Second, ue.RetryAfter)
	assert.EqualValues(t, 2, is.fetches.Load())

	// Past it: one more fetch, and the cooldown starts again.
	clock.Add(time.Second)
	_, err = v.Verify(context.Background(), tokens[1])
	assert.Equal(t, errUnknownKID, err)
	_, err = v.Verify(context.Background(), tokens[2])
	isUnavailable(t, err)
	assert.EqualValues(t, 3, is.fetches.Load())
}

// TestUnknownKIDWithinCooldown: within the cooldown, a token with an
// unknown kid is invalid only when the keys were seen long enough after
// it was issued that the issuer would have published its key; otherwise
// it is unavailable until the cooldown ends.
func TestUnknownKIDWithinCooldown(t *testing.T) {
	is, clock, v := standardIssuer(t)
	start := clock.Now()
	junk := func(iat any) string {
		return token(map[string]any{"alg": "RS256", "kid": "junk"}, claimsAt(is, clock.Now(), map[string]any{"iat": iat}), func([]byte) []byte { return []byte("x") })
	}
	// The first unknown kid uses the refresh, at start.
	_, err := v.Verify(context.Background(), junk(start.Unix()))
	require.Equal(t, errUnknownKID, err)
	require.EqualValues(t, 2, is.fetches.Load())
	clock.Add(10 * time.Second)

	leeway := introspect.DefaultLeeway
	for _, tt := range []struct {
		name    string
		iat     any // nil: no iat
		invalid bool
	}{
		{"issued at the refresh", start.Unix(), false},
		{"issued within the leeway before it", start.Add(-leeway).Unix(), false},
		{"issued the leeway and a second before it", start.Add(-leeway - time.Second).Unix(), true},
		{"issued an hour before it", start.Add(-time.Hour).Unix(), true},
		{"issued after it", start.Add(5 * time.Second).Unix(), false},
		{"no iat", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), junk(tt.iat))
			if tt.invalid {
				assert.Equal(t, errUnknownKID, err)
			} else {
				ue := isUnavailable(t, err)
				assert.Equal(t, DefaultRefreshCooldown-10*time.Second, ue.RetryAfter)
				assert.Zero(t, ue.StatusCode)
			}
		})
	}
	assert.EqualValues(t, 2, is.fetches.Load(), "no fetch within the cooldown")
}

// TestRotationAfterRandomKID: a token with a random kid uses the refresh;
// the issuer then rotates, and a valid token with the new key arrives
// within the cooldown. It is unavailable (so a Cache stores nothing), and
// accepted once the cooldown ends — never answered invalid.
func TestRotationAfterRandomKID(t *testing.T) {
	is, clock, v := standardIssuer(t)
	c, err := introspect.NewCache(v, introspect.CacheConfig{Now: clock.Now})
	require.NoError(t, err)
	defer c.Close()
	junk := token(map[string]any{"alg": "RS256", "kid": "junk"}, claimsAt(is, clock.Now(), nil), func([]byte) []byte { return []byte("x") })
	_, err = c.Verify(context.Background(), junk)
	require.ErrorIs(t, err, introspect.ErrInvalidToken)

	clock.Add(5 * time.Second)
	is.publish(map[string]crypto.Signer{"k1": rsa1, "k2": rsa2})
	tok := token(map[string]any{"alg": "RS256", "kid": "k2"}, claimsAt(is, clock.Now(), nil), signRS(rsa2, crypto.SHA256))
	_, err = c.Verify(context.Background(), tok)
	ue := isUnavailable(t, err)
	assert.Equal(t, DefaultRefreshCooldown-5*time.Second, ue.RetryAfter)
	assert.EqualValues(t, 2, is.fetches.Load())

	clock.Add(DefaultRefreshCooldown - 5*time.Second)
	info, err := c.Verify(context.Background(), tok)
	require.NoError(t, err, "the 503 was not cached, and the cooldown is over")
	assert.True(t, info.Active)
	assert.EqualValues(t, 3, is.fetches.Load())
}

// TestRotationDuringOutage: the issuer rotates while its key set is down.
// Every token with the new kid is unavailable — the first from the failed
// refresh, the later ones within the cooldown too, with Retry-After the
// time until the next attempt — never invalid.
func TestRotationDuringOutage(t *testing.T) {
	is, clock, v := standardIssuer(t)
	is.publish(map[string]crypto.Signer{"k2": rsa2})
	is.set(func(is *issuer) { is.status = http.StatusServiceUnavailable })
	tok := token(map[string]any{"alg": "RS256", "kid": "k2"}, claimsAt(is, clock.Now(), nil), signRS(rsa2, crypto.SHA256))
	_, err := v.Verify(context.Background(), tok)
	ue := isUnavailable(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, ue.StatusCode)
	assert.Equal(t, 7*time.Second, ue.RetryAfter, "the server's Retry-After")

	clock.Add(time.Second)
	_, err = v.Verify(context.Background(), tok)
	ue = isUnavailable(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, ue.StatusCode)
	assert.Equal(t, 6*time.Second, ue.RetryAfter, "until the schedule's retry")

	// Even a token issued long before the last good refresh: the key set
	// is down, so it is unavailable.
	old := token(map[string]any{"alg": "RS256", "kid": "k2"}, claimsAt(is, clock.Now(), map[string]any{"iat": clock.Now().Add(-time.Hour).Unix()}), signRS(rsa2, crypto.SHA256))
	_, err = v.Verify(context.Background(), old)
	isUnavailable(t, err)
	assert.EqualValues(t, 2, is.fetches.Load())

	is.set(func(is *issuer) { is.status = 0 })
	clock.Add(6 * time.Second)
	require.NoError(t, refresh(t, v))
	_, err = v.Verify(context.Background(), tok)
	assert.NoError(t, err)
}

// TestUnknownKIDAfterCheapChecks: a token refused by a cheap check never
// triggers a refresh, even when one is allowed.
func TestUnknownKIDAfterCheapChecks(t *testing.T) {
	is, clock, v := standardIssuer(t)
	now := clock.Now()
	sig := func([]byte) []byte { return []byte("sig") }
	for _, tok := range []string{
		token(map[string]any{"alg": "RS256", "kid": "new"}, claimsAt(is, now, map[string]any{"exp": now.Add(-time.Hour).Unix()}), sig),
		token(map[string]any{"alg": "RS256", "kid": "new"}, claimsAt(is, now, map[string]any{"iss": "https://evil.example"}), sig),
		token(map[string]any{"alg": "RS256", "kid": "new"}, claimsAt(is, now, map[string]any{"aud": "api://other"}), sig),
		token(map[string]any{"alg": "HS256", "kid": "new"}, claimsAt(is, now, nil), sig),
		token(map[string]any{"alg": "RS256", "kid": "new", "crit": []string{"x"}}, claimsAt(is, now, nil), sig),
	} {
		_, err := v.Verify(context.Background(), tok)
		require.ErrorIs(t, err, introspect.ErrInvalidToken)
	}
	assert.EqualValues(t, 1, is.fetches.Load())
}

// TestRotation: the issuer publishes a new key and signs with it at once;
// the first token with it triggers one refresh and is accepted, and so is
// every later one: no burst of 401s. The first new key after start is
// picked up at once, as the start's own fetch does not count against the
// cooldown.
func TestRotation(t *testing.T) {
	is, clock, v := standardIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1, "k2": rsa2})
	newToken := func(sub int) string {
		c := claimsAt(is, clock.Now(), map[string]any{"sub": fmt.Sprintf("user-%d", sub)})
		return token(map[string]any{"alg": "RS256", "kid": "k2"}, c, signRS(rsa2, crypto.SHA256))
	}
	_, err := v.Verify(context.Background(), newToken(0))
	require.NoError(t, err)
	assert.EqualValues(t, 2, is.fetches.Load())

	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(context.Background(), newToken(i+1)); err != nil {
				failed.Add(1)
			}
		}()
	}
	tok := newToken(0)
	wg.Wait()
	assert.Zero(t, failed.Load(), "401s after the rotation")
	_, err = v.Verify(context.Background(), rs256(is, clock.Now(), nil))
	assert.NoError(t, err, "the old key still works")
	_, err = v.Verify(context.Background(), tok)
	assert.NoError(t, err)
	assert.EqualValues(t, 2, is.fetches.Load(), "one refresh for the rotation")
}

// TestRotationRefreshInFlight: while the refresh that a rotated key's first
// token triggered is in flight, the key's other tokens are told to retry
// in a second, never refused; once it lands, all are accepted.
func TestRotationRefreshInFlight(t *testing.T) {
	is, clock, v := standardIssuer(t)
	for len(is.entered) > 0 {
		<-is.entered // the first load's
	}
	is.publish(map[string]crypto.Signer{"k1": rsa1, "k2": rsa2})
	hold := make(chan struct{})
	is.set(func(is *issuer) { is.hold = hold })
	tokens := make([]string, 101)
	for i := range tokens {
		c := claimsAt(is, clock.Now(), map[string]any{"sub": fmt.Sprintf("user-%d", i)})
		tokens[i] = token(map[string]any{"alg": "RS256", "kid": "k2"}, c, signRS(rsa2, crypto.SHA256))
	}

	first := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), tokens[0])
		first <- err
	}()
	<-is.entered // the refresh tokens[0] triggered, held
	for _, tok := range tokens[1:] {
		_, err := v.Verify(context.Background(), tok)
		ue := isUnavailable(t, err)
		assert.Equal(t, time.Second, ue.RetryAfter)
	}
	select {
	case err := <-first:
		t.Fatalf("the first token's Verify returned before its refresh: %v", err)
	default:
	}

	close(hold)
	require.NoError(t, <-first)
	for _, tok := range tokens[1:] {
		_, err := v.Verify(context.Background(), tok)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 2, is.fetches.Load(), "one refresh for the rotation")
}

// TestDownAtStart: with the key set down at start, Verify is unavailable
// (never invalid), never waits for a fetch, fails at once between
// attempts, and recovers by itself within the cooldown once the key set
// is back.
func TestDownAtStart(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	is.set(func(is *issuer) { is.status = http.StatusServiceUnavailable })
	clock := newClock()
	v := newTestVerifier(t, testConfig(is, clock))
	tok := rs256(is, clock.Now(), nil)

	// The first request starts a fetch and does not wait for it.
	_, err := v.Verify(context.Background(), tok)
	ue := isUnavailable(t, err)
	assert.Equal(t, time.Second, ue.RetryAfter)
	settle(v)
	assert.Equal(t, int64(1), is.fetches.Load())

	// Until the next attempt: at once, no fetch, the failure's status,
	// and Retry-After the wait (the server's 7 s, within the cooldown).
	_, err = v.Verify(context.Background(), tok)
	ue = isUnavailable(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, ue.StatusCode)
	assert.Equal(t, 7*time.Second, ue.RetryAfter)
	assert.Equal(t, int64(1), is.fetches.Load())

	// Failures back off, never past the cooldown.
	for range 6 {
		clock.Add(DefaultRefreshCooldown)
		_, err = v.Verify(context.Background(), tok)
		isUnavailable(t, err)
		settle(v)
	}
	assert.Equal(t, int64(7), is.fetches.Load())
	_, err = v.Verify(context.Background(), tok)
	ue = isUnavailable(t, err)
	assert.LessOrEqual(t, ue.RetryAfter, DefaultRefreshCooldown)

	is.set(func(is *issuer) { is.status = 0 })
	clock.Add(DefaultRefreshCooldown)
	_, err = v.Verify(context.Background(), tok)
	isUnavailable(t, err)
	settle(v)
	info, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.True(t, info.Active)
	assert.Equal(t, int64(8), is.fetches.Load())
}

// TestFirstLoadNeverQueues: while the first fetch of the key set is held,
// Verify fails at once as unavailable: no request waits for it, as New
// promises.
func TestFirstLoadNeverQueues(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	hold := make(chan struct{})
	is.set(func(is *issuer) { is.hold = hold })
	defer close(hold)
	clock := newClock()
	v := newTestVerifier(t, testConfig(is, clock))
	require.NotNil(t, v.keys.refreshIfDue())
	<-is.entered

	// The fetch stays held until the test ends: a request that waited for
	// it would never return.
	for range 3 {
		done := make(chan error, 1)
		go func() {
			_, err := v.Verify(context.Background(), rs256(is, clock.Now(), nil))
			done <- err
		}()
		select {
		case err := <-done:
			ue := isUnavailable(t, err)
			assert.Equal(t, time.Second, ue.RetryAfter)
		case <-time.After(10 * time.Second):
			t.Fatal("the request waits for the held fetch")
		}
	}
	assert.EqualValues(t, 1, is.fetches.Load(), "requests join the fetch in flight, without waiting")
}

// failedToLoad returns a Verifier whose first fetch of the key set, from an
// issuer with fault, failed, and a ctx already cancelled.
func failedToLoad(t *testing.T, fault func(*issuer)) (*issuer, *fakeClock, *Verifier, context.Context) {
	t.Helper()
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	is.set(fault)
	clock := newClock()
	v := newTestVerifier(t, testConfig(is, clock))
	isUnavailable(t, refresh(t, v))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return is, clock, v, ctx
}

// TestWaitReady: WaitReady returns once the key set has loaded, and with
// the latest failure when ctx ends first.
func TestWaitReady(t *testing.T) {
	is, clock, v, ctx := failedToLoad(t, func(is *issuer) { is.status = http.StatusBadGateway })
	err := v.WaitReady(ctx)
	ue := isUnavailable(t, err)
	assert.Equal(t, http.StatusBadGateway, ue.StatusCode)
	assert.ErrorIs(t, err, context.Canceled)

	is.set(func(is *issuer) { is.status = 0 })
	clock.Add(DefaultRefreshCooldown)
	done := make(chan error, 1)
	go func() { done <- v.WaitReady(context.Background()) }()
	require.NoError(t, refresh(t, v))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("WaitReady did not return once the keys loaded")
	}
	require.NoError(t, v.WaitReady(ctx), "loaded: nil even with ctx done")

	closed := newTestVerifier(t, testConfig(is, clock))
	closed.Close()
	isUnavailable(t, closed.WaitReady(context.Background()))
}

// TestWaitReadySaysWhy: the error WaitReady returns when ctx ends tells
// what was wrong with the key set, besides that waiting ended.
func TestWaitReadySaysWhy(t *testing.T) {
	_, _, v, ctx := failedToLoad(t, func(is *issuer) { is.rawKeys = `{"keys":[]}` })
	err := v.WaitReady(ctx)
	isUnavailable(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "no usable")
	assert.Contains(t, err.Error(), "context canceled")

	// A fetch that timed out does not make the caller's cancellation a
	// deadline.
	v.keys.mu.Lock()
	v.keys.lastErr.Err = context.DeadlineExceeded
	v.keys.mu.Unlock()
	err = v.WaitReady(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
}

// TestDownAtStartScheduled: the schedule, too, asks again within the
// cooldown.
func TestDownAtStartScheduled(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	is.set(func(is *issuer) { is.status = http.StatusInternalServerError })
	clock := newClock()
	v := newTestVerifier(t, testConfig(is, clock))
	isUnavailable(t, refresh(t, v))
	assert.Nil(t, v.keys.refreshIfDue(), "not due yet")
	is.set(func(is *issuer) { is.status = 0 })
	clock.Add(DefaultRefreshCooldown)
	require.NoError(t, refresh(t, v))
	_, err := v.Verify(context.Background(), rs256(is, clock.Now(), nil))
	assert.NoError(t, err)
}

// TestDownLater: once loaded, a key set that goes down changes nothing for
// known keys; an unknown kid is unavailable, for the request that asked
// and within the cooldown after.
func TestDownLater(t *testing.T) {
	is, clock, v := standardIssuer(t)
	is.set(func(is *issuer) { is.status = http.StatusBadGateway })
	clock.Add(DefaultKeySetLifetime)
	isUnavailable(t, refresh(t, v))

	_, err := v.Verify(context.Background(), rs256(is, clock.Now(), nil))
	assert.NoError(t, err, "known keys keep working")

	unknown := token(map[string]any{"alg": "RS256", "kid": "k9"}, claimsAt(is, clock.Now(), nil), signRS(rsa2, crypto.SHA256))
	_, err = v.Verify(context.Background(), unknown)
	isUnavailable(t, err)
	_, err = v.Verify(context.Background(), unknown)
	isUnavailable(t, err)

	// A key set that comes back broken is refused too, and the keys kept.
	is.set(func(is *issuer) { is.status, is.rawKeys = 0, `{"keys": "nope"}` })
	clock.Add(DefaultRefreshCooldown)
	isUnavailable(t, refresh(t, v))
	_, err = v.Verify(context.Background(), rs256(is, clock.Now(), nil))
	assert.NoError(t, err)
}

func TestLifetime(t *testing.T) {
	for _, tt := range []struct {
		cc, age string
		want    time.Duration
	}{
		{"", "", DefaultKeySetLifetime},
		{"public, max-age=7200", "", 2 * time.Hour},
		{"max-age=60", "", MinKeySetLifetime},
		{"max-age=0", "", MinKeySetLifetime},
		{"no-cache", "", MinKeySetLifetime},
		{"no-store, max-age=7200", "", MinKeySetLifetime},
		{"max-age=31536000", "", MaxKeySetLifetime},
		{"max-age=3600", "600", 50 * time.Minute},
		{"max-age=3600", "3500", MinKeySetLifetime},
		{"max-age=nonsense", "", DefaultKeySetLifetime},
		{"max-age=-5", "", DefaultKeySetLifetime},
		{`max-age="900"`, "", 15 * time.Minute},
		{"max-age=+900", "", DefaultKeySetLifetime},
		// Too large to represent: the largest, so the cap (RFC 9111
		// §1.2.2), not the default.
		{"max-age=99999999999999999999999", "", MaxKeySetLifetime},
		{"max-age=7200", "99999999999999999999999", MinKeySetLifetime},
	} {
		h := http.Header{}
		if tt.cc != "" {
			h.Set("Cache-Control", tt.cc)
		}
		if tt.age != "" {
			h.Set("Age", tt.age)
		}
		assert.Equal(t, tt.want, lifetime(h), "%q age %q", tt.cc, tt.age)
	}
}

// TestMaxAgeSchedule: the schedule refreshes at three quarters of the
// max-age, within bounds, and not before.
func TestMaxAgeSchedule(t *testing.T) {
	for _, tt := range []struct {
		cc   string
		life time.Duration
	}{
		{"max-age=7200", 2 * time.Hour},
		{"max-age=10", MinKeySetLifetime},
		{"max-age=604800", MaxKeySetLifetime},
		{"", DefaultKeySetLifetime},
	} {
		t.Run(tt.cc, func(t *testing.T) {
			is := newIssuer(t)
			is.publish(map[string]crypto.Signer{"k1": rsa1})
			is.set(func(is *issuer) { is.cacheControl = tt.cc })
			clock := newClock()
			v := newTestVerifier(t, testConfig(is, clock))
			require.NoError(t, refresh(t, v))
			clock.Add(tt.life*3/4 - time.Second)
			assert.Nil(t, v.keys.refreshIfDue(), "refreshed early")
			clock.Add(time.Second)
			require.NoError(t, refresh(t, v))
			assert.EqualValues(t, 2, is.fetches.Load())
		})
	}
}

// TestForcedRefreshSendsNoCache: refreshes a token asks for tell caches on
// the way to revalidate; scheduled ones do not.
func TestForcedRefreshSendsNoCache(t *testing.T) {
	is, clock, v := standardIssuer(t)
	_, err := v.Verify(context.Background(), token(map[string]any{"alg": "RS256", "kid": "k9"}, claimsAt(is, clock.Now(), nil), signRS(rsa2, crypto.SHA256)))
	assert.Equal(t, errUnknownKID, err)
	clock.Add(DefaultKeySetLifetime)
	require.NoError(t, refresh(t, v))
	assert.Equal(t, []string{"", "no-cache", ""}, is.cacheControlRequests())
}

// TestForcedRefreshJoinsUnsentFetch: an unknown kid that arrives while a
// scheduled fetch is about to send its request makes that request
// revalidate: one fetch, sent with no-cache.
func TestForcedRefreshJoinsUnsentFetch(t *testing.T) {
	is, clock, v := standardIssuer(t)
	clock.Add(DefaultKeySetLifetime)
	hold, held := make(chan struct{}), make(chan struct{})
	var once sync.Once
	v.keys.beforeSend = func() {
		once.Do(func() {
			close(held)
			<-hold
		})
	}
	f := v.keys.refreshIfDue()
	require.NotNil(t, f)
	<-held
	is.publish(map[string]crypto.Signer{"k1": rsa1, "k2": rsa2})
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), token(map[string]any{"alg": "RS256", "kid": "k2"}, claimsAt(is, clock.Now(), nil), signRS(rsa2, crypto.SHA256)))
		done <- err
	}()
	require.Eventually(t, func() bool {
		v.keys.mu.Lock()
		defer v.keys.mu.Unlock()
		return f.forced
	}, 10*time.Second, time.Millisecond, "the unknown kid did not make the pending fetch revalidate")
	close(hold)
	require.NoError(t, <-done)
	assert.Equal(t, []string{"", "no-cache"}, is.cacheControlRequests())
}

// TestForcedRefreshAfterSentFetch: an unknown kid that arrives while a
// scheduled fetch is in flight without no-cache waits for it and then
// asks again, with no-cache: the scheduled answer may be a cache's copy.
func TestForcedRefreshAfterSentFetch(t *testing.T) {
	is, clock, v := standardIssuer(t)
	<-is.entered
	clock.Add(DefaultKeySetLifetime)
	hold := make(chan struct{})
	is.set(func(is *issuer) { is.hold = hold })
	f := v.keys.refreshIfDue()
	require.NotNil(t, f)
	<-is.entered
	is.set(func(is *issuer) { is.hold = nil })
	is.publish(map[string]crypto.Signer{"k1": rsa1, "k2": rsa2})
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), token(map[string]any{"alg": "RS256", "kid": "k3"}, claimsAt(is, clock.Now(), nil), signRS(rsa2, crypto.SHA256)))
		done <- err
	}()
	require.Eventually(t, func() bool {
		v.keys.mu.Lock()
		defer v.keys.mu.Unlock()
		return v.keys.unknownSeen
	}, 10*time.Second, time.Millisecond)
	close(hold)
	assert.Equal(t, errUnknownKID, <-done)
	assert.Equal(t, []string{"", "", "no-cache"}, is.cacheControlRequests())
}

// TestAgeDatesTheKeySet: a cache's Age moves back when the key set counts
// as seen, so a token issued after the cache's copy is not refused.
func TestAgeDatesTheKeySet(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	is.set(func(is *issuer) { is.age = "600" })
	clock := newClock()
	v := newTestVerifier(t, testConfig(is, clock))
	require.NoError(t, refresh(t, v))
	assert.Equal(t, clock.Now().Add(-10*time.Minute), v.keys.current.Load().seen)
}

func TestKeySetBounds(t *testing.T) {
	is, clock, v := standardIssuer(t)
	t.Run("more than MaxKeys", func(t *testing.T) {
		var keys []jose.JSONWebKey
		for i := range MaxKeys + 1 {
			keys = append(keys, jose.JSONWebKey{Key: rsa2.Public(), KeyID: fmt.Sprint(i), Use: "sig"})
		}
		is.set(func(is *issuer) { is.rawKeys = string(mustJSON(jose.JSONWebKeySet{Keys: keys})) })
		clock.Add(DefaultKeySetLifetime)
		isUnavailable(t, refresh(t, v))
		_, err := v.Verify(context.Background(), rs256(is, clock.Now(), nil))
		assert.NoError(t, err, "known keys kept")
	})
	t.Run("body over 1 MiB", func(t *testing.T) {
		is.set(func(is *issuer) {
			is.rawKeys = `{"keys":[],"pad":"` + strings.Repeat("x", 1<<20) + `"}`
		})
		clock.Add(DefaultRefreshCooldown)
		ue := isUnavailable(t, refresh(t, v))
		assert.Contains(t, ue.Reason, "larger than")
	})
	t.Run("symmetric and private keys are skipped", func(t *testing.T) {
		keys := []jose.JSONWebKey{
			{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "k1", Algorithm: "HS256"},
			{Key: rsa2, KeyID: "k1", Use: "sig"},
		}
		is.set(func(is *issuer) { is.rawKeys = string(mustJSON(jose.JSONWebKeySet{Keys: keys})) })
		clock.Add(DefaultRefreshCooldown)
		ue := isUnavailable(t, refresh(t, v))
		assert.Contains(t, ue.Reason, "unusable")
	})
}

func TestRedirectNotFollowed(t *testing.T) {
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	redirect := newIssuer(t)
	redirect.srv.Config.Handler = http.RedirectHandler(is.jwksURL(), http.StatusFound)
	clock := newClock()
	cfg := testConfig(is, clock)
	cfg.JWKSURL = redirect.srv.URL + "/jwks"
	v := newTestVerifier(t, cfg)
	ue := isUnavailable(t, refresh(t, v))
	assert.Equal(t, http.StatusFound, ue.StatusCode)
	assert.Zero(t, is.fetches.Load())
}

func TestConfigURLs(t *testing.T) {
	base := Config{Issuers: []string{"https://i.example"}, Audiences: []string{"a"}}
	for _, tt := range []struct {
		name string
		cfg  func(c *Config)
		ok   bool
	}{
		{"https", func(c *Config) { c.JWKSURL = "https://i.example/jwks" }, true},
		{"http loopback", func(c *Config) { c.JWKSURL = "http://127.0.0.1:1/jwks" }, true},
		{"http localhost", func(c *Config) { c.JWKSURL = "http://localhost:1/jwks" }, true},
		{"http elsewhere", func(c *Config) { c.JWKSURL = "http://i.example/jwks" }, false},
		{"credentials", func(c *Config) { c.JWKSURL = "https://u:p@i.example/jwks" }, false},
		{"no source", func(c *Config) {}, false},
		{"issuer over http", func(c *Config) { c.Issuer = "http://i.example" }, false},
		{"no issuers", func(c *Config) { c.JWKSURL = "https://i.example/jwks"; c.Issuers = nil }, false},
		{"negative timeout", func(c *Config) { c.JWKSURL = "https://i.example/jwks"; c.Timeout = -1 }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.cfg(&cfg)
			v, err := newVerifier(cfg)
			if tt.ok {
				require.NoError(t, err)
				v.Close()
			} else {
				assert.Error(t, err)
			}
		})
	}
}

// TestCloseLeavesNoGoroutine runs the real schedule on the wall clock.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	is := newIssuer(t)
	is.publish(map[string]crypto.Signer{"k1": rsa1})
	v, err := New(Config{JWKSURL: is.jwksURL(), Issuers: []string{is.issuerID}, Audiences: []string{audience}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, v.WaitReady(ctx), "the schedule did not load the key set")
	<-is.entered
	_, err = v.Verify(context.Background(), rs256(is, time.Now(), nil))
	require.NoError(t, err)
	// A fetch held at Close is cancelled, not waited out.
	is.set(func(is *issuer) { is.hold = make(chan struct{}) })
	go func() {
		_, _ = v.Verify(context.Background(), token(map[string]any{"alg": "RS256", "kid": "k9"}, claimsAt(is, time.Now(), nil), signRS(rsa2, crypto.SHA256)))
	}()
	<-is.entered
	v.Close()
	v.Close()
	_, err = v.Verify(context.Background(), rs256(is, time.Now(), nil))
	assert.NoError(t, err, "loaded keys work after Close")
	is.srv.Close()
	assert.NoError(t, goleak.Find(ignore))
}

// TestNoWait: told not to wait, Verify answers as it would otherwise,
// except for a token whose unknown kid would start a refresh: that it
// leaves alone, fetching nothing and using none of the cooldown, so that
// a Verify that may wait then makes the refresh.
func TestNoWait(t *testing.T) {
	is, clock, v := standardIssuer(t)
	ctx := context.Background()
	noWait := introspect.NoWait(ctx)
	good := rs256(is, clock.Now(), nil)
	info, err := v.Verify(noWait, good)
	require.NoError(t, err)
	assert.Equal(t, "user-1", info.Subject)
	_, err = v.Verify(noWait, rs256(is, clock.Now(), map[string]any{"aud": "api://other"}))
	assert.Equal(t, errAudience, err)

	rotated := token(map[string]any{"alg": "RS256", "kid": "k2"}, claimsAt(is, clock.Now(), nil), signRS(rsa2, crypto.SHA256))
	for range 3 {
		_, err = v.Verify(noWait, rotated)
		require.ErrorIs(t, err, introspect.ErrWouldWait)
	}
	assert.EqualValues(t, 1, is.fetches.Load(), "nothing is fetched")

	is.publish(map[string]crypto.Signer{"k1": rsa1, "k2": rsa2})
	info, err = v.Verify(ctx, rotated)
	require.NoError(t, err, "Verify makes the refresh it left alone")
	assert.Equal(t, "user-1", info.Subject)
	assert.EqualValues(t, 2, is.fetches.Load())

	// Within the cooldown nothing waits anyway: the answers agree.
	junk := token(map[string]any{"alg": "RS256", "kid": "junk"}, claimsAt(is, clock.Now(), nil), signRS(rsaAttacker, crypto.SHA256))
	_, now := v.Verify(noWait, junk)
	_, later := v.Verify(ctx, junk)
	require.ErrorIs(t, now, introspect.ErrUnavailable)
	assert.Equal(t, later, now)
	assert.EqualValues(t, 2, is.fetches.Load())
}
