// Package introspect is the core of tokengate's token checking: what an
// authorization server says about an access token ([TokenInfo]), the
// [Verifier] interface that asks it, the two classes of error every
// Verifier returns, the context that carries a TokenInfo to handlers, and
// the [Cache] that remembers answers.
//
// The backends live in packages of their own below this one:
// introspect/rfc7662, for ACM/IDM and any other server with RFC 7662 token
// introspection; introspect/geosecure, for Digitaal Vlaanderen's legacy
// Geosecure verify and profile endpoints; and introspect/jwt, which
// validates JWT access tokens locally with the issuer's key set (ADFS,
// Entra ID, RFC 9068). introspect/introspecttest is a fake authorization
// server for tests. A [Cache] wraps any Verifier; introspect/redis
// implements its shared tier ([SharedTier]) on Redis, so that the Caches
// of several replicas share answers.
//
// Every error a Verifier returns falls in one of two classes, told apart
// with [errors.Is]: [ErrInvalidToken] (the token is bad; answer 401) and
// [ErrUnavailable] (the authorization server failed; answer 503 and never
// say that the token is bad, or clients throw good tokens away). An
// [*UnavailableError] carries the upstream status and Retry-After.
//
// [NewContext] and [FromContext] carry a TokenInfo in a request's context;
// the middleware packages put it there. [TokenInfo.VO] reads ACM/IDM's
// Flemish claims, and [TokenInfo.OVOCode] the organisation's OVO code.
// [Fingerprint] names a token in logs without revealing it.
//
// # Caching
//
// [Cache] keeps each answer in a ristretto cache, keyed by the SHA-256 of
// the token:
//
//   - a valid token's facts for [CacheConfig.MaxTTL] (default 5 minutes), but
//     never past the token's expiry;
//   - an invalid-token answer for [CacheConfig.InvalidTTL] (default 10 s), so
//     that a client repeating a bad token does not reach the server each
//     time;
//   - a failure never: the next request asks again.
//
// Concurrent requests for an uncached token make one upstream call, on a
// context detached from any single request and bounded by
// [CacheConfig.Timeout], so that a client that disconnects does not fail the
// others. At most [CacheConfig.MaxConcurrent] upstream calls are in flight;
// memory is bounded by [CacheConfig.MaxCost]. A cached answer is served
// without any network call; the cost is a SHA-256 and a map lookup, about a
// quarter of a microsecond.
//
// The cache stores what the authorization server said, never a route's
// decision: the middleware checks scopes and audience on every request.
// Revocation at the authorization server takes effect when the cached
// result expires, after MaxTTL at most; call [Cache.Invalidate] at logout to
// forget a token at once.
//
// [CacheConfig.StaleIfError] (off by default) trades revocation for
// availability: while the authorization server is unavailable, a valid
// token's facts may be served for that long past MaxTTL, never past the
// token's own expiry and never for an invalid answer. Every such request
// still asks the server first, and [CacheStats.Stale] counts the stale
// answers. A token revoked during an outage is then accepted for up to
// MaxTTL + StaleIfError: choose the window with that in mind, or leave it
// off and let clients see 503s while the server is down.
//
// # Observing
//
// [Hooks] receive what tokengate does: each lookup per tier, each upstream
// call with its duration and result, the slots in use and the calls
// waiting for one, evictions, the shared tier's operations,
// invalidations, key-set fetches and the middleware's decisions. This
// package imports no metrics or tracing library: introspect/promhook
// turns Hooks into Prometheus metrics, introspect/otelhook into
// OpenTelemetry metrics and spans. A nil Hooks field costs a nil check.
//
// [Ready] answers a readiness probe: whether a Verifier can verify tokens
// now. A Cache is ready when the Verifier it wraps is (its endpoint
// discovered, its keys loaded) and its latest upstream calls did not
// fail, three or more in a row, within [CacheConfig.FailingFor].
//
// # Security
//
// No token and no client secret ever appears in an error, and so in no log
// line that prints one: errors name only the endpoint and the failure. The
// cache does not keep tokens, only their hashes. The backends' configuration
// types redact their secrets when printed or logged.
//
// The backends accept only https endpoints, except to loopback addresses
// for tests and demos; they never follow redirects, which would carry the
// token or the client credentials to another host; they read at most 1 MiB
// of an answer and limit every call with a timeout ([DefaultTimeout] unless
// configured).
//
// Every error that is not an invalid-token answer is a failure: no path turns
// an error into access.
package introspect
