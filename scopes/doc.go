// Package scopes implements OAuth 2.0 scope sets (RFC 6749 §3.3) and the
// requirements a route states about them.
//
// A [Set] is parsed once per token, when the authorization server's answer
// arrives, and then checked on every request against a [Requirement]: all of
// some scopes ([AllOf]), any of them ([AnyOf]), or a function ([Func]).
// Checks allocate nothing, so they cost a few nanoseconds on the hot path.
//
// Scopes are compared exactly by default. [Hierarchic] and [Wildcard] are
// opt-in strategies for authorization servers that grant a parent scope
// ("gipod" for "gipod.read") or a pattern ("gipod_*"); choose one per
// requirement with [Requirement.Matching].
//
// # Security
//
// Scope comparison is case-sensitive, as RFC 6749 requires: "MapRequest" and
// "maprequest" are different scopes. The non-exact strategies widen what a
// granted scope allows; use them only when the authorization server's scope
// design says so.
package scopes
