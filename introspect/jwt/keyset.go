package jwt

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/introspect"
)

// firstRetry is how soon a failed fetch is tried again; the wait doubles
// with each failure in a row, up to the cooldown.
const firstRetry = time.Second

// errClosed is the cause of fetches asked for after Close.
var errClosed = errors.New("verifier closed")

// keySet holds an issuer's keys and keeps them fresh.
//
// At most one fetch is in flight (pending). It runs on a context of the
// key set's own, detached from the requests that wait for it and cancelled
// by close, so a client that gives up fails nobody else. Three things start
// one:
//   - the schedule (loop): the first load, then a refresh at three quarters
//     of the set's lifetime, then, after a failure, retries backing off
//     from firstRetry up to the cooldown;
//   - a request while no keys are loaded, when the next retry is due — so
//     a verifier started while its key set was down recovers within the
//     cooldown even without the loop. That request does not wait for it:
//     while no keys are loaded, every request is unavailable at once;
//   - a token with an unknown kid, at most once per cooldown counted from
//     the last such refresh (lastUnknown). That request waits for the
//     fetch; every other token with an unknown kid within the cooldown is
//     answered at once, never queued (see unknownKID).
//
// A failed fetch keeps the keys known before.
type keySet struct {
	src      *source
	client   httpClient
	now      func() time.Time
	cooldown time.Duration

	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	hooks  introspect.Hooks
	wg     sync.WaitGroup

	current atomic.Pointer[keys]
	ready   chan struct{} // closed when the first keys are loaded

	// beforeSend, when not nil, is called by a fetch just before it
	// decides whether its request revalidates: tests hold it there.
	beforeSend func()

	mu          sync.Mutex
	closed      bool
	pending     *fetch
	unknownSeen bool      // an unknown kid has triggered a refresh
	lastUnknown time.Time // when it last did
	failures    int       // failed fetches in a row
	lastErr     *introspect.UnavailableError
	retryAt     time.Time // after a failure: when the next attempt is due
	refreshAt   time.Time // after a success: when the next refresh is due
}

// fetch is one request for the key set; done is closed when err is set.
type fetch struct {
	done chan struct{}
	err  error

	// forced asks caches on the way to revalidate (Cache-Control:
	// no-cache). It may be set until the request is sent; both are
	// guarded by keySet.mu.
	forced, sent bool
	// trigger is the context of the request that started the fetch and
	// waits for it, or nil: the fetch takes its values (a span to nest
	// in), never its cancellation.
	trigger context.Context
}

func newKeySet(src *source, c httpClient, now func() time.Time, cooldown time.Duration, hooks *introspect.Hooks) *keySet {
	ctx, cancel := context.WithCancel(context.Background())
	s := &keySet{src: src, client: c, now: now, cooldown: cooldown, ctx: ctx, cancel: cancel, ready: make(chan struct{})}
	if hooks != nil {
		s.hooks = *hooks
	}
	return s
}

// start returns the fetch in flight, or starts one, forced or not, on
// behalf of the request whose context is trigger (nil for none).
// s.mu is held.
func (s *keySet) start(forced bool, trigger context.Context) *fetch {
	if s.pending != nil {
		return s.pending
	}
	f := &fetch{done: make(chan struct{}), forced: forced, trigger: trigger}
	if s.closed {
		f.err = &introspect.UnavailableError{Reason: "jwt: key set: verifier closed", Err: errClosed}
		close(f.done)
		return f
	}
	s.pending = f
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(f)
	}()
	return f
}

// startForced returns a fetch that revalidates, if it can: a new one, or
// the one in flight, made forced if its request is not sent yet. When
// the one in flight was sent without no-cache, it returns that one and
// false: its answer may come from a cache, and the caller asks again
// once it is done. s.mu is held.
func (s *keySet) startForced(trigger context.Context) (f *fetch, revalidates bool) {
	if f = s.pending; f == nil {
		return s.start(true, trigger), true
	}
	if !f.sent {
		f.forced = true
	}
	return f, f.forced
}

