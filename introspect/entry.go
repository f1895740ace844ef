package introspect

import "crypto/sha256"

// entry is one stored result: facts for a valid token, or an error for an
// invalid one.
type entry struct {
	// sum is the whole SHA-256 of the token; the cache's key holds only part
	// of it, so a hit is confirmed against this.
	sum     [sha256.Size]byte
	info    *TokenInfo
	err     error
	expires instant
	// staleUntil is when the entry stops being usable at all; past expires
	// and before it, it serves only when the server is unavailable.
	staleUntil instant
	// sharedID names the entry in the shared tier's invalidations: the
	// leading bytes of its shared key's hash. indexed reports whether the
	// entry is in the Cache's index by sharedID, as every entry is when
	// the Cache has a shared tier.
	sharedID uint64
	indexed  bool
}

// typicalEntryCost is the estimated cost of a result with a few scopes and
// claims, used to size ristretto's frequency counters.
const typicalEntryCost = 900

// cost estimates the bytes e holds, so that MaxCost bounds memory rather
// than a number of entries. entrySize is an entry with ristretto's
// bookkeeping for it (its store and policy maps, at their load factor);
// infoSize is a TokenInfo's fixed part. With them the estimate of a result
// with two scopes and an audience is within a few percent of the heap that
// BenchmarkMemory (in bench/) measures per cached token.
func (e *entry) cost() int64 {
	const entrySize, infoSize, indexSize = 520, 256, 48
	n := entrySize
	if e.indexed {
		n += indexSize
	}
	if info := e.info; info != nil {
		n += infoSize + len(info.ClientID) + len(info.Subject) + len(info.Issuer) + len(info.TokenType)
		for scope := range info.Scopes.All {
			n += 16 + len(scope)
		}
		for _, aud := range info.Audience {
			n += 16 + len(aud)
		}
		n += approxSize(info.Claims)
	}
	return int64(n)
}

// approxSize estimates the memory held by a value decoded from JSON.
func approxSize(v any) int {
	switch v := v.(type) {
	case string:
		return 16 + len(v)
	case map[string]any:
		n := 48
		for k, item := range v {
			n += 32 + len(k) + approxSize(item)
		}
		return n
	case []any:
		n := 24
		for _, item := range v {
			n += 16 + approxSize(item)
		}
		return n
	default:
		return 16
	}
}
