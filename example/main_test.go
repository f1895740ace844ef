package main

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/rfc7662"
)

// binary is the example, built once by TestMain: the tests drive the real
// program through its flags, as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tokengate-example")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "example")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the example:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// example is one running sample server.
type example struct {
	base   string
	stdout *testutil.SyncBuffer
	logs   *testutil.SyncBuffer
}

// start runs the example with args (and -addr 127.0.0.1:0) until the test
// ends.
func start(t *testing.T, args ...string) *example {
	t.Helper()
	return startEnv(t, nil, args...)
}

// startEnv is start with the environment variables env.
func startEnv(t *testing.T, env []string, args ...string) *example {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	ex := &example{stdout: &testutil.SyncBuffer{}, logs: &testutil.SyncBuffer{}}
	cmd.Stderr = ex.logs
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		ex.stdout.Write([]byte(lines.Text() + "\n"))
		if m := listening.FindStringSubmatch(lines.Text()); m != nil {
			ex.base = m[1]
			break
		}
	}
	require.NotEmpty(t, ex.base, "the example did not start: %s", ex.logs.String())
	go func() {
		for lines.Scan() {
			ex.stdout.Write([]byte(lines.Text() + "\n"))
		}
	}()
	return ex
}

type reply struct {
	status    int
	challenge string
	retry     string
	cache     string
	body      string
}

func (ex *example) do(t *testing.T, method, path string, headers map[string][]string, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, ex.base+path, strings.NewReader(body))
	require.NoError(t, err)
	for k, vs := range headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{resp.StatusCode, resp.Header.Get("WWW-Authenticate"), resp.Header.Get("Retry-After"), resp.Header.Get("Cache-Control"), string(b)}
}

func bearer(token string) map[string][]string {
	return map[string][]string{"Authorization": {"Bearer " + token}}
}

const secret = "s3cr&t=+/x"

// The backends the example is run against: Geosecure's verify endpoint,
// and RFC 7662 introspection with private_key_jwt found by discovery.
const (
	geosecureBackend = "geosecure"
	acmBackend       = "acm"
)

var (
	frameworks = []string{"echo", "http"}
	backends   = []string{geosecureBackend, acmBackend}
)

// fixture is a fake authorization server with the tokens the tests use,
// and the flags that point the example at it.
type fixture struct {
	as                                  *introspecttest.Server
	backend                             string
	jwk                                 string // path of the client's private JWK, for acm
	mapTok, readTok, rwTok, otherAudTok string
}

// clientKey is the example's private key for private_key_jwt.
var clientKey = sync.OnceValue(func() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return key
})

func newFixture(t *testing.T, backend string) *fixture {
	t.Helper()
	as := introspecttest.NewUnstartedServer()
	as.ClientID, as.ClientSecret = "38890", secret
	as.Start()
	t.Cleanup(as.Close)
	as.AddClient(introspecttest.Client{ID: "38890", Secret: secret, Key: clientKey().Public()})

	jwk, err := json.Marshal(jose.JSONWebKey{Key: clientKey(), KeyID: "example-2026", Algorithm: "RS256"})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "client.jwk")
	require.NoError(t, os.WriteFile(path, jwk, 0o600))

	issue := func(aud string, s ...string) string {
		return as.IssueToken(introspecttest.Token{
			Scopes: s, ClientID: aud, Subject: "user-" + aud,
			Claims:  map[string]any{"vo_id": "vo-" + aud, "vo_orgcode": "OVO002949"},
			Profile: &geosecure.Profile{Name: "johnd", GivenName: "John", Surname: "Doe", ContactID: "12345"},
		})
	}
	return &fixture{
		as:          as,
		backend:     backend,
		jwk:         path,
		mapTok:      issue("38890", "MapRequest"),
		readTok:     issue("38890", "gipod_pdo_read"),
		rwTok:       issue("38890", "gipod_pdo_read", "gipod_pdo_write"),
		otherAudTok: issue("99999", "MapRequest"),
	}
}

