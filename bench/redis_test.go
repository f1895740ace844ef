package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/internal/redistest"
	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/redis"
	"github.com/tokengate/tokengate/scopes"
)

// The shared tier's benchmarks run against a redis-server of their own on
// loopback (skipped where there is none, failed under CI=true), with
// replicas that are Caches in this process, each with its own client, in
// front of a Verifier that answers at once: what they measure is Redis and
// the tier, not an authorization server.

// sharedVerifier answers every token as valid, counting calls; when gate
// holds a channel, answers wait for it to close.
type sharedVerifier struct {
	calls atomic.Int64
	gate  atomic.Pointer[chan struct{}]
}

func (v *sharedVerifier) Verify(ctx context.Context, _ string) (*introspect.TokenInfo, error) {
	v.calls.Add(1)
	if g := v.gate.Load(); g != nil {
		select {
		case <-*g:
		case <-ctx.Done():
			return nil, &introspect.UnavailableError{Reason: "gave up", Err: ctx.Err()}
		}
	}
	return &introspect.TokenInfo{
		Active: true, Scopes: scopes.New("MapRequest", "gipod_pdo_read"), ClientID: "38890",
		Audience: []string{audience}, Issuer: issuer, ExpiresAt: time.Now().Add(time.Hour),
	}, nil
}

func redisClient(b *testing.B, addr string) *goredis.Client {
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, ContextTimeoutEnabled: true})
	b.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// sharedReplica returns a Cache with the Redis tier at addr in front of v.
