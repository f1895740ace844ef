package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect/introspecttest"
)

// TestReadiness: /readyz answers 503 while the authorization server fails
// and 200 once it answers again; /healthz stays 200 throughout.
func TestReadiness(t *testing.T) {
	eachSetup(t, func(t *testing.T, f *fixture, fw string) {
		ex := start(t, f.args(fw, "-upstream-timeout", "1s")...)
		r := ex.do(t, "GET", "/readyz", nil, "")
		assert.Equal(t, 200, r.status)
		assert.Equal(t, "ready\n", r.body)
		assert.Equal(t, "no-store", r.cache)

		f.as.SetFault(introspecttest.Fault{Status: 502, Body: "<html>bad gateway</html>", ContentType: "text/html"})
		assert.Equal(t, 503, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)
		assert.Equal(t, 200, ex.do(t, "GET", "/readyz", nil, "").status, "one failure is a blip")
		for range 2 {
			assert.Equal(t, 503, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)
		}
		r = ex.do(t, "GET", "/readyz", nil, "")
		assert.Equal(t, 503, r.status)
		assert.Equal(t, "not ready\n", r.body, "the reason names internal hosts: it is logged, not served")
		testutil.WaitFor(t, "the reason logged", func() bool { return strings.Contains(ex.logs.String(), "msg=\"not ready\"") })
		assert.Contains(t, ex.logs.String(), "502")
		assert.NotContains(t, ex.logs.String(), f.mapTok)
		assert.Equal(t, 200, ex.do(t, "GET", "/healthz", nil, "").status, "/healthz is liveness only")
		assert.Equal(t, 503, ex.do(t, "GET", "/readyz", nil, "").status, "still failing")

		f.as.SetFault(introspecttest.Fault{})
		assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)
		assert.Equal(t, 200, ex.do(t, "GET", "/readyz", nil, "").status)
		// The log is written in order: once "ready again" is in, so is
		// every line before it.
		testutil.WaitFor(t, "ready again logged", func() bool { return strings.Contains(ex.logs.String(), "msg=\"ready again\"") })
		assert.Equal(t, 1, strings.Count(ex.logs.String(), "msg=\"not ready\""), "logged once while not ready, not on every probe")
	})
}

// TestWrongIssuerAtStart: an issuer whose discovery fails is logged as an
// error naming it; the example keeps running, not ready, and becomes
// ready by itself once the issuer answers.
func TestWrongIssuerAtStart(t *testing.T) {
	f := newFixture(t, acmBackend)
	f.as.SetDiscoveryFault(introspecttest.Fault{Status: 404, Body: "not found"})
	ex := start(t, f.args("http", "-upstream-timeout", "1s")...)

	logs := ex.logs.String()
	assert.Contains(t, logs, "level=ERROR")
	assert.Contains(t, logs, "issuer="+f.as.Issuer())
	assert.Contains(t, logs, "404")
	r := ex.do(t, "GET", "/readyz", nil, "")
	assert.Equal(t, 503, r.status)
	assert.NotContains(t, r.body, f.as.Issuer())
	assert.Equal(t, 503, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)

	f.as.SetDiscoveryFault(introspecttest.Fault{})
	// Discovery is tried again once its back-off (a second after the first
	// failure) has passed; each probe asks for it when due.
	testutil.WaitFor(t, "/readyz to answer 200", func() bool { return ex.do(t, "GET", "/readyz", nil, "").status == 200 })
	assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)
}

func TestLogFlags(t *testing.T) {
	f := newFixture(t, geosecureBackend)
	t.Run("json", func(t *testing.T) {
		ex := start(t, f.args("http", "-log-format", "json")...)
		assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)
		testutil.WaitFor(t, "an access log line", func() bool { return strings.Contains(ex.logs.String(), `"path":"/v1/maps"`) })
		lines := bufio.NewScanner(strings.NewReader(ex.logs.String()))
		for lines.Scan() {
			var line map[string]any
			require.NoError(t, json.Unmarshal(lines.Bytes(), &line), "%s", lines.Text())
			assert.Contains(t, line, "level")
			assert.Contains(t, line, "msg")
		}
	})
	t.Run("level from the environment", func(t *testing.T) {
		ex := startEnv(t, []string{"TOKENGATE_LOG_LEVEL=warn"}, f.args("http")...)
		assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)
		assert.Equal(t, 503, func() int {
			f.as.SetFault(introspecttest.Fault{Status: 500})
			defer f.as.SetFault(introspecttest.Fault{})
			return ex.do(t, "GET", "/v1/maps", bearer(f.readTok), "").status
		}())
		testutil.WaitFor(t, "the refusal's warning", func() bool { return strings.Contains(ex.logs.String(), "level=WARN") })
		assert.NotContains(t, ex.logs.String(), "level=INFO", "info lines are below -log-level warn")
	})
	t.Run("refusals at info", func(t *testing.T) {
		ex := start(t, f.args("http")...)
		for range 3 {
			assert.Equal(t, 403, ex.do(t, "GET", "/v1/maps", map[string][]string{
				"Authorization": {"Bearer " + f.readTok}, "X-Request-Id": {"req-42"},
			}, "").status)
		}
		testutil.WaitFor(t, "the refusal's line", func() bool { return strings.Contains(ex.logs.String(), "request refused") })
		logs := ex.logs.String()
		assert.Equal(t, 1, strings.Count(logs, "request refused"), "the client's mistakes are summarised, not one line each")
		for _, want := range []string{"level=INFO", "status=403", "outcome=insufficient_scope", "required_scope=MapRequest",
			"client_id=38890", "request_id=req-42", "token=", "suppressed=0"} {
			assert.Contains(t, logs, want)
		}
		assert.NotContains(t, logs, f.readTok)
	})
	for _, bad := range [][]string{{"-log-level", "verbose"}, {"-log-level", "info+2"}, {"-log-format", "xml"}} {
		out, err := exec.Command(binary, append([]string{"-addr", "127.0.0.1:0"}, bad...)...).CombinedOutput()
		require.Error(t, err, "%v", bad)
		assert.Contains(t, string(out), bad[0], "%v", bad)
	}
}

