package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/redis"
)

// parseRedisURL reads -redis-url: redis://[USER:PASSWORD@]HOST:PORT/DB or
// rediss:// for TLS, with go-redis's query options. Its errors never
// repeat the URL, which may hold a password.
func parseRedisURL(s string) (*goredis.Options, error) {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ue.URL is the whole URL, password included
		}
		return nil, fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("want redis://HOST:PORT/DB (or rediss:// for TLS), not a URL with scheme %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("no host: want redis://HOST:PORT/DB, e.g. redis://127.0.0.1:6379/0")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %q is not a number from 1 to 65535", p)
		}
	}
	opts, err := goredis.ParseURL(s)
	if err != nil {
		// These name the database number or an option, never the
		// userinfo.
		return nil, err
	}
	// Lets an operation the Cache gives up on end at its SharedTimeout
	// rather than at the client's read timeout (see introspect/redis).
	opts.ContextTimeoutEnabled = true
	return opts, nil
}

// redactedRedisURL is -redis-url with its password, if any, replaced by
// "xxxxx", for log lines and the demo's hints.
func (c *config) redactedRedisURL() string {
	u, err := url.Parse(c.redisURL)
	if err != nil {
		return ""
	}
	return u.Redacted()
}

// sharedNamespace names the backend whose answers the shared tier holds:
// Geosecure's verify URL, the RFC 7662 issuer or, without one, the
// introspection endpoint, or for local JWT validation alone the issuer.
// The Verifiers mix in what else their answers depend on (the client that
// asks, the audiences accepted: see introspect.AnswerScoper), so it names
// no client and no audience, which every key in Redis would show. One
// that is too long or has characters a namespace may not hold is replaced
// by its SHA-256.
func (c *config) sharedNamespace() string {
	var ns string
	switch {
	case c.geosecure():
		ns = c.verifyURL
	case c.rfc7662():
		ns = cmp.Or(c.issuer, c.introspectionURL)
	default:
		ns = cmp.Or(c.issuer, c.jwksURL)
	}
	if len(ns) > 256 || strings.ContainsFunc(ns, func(r rune) bool { return r <= ' ' || r > '~' || r == '{' || r == '}' }) {
		sum := sha256.Sum256([]byte(ns))
		ns = "sha256:" + hex.EncodeToString(sum[:])
	}
	return ns
}

// startShared returns the shared tier on the Redis cfg names, closed with
// s. It does not wait for Redis: the Cache counts a Redis that is down as
// misses and tries it again by itself, and a watcher logs when it cannot
// be reached at start and when it can.
func (s *server) startShared(cfg *config, logger *slog.Logger) (introspect.SharedTier, error) {
	rdb := goredis.NewClient(cfg.redis)
	s.onClose(func() { _ = rdb.Close() })
	tier, err := redis.New(rdb, redis.Config{})
	if err != nil {
		return nil, err
	}
	logger.Info("sharing verification results through Redis", "redis", cfg.redactedRedisURL(), "namespace", cfg.sharedNamespace())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchRedis(ctx, rdb, cfg.redactedRedisURL(), logger)
	}()
	s.onClose(func() { cancel(); <-done })
	return tier, nil
}

// watchRedis pings Redis until it answers or ctx ends, and logs that it
// cannot be reached, once, and when it can again. It only logs: requests
// never wait for it.
func watchRedis(ctx context.Context, rdb *goredis.Client, redisURL string, logger *slog.Logger) {
	wait := 100 * time.Millisecond
	failed := false
	for {
		pingCtx, cancel := context.WithTimeout(ctx, time.Second)
		err := rdb.Ping(pingCtx).Err()
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			if failed {
				logger.Info("Redis answers: verification results are shared", "redis", redisURL)
			}
			return
		case !failed:
			failed = true
			logger.Warn("Redis cannot be reached: tokens go to the authorization server until it can, and it is tried again",
				"redis", redisURL, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// redisLog sends go-redis's own messages, such as each failed dial while
// Redis is down, to the example's log at debug level: the watcher has
// said once that Redis cannot be reached.
type redisLog struct{ logger *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.logger.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}