func (f *fixture) args(framework string, extra ...string) []string {
	args := []string{"-framework", framework, "-client-id", "38890"}
	switch f.backend {
	case geosecureBackend:
		args = append(args, "-verify-url", f.as.VerifyURL(), "-client-secret", secret)
	case acmBackend:
		args = append(args, "-issuer", f.as.Issuer(), "-client-jwk", f.jwk)
	}
	return append(args, extra...)
}

// eachSetup runs test for every backend on every framework.
func eachSetup(t *testing.T, test func(t *testing.T, f *fixture, framework string)) {
	for _, backend := range backends {
		for _, fw := range frameworks {
			t.Run(backend+"/"+fw, func(t *testing.T) {
				test(t, newFixture(t, backend), fw)
			})
		}
	}
}

func TestContract(t *testing.T) {
	eachSetup(t, func(t *testing.T, f *fixture, fw string) {
		ex := start(t, f.args(fw)...)

		r := ex.do(t, "GET", "/healthz", nil, "")
		assert.Equal(t, 200, r.status)
		assert.Equal(t, "ok", r.body)

		r = ex.do(t, "GET", "/v1/token", nil, "")
		assert.Equal(t, 401, r.status)
		assert.Equal(t, `Bearer realm="example", resource_metadata="`+ex.metadataURL()+`"`, r.challenge)

		r = ex.do(t, "GET", "/v1/token", map[string][]string{"Authorization": {"Basic eDp5"}}, "")
		assert.Equal(t, 401, r.status)
		assert.Equal(t, `Bearer realm="example", resource_metadata="`+ex.metadataURL()+`"`, r.challenge)

		r = ex.do(t, "GET", "/v1/token", bearer(f.mapTok), "")
		require.Equal(t, 200, r.status, r.body)
		var view map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.body), &view))
		assert.Equal(t, []any{"MapRequest"}, view["scopes"])
		assert.NotEmpty(t, view["expires_at"])
		assert.Equal(t, "38890", view["client_id"])
		if f.backend == acmBackend {
			assert.Equal(t, "user-38890", view["subject"])
			assert.Equal(t, f.as.Issuer(), view["issuer"])
			assert.Equal(t, map[string]any{"vo_id": "vo-38890", "vo_orgcode": "OVO002949"}, view["claims"])
			assert.Equal(t, []any{}, view["audience"], "the token names no aud")
		} else {
			assert.Equal(t, []any{"38890"}, view["audience"])
		}

		r = ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "")
		assert.Equal(t, 200, r.status)
		// HEAD as GET, on both stacks.
		r = ex.do(t, "HEAD", "/v1/maps", bearer(f.mapTok), "")
		assert.Equal(t, 200, r.status)
		assert.Empty(t, r.body)
		r = ex.do(t, "HEAD", "/v1/maps", nil, "")
		assert.Equal(t, 401, r.status)
		assert.Equal(t, `Bearer realm="example", resource_metadata="`+ex.metadataURL()+`"`, r.challenge)
		r = ex.do(t, "GET", "/v1/maps", bearer(f.readTok), "")
		assert.Equal(t, 403, r.status)
		assert.Contains(t, r.challenge, `error="insufficient_scope"`)
		assert.Contains(t, r.challenge, `scope="MapRequest"`)

		r = ex.do(t, "GET", "/v1/occupations", bearer(f.readTok), "")
		assert.Equal(t, 200, r.status)
		assert.True(t, strings.HasPrefix(r.body, "["), r.body)
		r = ex.do(t, "GET", "/v1/occupations", bearer(f.mapTok), "")
		assert.Equal(t, 403, r.status)
		assert.Contains(t, r.challenge, `scope="gipod_pdo_read gipod_pdo_write"`)

		r = ex.do(t, "POST", "/v1/occupations", bearer(f.readTok), `{"description":"x"}`)
		assert.Equal(t, 403, r.status)
		jsonBody := bearer(f.rwTok)
		jsonBody["Content-Type"] = []string{"application/json"}
		r = ex.do(t, "POST", "/v1/occupations", jsonBody, `{"description":"Werf Kerkstraat"}`)
		assert.Equal(t, 201, r.status)
		assert.Contains(t, r.body, `"description":"Werf Kerkstraat"`)
		formBody := bearer(f.rwTok)
		formBody["Content-Type"] = []string{"application/x-www-form-urlencoded"}
		r = ex.do(t, "POST", "/v1/occupations", formBody, "description=Werf+Markt")
		assert.Equal(t, 201, r.status)
		assert.Contains(t, r.body, `"description":"Werf Markt"`)

		r = ex.do(t, "GET", "/v1/profile", bearer(f.mapTok), "")
		if f.backend == geosecureBackend {
			assert.Equal(t, 200, r.status)
			assert.JSONEq(t, `{"name":"johnd","givenName":"John","surname":"Doe","contactId":"12345"}`, r.body)
		} else {
			assert.Equal(t, 501, r.status, "the profile endpoint is Geosecure's")
		}

		// Malformed requests never reach the authorization server.
		before := f.as.TotalCalls()
		for name, h := range map[string]map[string][]string{
			"empty token":  {"Authorization": {"Bearer "}},
			"bad syntax":   {"Authorization": {"Bearer a,b"}},
			"two headers":  {"Authorization": {"Bearer " + f.mapTok, "Bearer " + f.mapTok}},
			"too long":     {"Authorization": {"Bearer " + strings.Repeat("a", 4097)}},
			"quoted token": {"Authorization": {`Bearer "abc"`}},
		} {
			r = ex.do(t, "GET", "/v1/maps", h, "")
			assert.Equal(t, 400, r.status, name)
			assert.Contains(t, r.challenge, `error="invalid_request"`, name)
		}
		assert.Equal(t, before, f.as.TotalCalls())

		// An invalid token is refused, and the answer is reused.
		for range 3 {
			r = ex.do(t, "GET", "/v1/maps", bearer("unknown-token"), "")
			assert.Equal(t, 401, r.status)
			assert.Contains(t, r.challenge, `error="invalid_token"`)
		}
		assert.Equal(t, 1, f.as.Calls("unknown-token"))

		// Every route re-checks the cached facts: one verify call per
		// token (with Geosecure, mapTok also went to the profile
		// endpoint once).
		assert.Equal(t, 1, f.as.Calls(f.readTok))
		assert.Equal(t, 1, f.as.Calls(f.rwTok))
		if f.backend == geosecureBackend {
			assert.Equal(t, 2, f.as.Calls(f.mapTok))
		} else {
			assert.Equal(t, 1, f.as.Calls(f.mapTok))
			assert.Equal(t, 1, f.as.DiscoveryCalls())
		}

		// Nothing secret in any response or log line.
		logs := ex.logs.String()
		keyD := base64.RawURLEncoding.EncodeToString(clientKey().D.Bytes())[:24]
		for _, s := range []string{secret, f.mapTok, f.readTok, f.rwTok, keyD} {
			assert.NotContains(t, logs, s)
		}
	})
}

