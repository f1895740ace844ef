package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/introspect/rfc7662"
	"github.com/tokengate/tokengate/middleware"
)

// config is the sample server's command line.
type config struct {
	addr                string
	framework           string
	verifyURL           string
	profileURL          string
	issuer              string
	introspectionURL    string
	clientAuth          rfc7662.AuthMethod
	clientAuthSet       bool // -client-auth was given, not defaulted
	clientJWK           string
	format              string // tokenFormatOpaque, tokenFormatJWT or tokenFormatAuto
	jwksURL             string
	demoKind            string
	clientID            string
	clientSecret        string
	audiences           []string
	sources             middleware.Sources
	cacheTTL            time.Duration
	upstreamTimeout     time.Duration
	upstreamConcurrency int
	realm               string
	resource            string           // -resource; run fills in the default, the bound base URL
	redisURL            string           // as given, for messages: see redactedRedisURL
	redis               *goredis.Options // from -redis-url; nil keeps the cache in memory
	logLevel            slog.Level
	logJSON             bool // -log-format json
}

// The values of -token-format.
const (
	tokenFormatOpaque = "opaque" // introspection: Geosecure or RFC 7662
	tokenFormatJWT    = "jwt"    // local validation with the issuer's keys
	tokenFormatAuto   = "auto"   // JWT-shaped tokens locally, others by introspection
)

// The kinds of -demo.
const (
	demoGeosecure = "geosecure"
	demoACM       = "acm"
	demoHalland   = "halland"
)

// hallandAudience is the resource id the halland demo's tokens are for, and
// the example's default -audience in that demo.
const hallandAudience = "exempelapi.regionhalland.se"

// demo reports whether no authorization server was named, so the embedded
// demo server is to be used.
func (c *config) demo() bool {
	return c.verifyURL == "" && c.issuer == "" && c.introspectionURL == "" && c.jwksURL == ""
}

// localJWT reports whether JWTs are validated locally (-token-format jwt
// or auto).
func (c *config) localJWT() bool { return c.format != tokenFormatOpaque }

// introspection reports whether some tokens go to an authorization server
// to be checked (-token-format opaque or auto).
func (c *config) introspection() bool { return c.format != tokenFormatJWT }

// rfc7662 reports whether the introspection backend is RFC 7662 (ACM/IDM)
// rather than Geosecure's verify endpoint. In auto mode with -verify-url,
// -issuer names the JWT issuer alone.
func (c *config) rfc7662() bool {
	return c.introspection() && c.verifyURL == "" && (c.issuer != "" || c.introspectionURL != "")
}

// geosecure reports whether the introspection backend is Geosecure's
// verify endpoint.
func (c *config) geosecure() bool { return c.introspection() && c.verifyURL != "" }

