package scopes

import (
	"strings"
)

// A Matcher decides whether the scopes granted to a token satisfy one
// required scope. [Exact], the default, compares strings; [Hierarchic] and
// [Wildcard] let one granted scope stand for many.
//
// Implementations must be safe for concurrent use and should not allocate:
// they run on every request.
type Matcher interface {
	Match(granted Set, required string) bool
}

// Exact matches a required scope only by the identical granted scope. It is
// the default strategy of the middleware's scope rules.
var Exact Matcher = exactMatcher{}

type exactMatcher struct{}

func (exactMatcher) Match(granted Set, required string) bool { return granted.Has(required) }

// Hierarchic returns a Matcher under which a granted scope also satisfies
// every scope below it: with separator ".", a granted "gipod" satisfies
// "gipod.read" and "gipod.pdo.write", but not "gipodx" or "gip". An empty
// separator gives [Exact].
func Hierarchic(separator string) Matcher {
	if separator == "" {
		return Exact
	}
	return hierarchicMatcher{sep: separator}
}

type hierarchicMatcher struct{ sep string }

func (m hierarchicMatcher) Match(granted Set, required string) bool {
	if granted.Has(required) {
		return true
	}
	// Try every ancestor of required: each prefix that ends right before
	// a separator.
	for i := strings.Index(required, m.sep); i > 0; {
		if granted.Has(required[:i]) {
			return true
		}
		next := strings.Index(required[i+len(m.sep):], m.sep)
		if next < 0 {
			break
		}
		i += len(m.sep) + next
	}
	return false
}

// Wildcard returns a Matcher under which a granted scope containing "*"
// satisfies every required scope it matches, "*" standing for any run of
// characters, including none: a granted "gipod_*" satisfies "gipod_pdo_read"
// and "gipod_org_read"; a granted "*_read" satisfies "gipod_pdo_read". A
// granted scope without "*" matches exactly. Only granted scopes are
// patterns: a required "gipod_*" is satisfied only by a granted "gipod_*"
// (or by a pattern matching it).
//
// Grant wildcards with care: a granted "*" satisfies every requirement.
func Wildcard() Matcher { return wildcardMatcher{} }

type wildcardMatcher struct{}

func (wildcardMatcher) Match(granted Set, required string) bool {
	if granted.Has(required) {
		return true
	}
	for _, pattern := range granted.sorted {
		if strings.Contains(pattern, "*") && globMatch(pattern, required) {
			return true
		}
	}
	return false
}

// globMatch reports whether s matches pattern, where "*" matches any run of
// bytes. It runs in O(len(pattern)·len(s)) time at worst and allocates
// nothing.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	// Where to resume after the last "*": the pattern index after it and
	// the next input index it should try to swallow.
	starPx, starSx := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && pattern[px] == '*':
			starPx, starSx = px+1, sx
			px++
		case px < len(pattern) && pattern[px] == s[sx]:
			px++
			sx++
		case starPx >= 0:
			starSx++
			px, sx = starPx, starSx
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}
