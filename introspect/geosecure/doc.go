// Package geosecure checks access tokens with Digitaal Vlaanderen's legacy
// Geosecure authorization server (oauth.vlaanderen.be), and reads resource
// owners' profiles from it.
//
// A [Verifier], made by [New] with the verify endpoint ([ProductionURL] or
// [BetaURL]), is an [introspect.Verifier]: put an [introspect.Cache] in
// front of it. Geosecure's verify answer names the client that holds the
// token as its "audience"; the Verifier sets both
// [introspect.TokenInfo.ClientID] and [introspect.TokenInfo.Audience] from
// it, and gives no subject. A [ProfileClient] reads the [Profile] of a
// token's owner from the profile endpoint ([ProfileProductionURL] or
// [ProfileBetaURL]) with the resource server's client credentials.
//
// New clients should use ACM/IDM and package rfc7662; Geosecure stays for
// the clients not yet migrated.
//
// # Security
//
// The token travels in an Authorization header (verify) or a form body
// (profile), never in a URL. Endpoints must be https, except to loopback
// addresses for tests and demos; redirects are never followed, every call
// has a timeout and at most 1 MiB of an answer is read.
//
// Only the documented {"error":"invalid_token"}, with a status that is
// neither 5xx nor 429, makes a token invalid ([introspect.ErrInvalidToken]).
// Every other failure, including a refusal of the profile client's own
// credentials, is [introspect.ErrUnavailable]: a misconfigured or failing
// server must not make clients throw good tokens away.
//
// No error holds the token or the client secret; [ProfileConfig] redacts
// its secret when printed or logged.
package geosecure
