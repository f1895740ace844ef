package redis

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/introspect"
)

// DefaultChannel is the pub/sub channel invalidations travel on when
// [Config.Channel] is empty.
const DefaultChannel = "tokengate:v1:invalidations"

// Config configures a [Tier]. The zero value is ready to use.
type Config struct {
	// Channel is the pub/sub channel every replica announces and hears
	// invalidations on. Empty means [DefaultChannel]. Replicas that share
	// entries must share it; several namespaces may share one channel.
	Channel string
	// HealthCheck is how long the listener waits for a message before it
	// pings Redis, and then for the answer, before it takes the
	// subscription for lost and subscribes again. Zero means one second.
	HealthCheck time.Duration
}

// Tier is an [introspect.SharedTier] on Redis: standalone, Sentinel or
// Cluster, through the application's own go-redis client. Set it as
// [introspect.CacheConfig.Shared].
//
// An entry is one string key with a TTL, which holds either a value,
// stored as "v" followed by its bytes, or a claim, "c" followed by a random
// text only its holder knows. A claim is set with SET NX PX, so that it is
// refused while a value or another claim stands; a value replaces a claim;
// a claim is released only by its holder. An invalidation deletes the key,
// value or claim, and publishes its name on the channel. Reading an entry
// is one GET, whatever it holds.
//
// A Tier is safe for concurrent use. It does not close the client.
type Tier struct {
	client      goredis.UniversalClient
	channel     string
	healthCheck time.Duration
}

// New returns a Tier on client. It does not contact Redis: a Redis that is
// down at start is a shared tier that misses until it is up.
func New(client goredis.UniversalClient, cfg Config) (*Tier, error) {
	if client == nil {
		return nil, errors.New("redis: a Tier needs a client")
	}
	if cfg.HealthCheck < 0 {
		return nil, errors.New("redis: negative HealthCheck")
	}
	t := &Tier{client: client, channel: cfg.Channel, healthCheck: cfg.HealthCheck}
	if t.channel == "" {
		t.channel = DefaultChannel
	}
	if t.healthCheck == 0 {
		t.healthCheck = time.Second
	}
	return t, nil
}

var (
	_ introspect.SharedTier     = (*Tier)(nil)
	_ introspect.ContextBounded = (*Tier)(nil)
)

// ContextBounded reports whether the client ends a command when its
// context's deadline passes (ContextTimeoutEnabled), so that the Cache
// can call the Tier without a goroutine per operation.
func (t *Tier) ContextBounded() bool {
	switch c := t.client.(type) {
	case *goredis.Client:
		return c.Options().ContextTimeoutEnabled
	case *goredis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *goredis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// The first byte of an entry says what it holds.
const (
	valueMark = "v"
	claimMark = "c"
)

// Get returns the value under key and whether a claim on it stands, in one
// round trip. An entry that is neither, which no Tier writes, is returned
// as a value whole, so that the Cache finds it unreadable and counts it.
func (t *Tier) Get(ctx context.Context, key string) ([]byte, bool, error) {
	entry, err := t.client.Get(ctx, key).Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	if value, ok := strings.CutPrefix(entry, valueMark); ok {
		return []byte(value), false, nil
	}
	if strings.HasPrefix(entry, claimMark) {
		return nil, true, nil
	}
	return []byte(entry), false, nil
}

// Set stores value under key for ttl, in place of a claim if one stands.
func (t *Tier) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	entry := make([]byte, 0, len(valueMark)+len(value))
	entry = append(append(entry, valueMark...), value...)
	return t.client.Set(ctx, key, entry, ttl).Err()
}

// Claim sets key's claim to a random value that only the holder knows,
// unless a claim stands or a value is stored under key: atomically, so
// that a replica that missed a value just before another stored it does
// not ask the authorization server again.
func (t *Tier) Claim(ctx context.Context, key string, ttl time.Duration) (string, error) {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails: crypto/rand panics instead
	claim := claimMark + base64.RawURLEncoding.EncodeToString(b)
	set, err := t.client.SetNX(ctx, key, claim, ttl).Result()
	if err != nil || !set { // not set: a value or a claim stands
		return "", err
	}
	return claim, nil
}

// release deletes a claim only if it is still the caller's: one that
// expired and was taken by another replica stays, and so does the value
// that replaced it.
var release = goredis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// Release gives up claim on key.
func (t *Tier) Release(ctx context.Context, key, claim string) error {
	return release.Run(ctx, t.client, []string{key}, claim).Err()
}

// Invalidate deletes the entry under key, value or claim, and publishes key
// on the channel. A replica whose claim it deletes stores its answer all
// the same when it comes, unless it has heard the invalidation first.
func (t *Tier) Invalidate(ctx context.Context, key string) error {
	if err := t.client.Del(ctx, key).Err(); err != nil {
		return err
	}
	return t.client.Publish(ctx, t.channel, key).Err()
}

// Listen subscribes to the channel and calls invalidated with every key
// published on it, until ctx ends. It calls subscribed on every
// confirmation of the subscription: the first, and each after a lost
// connection, a Redis restart or a health check that went unanswered,
// when it has subscribed again on a new connection.
func (t *Tier) Listen(ctx context.Context, invalidated func(key string), subscribed func()) {
	backoff := minBackoff
	for ctx.Err() == nil {
		if t.listen(ctx, invalidated, subscribed) {
			backoff = minBackoff
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// Waiting between subscriptions starts at minBackoff and doubles, while
// they fail, up to maxBackoff.
const (
	minBackoff = 10 * time.Millisecond
	maxBackoff = time.Second
)

// listen runs one subscription until it fails or ctx ends, and reports
// whether it was confirmed.
func (t *Tier) listen(ctx context.Context, invalidated func(key string), subscribed func()) (confirmed bool) {
	ps := t.client.Subscribe(ctx, t.channel)
	defer ps.Close()
	// Receive honours no context unless the client enables it: closing
	// the subscription ends it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, t.healthCheck)
		if err != nil {
			var timeout interface{ Timeout() bool }
			if ctx.Err() == nil && !pinged && errors.As(err, &timeout) && timeout.Timeout() {
				pinged = true
				if ps.Ping(ctx) == nil {
					continue
				}
			}
			return confirmed
		}
		pinged = false
		switch msg := msg.(type) {
		case *goredis.Subscription:
			if msg.Kind == "subscribe" {
				confirmed = true
				subscribed()
			}
		case *goredis.Message:
			invalidated(msg.Payload)
		}
	}
}
