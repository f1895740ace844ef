package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tokengate/tokengate/introspect/introspecttest"
	"github.com/tokengate/tokengate/introspect/rfc7662"
)

// demoToken is one of the tokens the demo authorization server issues.
type demoToken struct {
	label  string
	token  string
	path   string // a route to try it on
	method string
	expect string
}

// demoServer is the embedded authorization server of `go run ./example`.
type demoServer struct {
	*introspecttest.Server // nil in the halland demo
	acm                    bool
	key                    *rfc7662.SigningKey // the example's client key, in ACM mode
	method                 rfc7662.AuthMethod  // how the example authenticates, in ACM mode
	tokens                 []demoToken

	issuer   *introspecttest.Issuer // the halland demo's ADFS, else nil
	audience string                 // the resource id of the halland demo's tokens
}

// Close shuts the demo server down.
func (d *demoServer) Close() {
	if d.issuer != nil {
		d.issuer.Close()
		return
	}
	d.Server.Close()
}

// startDemo starts the fake authorization server on a loopback port and
// issues a token for each scope set the API uses, one that expires in a
// minute, and names one that it does not know. In ACM mode the server is an
// OpenID Provider with RFC 7662 introspection, the tokens carry a subject
// and Flemish claims, and the example's client gets a fresh key pair for
// private_key_jwt.
func startDemo(acm bool, clientID, clientSecret string) (*demoServer, error) {
	srv := introspecttest.NewUnstartedServer()
	srv.ClientID, srv.ClientSecret = clientID, clientSecret
	srv.Start()

	d := &demoServer{Server: srv, acm: acm}
	if acm {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			srv.Close()
			return nil, err
		}
		d.key = &rfc7662.SigningKey{Key: key, KeyID: "demo-key"}
		srv.AddClient(introspecttest.Client{ID: srv.ClientID, Secret: srv.ClientSecret, Key: key.Public()})
	}
	issue := func(label, path, method, expect string, life time.Duration, scopes ...string) {
		t := introspecttest.Token{Scopes: scopes, ClientID: srv.ClientID}
		if acm {
			t.Subject = "d6b5a1f4-8c2b-4e52-9f1b-3a2e7c9d0e11"
			t.Claims = map[string]any{
				"vo_id":              t.Subject,
				"vo_orgcode":         "OVO002949",
				"vo_doelgroepcode":   "GID",
				"credential_manager": map[string]any{"code": "DV", "name": "Digitaal Vlaanderen"},
			}
		}
		if life > 0 {
			t.ExpiresAt = time.Now().Add(life)
		}
		d.tokens = append(d.tokens, demoToken{label, srv.IssueToken(t), path, method, expect})
	}
	issue("MapRequest", "/v1/maps", "GET", "200", 0, "MapRequest")
	issue("gipod_pdo_read", "/v1/occupations", "GET", "200", 0, "gipod_pdo_read")
	issue("gipod_pdo_read gipod_pdo_write", "/v1/occupations", "POST", "201", 0, "gipod_pdo_read", "gipod_pdo_write")
	issue("gipod_pdo_read, on a route that needs MapRequest", "/v1/maps", "GET", "403", 0, "gipod_pdo_read")
	issue("MapRequest, expires in a minute", "/v1/token", "GET", "200, then 401", time.Minute, "MapRequest")
	d.tokens = append(d.tokens, demoToken{"unknown to the server", "not-a-valid-token", "/v1/token", "GET", "401"})
	return d, nil
}

// startHalland starts an ADFS-like issuer on a loopback port, as Region
// Halland runs: RS256 JWT access tokens with "aud" the resource id, an
// "iss" that is the discovery document's access_token_issuer, the client
// in "appid" and the scopes in "scp", and no introspection endpoint. It
// signs a token for each scope set the API uses, one that expires in a
// minute, one with a key it never published and one for another resource.
func startHalland(clientID, audience string) *demoServer {
	iss := introspecttest.NewUnstartedIssuer()
	iss.Mode = introspecttest.IssuerADFS
	iss.Start()

	d := &demoServer{issuer: iss, audience: audience}
	claims := func(life time.Duration, aud string, scopes ...string) introspecttest.JWT {
		// Client credentials: the token names a client, no user.
		t := introspecttest.JWT{ClientID: clientID, Audience: []string{aud}, Scopes: scopes}
		if life > 0 {
			t.ExpiresAt = time.Now().Add(life)
		}
		return t
	}
	issue := func(label, path, method, expect string, life time.Duration, scopes ...string) {
		d.tokens = append(d.tokens, demoToken{label, iss.IssueJWT(claims(life, audience, scopes...)), path, method, expect})
	}
	issue("MapRequest", "/v1/maps", "GET", "200", 0, "MapRequest")
	issue("gipod_pdo_read", "/v1/occupations", "GET", "200", 0, "gipod_pdo_read")
	issue("gipod_pdo_read gipod_pdo_write", "/v1/occupations", "POST", "201", 0, "gipod_pdo_read", "gipod_pdo_write")
	issue("gipod_pdo_read, on a route that needs MapRequest", "/v1/maps", "GET", "403", 0, "gipod_pdo_read")
	issue("MapRequest, expires in a minute", "/v1/token", "GET", "200, then 401", time.Minute, "MapRequest")
	// Issued two minutes ago, before the API fetched the key set: the
	// issuer would have published a key it signed with, so the kid it
	// lacks makes the token invalid. A token issued since the last fetch
	// could name a key published meanwhile, and within the refresh
	// cooldown would be answered 503 with Retry-After instead.
	unpublished := claims(0, audience, "MapRequest")
	unpublished.IssuedAt = time.Now().Add(-2 * time.Minute)
	d.tokens = append(d.tokens,
		demoToken{"MapRequest, signed with a key the issuer never published", iss.IssueUnpublished(unpublished), "/v1/maps", "GET", "401"},
		demoToken{"MapRequest, for another API (aud " + hallandOtherAudience + ")", iss.IssueJWT(claims(0, hallandOtherAudience, "MapRequest")), "/v1/maps", "GET", "401"},
	)
	return d
}

