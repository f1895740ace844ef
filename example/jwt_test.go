package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/introspect/introspecttest"
)

// jwtFixture is a fake ADFS, as Region Halland runs, with the JWTs the
// tests use, and the flags that point the example at it.
type jwtFixture struct {
	iss                                 *introspecttest.Issuer
	mapTok, readTok, rwTok, otherAudTok string
	unpublishedTok, expiredTok          string
}

func newJWTFixture(t *testing.T) *jwtFixture {
	t.Helper()
	iss := introspecttest.NewUnstartedIssuer()
	iss.Mode = introspecttest.IssuerADFS
	iss.Start()
	t.Cleanup(iss.Close)
	claims := func(aud string, s ...string) introspecttest.JWT {
		return introspecttest.JWT{ClientID: "halland-client", Audience: []string{aud}, Scopes: s}
	}
	expired := claims(hallandAudience, "MapRequest")
	expired.IssuedAt = time.Now().Add(-2 * time.Hour)
	expired.ExpiresAt = time.Now().Add(-time.Hour)
	return &jwtFixture{
		iss:            iss,
		mapTok:         iss.IssueJWT(claims(hallandAudience, "MapRequest")),
		readTok:        iss.IssueJWT(claims(hallandAudience, "gipod_pdo_read")),
		rwTok:          iss.IssueJWT(claims(hallandAudience, "gipod_pdo_read", "gipod_pdo_write")),
		otherAudTok:    iss.IssueJWT(claims("annatapi.regionhalland.se", "MapRequest")),
		unpublishedTok: iss.IssueUnpublished(claims(hallandAudience, "MapRequest")),
		expiredTok:     iss.IssueJWT(expired),
	}
}

// args are the flags for local validation with the keys ADFS's discovery
// document names: -issuer is the document's issuer, and the accepted iss
// its access_token_issuer.
func (f *jwtFixture) args(framework string, extra ...string) []string {
	args := []string{"-framework", framework, "-token-format", "jwt", "-issuer", f.iss.Issuer(), "-audience", hallandAudience}
	return append(args, extra...)
}

func TestJWTContract(t *testing.T) {
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			f := newJWTFixture(t)
			ex := start(t, f.args(fw)...)

			r := ex.do(t, "GET", "/v1/token", nil, "")
			assert.Equal(t, 401, r.status)
			assert.Equal(t, `Bearer realm="example", resource_metadata="`+ex.metadataURL()+`"`, r.challenge)

			r = ex.do(t, "GET", "/v1/token", bearer(f.mapTok), "")
			require.Equal(t, 200, r.status, r.body)
			var view map[string]any
			require.NoError(t, json.Unmarshal([]byte(r.body), &view))
			assert.Equal(t, []any{"MapRequest"}, view["scopes"])
			assert.Equal(t, "halland-client", view["client_id"], "ADFS's appid")
			assert.Equal(t, []any{hallandAudience}, view["audience"])
			assert.Equal(t, f.iss.TokenIssuer(), view["issuer"], "the access_token_issuer")
			assert.NotEmpty(t, view["expires_at"])

			assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)
			r = ex.do(t, "GET", "/v1/maps", bearer(f.readTok), "")
			assert.Equal(t, 403, r.status)
			assert.Contains(t, r.challenge, `error="insufficient_scope"`)
			assert.Contains(t, r.challenge, `scope="MapRequest"`)
			assert.Equal(t, 200, ex.do(t, "GET", "/v1/occupations", bearer(f.readTok), "").status)
			r = ex.do(t, "GET", "/v1/occupations", bearer(f.mapTok), "")
			assert.Equal(t, 403, r.status)
			assert.Contains(t, r.challenge, `scope="gipod_pdo_read gipod_pdo_write"`)
			jsonBody := bearer(f.rwTok)
			jsonBody["Content-Type"] = []string{"application/json"}
			r = ex.do(t, "POST", "/v1/occupations", jsonBody, `{"description":"Werf Kerkstraat"}`)
			assert.Equal(t, 201, r.status)
			assert.Contains(t, r.body, `"created_by":"halland-client"`)
			assert.Equal(t, 501, ex.do(t, "GET", "/v1/profile", bearer(f.mapTok), "").status, "the profile endpoint is Geosecure's")

			fetches := f.iss.JWKSFetches()
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
			assert.Equal(t, fetches, f.iss.JWKSFetches(), "a malformed request fetches no keys")

			for name, token := range map[string]string{
				"not a JWT":           "unknown-token",
				"unpublished key":     f.unpublishedTok,
				"another audience":    f.otherAudTok,
				"expired":             f.expiredTok,
				"signature stripped":  f.mapTok[:strings.LastIndexByte(f.mapTok, '.')+1],
				"signature of other":  f.mapTok[:strings.LastIndexByte(f.mapTok, '.')] + f.readTok[strings.LastIndexByte(f.readTok, '.'):],
				"claims of a 2nd JWT": strings.Join([]string{strings.Split(f.mapTok, ".")[0], strings.Split(f.rwTok, ".")[1], strings.Split(f.mapTok, ".")[2]}, "."),
			} {
				r = ex.do(t, "GET", "/v1/maps", bearer(token), "")
				assert.Equal(t, 401, r.status, name)
				assert.Contains(t, r.challenge, `error="invalid_token"`, name)
			}

			logs := ex.logs.String()
			for _, s := range []string{f.mapTok, f.readTok, f.rwTok, f.unpublishedTok} {
				assert.NotContains(t, logs, s)
			}
		})
	}
}

