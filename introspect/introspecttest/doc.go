// Package introspecttest provides a fake authorization server for tests, in
// the spirit of net/http/httptest.
//
// [NewServer] starts a real HTTP server on a loopback address that answers
// as Digitaal Vlaanderen's Geosecure verify and profile endpoints do, for
// tokens the test registers with [Server.AddToken] or [Server.IssueToken]. It
// counts calls per token ([Server.Calls]), holds answers back on demand
// ([Server.Hold], [Server.Release]) so that concurrent requests can be
// gathered without sleeping, and misbehaves on demand ([Server.SetFault]):
// error statuses, delays, huge bodies, dropped connections.
//
// Point a verifier at [Server.VerifyURL] and [Server.ProfileURL]; plain http
// is accepted for loopback addresses.
package introspecttest
