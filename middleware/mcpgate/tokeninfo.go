package mcpgate

import (
	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/tokengate/tokengate/introspect"
)

// Keys of the SDK TokenInfo's Extra that the Gate fills. Extra is built for
// each request, so a handler may change it without touching another's.
const (
	// ExtraTokenInfo holds tokengate's *introspect.TokenInfo, read with
	// [TokenInfo]. It is shared with other requests for the same token:
	// treat it as read-only.
	ExtraTokenInfo = "tokengate"
	// ExtraClientID holds the client id of the token's holder, a string,
	// when the authorization server named one.
	ExtraClientID = "client_id"
	// ExtraIssuer holds the token's issuer ("iss"), a string, when known.
	ExtraIssuer = "iss"
	// ExtraAudience holds the token's audiences ("aud"), a []string, when
	// it names any.
	ExtraAudience = "aud"
	// ExtraSubject holds the token's subject ("sub"), a string, when it
	// has one, whatever Config.UserID made of it.
	ExtraSubject = "sub"
)

// sdkTokenInfo is the SDK's view of info: its scopes, expiry, user id, and
// tokengate's facts in Extra.
func (g *Gate) sdkTokenInfo(info *introspect.TokenInfo) *auth.TokenInfo {
	extra := map[string]any{ExtraTokenInfo: info}
	if info.ClientID != "" {
		extra[ExtraClientID] = info.ClientID
	}
	if info.Issuer != "" {
		extra[ExtraIssuer] = info.Issuer
	}
	if len(info.Audience) > 0 {
		extra[ExtraAudience] = info.Audience
	}
	if info.Subject != "" {
		extra[ExtraSubject] = info.Subject
	}
	return &auth.TokenInfo{
		Scopes:     info.Scopes.List(),
		Expiration: info.ExpiresAt,
		UserID:     g.userID(info),
		Extra:      extra,
	}
}

// TokenInfo returns tokengate's facts about the token behind the SDK's
// TokenInfo ti, as a tool handler finds it in req.Extra.TokenInfo: its
// claims (the Flemish vo_* among them), client id, audiences, issuer. It
// returns nil when ti is nil or was not made by a [Gate]. The TokenInfo
// may be shared with other requests: treat it as read-only.
func TokenInfo(ti *auth.TokenInfo) *introspect.TokenInfo {
	if ti == nil {
		return nil
	}
	info, _ := ti.Extra[ExtraTokenInfo].(*introspect.TokenInfo)
	return info
}