// hallandOtherAudience is the resource id of the halland demo's token for
// another API.
const hallandOtherAudience = "annatapi.regionhalland.se"

// printCurls writes ready-to-paste commands for the API at base, which cfg
// configures.
func (d *demoServer) printCurls(w io.Writer, base string, cfg *config) {
	switch {
	case d.issuer != nil:
		fmt.Fprintf(w, "\nDemo ADFS (Region Halland-style RS256 JWT access tokens, validated locally) at %s\n", d.issuer.Issuer())
		fmt.Fprintf(w, "Its tokens' iss is its access_token_issuer %s; keys at %s.\n", d.issuer.TokenIssuer(), d.issuer.JWKSURL())
		fmt.Fprintf(w, "The example accepts tokens for the resource id %q (-audience) only.\n", d.audience)
	case d.acm:
		fmt.Fprintf(w, "\nDemo OpenID Provider (ACM/IDM-style RFC 7662 introspection) at %s\n", d.Issuer())
		fmt.Fprintf(w, "The example authenticates to it with %s, as client %q.\n", d.method, d.ClientID)
	default:
		fmt.Fprintf(w, "\nDemo authorization server (Geosecure verify and profile) at %s\n", d.URL)
	}
	fmt.Fprintf(w, "\nTry these (expected status on the right):\n\n")
	fmt.Fprintf(w, "  curl -i %s/healthz   # 200\n", base)
	fmt.Fprintf(w, "  curl -i %s/readyz   # 200\n", base)
	fmt.Fprintf(w, "  curl -i %s/v1/token   # 401, no token\n", base)
	for _, t := range d.tokens {
		fmt.Fprintf(w, "\n  # %s\n", t.label)
		data := ""
		if t.method == "POST" {
			data = ` -H 'Content-Type: application/json' -d '{"description":"Werf Kerkstraat"}'`
		}
		fmt.Fprintf(w, "  curl -i -X %s -H 'Authorization: Bearer %s'%s %s%s   # %s\n",
			t.method, t.token, data, base, t.path, t.expect)
	}
	if d.Server != nil && !d.acm {
		fmt.Fprintf(w, "\n  # the profile of a token's owner\n")
		fmt.Fprintf(w, "  curl -i -H 'Authorization: Bearer %s' %s/v1/profile   # 200\n", d.tokens[0].token, base)
	}
	d.printLogout(w, base, cfg)
	fmt.Fprintln(w)
	fmt.Fprintln(w, strings.Repeat("-", 72))
}

// printLogout writes the logout commands and, with -redis-url, how to run a
// second replica that shares this one's cache.
func (d *demoServer) printLogout(w io.Writer, base string, cfg *config) {
	tok := d.tokens[0]
	again := "200, asked again: the cache forgot it, the demo server did not revoke it"
	if d.issuer != nil {
		again = "200, validated again: a JWT cannot be revoked, only forgotten"
	}
	everywhere := "this process"
	if cfg.redis != nil {
		everywhere = "every replica on this Redis"
	}
	fmt.Fprintf(w, "\n  # log out: %s forgets the token\n", everywhere)
	fmt.Fprintf(w, "  curl -i -X POST -H 'Authorization: Bearer %s' %s/v1/logout   # 204\n", tok.token, base)
	fmt.Fprintf(w, "  curl -i -X %s -H 'Authorization: Bearer %s' %s%s   # %s\n", tok.method, tok.token, base, tok.path, again)

	second := d.secondReplica(cfg)
	if second == "" {
		return
	}
	fmt.Fprintf(w, "\n  # a second replica sharing this one's cache, on this demo server:\n")
	fmt.Fprintf(w, "  go run ./example -addr 127.0.0.1:0 -redis-url '%s' %s\n", cfg.redactedRedisURL(), second)
	fmt.Fprintf(w, "  # then, with B its address, a token this one verified is served from Redis:\n")
	fmt.Fprintf(w, "  curl -i -X %s -H 'Authorization: Bearer %s' \"$B\"%s\n", tok.method, tok.token, tok.path)
}

// secondReplica returns the flags that point another example at this demo
// server with the same shared namespace, or "" when it could not
// authenticate to it: the ACM demo's client key exists only in this
// process.
func (d *demoServer) secondReplica(cfg *config) string {
	switch {
	case cfg.redis == nil:
		return ""
	case d.issuer != nil:
		return fmt.Sprintf("-token-format jwt -issuer %s -audience %s", cfg.issuer, strings.Join(cfg.audiences, ","))
	case !d.acm:
		return "-verify-url " + cfg.verifyURL
	}
	return ""
}