func sharedReplica(b *testing.B, addr string, v introspect.Verifier) *introspect.Cache {
	tier, err := redis.New(redisClient(b, addr), redis.Config{})
	if err != nil {
		b.Fatal(err)
	}
	// A generous SharedTimeout: a benchmark measures the path, and a
	// loaded machine's pause must not turn a shared hit into a miss.
	c, err := introspect.NewCache(v, introspect.CacheConfig{Shared: tier, SharedNamespace: issuer, SharedTimeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	for c.Stats().SharedFlushes == 0 { // subscribed
		time.Sleep(time.Millisecond)
	}
	return c
}

// BenchmarkSharedMiss compares a raw go-redis GET round trip (raw-get)
// with a memory miss answered from Redis (shared-hit): key derivation, one
// round trip, opening and decoding the value, and storing it in memory. The
// target is shared-hit ≤ 1.3 × raw-get. The raw GETs read what shared hits
// read: every one a key of its own, as long as a shared key, holding a
// value as large as a sealed answer.
//
// paired is the target's measure: each iteration makes a raw GET, a raw
// GET followed by a ristretto set of a new entry (get-fill: what storing
// the answer in memory would add to the round trip if the Cache set each
// new entry at once, rather than in batches), and a shared hit, in an
// order that turns every iteration, timing each on its own. A drift of the
// machine's speed during the run then reaches all three alike, where the
// separate sub-benchmarks, which run one after the other, can differ by
// a third from run to run. raw-get and shared-hit count the allocations.
func BenchmarkSharedMiss(b *testing.B) {
	rs := redistest.Start(b)
	ctx := context.Background()
	b.Run("raw-get", func(b *testing.B) {
		get := rawGetter(b, rs.Addr, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			get(i)
		}
	})
	b.Run("shared-hit", func(b *testing.B) {
		reader, tokens, check := sharedHits(b, rs.Addr)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := reader.Verify(ctx, tokens[i]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		check()
	})
	b.Run("paired", func(b *testing.B) {
		reader, tokens, check := sharedHits(b, rs.Addr)
		// Two sets of keys, so that the GET of get-fill does not read what
		// the raw GET just read.
		get, getFill := rawGetter(b, rs.Addr, b.N), rawGetter(b, rs.Addr, b.N)
		store := newStore(b)
		info := &introspect.TokenInfo{}
		var spent [3]time.Duration
		ops := [3]func(i int){
			func(i int) { get(i) },
			func(i int) {
				getFill(i)
				store.SetWithTTL(uint64(i), info, 1, time.Hour)
			},
			func(i int) {
				if _, err := reader.Verify(ctx, tokens[i]); err != nil {
					b.Fatal(err)
				}
			},
		}
		b.ResetTimer()
		for i := range b.N {
			for k := range ops {
				op := (i + k) % len(ops)
				start := time.Now()
				ops[op](i)
				spent[op] += time.Since(start)
			}
		}
		b.StopTimer()
		check()
		for op, unit := range [...]string{"raw-ns/op", "get-fill-ns/op", "shared-ns/op"} {
			b.ReportMetric(float64(spent[op].Nanoseconds())/float64(b.N), unit)
		}
	})
}

// rawGetter stores n values in the Redis at addr, each under a key of its
// own, the key as long as a shared key and the value as large as a sealed
// answer, and returns a function that reads the i-th with a raw go-redis
// GET. Reading one key over and over instead costs Redis less than shared
// hits, which each read another key: a few percent of the round trip.
func rawGetter(b *testing.B, addr string, n int) (get func(i int)) {
	ctx := context.Background()
	rdb := redisClient(b, addr)
	key, value := sharedEntry(b, addr, rdb)
	prefix := fmt.Sprintf("raw:%d:", rawSets.Add(1))
	keys := make([]string, n)
	pipe := rdb.Pipeline()
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%0*d", prefix, len(key)-len(prefix), i)
		pipe.Set(ctx, keys[i], value, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	return func(i int) {
		if _, err := rdb.Get(ctx, keys[i]).Bytes(); err != nil {
			b.Fatal(err)
		}
	}
}

// rawSets numbers the key sets of rawGetter.
var rawSets atomic.Int64

// sharedEntry returns a key and value that a replica stored in the Redis at
// addr, which rdb is a client of, for a token it verified.
func sharedEntry(b *testing.B, addr string, rdb *goredis.Client) (key string, value []byte) {
	ctx := context.Background()
	c := sharedReplica(b, addr, &sharedVerifier{})
	if _, err := c.Verify(ctx, opaqueToken()); err != nil {
		b.Fatal(err)
	}
	for { // the worker stores the answer in Redis after answering
		keys, err := rdb.Keys(ctx, "tokengate:*").Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, key := range keys {
			// A claim ("c…") stands until the value ("v…") replaces it.
			if value, err := rdb.Get(ctx, key).Bytes(); err == nil && len(value) > 0 && value[0] == 'v' {
				return key, value
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// sharedHits returns a replica whose memory holds none of b.N tokens that
// another replica has stored in the Redis at addr, and a check, for the end,
// that every one was answered from Redis.
func sharedHits(b *testing.B, addr string) (reader *introspect.Cache, tokens []string, check func()) {
	ctx := context.Background()
	v := &sharedVerifier{}
	filler := sharedReplica(b, addr, v)
	tokens = make([]string, b.N)
	for i := range tokens {
		tokens[i] = opaqueToken()
		if _, err := filler.Verify(ctx, tokens[i]); err != nil {
			b.Fatal(err)
		}
	}
	reader = sharedReplica(b, addr, v)
	before := v.calls.Load()
	return reader, tokens, func() {
		if v.calls.Load() != before {
			b.Fatalf("%d upstream calls: the reader missed Redis: %+v", v.calls.Load()-before, reader.Stats())
		}
	}
}

// BenchmarkSharedMemoryHit is a memory hit of a Cache with the shared tier
// configured: it must cost what a hit without it does, and allocate
// nothing, as it never reaches Redis.
func BenchmarkSharedMemoryHit(b *testing.B) {
	rs := redistest.Start(b)
	c := sharedReplica(b, rs.Addr, &sharedVerifier{})
	ctx := context.Background()
	token := opaqueToken()
	if _, err := c.Verify(ctx, token); err != nil {
		b.Fatal(err)
	}
	for c.Stats().Hits == 0 { // the store has applied the set
		_, _ = c.Verify(ctx, token)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

// sharedHerdReplicas and sharedHerdSize make a cross-replica herd: that
// many concurrent requests for one new token, spread over that many
// replicas.
const (
	sharedHerdReplicas = 3
	sharedHerdSize     = 300
)

// BenchmarkSharedHerd sends a herd for one new token over three replicas,
// holding the upstream answer until every request waits, and reports the
// upstream calls each herd made: the target is exactly 1.
func BenchmarkSharedHerd(b *testing.B) {
	rs := redistest.Start(b)
	v := &sharedVerifier{}
	replicas := make([]*introspect.Cache, sharedHerdReplicas)
	for i := range replicas {
		replicas[i] = sharedReplica(b, rs.Addr, v)
	}
	herds := 0
	for b.Loop() {
		herds++
		open := make(chan struct{})
		v.gate.Store(&open)
		token := opaqueToken()
		var wg sync.WaitGroup
		var failed atomic.Int64
		for i := range sharedHerdSize {
			wg.Go(func() {
				if _, err := replicas[i%len(replicas)].Verify(context.Background(), token); err != nil {
					failed.Add(1)
				}
			})
		}
		for {
			var waiting int64
			for _, r := range replicas {
				waiting += r.Stats().Waiting
			}
			if waiting == sharedHerdSize && v.calls.Load() >= int64(herds) {
				break
			}
			runtime.Gosched()
		}
		close(open)
		wg.Wait()
		if failed.Load() > 0 {
			b.Fatalf("%d requests of a herd failed", failed.Load())
		}
	}
	b.ReportMetric(float64(v.calls.Load())/float64(herds), "upstream-calls/herd")
}

// BenchmarkInvalidationPropagation measures the time from Invalidate on
// one replica until another has heard it and forgotten the token: one
// DEL, one PUBLISH and the delivery. The goal is well under 100 ms.
func BenchmarkInvalidationPropagation(b *testing.B) {
	rs := redistest.Start(b)
	v := &sharedVerifier{}
	a, other := sharedReplica(b, rs.Addr, v), sharedReplica(b, rs.Addr, v)
	ctx := context.Background()
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		token := opaqueToken()
		if _, err := a.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
		if _, err := other.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
		heard := other.Stats().InvalidationsReceived
		b.StartTimer()
		start := time.Now()
		a.Invalidate(token)
		for other.Stats().InvalidationsReceived == heard {
			runtime.Gosched()
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/invalidation")
}
