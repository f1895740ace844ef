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
// the default strategy of every [Requirement].
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

type op uint8

const (
	opAll op = iota
	opAny
	opFunc
)

// Requirement states the scopes a route needs. Build one with [AllOf],
// [AnyOf] or [Func]; choose a strategy other than [Exact] with
// [Requirement.Matching].
//
// The zero Requirement requires nothing: every set satisfies it. A
// Requirement is a value that is safe for concurrent use.
type Requirement struct {
	op     op
	scopes []string
	match  Matcher
	pred   func(Set) bool
	// text is String's answer, computed once so that a refusal does not
	// allocate.
	text string
}

// AllOf returns a Requirement satisfied by a set that holds every one of
// scopes. AllOf() is satisfied by every set.
func AllOf(scopes ...string) Requirement {
	return newRequirement(opAll, scopes, nil)
}

// AnyOf returns a Requirement satisfied by a set that holds at least one of
// scopes. AnyOf() is satisfied by no set.
func AnyOf(scopes ...string) Requirement {
	return newRequirement(opAny, scopes, nil)
}

// Func returns a Requirement decided by satisfied, for rules that all-of and
// any-of cannot express. wanted names the scopes a client should ask for when
// the requirement is not met (the "scope" attribute of an RFC 6750
// insufficient_scope challenge); it may be empty. A nil satisfied is
// satisfied by no set. satisfied must be safe for concurrent use.
func Func(wanted []string, satisfied func(granted Set) bool) Requirement {
	if satisfied == nil {
		satisfied = func(Set) bool { return false }
	}
	return newRequirement(opFunc, wanted, satisfied)
}

func newRequirement(o op, scopes []string, pred func(Set) bool) Requirement {
	list := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if s != "" {
			list = append(list, s)
		}
	}
	return Requirement{op: o, scopes: list, pred: pred, text: strings.Join(list, " ")}
}

// Matching returns a copy of r that compares scopes with m. A nil m means
// [Exact]. It has no effect on a [Func] requirement, whose function decides
// alone.
func (r Requirement) Matching(m Matcher) Requirement {
	r.match = m
	return r
}

// SatisfiedBy reports whether granted meets r. It allocates nothing unless a
// custom [Matcher] or [Func] does.
func (r Requirement) SatisfiedBy(granted Set) bool {
	m := r.match
	if m == nil {
		m = Exact
	}
	switch r.op {
	case opAny:
		for _, s := range r.scopes {
			if m.Match(granted, s) {
				return true
			}
		}
		return false
	case opFunc:
		return r.pred(granted)
	default:
		for _, s := range r.scopes {
			if !m.Match(granted, s) {
				return false
			}
		}
		return true
	}
}

// Scopes returns the scopes r names, in the order given. The caller may
// modify the returned slice.
func (r Requirement) Scopes() []string {
	return append([]string(nil), r.scopes...)
}

// String returns the scopes r names, space-delimited in the order given: the
// value for the "scope" attribute of an insufficient_scope challenge. It
// allocates nothing.
func (r Requirement) String() string { return r.text }
