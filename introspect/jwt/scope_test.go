package jwt_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/jwt"
)

// TestAnswerScope: every setting that can change an answer changes the
// Verifier's AnswerScope, so that a shared tier never hands one service's
// answers to another set up otherwise; settings that change no answer
// leave it alone, so that replicas tuned differently still share.
func TestAnswerScope(t *testing.T) {
	base := func() jwt.Config {
		// Loopback addresses, as the metadata cases fetch from the issuer.
		return jwt.Config{JWKSURL: "https://127.0.0.1:1/jwks", Issuer: "https://127.0.0.1:1", Audiences: []string{"api-a"}}
	}
	scope := func(cfg jwt.Config) string {
		t.Helper()
		v, err := jwt.New(cfg)
		require.NoError(t, err)
		t.Cleanup(v.Close)
		return v.AnswerScope()
	}
	want := scope(base())
	assert.Equal(t, want, introspect.AnswerScope(mustNew(t, base())), "introspect.AnswerScope")

	changes := map[string]func(*jwt.Config){
		"JWKSURL":                   func(c *jwt.Config) { c.JWKSURL = "https://127.0.0.1:2/jwks" },
		"Issuer":                    func(c *jwt.Config) { c.Issuer = "https://127.0.0.1:2" },
		"Issuers":                   func(c *jwt.Config) { c.Issuers = []string{"https://127.0.0.1:1", "https://127.0.0.1:2"} },
		"Audiences":                 func(c *jwt.Config) { c.Audiences = []string{"api-b"} },
		"more Audiences":            func(c *jwt.Config) { c.Audiences = []string{"api-a", "api-b"} },
		"InsecureSkipAudienceCheck": func(c *jwt.Config) { c.InsecureSkipAudienceCheck = true },
		"Algorithms":                func(c *jwt.Config) { c.Algorithms = []string{"RS256"} },
		"RequireLowS":               func(c *jwt.Config) { c.RequireLowS = true },
		"RFC9068":                   func(c *jwt.Config) { c.RFC9068 = true },
		"ScopeClaims":               func(c *jwt.Config) { c.ScopeClaims = []string{jwt.ScopeClaim} },
		"Leeway":                    func(c *jwt.Config) { c.Leeway = time.Minute },
		"MaxTokenBytes":             func(c *jwt.Config) { c.MaxTokenBytes = 8192 },
		"metadata instead of JWKSURL": func(c *jwt.Config) {
			c.JWKSURL = ""
		},
		"OAuth metadata": func(c *jwt.Config) {
			c.JWKSURL, c.Metadata = "", jwt.OAuthMetadata
		},
	}
	seen := map[string]string{want: "the base"}
	for name, change := range changes {
		cfg := base()
		change(&cfg)
		got := scope(cfg)
		if other, ok := seen[got]; ok {
			t.Errorf("%s: the same AnswerScope as %s: %s", name, other, got)
		}
		seen[got] = name
	}

	same := map[string]func(*jwt.Config){
		"Timeout":            func(c *jwt.Config) { c.Timeout = time.Second },
		"RefreshCooldown":    func(c *jwt.Config) { c.RefreshCooldown = time.Minute },
		"HTTPClient":         func(c *jwt.Config) { c.HTTPClient = &http.Client{} },
		"Hooks":              func(c *jwt.Config) { c.Hooks = &introspect.Hooks{} },
		"Now":                func(c *jwt.Config) { c.Now = time.Now },
		"default Leeway":     func(c *jwt.Config) { c.Leeway = introspect.DefaultLeeway },
		"Audiences repeated": func(c *jwt.Config) { c.Audiences = []string{"api-a", "api-a"} },
	}
	ab, ba := base(), base()
	ab.Audiences, ba.Audiences = []string{"api-a", "api-b"}, []string{"api-b", "api-a"}
	assert.Equal(t, scope(ab), scope(ba), "the same audiences in another order")
	for name, change := range same {
		cfg := base()
		change(&cfg)
		assert.Equal(t, want, scope(cfg), name)
	}
}

// TestFallbackAnswerScope: a Fallback's scope is neither its local
// Verifier's alone nor the same for two other Verifiers.
func TestFallbackAnswerScope(t *testing.T) {
	local := mustNew(t, jwt.Config{JWKSURL: "https://127.0.0.1:1/jwks", Issuer: "https://127.0.0.1:1", Audiences: []string{"api-a"}})
	custom := introspect.VerifierFunc(nil)
	withCustom := jwt.WithFallback(local, custom).AnswerScope()
	assert.NotEqual(t, local.AnswerScope(), withCustom)
	other := mustNew(t, jwt.Config{JWKSURL: "https://127.0.0.1:1/jwks", Issuer: "https://127.0.0.1:1", Audiences: []string{"api-b"}})
	assert.NotEqual(t, withCustom, jwt.WithFallback(other, custom).AnswerScope())
	assert.NotEqual(t, withCustom, jwt.WithFallback(local, otherCustom{}).AnswerScope(), "two opaque Verifiers of other types")
	assert.Equal(t, local.AnswerScope(), jwt.WithFallback(local, nil).AnswerScope())
}

// otherCustom is an opaque Verifier of a type of its own.
type otherCustom struct{}

func (otherCustom) Verify(context.Context, string) (*introspect.TokenInfo, error) { return nil, nil }

func mustNew(t *testing.T, cfg jwt.Config) *jwt.Verifier {
	t.Helper()
	v, err := jwt.New(cfg)
	require.NoError(t, err)
	t.Cleanup(v.Close)
	return v
}
