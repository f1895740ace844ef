package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/scopes"
)

// decisions records the Decision events of Hooks, with the row each
// request's context names.
type decisions struct {
	mu     sync.Mutex
	events []decisionEvent
}

type decisionEvent struct {
	row string // the rowKey value of the context the hook was given
	introspect.Decision
}

type rowKey struct{}

func (d *decisions) hooks() *introspect.Hooks {
	return &introspect.Hooks{Decision: func(ctx context.Context, dec introspect.Decision) {
		row, _ := ctx.Value(rowKey{}).(string)
		d.mu.Lock()
		d.events = append(d.events, decisionEvent{row, dec})
		d.mu.Unlock()
	}}
}

func (d *decisions) take() []decisionEvent {
	d.mu.Lock()
	defer d.mu.Unlock()
	events := d.events
	d.events = nil
	return events
}

// The Decision events the table expects.
var (
	allowed      = introspect.Decision{Outcome: introspect.OutcomeAllowed}
	noToken      = introspect.Decision{Outcome: introspect.OutcomeNoToken, Status: 401}
	malformed    = introspect.Decision{Outcome: introspect.OutcomeMalformed, Status: 400}
	invalidToken = introspect.Decision{Outcome: introspect.OutcomeInvalidToken, Status: 401}
	insufficient = introspect.Decision{Outcome: introspect.OutcomeInsufficientScope, Status: 403}
	unavailable  = introspect.Decision{Outcome: introspect.OutcomeUnavailable, Status: 503}
)

