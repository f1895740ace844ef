package middleware

import (
	"strings"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/scopes"
)

// ScopeRule is the [Policy] of a route that needs scopes: all of some
// scopes ([AllOf]) or any one of them ([AnyOf]), each compared with a
// [scopes.Matcher], [scopes.Exact] unless [ScopeRule.Matching] chooses
// another. Its challenge names the scopes in the order given.
//
// The zero ScopeRule requires nothing, as AllOf() does: it allows every
// verified token. A ScopeRule is a value, safe for concurrent use; checking
// one allocates nothing unless its Matcher does.
type ScopeRule struct {
	anyOf  bool
	scopes []string
	match  scopes.Matcher // nil: scopes.Exact
	// text is Scope's answer, computed once so that a refusal does not
	// allocate.
	text string
}

// AllOf returns a rule that allows a token holding every one of the given
// scopes. Empty names are dropped; AllOf() allows every verified token.
func AllOf(scope ...string) ScopeRule { return newScopeRule(false, scope) }

// AnyOf returns a rule that allows a token holding at least one of the
// given scopes. Empty names are dropped; AnyOf() allows no token.
func AnyOf(scope ...string) ScopeRule { return newScopeRule(true, scope) }

func newScopeRule(anyOf bool, scope []string) ScopeRule {
	list := make([]string, 0, len(scope))
	for _, s := range scope {
		if s != "" {
			list = append(list, s)
		}
	}
	return ScopeRule{anyOf: anyOf, scopes: list, text: strings.Join(list, " ")}
}

// Matching returns a copy of r that compares scopes with m, such as
// [scopes.Hierarchic] or [scopes.Wildcard]. A nil m means [scopes.Exact].
func (r ScopeRule) Matching(m scopes.Matcher) ScopeRule {
	r.match = m
	return r
}

// Allow reports whether the scopes of info meet r.
func (r ScopeRule) Allow(info *introspect.TokenInfo) bool { return r.satisfiedBy(info.Scopes) }

// Scope returns the scopes r names, space-delimited in the order given: the
// "scope" attribute of its insufficient_scope challenge. It allocates
// nothing.
func (r ScopeRule) Scope() string { return r.text }

func (r ScopeRule) satisfiedBy(granted scopes.Set) bool {
	m := r.match
	if m == nil {
		m = scopes.Exact
	}
	if r.anyOf {
		for _, s := range r.scopes {
			if m.Match(granted, s) {
				return true
			}
		}
		return false
	}
	for _, s := range r.scopes {
		if !m.Match(granted, s) {
			return false
		}
	}
	return true
}
