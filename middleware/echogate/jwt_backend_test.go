package echogate_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/jwt"
)

// jwtIssuer is the fake RS256 issuer of the JWT backend, made once: its
// keys take a while to make, and the table makes a backend per row and
// stack. The rows run one at a time, and each fixture leaves the issuer as
// it found it. TestMain closes it.
var jwtIssuer struct {
	once sync.Once
	*introspecttest.Issuer
}

func sharedIssuer() *introspecttest.Issuer {
	jwtIssuer.once.Do(func() { jwtIssuer.Issuer = introspecttest.NewIssuer() })
	return jwtIssuer.Issuer
}

func TestMain(m *testing.M) {
	code := m.Run()
	if jwtIssuer.Issuer != nil {
		jwtIssuer.Close()
	}
	os.Exit(code)
}

// startJWT makes the JWT backend: a new jwt.Verifier against the fake
// RS256 issuer, with newly issued JWTs for each token name of the table that carries what
// the stub knows of it (scopes, client, audience, claims).
//
// Names that mean something other than a token's facts become:
//   - longToken: a JWT of exactly 4096 bytes, the longest accepted (a
//     filler claim makes up the length), so that "too long" is one byte
//     more, as on the other backends;
//   - "nope": a forgery, signed by a key the issuer never published but
//     naming the published key's kid, so its signature does not verify and
//     it costs no fetch;
//   - "down-token" and "busy-token": JWTs naming a key the loaded key set
//     lacks, so that the verifier must fetch the key set again, which at
//     that moment fails (500, or 429 with Retry-After: 30). A JWT backend
//     has no per-token outage: the key set is down for every token, and
//     the fixture takes it down while such a token is verified.
func startJWT(t *testing.T) fixture {
	t.Helper()
	is := sharedIssuer()
	// The issuer is shared, so this verifier's fetches are counted on its
	// own transport.
	transport := &countingTransport{base: &http.Transport{}}
	t.Cleanup(transport.base.CloseIdleConnections)
	v, err := jwt.New(jwt.Config{
		JWKSURL: is.JWKSURL(), Issuer: is.TokenIssuer(), HTTPClient: &http.Client{Transport: transport},
		// The resource ids the table's tokens carry: the verifier takes
		// both, and routes with Config.Audiences choose.
		Audiences: []string{"38890", "99999"},
	})
	require.NoError(t, err)
	t.Cleanup(v.Close)
	// Load the key set before the table's requests, so that every row
	// finds it loaded, as a running service does.
	require.NoError(t, v.WaitReady(context.Background()))

	u := &jwtUpstream{Verifier: v, issuer: is, names: map[string]string{}, calls: map[string]int{}}
	var pairs, tokens []string
	add := func(name, token string) {
		u.names[token] = name
		pairs = append(pairs, name, token)
		tokens = append(tokens, token)
	}
	for name, info := range known {
		if name == "padded+/t==" {
			continue // see jwtDifferences
		}
		c := introspecttest.JWT{Scopes: info.Scopes.List(), ClientID: info.ClientID, Audience: info.Audience, Extra: info.Claims}
		if name == longToken {
			add(name, jwtOfLength(t, is, c, len(longToken)))
			continue
		}
		add(name, is.IssueJWT(c))
	}
	maps := introspecttest.JWT{Scopes: []string{"MapRequest"}, ClientID: "38890", Audience: []string{"38890"}}
	forged := maps
	forged.KeyID = is.KeyID()
	add("nope", is.IssueUnpublished(forged))
	add("down-token", is.IssueUnpublished(maps))
	add("busy-token", is.IssueUnpublished(maps))

	t.Cleanup(func() {
		// One fetch at start-up, and one more only for a token whose key
		// the set lacks: a cache miss costs no fetch.
		assert.EqualValues(t, 1+u.refetches(), transport.requests.Load(), "key set fetches")
	})
	return fixture{verifier: u, upstream: u, tokens: strings.NewReplacer(pairs...), secrets: tokens}
}

// jwtDifferences are the rows the JWT backend departs from, and why.
var jwtDifferences = map[string]difference{
	"padding and b64 characters": {
		skip: true,
		reason: `not applicable: the row checks that "+", "/" and "=" pass the b64token grammar, ` +
			"and a compact JWS is unpadded base64url, so no JWT holds them; the extraction is the same " +
			"code on every backend, and the other backends run the row",
	},
	"no audience, client id allowed": {
		reason: `a JWT without "aud" is refused by the verifier (401 invalid_token), whatever the route: ` +
			"jwt.Config requires an audience unless InsecureSkipAudienceCheck is set, which the table does not do",
		adjust: func(tc *requestCase) {
			tc.status, tc.challenge, tc.bodyHas = 401, invalidToken, `"error":"invalid_token"`
		},
	},
	"unavailable":                            keySetRetry,
	"metadata: unavailable has no challenge": keySetRetry,
}