// TestDecisionHook: every decision of the net/http middleware is reported
// once, with the request's context; a preflight and a skipped request are
// none, and a route-level check behind a group's Authenticate reports only
// a refusal.
func TestDecisionHook(t *testing.T) {
	var rec decisions
	a, err := middleware.New(middleware.Config{
		Verifier: verifierOf(map[string]*introspect.TokenInfo{
			"map":       {Active: true, Scopes: scopes.New("MapRequest"), ClientID: "38890", Audience: []string{"38890"}},
			"pdo":       {Active: true, Scopes: scopes.New("gipod_pdo_read"), ClientID: "38890", Audience: []string{"38890"}},
			"other-aud": {Active: true, Scopes: scopes.New("MapRequest"), ClientID: "99999", Audience: []string{"99999"}},
		}),
		Audiences: []string{"38890"}, Optional: true, AllowPreflight: true, Logger: quiet,
		Skipper: func(r *http.Request) bool { return r.URL.Path == "/healthz" },
		Hooks:   rec.hooks(),
	})
	require.NoError(t, err)
	need := middleware.AllOf("MapRequest")
	mux := http.NewServeMux()
	mux.Handle("/token", a.Authenticate(okHandler))
	mux.Handle("/healthz", a.Authenticate(okHandler))
	mux.Handle("/maps", a.Require(need)(okHandler))
	group := http.NewServeMux()
	group.Handle("/group/maps", a.Require(need)(okHandler))
	group.Handle("/group/token", okHandler)
	mux.Handle("/group/", a.Authenticate(group))
	// A handler that asks for the decision itself, on the token its
	// group's Authenticate verified.
	mux.Handle("/inside", a.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := a.Authorize(r, middleware.AllOf("gipod_pdo_write")); err != nil {
			w.WriteHeader(http.StatusForbidden)
		}
	})))
	preflight := map[string]string{"Access-Control-Request-Method": "GET", "Origin": "https://app.example"}

	rows := []struct {
		name, method, path, auth string
		header                   map[string]string
		status                   int
		want                     []introspect.Decision
	}{
		{"no token", "GET", "/maps", "", nil, 401, []introspect.Decision{noToken}},
		{"malformed", "GET", "/maps", "Bearer a b", nil, 400, []introspect.Decision{malformed}},
		{"invalid token", "GET", "/maps", "Bearer nope", nil, 401, []introspect.Decision{invalidToken}},
		{"wrong audience", "GET", "/maps", "Bearer other-aud", nil, 401, []introspect.Decision{invalidToken}},
		{"scope missing", "GET", "/maps", "Bearer pdo", nil, 403, []introspect.Decision{insufficient}},
		{"unavailable", "GET", "/maps", "Bearer down", nil, 503, []introspect.Decision{unavailable}},
		{"verifier breaks its contract", "GET", "/maps", "Bearer broken", nil, 503, []introspect.Decision{unavailable}},
		{"allowed", "GET", "/maps", "Bearer map", nil, 200, []introspect.Decision{allowed}},
		{"anonymous with Optional", "GET", "/token", "", nil, 200, []introspect.Decision{allowed}},
		{"preflight is no decision", "OPTIONS", "/maps", "", preflight, 204, nil},
		{"skipped is no decision", "GET", "/healthz", "", nil, 200, nil},
		{"group and route allow once", "GET", "/group/maps", "Bearer map", nil, 200, []introspect.Decision{allowed}},
		{"group allows, route refuses", "GET", "/group/maps", "Bearer pdo", nil, 403, []introspect.Decision{allowed, insufficient}},
		{"group allows anonymously, route refuses", "GET", "/group/maps", "", nil, 401, []introspect.Decision{allowed, noToken}},
		{"group without route check", "GET", "/group/token", "Bearer pdo", nil, 200, []introspect.Decision{allowed}},
		{"group refuses", "GET", "/group/maps", "Bearer nope", nil, 401, []introspect.Decision{invalidToken}},
		{"Authorize in a handler refuses", "GET", "/inside", "Bearer map", nil, 403, []introspect.Decision{allowed, insufficient}},
	}
	var all, want []decisionEvent
	seen := map[introspect.Outcome]bool{}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r := httptest.NewRequest(row.method, row.path, nil)
			r = r.WithContext(context.WithValue(r.Context(), rowKey{}, row.name))
			if row.auth != "" {
				r.Header.Set("Authorization", row.auth)
			}
			for k, v := range row.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			assert.Equal(t, row.status, w.Code)

			var rowWant []decisionEvent
			for _, d := range row.want {
				rowWant = append(rowWant, decisionEvent{row.name, d})
				seen[d.Outcome] = true
			}
			got := rec.take()
			assert.Equal(t, rowWant, got, "the decisions of the request, with its context")
			all, want = append(all, got...), append(want, rowWant...)
		})
	}
	assert.Equal(t, want, all, "the sequence of decisions")
	for _, o := range []introspect.Outcome{introspect.OutcomeAllowed, introspect.OutcomeNoToken, introspect.OutcomeMalformed,
		introspect.OutcomeInvalidToken, introspect.OutcomeInsufficientScope, introspect.OutcomeUnavailable} {
		assert.True(t, seen[o], "no row drives %s", o)
	}

	// Authorize on its own decides too.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer map")
	_, err = a.Authorize(r, need)
	require.NoError(t, err)
	assert.Equal(t, []decisionEvent{{"", allowed}}, rec.take())
	// ErrorFor is a handler's refusal, not the middleware's decision.
	_ = a.ErrorFor(introspect.ErrInvalidToken)
	assert.Empty(t, rec.take())
}

// TestDecisionHookIsOptional: Hooks without Decision, or joined with
// others, work, and a hook costs the hot path no allocation.
func TestDecisionHookIsOptional(t *testing.T) {
	info := &introspect.TokenInfo{Active: true, Scopes: scopes.New("MapRequest")}
	var count atomic.Int64
	counting := &introspect.Hooks{Decision: func(context.Context, introspect.Decision) { count.Add(1) }}
	allocs := map[string]float64{}
	for name, hooks := range map[string]*introspect.Hooks{
		"nil":         nil,
		"no Decision": {},
		"joined":      introspect.JoinHooks(&introspect.Hooks{}, counting, nil),
	} {
		a, err := middleware.New(middleware.Config{Verifier: verifierOf(map[string]*introspect.TokenInfo{"t": info}), Hooks: hooks})
		require.NoError(t, err, name)
		h := a.Require(middleware.AllOf("MapRequest"))(okHandler)
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer t")
		w := &testutil.DiscardWriter{}
		h.ServeHTTP(w, r)
		assert.Equal(t, http.StatusOK, w.Code, name)
		allocs[name] = testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) })
	}
	// One request, AllocsPerRun's warm-up, and its 100 runs.
	assert.EqualValues(t, 102, count.Load(), "the joined hook saw every decision")
	assert.Equal(t, allocs["nil"], allocs["no Decision"])
	assert.Equal(t, allocs["nil"], allocs["joined"], "reporting a decision allocates nothing")
}