func TestUpstreamFailures(t *testing.T) {
	eachSetup(t, func(t *testing.T, f *fixture, fw string) {
		ex := start(t, f.args(fw, "-upstream-timeout", "1s")...)

		for _, fault := range []introspecttest.Fault{
			{Status: 500, Body: "<html>", ContentType: "text/html"},
			{Status: 503, Body: "{}", RetryAfter: "17"},
			{Status: 200, Body: `{"audience":`},
			{BodySize: 8 << 20},
			{Drop: true},
			{Delay: time.Hour},
		} {
			f.as.SetFault(fault)
			r := ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "")
			assert.Equal(t, 503, r.status, "%+v", fault)
			assert.Empty(t, r.challenge)
			assert.NotContains(t, r.body, "invalid_token")
			want := "5"
			if fault.RetryAfter != "" {
				want = fault.RetryAfter
			}
			assert.Equal(t, want, r.retry)
		}
		f.as.SetFault(introspecttest.Fault{})
		r := ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "")
		assert.Equal(t, 200, r.status, "failures are not cached")
	})
}

func TestConcurrentRequestsShareOneCall(t *testing.T) {
	eachSetup(t, func(t *testing.T, f *fixture, fw string) {
		ex := start(t, f.args(fw)...)
		token := f.as.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "38890"})

		f.as.Hold()
		var wg sync.WaitGroup
		statuses := make([]int, 50)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = ex.do(t, "GET", "/v1/maps", bearer(token), "").status
			}()
		}
		deadline := time.Now().Add(30 * time.Second)
		for f.as.Held() == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		f.as.Release()
		wg.Wait()
		for _, s := range statuses {
			assert.Equal(t, 200, s)
		}
		assert.Equal(t, 1, f.as.Calls(token))
	})
}