func TestJWTKeySetDownAtStart(t *testing.T) {
	for _, tt := range []struct {
		name            string
		framework, keys string // keys: from the discovery document ("metadata") or -jwks-url
		discovery       bool   // the fault is the discovery document's, not the key set's
		fault           introspecttest.Fault
	}{
		{"key set 500", "echo", "metadata", false, introspecttest.Fault{Status: 500, Body: "<html>", ContentType: "text/html"}},
		{"key set dropped", "http", "metadata", false, introspecttest.Fault{Drop: true}},
		{"discovery 503", "echo", "metadata", true, introspecttest.Fault{Status: 503, Body: "{}", RetryAfter: "3"}},
		{"discovery garbage", "http", "metadata", true, introspecttest.Fault{Status: 200, Body: `{"issuer":`}},
		{"key set garbage", "echo", "jwks-url", false, introspecttest.Fault{Status: 200, Body: `{"keys":`}},
		{"key set slow", "http", "jwks-url", false, introspecttest.Fault{Delay: time.Hour}},
	} {
		t.Run(tt.framework+"/"+tt.keys+"/"+tt.name, func(t *testing.T) {
			f := newJWTFixture(t)
			setFault := f.iss.SetJWKSFault
			if tt.discovery {
				setFault = f.iss.SetDiscoveryFault
			}
			setFault(tt.fault)
			args := f.args(tt.framework, "-upstream-timeout", "1s")
			if tt.keys == "jwks-url" {
				args = []string{"-framework", tt.framework, "-jwks-url", f.iss.JWKSURL(), "-issuer", f.iss.TokenIssuer(),
					"-audience", hallandAudience, "-upstream-timeout", "1s"}
			}
			ex := start(t, args...)

			for range 2 {
				r := ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "")
				assert.Equal(t, 503, r.status)
				assert.Empty(t, r.challenge)
				assert.NotContains(t, r.body, "invalid_token")
				assert.Regexp(t, `^[1-9][0-9]*$`, r.retry)
			}

			// Not cached: once the keys can be had, the token is good.
			setFault(introspecttest.Fault{})
			testutil.WaitFor(t, "the key set to load", func() bool {
				time.Sleep(50 * time.Millisecond)
				return ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status == 200
			})
		})
	}
}