// keySetRetry is the difference of every outage row on the JWT backend.
var keySetRetry = difference{
	reason: "the key set failing says when the verifier tries again (1 s after a first failure), " +
		"so Retry-After is 1, not the middleware's default of 5 for an outage that gives no time",
	adjust: func(tc *requestCase) { tc.retry = "1" },
}

// jwtUpstream is the JWT backend's verifier and the tests' view of its
// issuer: it counts the calls the cache makes per token name, and takes
// the key set down when an outage token arrives.
type jwtUpstream struct {
	*jwt.Verifier // and its Leeway, for the cache
	issuer        *introspecttest.Issuer
	names         map[string]string // token → the table's name

	mu      sync.Mutex
	calls   map[string]int
	outaged bool
}

func (u *jwtUpstream) Verify(ctx context.Context, token string) (*introspect.TokenInfo, error) {
	name, ok := u.names[token]
	if !ok {
		name = token
	}
	switch name {
	case "down-token":
		defer u.outage(introspecttest.Fault{Status: 500, Body: `{"error":"server_error"}`})()
	case "busy-token":
		defer u.outage(introspecttest.Fault{Status: 429, RetryAfter: "30"})()
	}
	info, err := u.Verifier.Verify(ctx, token)
	// A check told not to wait that would have is not a call: the Cache
	// makes the call next, allowed to wait.
	if !errors.Is(err, introspect.ErrWouldWait) {
		u.mu.Lock()
		u.calls[name]++
		u.mu.Unlock()
	}
	return info, err
}

// outage takes the shared issuer's key set down with f, and returns the
// function that brings it back.
func (u *jwtUpstream) outage(f introspecttest.Fault) (restore func()) {
	u.mu.Lock()
	u.outaged = true
	u.mu.Unlock()
	u.issuer.SetJWKSFault(f)
	return func() { u.issuer.SetJWKSFault(introspecttest.Fault{}) }
}

// refetches is how many fetches beyond the first the key set may have had:
// one once an outage token has arrived, since the verifier refreshes for
// an unknown kid at most once per cooldown.
func (u *jwtUpstream) refetches() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.outaged {
		return 1
	}
	return 0
}

func (u *jwtUpstream) callsFor(name string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[name]
}

func (u *jwtUpstream) total() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, c := range u.calls {
		n += c
	}
	return n
}

// countingTransport counts the requests it sends.
type countingTransport struct {
	base     *http.Transport
	requests atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	return c.base.RoundTrip(r)
}

// jwtOfLength issues c with a filler claim that makes the token exactly n
// bytes long. Unpadded base64 never has a length of 1 mod 4, so when the
// payload cannot reach the length, a filler header member shifts it.
func jwtOfLength(t *testing.T, is *introspecttest.Issuer, c introspecttest.JWT, n int) string {
	t.Helper()
	extra := map[string]any{}
	for k, v := range c.Extra {
		extra[k] = v
	}
	c.Extra = extra
	for hpad := range 3 {
		c.Header = map[string]any{"x-pad": strings.Repeat("x", hpad)}
		c.Extra["pad"] = ""
		seg := strings.Split(is.IssueJWT(c), ".")
		payload, err := base64.RawURLEncoding.DecodeString(seg[1])
		require.NoError(t, err)
		want := n - len(seg[0]) - len(seg[2]) - 2 // the payload segment's length
		for m := len(payload); base64.RawURLEncoding.EncodedLen(m) <= want; m++ {
			if base64.RawURLEncoding.EncodedLen(m) == want {
				c.Extra["pad"] = strings.Repeat("x", m-len(payload))
				token := is.IssueJWT(c)
				require.Len(t, token, n)
				return token
			}
		}
	}
	t.Fatalf("no JWT of %d bytes", n)
	return ""
}

// TestJWTDifferencesNameRows: a departure names a row of the table, so that
// renaming a row cannot leave it running unexplained on the JWT backend.
func TestJWTDifferencesNameRows(t *testing.T) {
	rows := map[string]bool{}
	for _, tc := range requestCases {
		rows[tc.name] = true
	}
	for name, d := range jwtDifferences {
		assert.True(t, rows[name], "jwtDifferences names no row %q", name)
		assert.NotEmpty(t, d.reason, name)
		assert.True(t, d.skip != (d.adjust != nil), "%s: skip or adjust, one of them", name)
	}
}