// run makes fetch f and records its outcome.
func (s *keySet) run(f *fetch) {
	ctx := s.ctx
	if f.trigger != nil {
		var stop context.CancelFunc
		ctx, stop = context.WithCancel(context.WithoutCancel(f.trigger))
		defer stop()
		unlink := context.AfterFunc(s.ctx, stop)
		defer unlink()
	}
	if s.hooks.KeySetStart != nil {
		ctx = s.hooks.KeySetStart(ctx)
	}
	began := time.Now()
	ks, life, err := s.load(ctx, f)
	if s.hooks.KeySetDone != nil {
		r := introspect.KeySetRefresh{Result: introspect.ResultValid, Forced: f.forced, Duration: time.Since(began)}
		if err != nil {
			r.Result = introspect.ResultError
		} else {
			r.Keys = len(ks.all)
		}
		s.hooks.KeySetDone(ctx, r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if err != nil {
		s.failures++
		wait := s.backoff(err)
		s.lastErr, s.retryAt = err, now.Add(wait)
		f.err = retryLater(err, wait)
	} else {
		first := s.current.Load() == nil
		s.current.Store(ks)
		if first {
			close(s.ready)
		}
		s.failures, s.lastErr, s.retryAt = 0, nil, time.Time{}
		s.refreshAt = now.Add(life - life/4)
	}
	s.pending = nil
	close(f.done)
}

// load makes fetch f: it fetches and parses the key set, reading the
// metadata first if needed, and says how long the answer is fresh.
func (s *keySet) load(ctx context.Context, f *fetch) (*keys, time.Duration, *introspect.UnavailableError) {
	url, err := s.src.keySetURL(ctx, s.client, s.now())
	if err != nil {
		return nil, 0, asUnavailable(err)
	}
	if s.beforeSend != nil {
		s.beforeSend()
	}
	s.mu.Lock()
	f.sent = true
	forced := f.forced
	s.mu.Unlock()
	var h http.Header
	if forced {
		h = http.Header{"Cache-Control": {"no-cache"}}
	}
	sentAt := s.now()
	a, err := s.client.get(ctx, "key set", url, h)
	if err != nil {
		return nil, 0, asUnavailable(err)
	}
	ks, err := parseKeySet(a.Body)
	if err != nil {
		return nil, 0, asUnavailable(a.Unavailable("jwt: key set is unusable", err))
	}
	// A cache on the way says in Age how old its copy is: the set shows
	// the issuer's keys as of that much before the request.
	ks.seen = sentAt.Add(-age(a.Header))
	return ks, lifetime(a.Header), nil
}

// asUnavailable returns err as the *introspect.UnavailableError it is.
func asUnavailable(err error) *introspect.UnavailableError {
	var ue *introspect.UnavailableError
	if errors.As(err, &ue) {
		return ue
	}
	return &introspect.UnavailableError{Reason: "jwt: key set", Err: err}
}

// backoff returns how long after the latest failure to try again:
// firstRetry doubled for each failure in a row before it, or what the
// server asked for in Retry-After, but never more than the cooldown.
// s.mu is held.
func (s *keySet) backoff(err *introspect.UnavailableError) time.Duration {
	wait := min(firstRetry, s.cooldown)
	for i := 1; i < s.failures && wait < s.cooldown; i++ {
		wait *= 2
	}
	return min(max(wait, err.RetryAfter), s.cooldown)
}

// retryLater returns a copy of err whose Retry-After is wait rounded up
// to whole seconds: a client that comes back when told finds a fresh
// attempt, not the same failure.
func retryLater(err *introspect.UnavailableError, wait time.Duration) error {
	e := *err
	secs := (wait + time.Second - 1) / time.Second
	e.RetryAfter = max(secs, 1) * time.Second
	return &e
}

// awaitFetch waits for f, or for ctx to be done.
func awaitFetch(ctx context.Context, f *fetch) error {
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return &introspect.UnavailableError{Reason: "jwt: key set not fetched in time", Err: ctx.Err()}
	}
}

// loaded returns the keys. While none are loaded it fails at once, never
// waiting for a fetch: with the last failure and the time until the next
// attempt, or, while a fetch is in flight, with a Retry-After of
// firstRetry. When the next attempt is due and none is in flight, it
// starts one first: forced (revalidating) for a token, unforced for a
// readiness check.
func (s *keySet) loaded(forToken bool) (*keys, error) {
	if ks := s.current.Load(); ks != nil {
		return ks, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ks := s.current.Load(); ks != nil {
		return ks, nil // loaded meanwhile
	}
	if s.closed {
		return nil, &introspect.UnavailableError{Reason: "jwt: key set: verifier closed", Err: errClosed}
	}
	if s.pending == nil {
		if now := s.now(); s.lastErr != nil && now.Before(s.retryAt) {
			return nil, retryLater(s.lastErr, s.retryAt.Sub(now))
		}
		s.start(forToken, nil)
	}
	if s.lastErr != nil {
		return nil, retryLater(s.lastErr, firstRetry)
	}
	return nil, &introspect.UnavailableError{Reason: "jwt: key set not loaded yet", RetryAfter: firstRetry}
}

// waitReady waits until the first keys are loaded, ctx is done or the
// key set is closed. It starts no fetch.
func (s *keySet) waitReady(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	default:
	}
	var cause error
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		cause = ctx.Err()
	case <-s.ctx.Done():
		cause = errClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ue := &introspect.UnavailableError{Reason: "jwt: key set not loaded", Err: cause}
	if s.lastErr != nil {
		ue.Reason += ": " + s.lastErr.Reason
		ue.StatusCode = s.lastErr.StatusCode
		if s.lastErr.Err != nil {
			// What was wrong with the key set, as text: the chain holds
			// why waiting ended alone, so that errors.Is tells a caller's
			// deadline from a fetch's.
			ue.Reason += ": " + s.lastErr.Err.Error()
		}
	}
	return ue
}

// unknownKID answers for a token whose kid (with alg) the loaded keys do
// not know, issued at issued (zero when it has no "iat"). It returns the
// keys that know the kid, or an error: errUnknownKID when a key set seen
// recently enough lacks it, an *introspect.UnavailableError when none
// has been seen since the token was issued and none may be fetched now.
//
// Outside the cooldown, the token triggers a refresh that revalidates,
// and waits for it; unless mayWait is false, when it returns
// introspect.ErrWouldWait and changes nothing. Within it, nothing is fetched and nobody waits:
//   - when the last fetch failed, the key set is down: unavailable until
//     the next attempt;
//   - when the current keys were seen at least leeway and a second (the
//     resolution of "iat") after the token was issued, the issuer did not
//     publish the kid when it signed the token: invalid;
//   - otherwise the kid may be a key published since the last refresh:
//     unavailable, never invalid, so that a token with a random kid cannot
//     get a rotated key's tokens refused (and an invalid answer cached)
//     until the cooldown ends. Its Retry-After is the end of the cooldown,
//     or firstRetry while a fetch is in flight, which may bring the key:
//     a client told so comes back at most for as long as that fetch
//     takes, bounded by the Timeout.
func (s *keySet) unknownKID(ctx context.Context, kid, alg string, issued time.Time, leeway time.Duration, mayWait bool) (*keys, error) {
	s.mu.Lock()
	if ks := s.current.Load(); ks.knows(kid, alg) {
		s.mu.Unlock()
		return ks, nil // a refresh has found it since
	}
	now := s.now()
	if !s.unknownSeen || !now.Before(s.lastUnknown.Add(s.cooldown)) {
		if !mayWait {
			s.mu.Unlock()
			return nil, introspect.ErrWouldWait
		}
		s.unknownSeen, s.lastUnknown = true, now
		f, revalidates := s.startForced(ctx)
		s.mu.Unlock()
		err := awaitFetch(ctx, f)
		if err == nil && !revalidates {
			s.mu.Lock()
			f, _ = s.startForced(ctx)
			s.mu.Unlock()
			err = awaitFetch(ctx, f)
		}
		if err != nil {
			return nil, err
		}
		if ks := s.current.Load(); ks.knows(kid, alg) {
			return ks, nil
		}
		return nil, errUnknownKID
	}
	defer s.mu.Unlock()
	next := s.lastUnknown.Add(s.cooldown)
	if due := s.due(); due.Before(next) {
		next = due
	}
	wait := next.Sub(now)
	if s.lastErr != nil {
		return nil, retryLater(s.lastErr, wait)
	}
	if !issued.IsZero() && !s.current.Load().seen.Before(issued.Add(leeway+time.Second)) {
		return nil, errUnknownKID
	}
	if s.pending != nil {
		return nil, retryLater(errBeingFetched, firstRetry)
	}
	return nil, retryLater(errNotRefreshed, wait)
}

// errBeingFetched is the cause of an unknown kid's answer within the
// cooldown while the key set is being fetched again.
var errBeingFetched = &introspect.UnavailableError{
	Reason:    "jwt: token names a key not in the key set, which is being fetched again",
	TokenOnly: true,
}

// errNotRefreshed is the cause of an unknown kid's answer within the
// cooldown: the key set may hold it now, but may not be asked yet.
var errNotRefreshed = &introspect.UnavailableError{
	Reason:    "jwt: token names a key not in the key set, which may be asked again only once the refresh cooldown ends",
	TokenOnly: true,
}

// due returns when the schedule wants the next fetch.
// s.mu is held.
func (s *keySet) due() time.Time {
	if s.current.Load() == nil || s.lastErr != nil {
		return s.retryAt // zero before the first attempt: at once
	}
	return s.refreshAt
}

// refreshIfDue starts the scheduled fetch if it is due, and returns the
// fetch in flight, or nil when there is none. The loop calls it; tests
// call it after moving their clock.
func (s *keySet) refreshIfDue() *fetch {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending != nil {
		return s.pending
	}
	if s.closed || s.now().Before(s.due()) {
		return nil
	}
	return s.start(false, nil)
}

// loop fetches the key set on its schedule until close. Its timer only
// wakes it: whether a fetch is due is decided by s.now, so a test clock
// that stands still never makes it fetch.
func (s *keySet) loop() {
	defer s.wg.Done()
	for {
		if f := s.refreshIfDue(); f != nil {
			select {
			case <-f.done:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		s.mu.Lock()
		wait := s.due().Sub(s.now())
		s.mu.Unlock()
		t := time.NewTimer(max(wait, firstRetry))
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
	}
}

// runLoop starts the schedule.
func (s *keySet) runLoop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.wg.Add(1)
		go s.loop()
	}
}

// close stops the schedule and any fetch in flight, waits for them, and
// closes idle connections. The keys loaded stay usable.
func (s *keySet) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.client.close()
}