func TestJWTFlags(t *testing.T) {
	f := newJWTFixture(t)
	t.Run("jwks-url implies jwt, and -issuer is the exact iss", func(t *testing.T) {
		ex := start(t, "-jwks-url", f.iss.JWKSURL(), "-issuer", f.iss.TokenIssuer(), "-audience", hallandAudience)
		assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)
		assert.Equal(t, 401, ex.do(t, "GET", "/v1/maps", bearer(f.otherAudTok), "").status)
		assert.Zero(t, f.iss.DiscoveryFetches(), "the key set is named: no discovery")
		// (this subtest runs first on f's Issuer)

		// ADFS's issuer is not the iss of its tokens.
		ex = start(t, "-jwks-url", f.iss.JWKSURL(), "-issuer", f.iss.Issuer(), "-audience", hallandAudience)
		assert.Equal(t, 401, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)

		cfg, err := parseConfig([]string{"-jwks-url", "https://adfs.example.se/adfs/discovery/keys", "-issuer", "https://adfs.example.se/adfs/services/trust", "-audience", "a"},
			func(string) string { return "" }, io.Discard)
		require.NoError(t, err)
		assert.Equal(t, tokenFormatJWT, cfg.format)
		assert.False(t, cfg.demo())
	})
	t.Run("environment", func(t *testing.T) {
		env := map[string]string{"TOKENGATE_TOKEN_FORMAT": "jwt", "TOKENGATE_ISSUER": f.iss.Issuer(), "TOKENGATE_AUDIENCE": hallandAudience}
		cfg, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
		require.NoError(t, err)
		assert.Equal(t, tokenFormatJWT, cfg.format)
		assert.Equal(t, []string{hallandAudience}, cfg.audiences)

		env = map[string]string{"TOKENGATE_JWKS_URL": f.iss.JWKSURL(), "TOKENGATE_ISSUER": f.iss.TokenIssuer(), "TOKENGATE_AUDIENCE": hallandAudience}
		cfg, err = parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
		require.NoError(t, err)
		assert.Equal(t, tokenFormatJWT, cfg.format)
		assert.Equal(t, f.iss.JWKSURL(), cfg.jwksURL)
	})
	t.Run("jwt without -audience refuses to start", func(t *testing.T) {
		fetches := f.iss.DiscoveryFetches() + f.iss.JWKSFetches()
		for name, args := range map[string][]string{
			"token-format jwt": {"-token-format", "jwt", "-issuer", f.iss.Issuer()},
			"jwks-url":         {"-jwks-url", f.iss.JWKSURL(), "-issuer", f.iss.TokenIssuer()},
			"auto":             {"-token-format", "auto", "-issuer", f.iss.Issuer(), "-client-id", "x", "-client-secret", "y"},
		} {
			out := refuses(t, args...)
			assert.Contains(t, out, "needs -audience", name)
			assert.Contains(t, out, "a token the issuer made for another API would be accepted", name)
		}
		assert.Equal(t, fetches, f.iss.DiscoveryFetches()+f.iss.JWKSFetches(), "it refuses before it fetches anything")
	})
	t.Run("auto: opaque tokens introspected, JWTs validated locally", func(t *testing.T) {
		g := newFixture(t, geosecureBackend)
		for _, fw := range frameworks {
			ex := start(t, "-framework", fw, "-token-format", "auto", "-verify-url", g.as.VerifyURL(),
				"-jwks-url", f.iss.JWKSURL(), "-issuer", f.iss.TokenIssuer(), "-audience", hallandAudience+",38890")
			assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(g.mapTok), "").status, "opaque, %s", fw)
			assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status, "JWT, %s", fw)
			assert.Equal(t, 403, ex.do(t, "GET", "/v1/maps", bearer(f.readTok), "").status, "JWT, %s", fw)
			assert.Equal(t, 401, ex.do(t, "GET", "/v1/maps", bearer(f.otherAudTok), "").status, "JWT, %s", fw)
			assert.Equal(t, 401, ex.do(t, "GET", "/v1/maps", bearer("unknown-token"), "").status, "opaque, %s", fw)
		}
		for _, jwt := range []string{f.mapTok, f.readTok, f.otherAudTok} {
			assert.Zero(t, g.as.Calls(jwt), "a JWT never leaves the resource server")
		}
	})
	for name, args := range map[string][]string{
		"unknown token format":     {"-token-format", "saml"},
		"jwt without a key source": {"-token-format", "jwt", "-audience", "a", "-demo", "geosecure"},
		"jwks-url without issuer":  {"-jwks-url", f.iss.JWKSURL(), "-audience", "a"},
		"jwt with verify-url":      {"-token-format", "jwt", "-verify-url", "http://127.0.0.1:1/verify", "-issuer", f.iss.Issuer(), "-audience", "a"},
		"opaque with jwks-url":     {"-token-format", "opaque", "-jwks-url", f.iss.JWKSURL(), "-issuer", f.iss.TokenIssuer()},
		"halland demo, opaque":     {"-demo", "halland", "-token-format", "opaque"},
		"jwks-url not loopback":    {"-jwks-url", "http://adfs.example.se/adfs/discovery/keys", "-issuer", "x", "-audience", "a"},
		"auto, two introspections": {"-token-format", "auto", "-verify-url", "http://127.0.0.1:1/verify", "-introspection-url", "http://127.0.0.1:1/i", "-issuer", "x", "-audience", "a"},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Contains(t, refuses(t, args...), "example: ")
		})
	}
}

// refuses runs the example with args, which must make it refuse to start,
// and returns what it printed. A run that starts anyway is killed after a
// few seconds and fails the test.
func refuses(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, append([]string{"-addr", "127.0.0.1:0"}, args...)...).CombinedOutput()
	require.NoError(t, ctx.Err(), "the example started: %s", out)
	require.Error(t, err, "%s", out)
	return string(out)
}

// TestJWTCacheHit builds the example in process, to read its cache: a
// JWT, like an opaque token, is checked once and then found in the cache.
func TestJWTCacheHit(t *testing.T) {
	f := newJWTFixture(t)
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			cfg, err := parseConfig(f.args(fw), func(string) string { return "" }, io.Discard)
			require.NoError(t, err)
			s, err := newServer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			require.NoError(t, err)
			defer s.Close()
			ts := httptest.NewServer(s.handler)
			defer ts.Close()
			ex := &example{base: ts.URL}

			for range 3 {
				assert.Equal(t, 200, ex.do(t, "GET", "/v1/maps", bearer(f.mapTok), "").status)
			}
			assert.Equal(t, 403, ex.do(t, "GET", "/v1/maps", bearer(f.readTok), "").status)
			assert.Equal(t, 200, ex.do(t, "GET", "/v1/occupations", bearer(f.readTok), "").status)
			stats := s.cache.Stats()
			assert.Equal(t, uint64(2), stats.UpstreamCalls, "one check per token")
			assert.Equal(t, uint64(3), stats.Hits)
		})
	}
}
