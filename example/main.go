// Command example is a GIPOD-like API protected by tokengate, on Echo v4 or
// net/http, written as a team would copy it.
//
// With no -verify-url it starts an embedded demo authorization server on a
// loopback port and prints curl commands with demo tokens, so
//
//	go run ./example
//
// works on a machine without network (add -demo acm for an ACM/IDM-style
// OpenID Provider). Against Digitaal Vlaanderen's Geosecure server:
//
//	go run ./example -verify-url https://oauth.vlaanderen.be/authorization/ws/oauth/v2/authorization/verify \
//	    -client-id 38890 -client-secret "$SECRET" -audience 38890
//
// Against ACM/IDM, authenticating with the client's private JWK:
//
//	go run ./example -issuer https://authenticatie.vlaanderen.be/op \
//	    -client-id "$CLIENT_ID" -client-jwk client-key.json
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

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
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
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	var demo *demoServer
	if cfg.demo() {
		demo, err = startDemo(cfg.demoKind == "acm", cmp.Or(cfg.clientID, "demo-client"), cmp.Or(cfg.clientSecret, "demo-secret"))
		if err != nil {
			return err
		}
		defer demo.Close()
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
	}

	backend, err := newBackend(cfg, demo)
	if err != nil {
		return err
	}
	cacheCfg := introspect.CacheConfig{
		MaxTTL:        cfg.cacheTTL,
		Timeout:       cfg.upstreamTimeout,
		MaxConcurrent: cfg.upstreamConcurrency,
	}
	if cfg.cacheTTL == 0 {
		// No cache: nothing is stored, but concurrent requests for one
		// token still share one call and upstream calls stay bounded.
		cacheCfg.MaxTTL, cacheCfg.InvalidTTL = -1, -1
	}
	cache, err := introspect.NewCache(backend, cacheCfg)
	if err != nil {
		return err
	}
	defer cache.Close()

	app := &api{}
	if !cfg.rfc7662() && cfg.clientID != "" && cfg.clientSecret != "" {
		app.profiles, err = geosecure.NewProfileClient(geosecure.ProfileConfig{
			URL: cfg.profileURL, ClientID: cfg.clientID, ClientSecret: cfg.clientSecret, Timeout: cfg.upstreamTimeout,
		})
		if err != nil {
			return err
		}
	}

	var handler http.Handler
	stack := "Echo v4"
	if cfg.framework == "http" {
		stack = "net/http"
		handler, err = newHTTPHandler(app, cfg, cache, logger)
	} else {
		handler, err = newEchoHandler(app, cfg, cache, logger)
	}
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      cfg.upstreamTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "tokengate example (%s) listening on %s\n", stack, base)
	if demo != nil {
		demo.printCurls(stdout, base)
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

// newBackend returns the verifier cfg names: Geosecure's verify endpoint, or
// RFC 7662 introspection. In the ACM demo the client key is the demo's.
func newBackend(cfg *config, demo *demoServer) (introspect.Verifier, error) {
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
