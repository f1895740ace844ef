package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/redistest"
	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect/introspecttest"
)

func noEnv(string) string { return "" }

// replica is one example built in process with args, so that a test can
// read its cache's counts, until the test ends.
type replica struct {
	*example
	s   *server
	cfg *config // as newServer left it, pointed at its demo server if any
}

func newReplica(t *testing.T, args ...string) *replica {
	t.Helper()
	cfg, err := parseConfig(args, noEnv, io.Discard)
	require.NoError(t, err)
	logs := &testutil.SyncBuffer{}
	s, err := newServer(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	require.NoError(t, err)
	t.Cleanup(s.Close)
	ts := httptest.NewServer(s.handler)
	t.Cleanup(ts.Close)
	return &replica{example: &example{base: ts.URL, logs: logs}, s: s, cfg: cfg}
}

// subscribed waits until the replica hears invalidations.
func (r *replica) subscribed(t *testing.T) *replica {
	t.Helper()
	testutil.WaitFor(t, "the replica's subscription", func() bool { return r.s.cache.Stats().SharedFlushes >= 1 })
	return r
}

func redisURL(s *redistest.Server) string { return "redis://" + s.Addr + "/0" }

func TestRedisSharedAcrossReplicas(t *testing.T) {
	rs := redistest.Start(t)
	eachSetup(t, func(t *testing.T, f *fixture, fw string) {
		a := newReplica(t, f.args(fw, "-redis-url", redisURL(rs))...).subscribed(t)
		b := newReplica(t, f.args(fw, "-redis-url", redisURL(rs))...).subscribed(t)
		token := f.as.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "38890"})

		assert.Equal(t, 200, a.do(t, "GET", "/v1/maps", bearer(token), "").status)
		require.Equal(t, 1, f.as.Calls(token))
		assert.Equal(t, 200, b.do(t, "GET", "/v1/maps", bearer(token), "").status)
		assert.Equal(t, 1, f.as.Calls(token), "B asked the authorization server")
		assert.Zero(t, b.s.cache.Stats().UpstreamCalls)
		assert.EqualValues(t, 1, b.s.cache.Stats().SharedHits)

		// Logging out needs a valid token, like any route.
		r := a.do(t, "POST", "/v1/logout", nil, "")
		assert.Equal(t, 401, r.status)
		assert.Regexp(t, `^Bearer realm="example", resource_metadata="http://[^"]+/\.well-known/oauth-protected-resource"$`, r.challenge)
		r = a.do(t, "POST", "/v1/logout", bearer("unknown-token"), "")
		assert.Equal(t, 401, r.status)
		assert.Contains(t, r.challenge, `error="invalid_token"`)

		// The authorization server revokes it; B still remembers it until
		// it is logged out on A.
		f.as.RevokeToken(token)
		assert.Equal(t, 200, b.do(t, "GET", "/v1/maps", bearer(token), "").status)
		r = a.do(t, "POST", "/v1/logout", bearer(token), "")
		assert.Equal(t, 204, r.status)
		assert.Empty(t, r.body)
		testutil.WaitFor(t, "B to hear the logout", func() bool { return b.s.cache.Stats().InvalidationsReceived >= 1 })
		r = b.do(t, "GET", "/v1/maps", bearer(token), "")
		assert.Equal(t, 401, r.status)
		assert.Contains(t, r.challenge, `error="invalid_token"`)
		assert.Equal(t, 401, a.do(t, "GET", "/v1/maps", bearer(token), "").status)
		assert.Equal(t, 2, f.as.Calls(token), "A had B's answer from Redis")
	})
}

func TestLogoutWithoutRedisForgetsTheTokenHere(t *testing.T) {
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			f := newFixture(t, geosecureBackend)
			ex := newReplica(t, f.args(fw)...)
			assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)
			f.as.RevokeToken(f.mapTok)
			assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status, "a cache hit")
			assert.Equal(t, 204, ex.do(t, "POST", "/v1/logout", bearer(f.mapTok), "").status)
			assert.Equal(t, 401, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)
			assert.Equal(t, 405, ex.do(t, "GET", "/v1/logout", bearer(f.readTok), "").status)
		})
	}
}

func TestRedisDownAtStart(t *testing.T) {
	rs := redistest.Start(t)
	rs.Stop() // its address, with nothing listening
	f := newFixture(t, geosecureBackend)
	a := newReplica(t, f.args("echo", "-redis-url", redisURL(rs))...)
	b := newReplica(t, f.args("http", "-redis-url", redisURL(rs))...)

	token := f.as.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "38890"})
	assert.Equal(t, 200, a.do(t, "GET", "/v1/maps", bearer(token), "").status)
	assert.Equal(t, 200, b.do(t, "GET", "/v1/maps", bearer(token), "").status)
	assert.Equal(t, 2, f.as.Calls(token), "nothing shared without Redis")
	testutil.WaitFor(t, "the warning", func() bool { return strings.Contains(a.logs.String(), "Redis cannot be reached") })

	rs.Restart()
	testutil.WaitFor(t, "sharing to begin", func() bool {
		time.Sleep(20 * time.Millisecond)
		token := f.as.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "38890"})
		return a.do(t, "GET", "/v1/maps", bearer(token), "").status == 200 &&
			b.do(t, "GET", "/v1/maps", bearer(token), "").status == 200 &&
			f.as.Calls(token) == 1
	})
	testutil.WaitFor(t, "the log to say so", func() bool { return strings.Contains(b.logs.String(), "Redis answers") })

	t.Run("the program", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		dead := l.Addr().String()
		require.NoError(t, l.Close())
		ex := start(t, f.args("http", "-redis-url", "redis://"+dead+"/0")...)
		assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)
		testutil.WaitFor(t, "the warning", func() bool { return strings.Contains(ex.logs.String(), "Redis cannot be reached") })
	})
}

