// Package scopes implements OAuth 2.0 scope sets (RFC 6749 §3.3) and the
// strategies that compare a required scope with the granted ones.
//
// A [Set] is parsed once per token, when the authorization server's answer
// arrives, and then asked on every request whether it holds a scope. Checks
// allocate nothing, so they cost a few nanoseconds on the hot path.
//
// The rules a route states about scopes (all of some, any of them) are the
// middleware's: middleware.AllOf and middleware.AnyOf. They compare scopes
// exactly ([Exact]) by default; [Hierarchic] and [Wildcard] are opt-in
// [Matcher]s for authorization servers that grant a parent scope ("gipod"
// for "gipod.read") or a pattern ("gipod_*"), chosen per rule with its
// Matching method.
//
// # Security
//
// Scope comparison is case-sensitive, as RFC 6749 requires: "MapRequest" and
// "maprequest" are different scopes. The non-exact strategies widen what a
// granted scope allows; use them only when the authorization server's scope
// design says so.
package scopes