func TestFlags(t *testing.T) {
	f := newFixture(t, geosecureBackend)
	t.Run("audience", func(t *testing.T) {
		ex := start(t, f.args("http", "-audience", "38890,11111")...)
		assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)
		r := ex.do(t, "GET", "/v1/maps", bearer(f.otherAudTok), "")
		assert.Equal(t, 401, r.status)
		assert.Contains(t, r.challenge, `error="invalid_token"`)
	})
	t.Run("token sources", func(t *testing.T) {
		ex := start(t, f.args("echo", "-token-from", "header,form,query", "-realm", "gipod")...)
		r := ex.do(t, "GET", "/v1/maps?access_token="+f.mapTok, nil, "")
		assert.Equal(t, 200, r.status)
		assert.Equal(t, "private", r.cache)
		form := map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}}
		r = ex.do(t, "POST", "/v1/occupations", form, "access_token="+f.rwTok+"&description=Werf")
		assert.Equal(t, 201, r.status)
		assert.NotContains(t, r.body, f.rwTok)
		r = ex.do(t, "GET", "/v1/maps?access_token="+f.mapTok, bearer(f.mapTok), "")
		assert.Equal(t, 400, r.status)
		r = ex.do(t, "GET", "/v1/maps?access_token=a&access_token=a", nil, "")
		assert.Equal(t, 400, r.status)
		assert.Equal(t, `Bearer realm="gipod", resource_metadata="`+ex.metadataURL()+`"`, ex.do(t, "GET", "/v1/maps", nil, "").challenge)
		assert.NotContains(t, ex.logs.String(), f.mapTok, "a query token must not be logged")
	})
	t.Run("query off by default", func(t *testing.T) {
		ex := start(t, f.args("http")...)
		r := ex.do(t, "GET", "/v1/maps?access_token="+f.mapTok, nil, "")
		assert.Equal(t, 401, r.status)
		assert.Equal(t, `Bearer realm="example", resource_metadata="`+ex.metadataURL()+`"`, r.challenge)
	})
	t.Run("no cache", func(t *testing.T) {
		token := f.as.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "38890"})
		ex := start(t, f.args("http", "-cache-ttl", "0")...)
		for range 3 {
			assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(token), "").status)
		}
		assert.Equal(t, 3, f.as.Calls(token))
	})
	t.Run("environment", func(t *testing.T) {
		cmd := exec.Command(binary, "-addr", "127.0.0.1:0", "-upstream-timeout", "nope")
		out, err := cmd.CombinedOutput()
		require.Error(t, err)
		assert.Contains(t, string(out), "-upstream-timeout")

		cmd = exec.Command(binary, "-addr", "127.0.0.1:0")
		cmd.Env = []string{"TOKENGATE_UPSTREAM_CONCURRENCY=many"}
		out, err = cmd.CombinedOutput()
		require.Error(t, err)
		assert.Contains(t, string(out), "TOKENGATE_UPSTREAM_CONCURRENCY")
	})
	t.Run("help names the value types", func(t *testing.T) {
		out, err := exec.Command(binary, "-h").CombinedOutput()
		require.NoError(t, err, "%s", out)
		for _, want := range []string{"-cache-ttl duration", "-upstream-timeout duration", "-upstream-concurrency int"} {
			assert.Contains(t, string(out), want)
		}
		assert.NotRegexp(t, `-(cache-ttl|upstream-timeout|upstream-concurrency) string`, string(out))
	})
}