func TestRedisURL(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"http://127.0.0.1:6379/0", `not a URL with scheme "http"`},
		{"127.0.0.1:6379", "not a URL"},
		{"unix:///run/redis.sock", `scheme "unix"`},
		{"redis:///0", "no host"},
		{"redis://127.0.0.1:abc/0", "invalid port"},
		{"redis://127.0.0.1:70000/0", `port "70000" is not a number from 1 to 65535`},
		{"redis://127.0.0.1:6379/x", `invalid database number: "x"`},
		{"redis://127.0.0.1:6379/0/1", "invalid URL path"},
		{"redis://127.0.0.1:6379/0?bogus=1", "unexpected option: bogus"},
		{"redis://u:hunter2@127.0.0.1:abc/0", "invalid port"},
		{"redis://u:hunter2@127.0.0.1:6379/x", "invalid database number"},
	} {
		t.Run(tt.url, func(t *testing.T) {
			_, err := parseConfig([]string{"-redis-url", tt.url}, noEnv, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "-redis-url: ")
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}

	_, err := parseConfig([]string{"-redis-url", "redis://127.0.0.1:6379/0", "-cache-ttl", "0"}, noEnv, io.Discard)
	assert.ErrorContains(t, err, "-redis-url needs the cache")

	env := map[string]string{"TOKENGATE_REDIS_URL": "redis://u:p@127.0.0.1:6390/2"}
	cfg, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	require.NotNil(t, cfg.redis)
	assert.Equal(t, "127.0.0.1:6390", cfg.redis.Addr)
	assert.Equal(t, 2, cfg.redis.DB)
	assert.Equal(t, "p", cfg.redis.Password)
	assert.True(t, cfg.redis.ContextTimeoutEnabled)
	assert.Equal(t, "redis://u:xxxxx@127.0.0.1:6390/2", cfg.redactedRedisURL())

	cfg, err = parseConfig(nil, noEnv, io.Discard)
	require.NoError(t, err)
	assert.Nil(t, cfg.redis, "no -redis-url, no shared tier")

	out := refuses(t, "-redis-url", "redis://u:hunter2@127.0.0.1:6379/x")
	assert.Contains(t, out, "example: -redis-url: ")
	assert.NotContains(t, out, "hunter2")
}

func TestSharedNamespace(t *testing.T) {
	ns := func(args ...string) string {
		t.Helper()
		cfg, err := parseConfig(args, noEnv, io.Discard)
		require.NoError(t, err)
		return cfg.sharedNamespace()
	}
	const verify = "https://oauth.vlaanderen.be/authorization/ws/oauth/v2/authorization/verify"
	const op = "https://authenticatie.vlaanderen.be/op"
	assert.Equal(t, verify, ns("-verify-url", verify))
	assert.Equal(t, op, ns("-issuer", op, "-client-id", "c", "-client-secret", "s"))
	assert.Equal(t, "https://x/introspect", ns("-introspection-url", "https://x/introspect", "-client-id", "c", "-client-secret", "s"))
	assert.Equal(t, "https://adfs.example.se/adfs", ns("-token-format", "jwt", "-issuer", "https://adfs.example.se/adfs", "-audience", "a,b"))
	assert.Equal(t, "https://adfs.example.se/adfs/services/trust",
		ns("-jwks-url", "https://adfs.example.se/adfs/discovery/keys", "-issuer", "https://adfs.example.se/adfs/services/trust", "-audience", "a"))
	assert.Equal(t, verify, ns("-token-format", "auto", "-verify-url", verify, "-issuer", "https://adfs.example.se/adfs", "-audience", "a"))
	// Clients and audiences are the Verifiers' AnswerScope, not the
	// namespace, which every key in Redis shows.
	assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, ns("-verify-url", "https://x/"+strings.Repeat("a", 300)+"/verify"))
	assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, ns("-issuer", "https://x/a path", "-token-format", "jwt", "-audience", "a"))
}

// TestDemoSecondReplica runs the second replica the demo prints, against
// the first one's demo server: it is served from Redis.
func TestDemoSecondReplica(t *testing.T) {
	rs := redistest.Start(t)
	for _, kind := range []string{demoGeosecure, demoHalland} {
		t.Run(kind, func(t *testing.T) {
			a := newReplica(t, "-demo", kind, "-redis-url", redisURL(rs)).subscribed(t)
			var out bytes.Buffer
			a.s.demo.printCurls(&out, a.base, a.cfg)
			m := regexp.MustCompile(`go run ./example -addr 127.0.0.1:0 -redis-url '(\S+)' (.*)`).FindStringSubmatch(out.String())
			require.NotNil(t, m, out.String())
			assert.Equal(t, redisURL(rs), m[1])
			args := append([]string{"-redis-url", m[1]}, strings.Fields(m[2])...)
			b := newReplica(t, args...).subscribed(t)

			tok := a.s.demo.tokens[0]
			assert.Equal(t, 200, a.do(t, tok.method, tok.path, bearer(tok.token), "").status)
			assert.Equal(t, 200, b.do(t, tok.method, tok.path, bearer(tok.token), "").status)
			assert.Zero(t, b.s.cache.Stats().UpstreamCalls, "B verified the token itself")
			assert.EqualValues(t, 1, b.s.cache.Stats().SharedHits)
		})
	}
}
