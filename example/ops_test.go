package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
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
		r = ex.do(t, "GET", "/readyz", nil, "")
		assert.Equal(t, 503, r.status)
		assert.Contains(t, r.body, "not ready: ")
		assert.Contains(t, r.body, "502")
		assert.NotContains(t, r.body, f.mapTok)
		assert.Equal(t, 200, ex.do(t, "GET", "/healthz", nil, "").status, "/healthz is liveness only")

		f.as.SetFault(introspecttest.Fault{})
		assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)
		assert.Equal(t, 200, ex.do(t, "GET", "/readyz", nil, "").status)
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
	assert.Contains(t, r.body, f.as.Issuer())
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
	for _, bad := range [][]string{{"-log-level", "verbose"}, {"-log-level", "info+2"}, {"-log-format", "xml"}} {
		out, err := exec.Command(binary, append([]string{"-addr", "127.0.0.1:0"}, bad...)...).CombinedOutput()
		require.Error(t, err, "%v", bad)
		assert.Contains(t, string(out), bad[0], "%v", bad)
	}
}
