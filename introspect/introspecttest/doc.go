// Package introspecttest provides a fake authorization server for tests, in
// the spirit of net/http/httptest.
//
// [NewServer] starts a real HTTP server on a loopback address that answers
// as Digitaal Vlaanderen's servers do: Geosecure's verify and profile
// endpoints, and an ACM/IDM-style OpenID Provider with a discovery document
// and an RFC 7662 introspection endpoint, which checks client secrets and
// private_key_jwt assertions ([Server.AddClient]). It answers for tokens
// the test registers with [Server.AddToken] or [Server.IssueToken]. It
// counts calls per token ([Server.Calls]), holds answers back on demand
// ([Server.Hold], [Server.Release]) so that concurrent requests can be
// gathered without sleeping, and misbehaves on demand ([Server.SetFault],
// [Server.SetDiscoveryFault]): error statuses, delays, huge bodies, dropped
// connections.
//
// Point a geosecure verifier at [Server.VerifyURL] and [Server.ProfileURL],
// an rfc7662 introspector at [Server.Issuer] (or [Server.IntrospectionURL]);
// plain http is accepted for loopback addresses. Close the server when done.
package introspecttest