// parseConfig reads flags from args; each flag can also be set by the
// environment variable TOKENGATE_<NAME> (dashes as underscores), and a flag
// on the command line wins.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("example", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: example [flags]\n\n"+
			"A GIPOD-like API protected by tokengate, against Geosecure (-verify-url),\n"+
			"ACM/IDM and other RFC 7662 servers (-issuer or -introspection-url), or\n"+
			"validating JWT access tokens locally (-token-format jwt, with -jwks-url or\n"+
			"-issuer; Region Halland's ADFS, Entra ID). With none of these it starts an\n"+
			"embedded demo authorization server (-demo) and prints curl commands to try.\n\n"+
			"Every flag can also be set as TOKENGATE_<FLAG> (e.g. TOKENGATE_VERIFY_URL).\n\n")
		fs.PrintDefaults()
	}
	var (
		c                               config
		audience, tokenFrom, clientAuth string
		format, logLevel, logFormat     string
	)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen `address`")
	fs.StringVar(&c.framework, "framework", "echo", "`stack` to serve with: echo (Echo v4) or http (net/http ServeMux)")
	fs.StringVar(&c.verifyURL, "verify-url", "", "Geosecure verify endpoint `URL`, e.g. "+
		"https://oauth.vlaanderen.be/authorization/ws/oauth/v2/authorization/verify; empty starts the demo server")
	fs.StringVar(&c.profileURL, "profile-url", "", "profile endpoint `URL`; default: -verify-url with its last segment \"verify\" replaced by \"profile\"")
	fs.StringVar(&c.issuer, "issuer", "", "issuer `URL`. RFC 7662: e.g. "+rfc7662.ACMProductionIssuer+
		" (ACM/IDM) or "+rfc7662.ACMTestIssuer+" (T&I); the introspection endpoint comes from discovery. "+
		"JWT: the expected \"iss\"; with -jwks-url exactly this value (ADFS: its access_token_issuer, "+
		"https://HOST/adfs/services/trust), without it the issuer whose discovery document names the key set "+
		"and, for ADFS, the access_token_issuer to expect (give https://HOST/adfs). "+
		"With -token-format auto it is both, unless -verify-url sends the opaque tokens to Geosecure")
	fs.StringVar(&c.introspectionURL, "introspection-url", "", "RFC 7662 introspection endpoint `URL`; skips discovery (give -issuer too for ACM/IDM, "+
		"whose client assertions must name the issuer)")
	fs.StringVar(&clientAuth, "client-auth", "", "how to authenticate to the introspection endpoint: basic, post or private_key_jwt "+
		"(default basic, or private_key_jwt when -client-jwk is set)")
	fs.StringVar(&c.clientJWK, "client-jwk", "", "`path` to the client's private JWK (JSON) for private_key_jwt")
	fs.StringVar(&format, "token-format", "", "`format` of the access tokens: opaque (introspection), jwt (validated locally "+
		"with the issuer's keys) or auto (JWT-shaped tokens locally, the rest by introspection) "+
		"(default opaque, or jwt with -jwks-url or -demo halland)")
	fs.StringVar(&c.jwksURL, "jwks-url", "", "`URL` of the JWT issuer's key set (JWK Set), e.g. https://HOST/adfs/discovery/keys; "+
		"implies -token-format jwt; without it the key set is the jwks_uri of -issuer's discovery document")
	fs.StringVar(&c.demoKind, "demo", demoGeosecure, "`kind` of embedded demo authorization server when no other is named: "+
		"geosecure, acm (an ACM/IDM-style OpenID Provider) or halland (an ADFS-style issuer of JWTs, as Region Halland's)")
	fs.StringVar(&c.clientID, "client-id", "", "client id for the profile call (Geosecure) or for introspection (RFC 7662)")
	fs.StringVar(&c.clientSecret, "client-secret", "", "client secret for the profile call (Geosecure) or for basic and post (RFC 7662)")
	fs.StringVar(&audience, "audience", "", "comma-separated allow-list of token audiences (Geosecure: client ids; JWT: the API's resource id, "+
		"required; with auto, list the opaque tokens' audiences too); empty accepts any opaque token "+
		"(default "+hallandAudience+" in -demo halland)")
	fs.StringVar(&tokenFrom, "token-from", "header", "comma-separated token `sources`: header, form, query (RFC 6750 §2.1-2.3)")
	fs.DurationVar(&c.cacheTTL, "cache-ttl", 5*time.Minute, "longest `duration` a verification result is reused, never past the token's expiry; 0 disables the cache")
	fs.DurationVar(&c.upstreamTimeout, "upstream-timeout", 5*time.Second, "time limit for one call to the authorization server")
	fs.IntVar(&c.upstreamConcurrency, "upstream-concurrency", 64, "most calls to the authorization server in flight at once")
	fs.StringVar(&c.realm, "realm", "example", "realm in WWW-Authenticate challenges")
	fs.StringVar(&c.resource, "resource", "", "resource identifier `URL` of the API for RFC 9728: served in the metadata document at "+
		"/.well-known/oauth-protected-resource (with the URL's path appended, if it has one) and named in every challenge (401, 403 and 400); "+
		"an https URL, or http on a loopback host (default http:// and the address as bound, localhost for an unspecified one)")
	fs.StringVar(&c.redisURL, "redis-url", "", "`URL` of a Redis the replicas share verification results through, "+
		"redis://[USER:PASSWORD@]HOST:PORT/DB (rediss:// for TLS); empty keeps them in this process's memory only")

	fs.StringVar(&logLevel, "log-level", "info", "least `level` logged: debug, info, warn or error. At info, a refusal because the "+
		"authorization server fails is logged at warn (at most one line a second, counting those left out), and the "+
		"clients' mistakes (400, 401, 403) are summarised: the first of each kind a minute, with a count of the others; "+
		"debug logs every refusal")
	fs.StringVar(&logFormat, "log-format", "text", "`format` of log lines on stderr: text (key=value) or json")

	// The environment first, then the command line over it.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "TOKENGATE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s: invalid value: %w", name, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	var err error
	if err := c.logLevel.UnmarshalText([]byte(logLevel)); err != nil || !knownLevel(c.logLevel) {
		return nil, fmt.Errorf("-log-level must be debug, info, warn or error, not %q", logLevel)
	}
	switch strings.ToLower(logFormat) {
	case "text":
	case "json":
		c.logJSON = true
	default:
		return nil, fmt.Errorf("-log-format must be text or json, not %q", logFormat)
	}
	if c.framework != "echo" && c.framework != "http" {
		return nil, fmt.Errorf("-framework must be echo or http, not %q", c.framework)
	}
	if c.demoKind != demoGeosecure && c.demoKind != demoACM && c.demoKind != demoHalland {
		return nil, fmt.Errorf("-demo must be geosecure, acm or halland, not %q", c.demoKind)
	}
	for a := range strings.SplitSeq(audience, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.audiences = append(c.audiences, a)
		}
	}
	if err := c.setFormat(format); err != nil {
		return nil, err
	}
	switch {
	case clientAuth != "":
		c.clientAuthSet = true
		if c.clientAuth, err = parseAuthMethod(clientAuth); err != nil {
			return nil, fmt.Errorf("-client-auth: %w", err)
		}
	case c.clientJWK != "":
		c.clientAuth = rfc7662.PrivateKeyJWT
	default:
		c.clientAuth = rfc7662.ClientSecretBasic
	}
	if c.rfc7662() {
		switch {
		case c.clientID == "":
			return nil, errors.New("-client-id is required with -issuer or -introspection-url")
		case c.clientAuth == rfc7662.PrivateKeyJWT && c.clientJWK == "":
			return nil, errors.New("-client-auth private_key_jwt needs -client-jwk")
		case c.clientAuth != rfc7662.PrivateKeyJWT && c.clientSecret == "":
			return nil, fmt.Errorf("-client-auth %s needs -client-secret", c.clientAuth)
		}
	}
	if c.sources, err = parseSources(tokenFrom); err != nil {
		return nil, fmt.Errorf("-token-from: %w", err)
	}
	if c.cacheTTL < 0 {
		return nil, fmt.Errorf("-cache-ttl: want a duration such as 5m or 0, got %v", c.cacheTTL)
	}
	if c.upstreamTimeout <= 0 {
		return nil, fmt.Errorf("-upstream-timeout: want a positive duration such as 5s, got %v", c.upstreamTimeout)
	}
	if c.upstreamConcurrency <= 0 {
		return nil, fmt.Errorf("-upstream-concurrency: want a positive number, got %d", c.upstreamConcurrency)
	}
	if c.redisURL != "" {
		if c.cacheTTL == 0 {
			return nil, errors.New("-redis-url needs the cache: with -cache-ttl 0 nothing is stored, so nothing would be shared")
		}
		if c.redis, err = parseRedisURL(c.redisURL); err != nil {
			return nil, fmt.Errorf("-redis-url: %w", err)
		}
	}
	if c.profileURL == "" && c.verifyURL != "" {
		c.profileURL, err = deriveProfileURL(c.verifyURL)
		if err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// knownLevel reports whether l is one of slog's four named levels, which
// -log-level accepts: slog also reads offsets such as "info+2".
func knownLevel(l slog.Level) bool {
	switch l {
	case slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError:
		return true
	}
	return false
}

// newLogger returns the logger -log-level and -log-format ask for, writing
// to w.
func (c *config) newLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	if c.logJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// setFormat reads -token-format and checks that the backends named fit it.
// Without the flag the format is jwt when -jwks-url is set or the demo is
// halland's, else opaque.
func (c *config) setFormat(format string) error {
	demo := c.demo()
	switch format = strings.ToLower(strings.TrimSpace(format)); format {
	case tokenFormatOpaque, tokenFormatJWT, tokenFormatAuto:
		c.format = format
	case "":
		c.format = tokenFormatOpaque
		if c.jwksURL != "" || demo && c.demoKind == demoHalland {
			c.format = tokenFormatJWT
		}
	default:
		return fmt.Errorf("-token-format must be opaque, jwt or auto, not %q", format)
	}

	if demo {
		switch {
		case c.demoKind == demoHalland && c.format != tokenFormatJWT:
			return fmt.Errorf("-demo halland issues JWTs only: -token-format %s does not fit it", c.format)
		case c.demoKind != demoHalland && c.format != tokenFormatOpaque:
			return fmt.Errorf("-token-format %s needs -jwks-url or -issuer (or -demo halland): -demo %s issues opaque tokens", c.format, c.demoKind)
		}
		if c.demoKind == demoHalland && len(c.audiences) == 0 {
			c.audiences = []string{hallandAudience}
		}
		return nil
	}

	switch c.format {
	case tokenFormatOpaque:
		if c.jwksURL != "" {
			return errors.New("-jwks-url is for JWTs, which -token-format opaque does not validate locally; use jwt or auto")
		}
		if c.verifyURL != "" && (c.issuer != "" || c.introspectionURL != "") {
			return errors.New("-verify-url (Geosecure) and -issuer or -introspection-url (RFC 7662) name two backends; choose one")
		}
	case tokenFormatJWT:
		if c.verifyURL != "" || c.introspectionURL != "" {
			return errors.New("-token-format jwt validates every token locally and uses no -verify-url or -introspection-url; " +
				"use -token-format auto for both")
		}
	case tokenFormatAuto:
		if c.verifyURL != "" && c.introspectionURL != "" {
			return errors.New("-verify-url (Geosecure) and -introspection-url (RFC 7662) name two backends; choose one")
		}
	}
	if c.localJWT() {
		switch {
		case c.issuer == "":
			return fmt.Errorf("-token-format %s needs -issuer: with -jwks-url the exact \"iss\" of the tokens "+
				"(ADFS: its access_token_issuer), else the issuer whose discovery document names the key set", c.format)
		case len(c.audiences) == 0:
			return fmt.Errorf("-token-format %s needs -audience, the resource id this API's tokens carry in \"aud\" "+
				"(e.g. %s): without it a token the issuer made for another API would be accepted here", c.format, hallandAudience)
		}
	}
	return nil
}

// resourceMetadata returns the RFC 9728 description of the API: the
// resource is -resource, or the base URL run bound (http://<-addr> when
// the handler is built without run); the authorization server is -issuer
// or, for Geosecure, which publishes no RFC 8414 issuer, the origin of
// -verify-url (in the demos, the demo server's); the scopes are those the
// routes require; the bearer methods follow -token-from (the middleware
// derives them from Config.Sources).
func resourceMetadata(c *config) *middleware.ResourceMetadata {
	m := &middleware.ResourceMetadata{
		Resource:        c.resource,
		ScopesSupported: supportedScopes(),
		ResourceName:    "tokengate example (GIPOD-like API)",
	}
	if m.Resource == "" {
		m.Resource = "http://" + c.addr
	}
	switch {
	case c.issuer != "":
		m.AuthorizationServers = []string{c.issuer}
	case c.verifyURL != "":
		if u, err := url.Parse(c.verifyURL); err == nil && u.Host != "" {
			m.AuthorizationServers = []string{u.Scheme + "://" + u.Host}
		}
	}
	return m
}

// baseURL is the default -resource for a listener bound to addr: http://
// and the address, with localhost for an unspecified host (0.0.0.0, ::).
func baseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// parseSources reads -token-from: a comma-separated list of the token
// sources "header", "form" and "query".
func parseSources(s string) (middleware.Sources, error) {
	var out middleware.Sources
	for name := range strings.SplitSeq(s, ",") {
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "header":
			out |= middleware.FromHeader
		case "form":
			out |= middleware.FromForm
		case "query":
			out |= middleware.FromQuery
		case "":
		default:
			return 0, fmt.Errorf("unknown token source %q (want header, form or query)", name)
		}
	}
	if out == 0 {
		return 0, errors.New("no token source given")
	}
	return out, nil
}

