package rfc7662_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/rfc7662"
)

// TestAnswerScope: the server and the client that asks change the
// Introspector's AnswerScope, and so do the settings that change what it
// makes of an answer; the credentials and timeouts do not.
func TestAnswerScope(t *testing.T) {
	base := func() rfc7662.Config {
		return rfc7662.Config{Endpoint: "https://127.0.0.1:1/introspect", ClientID: "api-a", ClientSecret: "s3cret"}
	}
	scope := func(cfg rfc7662.Config) string {
		t.Helper()
		in, err := rfc7662.New(cfg)
		require.NoError(t, err)
		t.Cleanup(in.Close)
		return introspect.AnswerScope(in)
	}
	want := scope(base())
	assert.NotContains(t, want, "s3cret")

	seen := map[string]string{want: "the base"}
	for name, change := range map[string]func(*rfc7662.Config){
		"Endpoint":          func(c *rfc7662.Config) { c.Endpoint = "https://127.0.0.1:2/introspect" },
		"Issuer":            func(c *rfc7662.Config) { c.Endpoint, c.Issuer = "", "https://127.0.0.1:1" },
		"ClientID":          func(c *rfc7662.Config) { c.ClientID = "api-b" },
		"CredentialManager": func(c *rfc7662.Config) { c.CredentialManager = true },
		"Leeway":            func(c *rfc7662.Config) { c.Leeway = time.Minute },
	} {
		cfg := base()
		change(&cfg)
		got := scope(cfg)
		if other, ok := seen[got]; ok {
			t.Errorf("%s: the same AnswerScope as %s: %s", name, other, got)
		}
		seen[got] = name
	}
	for name, change := range map[string]func(*rfc7662.Config){
		"ClientSecret": func(c *rfc7662.Config) { c.ClientSecret = "other" },
		"Timeout":      func(c *rfc7662.Config) { c.Timeout = time.Second },
	} {
		cfg := base()
		change(&cfg)
		assert.Equal(t, want, scope(cfg), name)
	}
}
