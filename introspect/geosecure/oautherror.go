package geosecure

import (
	"encoding/json"
	"slices"

	"github.com/tokengate/tokengate/internal/upstream"
	"github.com/tokengate/tokengate/introspect"
)

// oauthError interprets the "error" member of a verify or profile answer
// whose status did not already say the server failed.
//
// Only "invalid_token" condemns the token: it is the one code the verify
// and profile endpoints document (see their seeds), and RFC 6750 §3.1
// defines it as "expired, revoked, malformed, or invalid". The other codes
// of RFC 6750 §3.1 are not about the token presented: "invalid_request"
// says our request is malformed, and "insufficient_scope" would say the
// token may not call the endpoint, which a resource server cannot tell its
// client. RFC 6749's codes ("invalid_client", "server_error", …) are about
// the client or the server. Every one of those, any code we do not know,
// and an "error" member that is not a string, is
// [introspect.ErrUnavailable]: an answer we do not understand must not tell
// a client its token is bad.
func oauthError(raw json.RawMessage) error {
	code, ok := upstream.JSONString(raw)
	switch {
	case ok && code == "invalid_token":
		return upstream.InvalidToken("rejected by the authorization server")
	case ok && slices.Contains(knownOAuthErrors, code):
		return &introspect.UnavailableError{Reason: "authorization server reported " + code}
	}
	return &introspect.UnavailableError{Reason: "authorization server reported an unknown error"}
}

// knownOAuthErrors are the error codes of RFC 6749 §5.2 and RFC 6750 §3.1
// besides "invalid_token". Only these are named in an
// [introspect.UnavailableError]'s Reason: other text from upstream stays
// out of logs.
var knownOAuthErrors = []string{
	"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope", "insufficient_scope",
	"server_error", "temporarily_unavailable",
}
