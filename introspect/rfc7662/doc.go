// Package rfc7662 checks access tokens with OAuth 2.0 token introspection
// (RFC 7662), as Digitaal Vlaanderen's ACM/IDM OpenID Provider offers it.
//
// An [Introspector], made by [New], is an [introspect.Verifier]: put an
// [introspect.Cache] in front of it. Give it the issuer
// ([ACMProductionIssuer] or [ACMTestIssuer]), from which it discovers the
// introspection endpoint ({issuer}/.well-known/openid-configuration), or the
// endpoint itself, and the resource server's client credentials.
//
// # ACM/IDM
//
// Clients migrated from Geosecure authenticate with [PrivateKeyJWT] only:
// load the private JWK whose public half is registered for the client with
// [ParseJWK]. Every request then carries a fresh assertion, signed RS256,
// with iss and sub the client id, aud the issuer, a random jti and a
// lifetime of [DefaultAssertionLifetime]. Other clients may use
// [ClientSecretBasic] (the default without a key) or [ClientSecretPost].
//
// # Security
//
// No token, client secret or private key ever appears in an error; [Config]
// and [SigningKey] redact their secrets when printed or logged.
//
// Only "active": true makes a token valid. A refusal of the resource
// server's own credentials by the introspection endpoint is
// [introspect.ErrUnavailable], not [introspect.ErrInvalidToken]: a
// misconfigured resource server must not make its clients throw good tokens
// away. So is every answer that is not the documented one.
//
// The issuer, the endpoint and the discovered endpoint must be https, except
// to loopback addresses for tests and demos, and a discovery document must
// name the issuer asked for. Redirects are never followed, every call has a
// timeout, and at most 1 MiB of an answer is read. A failed discovery is
// remembered for a while ([Config.DiscoveryRetry]) so that an outage does
// not make every request ask again.
package rfc7662