// scrape returns every series GET /metrics serves, by its name and labels
// as written (labels sorted by name), with its value.
func scrape(t *testing.T, ex *example) map[string]float64 {
	t.Helper()
	r := ex.do(t, "GET", "/metrics", nil, "")
	require.Equal(t, 200, r.status)
	series := map[string]float64{}
	lines := bufio.NewScanner(strings.NewReader(r.body))
	for lines.Scan() {
		line := lines.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(t, i, "%q", line)
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, "%q", line)
		series[line[:i]] = v
	}
	return series
}

// TestMetrics drives a scripted mix of requests and checks the exact
// counts /metrics serves.
func TestMetrics(t *testing.T) {
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			f := newFixture(t, geosecureBackend)
			ex := start(t, f.args(fw, "-upstream-timeout", "1s")...)
			unknown := "unknown-token-0123456789"

			assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status) // miss, valid
			for range 2 {
				assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status) // hits
			}
			assert.Equal(t, 403, ex.do(t, "GET", "/v1/maps", bearer(f.readTok), "").status) // miss, valid
			for range 2 {
				assert.Equal(t, 401, ex.do(t, "GET", "/v1/maps", bearer(unknown), "").status) // miss, invalid; then a hit
			}
			assert.Equal(t, 401, ex.do(t, "GET", "/v1/maps", nil, "").status)
			assert.Equal(t, 400, ex.do(t, "GET", "/v1/maps", map[string][]string{"Authorization": {"Bearer a b"}}, "").status)
			f.as.SetFault(introspecttest.Fault{Status: 503})
			assert.Equal(t, 503, ex.do(t, "GET", "/v1/occupations", bearer(f.rwTok), "").status) // miss, error
			f.as.SetFault(introspecttest.Fault{})

			m := scrape(t, ex)
			want := map[string]float64{
				`tokengate_cache_lookups_total{result="hit",tier="memory"}`:                       3,
				`tokengate_cache_lookups_total{result="miss",tier="memory"}`:                      4,
				`tokengate_cache_lookups_total{result="stale",tier="memory"}`:                     0,
				`tokengate_cache_lookups_total{result="hit",tier="shared"}`:                       0,
				`tokengate_upstream_requests_total{backend="geosecure",result="valid"}`:           2,
				`tokengate_upstream_requests_total{backend="geosecure",result="invalid"}`:         1,
				`tokengate_upstream_requests_total{backend="geosecure",result="error"}`:           1,
				`tokengate_upstream_request_duration_seconds_count{backend="geosecure"}`:          4,
				`tokengate_upstream_request_duration_seconds_bucket{backend="geosecure",le="10"}`: 4,
				`tokengate_upstream_in_flight`:                                                    0,
				`tokengate_upstream_waiting`:                                                      0,
				`tokengate_cache_evictions_total`:                                                 0,
				`tokengate_invalidations_total{direction="sent"}`:                                 0,
				`tokengate_requests_total{outcome="allowed"}`:                                     3,
				`tokengate_requests_total{outcome="insufficient_scope"}`:                          1,
				`tokengate_requests_total{outcome="invalid_token"}`:                               2,
				`tokengate_requests_total{outcome="no_token"}`:                                    1,
				`tokengate_requests_total{outcome="malformed"}`:                                   1,
				`tokengate_requests_total{outcome="unavailable"}`:                                 1,
			}
			for series, v := range want {
				assert.Equal(t, v, m[series], series)
				assert.Contains(t, m, series)
			}
			for series := range m {
				for _, secret := range []string{f.mapTok, f.readTok, f.rwTok, unknown, "38890"} {
					assert.NotContains(t, series, secret, "a token or client id as a label")
				}
			}
		})
	}
}
