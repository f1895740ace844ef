package middleware

import (
	"slices"
	"strings"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/scopes"
)

// Policy decides whether a verified token may use a route: a [ScopeRule]
// ([AllOf], [AnyOf]), an [OVOCodes] rule, [Every] one of several, or a
// [PolicyFunc] of the application's own.
//
// Implementations must be safe for concurrent use; they run on every
// request, on cached facts, so they should be cheap.
type Policy interface {
	// Allow reports whether the token described by info may proceed.
	Allow(info *introspect.TokenInfo) bool
	// Scope returns the scopes to name in the insufficient_scope challenge
	// when Allow refuses, space-delimited; "" names none.
	Scope() string
}

// PolicyFunc adapts a function to the [Policy] interface. Its challenge
// names no scope.
type PolicyFunc func(info *introspect.TokenInfo) bool

// Allow calls f(info).
func (f PolicyFunc) Allow(info *introspect.TokenInfo) bool { return f(info) }

// Scope returns "".
func (f PolicyFunc) Scope() string { return "" }

// Every returns a Policy that allows a token only when every one of
// policies does, such as a [ScopeRule] and an [OVOCodes] rule. Its
// challenge names the scopes of all of them. Every() allows every verified
// token: it is what a nil Policy means to [Authenticator.Require].
func Every(policies ...Policy) Policy {
	var all []string
	for _, p := range policies {
		all = append(all, strings.Fields(p.Scope())...)
	}
	return every{policies: slices.Clone(policies), scope: scopes.New(all...).String()}
}

type every struct {
	policies []Policy
	scope    string
}

func (e every) Allow(info *introspect.TokenInfo) bool {
	for _, p := range e.policies {
		if !p.Allow(info) {
			return false
		}
	}
	return true
}

func (e every) Scope() string { return e.scope }

// OVOCodes returns a Policy that allows a token only when the organisation
// its user acts for has one of the given OVO codes, read from ACM/IDM's
// claims by [introspect.TokenInfo.OVOCode]. A token that names no OVO code
// is refused (403 insufficient_scope).
func OVOCodes(codes ...string) Policy {
	set := make(map[string]struct{}, len(codes))
	for _, c := range codes {
		set[strings.TrimSpace(c)] = struct{}{}
	}
	return PolicyFunc(func(info *introspect.TokenInfo) bool {
		code := info.OVOCode()
		if code == "" {
			return false
		}
		_, ok := set[code]
		return ok
	})
}
