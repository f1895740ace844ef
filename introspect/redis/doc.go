// Package redis is a shared tier for [introspect.Cache] on Redis, through
// github.com/redis/go-redis/v9: the replicas of a service share what the
// authorization server said about a token, make one upstream call per
// token between them, and forget a token together.
//
//	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
//	tier, err := redis.New(rdb, redis.Config{})
//	…
//	cache, err := introspect.NewCache(verifier, introspect.CacheConfig{
//		Shared:          tier,
//		SharedNamespace: issuer, // the backend
//		SharedPepper:    pepper, // optional server secret, the same on every replica
//	})
//
// Replicas share an entry only when their namespaces and their
// Verifiers' answer scopes are the same (see [introspect.AnswerScoper]):
// two services that accept different audiences, or introspect as
// different clients, never read each other's answers.
//
// Any [goredis.UniversalClient] does: a standalone client, a Sentinel
// failover client or a Cluster client. The Cache bounds every operation by
// [introspect.CacheConfig.SharedTimeout] (50 ms by default) whatever the
// client's timeouts, but a client with ContextTimeoutEnabled lets an
// abandoned operation end at that bound too, rather than at its own read
// timeout.
//
// # Faults
//
// Redis down, refusing connections, slow, restarted, out of memory or
// evicting keys never fails a request: each failure is a miss, counted in
// [introspect.CacheStats], and the Cache goes on with memory and the
// authorization server. After three failures in a row it stops calling
// Redis for a second, then tries one call; an invalidation is tried all
// the same, and one Redis does not take is sent again until it does. When
// the subscription to invalidations is lost and comes back, the Cache
// empties its memory tier, since invalidations may have been missed in
// between.
//
// # Security
//
// Redis never holds a token or a plaintext fact. A key is
// "tokengate:v1:" + namespace + ":{" + hash + "}", where hash is
// HMAC-SHA-256, keyed by the pepper, over a domain label, the namespace,
// the hash of the Verifier's type and answer scope, and the token: it is
// not the memory tier's key, nor the token's Fingerprint, and differs per
// namespace and answer scope. A value is the answer (TokenInfo or the
// invalid-token answer, in a compact binary form) sealed with AES-256-GCM
// under a key derived from the token by HKDF-SHA-256 (salted with the
// pepper, bound to the namespace and answer scope), with those and the
// key as associated data. A dump of Redis thus reveals no token, scope,
// subject, client or claim, only the namespace, and a value copied to
// another key, namespace or answer scope does not open. A published
// invalidation is a key's name, never the token.
//
// Someone who holds a token and a dump can read that token's entry, as the
// authorization server would tell them anyway; with a pepper, not even
// that without the server's secret. Someone who can write to Redis can
// delete entries or make replicas ask the authorization server again, but
// cannot forge an answer for a token they do not hold: a value that does
// not open is a miss. Redis's own access control (ACL, TLS) is still the
// deployment's to set.
package redis