func TestDemoModePrintsWorkingCurls(t *testing.T) {
	for _, setup := range [][]string{{"-framework", "echo"}, {"-framework", "http"}, {"-demo", "acm", "-framework", "echo"}, {"-demo", "acm", "-framework", "http"},
		{"-demo", "halland", "-framework", "echo"}, {"-demo", "halland", "-framework", "http"},
		// Without the cache, the second round's unpublished kid reaches the
		// key set within the cooldown rather than a cached answer.
		{"-demo", "halland", "-framework", "http", "-cache-ttl", "0"}} {
		t.Run(strings.Join(setup, " "), func(t *testing.T) {
			ex := start(t, setup...)
			var out string
			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(out, "-----") && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
				out = ex.stdout.String()
			}
			curl := regexp.MustCompile(`curl -i (?:-X (\w+) )?(?:-H 'Authorization: Bearer (\S+)' )?(?:-H '[^']*' -d '([^']*)' )?(\S+)\s+# (\d+)`)
			matches := curl.FindAllStringSubmatch(out, -1)
			require.GreaterOrEqual(t, len(matches), 8, out)
			// Twice: the second round runs within the key set's refresh
			// cooldown that the first round's unpublished kid started,
			// and every answer must still be the one printed.
			for _, m := range slices.Concat(matches, matches) {
				method, token, body, url, want := m[1], m[2], m[3], m[4], m[5]
				if method == "" {
					method = "GET"
				}
				headers := map[string][]string{}
				if token != "" {
					headers = bearer(token)
				}
				if body != "" {
					headers["Content-Type"] = []string{"application/json"}
				}
				r := ex.do(t, method, strings.TrimPrefix(url, ex.base), headers, body)
				assert.Equal(t, want, fmt.Sprint(r.status), "%s %s", method, url)
			}
		})
	}
}

func TestDeriveProfileURL(t *testing.T) {
	got, err := deriveProfileURL("https://oauth.vlaanderen.be/authorization/ws/oauth/v2/authorization/verify")
	require.NoError(t, err)
	assert.Equal(t, "https://oauth.vlaanderen.be/authorization/ws/oauth/v2/authorization/profile", got)
	_, err = deriveProfileURL("https://x/introspect")
	assert.Error(t, err)
}

