package echogate

import "github.com/tokengate/tokengate/middleware"

// The identifiers below are the same as package middleware's, named here so
// that an Echo application need not import tokengate's middleware next to
// Echo's own.

// Policy is the same as [middleware.Policy]: it decides whether a verified
// token may use a route.
type Policy = middleware.Policy

// PolicyFunc is the same as [middleware.PolicyFunc]: a function as a
// [Policy], whose challenge names no scope.
type PolicyFunc = middleware.PolicyFunc

// Sources is the same as [middleware.Sources]: where in a request a bearer
// token may travel.
type Sources = middleware.Sources

// The token sources, the same as middleware's: [middleware.FromHeader],
// [middleware.FromForm], [middleware.FromQuery], [middleware.FromCookie]
// and [middleware.FromExtractor].
const (
	FromHeader    = middleware.FromHeader
	FromForm      = middleware.FromForm
	FromQuery     = middleware.FromQuery
	FromCookie    = middleware.FromCookie
	FromExtractor = middleware.FromExtractor
)

// ScopeRule is the same as [middleware.ScopeRule]: the Policy of a route
// that needs scopes, as [AllOf] and [AnyOf] make it.
type ScopeRule = middleware.ScopeRule

// ResourceMetadata is the same as [middleware.ResourceMetadata]: the
// description of the resource for RFC 9728, for Config.ResourceMetadata.
type ResourceMetadata = middleware.ResourceMetadata

// AllOf is the same as [middleware.AllOf]: a rule that allows a token
// holding every one of the given scopes. Its Matching method chooses how
// scopes compare ([github.com/tokengate/tokengate/scopes.Wildcard], …).
func AllOf(scope ...string) ScopeRule { return middleware.AllOf(scope...) }

// AnyOf is the same as [middleware.AnyOf]: a rule that allows a token
// holding at least one of the given scopes.
func AnyOf(scope ...string) ScopeRule { return middleware.AnyOf(scope...) }

// Every is the same as [middleware.Every]: a Policy that allows a token only
// when every one of policies does.
func Every(policies ...Policy) Policy { return middleware.Every(policies...) }

// OVOCodes is the same as [middleware.OVOCodes]: a Policy that allows a token
// only when the organisation its user acts for has one of the given OVO
// codes.
func OVOCodes(codes ...string) Policy { return middleware.OVOCodes(codes...) }