// deriveProfileURL replaces the last path segment "verify" of a Geosecure
// verify URL by "profile".
func deriveProfileURL(verifyURL string) (string, error) {
	u, err := url.Parse(verifyURL)
	if err != nil {
		return "", fmt.Errorf("-verify-url: %w", err)
	}
	dir, last := path.Split(u.Path)
	if last != "verify" {
		return "", errors.New("-profile-url: cannot derive it from -verify-url, whose last path segment is not \"verify\"; set it")
	}
	u.Path = dir + "profile"
	u.RawPath = ""
	return u.String(), nil
}

// osEnv is the real environment.
var osEnv = os.Getenv

// parseAuthMethod reads -client-auth: a method by its name, or the short
// forms "basic", "post" and "jwt".
func parseAuthMethod(s string) (rfc7662.AuthMethod, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "basic", string(rfc7662.ClientSecretBasic):
		return rfc7662.ClientSecretBasic, nil
	case "post", string(rfc7662.ClientSecretPost):
		return rfc7662.ClientSecretPost, nil
	case "jwt", string(rfc7662.PrivateKeyJWT):
		return rfc7662.PrivateKeyJWT, nil
	}
	return "", fmt.Errorf("unknown client authentication method %q (want basic, post or private_key_jwt)", s)
}