func TestParseConfigEnvironment(t *testing.T) {
	env := map[string]string{"TOKENGATE_VERIFY_URL": "https://a/verify", "TOKENGATE_CLIENT_ID": "env-id", "TOKENGATE_REALM": "env"}
	cfg, err := parseConfig([]string{"-realm", "flag"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "https://a/verify", cfg.verifyURL)
	assert.Equal(t, "https://a/profile", cfg.profileURL)
	assert.Equal(t, "env-id", cfg.clientID)
	assert.Equal(t, "flag", cfg.realm, "a flag wins")
	assert.False(t, cfg.demo())
}

func TestACMFlags(t *testing.T) {
	f := newFixture(t, acmBackend)
	t.Run("audience checks aud, else client_id", func(t *testing.T) {
		apiTok := f.as.IssueToken(introspecttest.Token{Scopes: []string{"MapRequest"}, ClientID: "11111", Audience: []string{"gipod-api"}})
		ex := start(t, f.args("http", "-audience", "gipod-api,38890")...)
		assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(apiTok), "").status)
		assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status, "no aud: the client id counts")
		r := ex.do(t, "GET", "/v1/maps", bearer(f.otherAudTok), "")
		assert.Equal(t, 401, r.status)
		assert.Contains(t, r.challenge, `error="invalid_token"`)
	})
	for _, method := range []string{"basic", "post", "client_secret_post"} {
		t.Run("client-auth "+method, func(t *testing.T) {
			ex := start(t, "-framework", "echo", "-issuer", f.as.Issuer(), "-client-id", "38890", "-client-secret", secret, "-client-auth", method)
			assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)
		})
	}
	t.Run("introspection-url skips discovery", func(t *testing.T) {
		g := newFixture(t, acmBackend)
		ex := start(t, "-issuer", g.as.Issuer(), "-introspection-url", g.as.IntrospectionURL(), "-client-id", "38890", "-client-jwk", g.jwk)
		assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(g.mapTok), "").status)
		assert.Zero(t, g.as.DiscoveryCalls())

		// Without -issuer, assertions name the endpoint as their audience,
		// which ACM refuses: a 503, the server's refusal of our credentials.
		ex = start(t, "-introspection-url", g.as.IntrospectionURL(), "-client-id", "38890", "-client-jwk", g.jwk)
		assert.Equal(t, 503, ex.do(t, "GET", "/v1/maps", bearer(g.mapTok), "").status)
		ex = start(t, "-introspection-url", g.as.IntrospectionURL(), "-client-id", "38890", "-client-secret", secret)
		assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(g.mapTok), "").status)
	})
	t.Run("a key the server does not know is a 503, not a 401", func(t *testing.T) {
		other, err := rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		jwk, err := json.Marshal(jose.JSONWebKey{Key: other})
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "other.jwk")
		require.NoError(t, os.WriteFile(path, jwk, 0o600))
		ex := start(t, f.args("echo", "-client-jwk", path)...)
		r := ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "")
		assert.Equal(t, 503, r.status)
		assert.NotContains(t, r.body, "invalid_token")
		assert.NotContains(t, ex.logs.String(), other.D.String()[:16])
	})
	for name, args := range map[string][]string{
		"two backends":             {"-verify-url", f.as.VerifyURL(), "-issuer", f.as.Issuer(), "-client-id", "x", "-client-secret", "y"},
		"jwt without a key":        {"-issuer", f.as.Issuer(), "-client-id", "x", "-client-auth", "private_key_jwt"},
		"unknown client-auth":      {"-issuer", f.as.Issuer(), "-client-id", "x", "-client-secret", "y", "-client-auth", "mtls"},
		"no client id":             {"-issuer", f.as.Issuer(), "-client-jwk", f.jwk},
		"basic without secret":     {"-issuer", f.as.Issuer(), "-client-id", "x"},
		"missing key file":         {"-issuer", f.as.Issuer(), "-client-id", "x", "-client-jwk", "/nonexistent/key.jwk"},
		"public key file":          {"-issuer", f.as.Issuer(), "-client-id", "x", "-client-jwk", publicJWK(t)},
		"http issuer not loopback": {"-issuer", "http://authenticatie.vlaanderen.be/op", "-client-id", "x", "-client-jwk", f.jwk},
		"unknown demo":             {"-demo", "keycloak"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(binary, append([]string{"-addr", "127.0.0.1:0"}, args...)...).CombinedOutput()
			require.Error(t, err, "%s", out)
			assert.Contains(t, string(out), "example: ")
		})
	}
}

// publicJWK writes the public half of clientKey as a JWK file and returns
// its path.
func publicJWK(t *testing.T) string {
	jwk, err := json.Marshal(jose.JSONWebKey{Key: clientKey().Public()})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "public.jwk")
	require.NoError(t, os.WriteFile(path, jwk, 0o600))
	return path
}

func TestParseConfigACM(t *testing.T) {
	env := map[string]string{"TOKENGATE_ISSUER": "https://authenticatie-ti.vlaanderen.be/op", "TOKENGATE_CLIENT_ID": "c", "TOKENGATE_CLIENT_JWK": "/k.jwk"}
	cfg, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.True(t, cfg.rfc7662())
	assert.False(t, cfg.demo())
	assert.Equal(t, rfc7662.PrivateKeyJWT, cfg.clientAuth, "a JWK implies private_key_jwt")

	env["TOKENGATE_CLIENT_AUTH"], env["TOKENGATE_CLIENT_SECRET"] = "post", "s"
	cfg, err = parseConfig([]string{"-introspection-url", "https://x/introspect"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, rfc7662.ClientSecretPost, cfg.clientAuth)
	assert.Equal(t, "https://x/introspect", cfg.introspectionURL)

	cfg, err = parseConfig([]string{"-issuer", "https://op", "-client-id", "c", "-client-secret", "s"}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, rfc7662.ClientSecretBasic, cfg.clientAuth, "basic by default")
}
