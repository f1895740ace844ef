// Package upstream is the HTTP plumbing the introspect backends share for
// their calls to an authorization server: endpoint URL checks, the tuned
// transport, one request helper ([Call]) that bounds the call and the
// answer, status and Retry-After handling, the JSON helpers of their
// parsers, and secret redaction.
//
// # Security
//
// [CheckEndpoint] accepts only https, except to loopback addresses, and no
// credentials in a URL. A [Client] never follows redirects, which would
// carry a token or client credentials to another host; [Call] limits every
// call with the client's timeout and reads at most 1 MiB of an answer. No
// error built here holds a token or a secret: a [Request]'s Authorization
// and Form never reach one.
package upstream
