// Command example is a GIPOD-like API protected by tokengate, on Echo v4 or
// net/http, written as a team would copy it.
//
// With no -verify-url it starts an embedded demo authorization server on a
// loopback port and prints curl commands with demo tokens, so
//
//	go run ./example
//
// works on a machine without network (add -demo acm for an ACM/IDM-style
// OpenID Provider, -demo halland for an ADFS-style issuer of JWT access
// tokens, which the example validates locally). Against Digitaal
// Vlaanderen's Geosecure server:
//
//	go run ./example -verify-url https://oauth.vlaanderen.be/authorization/ws/oauth/v2/authorization/verify \
//	    -client-id 38890 -client-secret "$SECRET" -audience 38890
//
// Against ACM/IDM, authenticating with the client's private JWK:
//
//	go run ./example -issuer https://authenticatie.vlaanderen.be/op \
//	    -client-id "$CLIENT_ID" -client-jwk client-key.json
//
// Against an ADFS such as Region Halland's, whose JWTs are validated with
// the keys its discovery document names, for the API's resource id:
//
//	go run ./example -token-format jwt -issuer https://adfs.example.se/adfs \
//	    -audience exempelapi.example.se
//
// Replicas given the same -redis-url share one cache, and POST /v1/logout
// makes every one of them forget the caller's token:
//
//	go run ./example -redis-url redis://127.0.0.1:6379/0 -verify-url …
//
// GET /healthz is liveness, GET /readyz readiness (503 until the issuer's
// discovery document is read or the keys loaded, and while the
// authorization server fails), GET /metrics the Prometheus metrics;
// -log-level and -log-format choose the logs on stderr.
//
// Run it with -h for every flag.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/introspect/jwt"
	"github.com/tokengate/tokengate/introspect/promhook"
	"github.com/tokengate/tokengate/introspect/rfc7662"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], osEnv, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// run serves the API until ctx is done.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := cfg.newLogger(stderr)
	if cfg.redis != nil {
		goredis.SetLogger(redisLog{logger}) // process-wide, so here and not in newServer
	}
	// Listen first: the default -resource is the address as bound, which
	// with port 0 is known only now.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	if cfg.resource == "" {
		cfg.resource = baseURL(ln.Addr())
	}
	ex, err := newServer(cfg, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer ex.Close()
	srv := &http.Server{
		Handler:           ex.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      cfg.upstreamTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "tokengate example (%s) listening on %s\n", ex.stack, base)
	if ex.demo != nil {
		ex.demo.printCurls(stdout, base, cfg)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// server is the example built from its configuration: its handler, the
// cache in front of its backend, and the demo server if there is one.
type server struct {
	handler http.Handler
	stack   string // "Echo v4" or "net/http"
	cache   *introspect.Cache
	demo    *demoServer
	metrics *prometheus.Registry // what GET /metrics serves
	hooks   *introspect.Hooks    // the metrics' hooks, given to every part
	keys    *jwt.Verifier        // the local JWT verifier, if any
	opaque  introspect.Verifier  // the introspection backend, if any
	closers []func()             // in the order started; Close calls them in reverse
}

// newServer builds the example cfg describes, starting the demo server
// when no other is named. The caller must Close it.
func newServer(cfg *config, logger *slog.Logger) (_ *server, err error) {
	s := &server{}
	s.startMetrics()
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	if cfg.demo() {
		if err := s.startDemo(cfg); err != nil {
			return nil, err
		}
	}
	backend, err := newBackend(cfg, s.demo, s)
	if err != nil {
		return nil, err
	}
	if s.keys != nil {
		// Load the key set before serving, within the upstream timeout. A
		// wrong issuer or a key set that is down is logged, not fatal:
		// requests get 503 until the keys load, and they are asked for
		// again by themselves.
		ctx, cancel := context.WithTimeout(context.Background(), cfg.upstreamTimeout)
		err := s.keys.WaitReady(ctx)
		cancel()
		if err != nil {
			logger.Error("the key set could not be loaded at start; tokens get 503 and /readyz 503 until it is",
				"issuer", cfg.issuer, "jwks_url", cfg.jwksURL, "err", err)
		}
	}
	if cfg.rfc7662() {
		// Discover the introspection endpoint before serving, within the
		// upstream timeout, so that a wrong -issuer shows at once. As with
		// the key set, a failure is logged, not fatal: discovery is tried
		// again, with back-off, until the issuer answers.
		ctx, cancel := context.WithTimeout(context.Background(), cfg.upstreamTimeout)
		err := introspect.Ready(ctx, s.opaque)
		cancel()
		if err != nil {
			logger.Error("the issuer's discovery document could not be read at start; tokens get 503 and /readyz 503 until it is",
				"issuer", cfg.issuer, "err", err)
		}
	}
	cacheCfg := introspect.CacheConfig{
		Hooks:         s.hooks,
		MaxTTL:        cfg.cacheTTL,
		Timeout:       cfg.upstreamTimeout,
		MaxConcurrent: cfg.upstreamConcurrency,
	}
	if cfg.cacheTTL == 0 {
		// No cache: nothing is stored, but concurrent requests for one
		// token still share one call and upstream calls stay bounded.
		cacheCfg.MaxTTL, cacheCfg.InvalidTTL = -1, -1
	}
	if cfg.redis != nil {
		if cacheCfg.Shared, err = s.startShared(cfg, logger); err != nil {
			return nil, err
		}
		cacheCfg.SharedNamespace = cfg.sharedNamespace()
	}
	// Every backend, a local JWT verifier too, sits behind the cache: a
	// repeated JWT costs no signature check.
	if s.cache, err = introspect.NewCache(backend, cacheCfg); err != nil {
		return nil, err
	}
	s.onClose(s.cache.Close)

	app := &api{cache: s.cache, readyTimeout: cfg.upstreamTimeout, metrics: s.metricsHandler(), hooks: s.hooks, logger: logger}
	if cfg.geosecure() && cfg.clientID != "" && cfg.clientSecret != "" {
		app.profiles, err = geosecure.NewProfileClient(geosecure.ProfileConfig{
			URL: cfg.profileURL, ClientID: cfg.clientID, ClientSecret: cfg.clientSecret, Timeout: cfg.upstreamTimeout,
		})
		if err != nil {
			return nil, err
		}
		s.onClose(app.profiles.Close)
	}

	s.stack = "Echo v4"
	if cfg.framework == "http" {
		s.stack = "net/http"
		s.handler, err = newHTTPHandler(app, cfg, s.cache, logger)
	} else {
		s.handler, err = newEchoHandler(app, cfg, s.cache, logger)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// startMetrics makes the registry GET /metrics serves: tokengate's metrics,
// through the hooks every part of the example reports to, and the Go
// runtime's and the process's.
func (s *server) startMetrics() {
	collector := promhook.New(promhook.Config{})
	s.hooks = collector.Hooks()
	s.metrics = prometheus.NewRegistry()
	s.metrics.MustRegister(collector, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// metricsHandler serves the registry in the Prometheus text format.
func (s *server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{})
}

// startDemo starts the demo server cfg.demoKind names and points cfg at it.
func (s *server) startDemo(cfg *config) error {
	clientID := cmp.Or(cfg.clientID, "demo-client")
	if cfg.demoKind == demoHalland {
		s.demo = startHalland(clientID, cfg.audiences[0])
		s.onClose(s.demo.Close)
		cfg.issuer = s.demo.issuer.Issuer() // its metadata names the keys and the access_token_issuer
		return nil
	}
	demo, err := startDemo(cfg.demoKind == demoACM, clientID, cmp.Or(cfg.clientSecret, "demo-secret"))
	if err != nil {
		return err
	}
	s.demo = demo
	s.onClose(demo.Close)
	cfg.clientID, cfg.clientSecret = demo.ClientID, demo.ClientSecret
	if demo.acm {
		cfg.issuer = demo.Issuer()
		if !cfg.clientAuthSet {
			cfg.clientAuth = rfc7662.PrivateKeyJWT
		}
		demo.method = cfg.clientAuth
	} else {
		cfg.verifyURL, cfg.profileURL = demo.VerifyURL(), demo.ProfileURL()
	}
	return nil
}

// onClose adds f to what Close calls, after what was added before it.
func (s *server) onClose(f func()) { s.closers = append(s.closers, f) }

// Close stops what newServer started, the last started first.
func (s *server) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// newBackend returns the verifier cfg names: Geosecure's verify endpoint or
// RFC 7662 introspection for opaque tokens, local validation for JWTs, or,
// for -token-format auto, local validation of JWT-shaped tokens and
// introspection of the others. Each backend is closed with s.
func newBackend(cfg *config, demo *demoServer, s *server) (introspect.Verifier, error) {
	var opaque introspect.Verifier
	if cfg.introspection() {
		v, err := newIntrospection(cfg, demo)
		if err != nil {
			return nil, err
		}
		s.onClose(v.Close)
		opaque, s.opaque = v, v
	}
	if !cfg.localJWT() {
		return opaque, nil
	}
	// -issuer goes into Issuer, never Issuers: with -jwks-url it is then
	// the one accepted "iss"; without, the key set and the accepted "iss"
	// come from its discovery document, and for ADFS that is the
	// access_token_issuer, which Issuers would override.
	local, err := jwt.New(jwt.Config{
		JWKSURL:   cfg.jwksURL,
		Issuer:    cfg.issuer,
		Audiences: cfg.audiences,
		Timeout:   cfg.upstreamTimeout,
		Hooks:     s.hooks,
	})
	if err != nil {
		return nil, err
	}
	s.onClose(local.Close)
	s.keys = local
	if cfg.format == tokenFormatAuto {
		return jwt.WithFallback(local, opaque), nil
	}
	return local, nil
}

// closingVerifier is a backend with idle connections to close.
type closingVerifier interface {
	introspect.Verifier
	Close()
}

// newIntrospection returns the introspection backend cfg names:
// Geosecure's verify endpoint, or RFC 7662 introspection. In the ACM demo
// the client key is the demo's.
func newIntrospection(cfg *config, demo *demoServer) (closingVerifier, error) {
	if !cfg.rfc7662() {
		return geosecure.New(geosecure.Config{URL: cfg.verifyURL, Timeout: cfg.upstreamTimeout})
	}
	in := rfc7662.Config{
		Issuer:       cfg.issuer,
		Endpoint:     cfg.introspectionURL,
		ClientID:     cfg.clientID,
		ClientSecret: cfg.clientSecret,
		AuthMethod:   cfg.clientAuth,
		Timeout:      cfg.upstreamTimeout,
		// ACM/IDM adds who manages the user's credentials only when asked;
		// the demo OpenID Provider answers as ACM does.
		CredentialManager: cfg.issuer == rfc7662.ACMProductionIssuer || cfg.issuer == rfc7662.ACMTestIssuer || (demo != nil && demo.acm),
	}
	if cfg.clientAuth == rfc7662.PrivateKeyJWT {
		switch {
		case cfg.clientJWK != "":
			data, err := os.ReadFile(cfg.clientJWK)
			if err != nil {
				return nil, fmt.Errorf("-client-jwk: %w", err)
			}
			if in.ClientKey, err = rfc7662.ParseJWK(data); err != nil {
				return nil, fmt.Errorf("-client-jwk %s: %w", cfg.clientJWK, err)
			}
		case demo != nil && demo.acm:
			in.ClientKey = demo.key
		}
	}
	return rfc7662.New(in)
}
