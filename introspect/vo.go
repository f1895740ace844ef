package introspect

import "strings"

// VOClaims are the Flemish government's claims that ACM/IDM puts in its
// introspection answers, read from [TokenInfo.Claims] as they were sent. A
// claim that is absent or not a string reads as "".
//
// The organisation's OVO code is not a field: it is [TokenInfo.OVOCode],
// which applies the Basisregisters' rule to "vo_ovocode" and
// "vo_orgcode". A handler that needs the raw "vo_ovocode" claim, as sent,
// reads it with [TokenInfo.StringClaim].
type VOClaims struct {
	// ID is "vo_id": the user's identifier at ACM/IDM, stable across
	// sessions.
	ID string
	// OrgCode is "vo_orgcode": the code of the organisation the user acts
	// for, a KBO number or an OVO code.
	OrgCode string
	// DoelgroepCode and DoelgroepNaam are "vo_doelgroepcode" and
	// "vo_doelgroepnaam": the audience group the user logged in as, such as
	// "GID" (government employees) or "EA" (enterprises).
	DoelgroepCode string
	DoelgroepNaam string
	// CredentialManager is "credential_manager": who manages the user's
	// credentials.
	CredentialManager CredentialManager
}

// CredentialManager is ACM/IDM's "credential_manager" claim.
type CredentialManager struct {
	Code string
	Name string
}

// VO returns the token's Flemish claims. It is cheap enough to call per
// request, but handlers that read several claims should call it once.
func (t *TokenInfo) VO() VOClaims {
	c := VOClaims{
		ID:            t.StringClaim("vo_id"),
		OrgCode:       t.StringClaim("vo_orgcode"),
		DoelgroepCode: t.StringClaim("vo_doelgroepcode"),
		DoelgroepNaam: t.StringClaim("vo_doelgroepnaam"),
	}
	if v, _ := t.Claim("credential_manager"); v != nil {
		cm, _ := v.(map[string]any)
		c.CredentialManager.Code, _ = cm["code"].(string)
		c.CredentialManager.Name, _ = cm["name"].(string)
	}
	return c
}

// OVOCode returns the OVO code (in the Flemish Organisatieregister, "OVO"
// and six digits) of the organisation the token's user acts for, by the
// Basisregisters' rule: "vo_ovocode" when it is set, else "vo_orgcode" when
// that is an OVO code (it starts with "OVO"). Blank values are skipped and
// surrounding blanks trimmed; "" means the token names no OVO code, as it
// does for a nil t.
func (t *TokenInfo) OVOCode() string {
	if ovo := strings.TrimSpace(t.StringClaim("vo_ovocode")); ovo != "" {
		return ovo
	}
	if org := strings.TrimSpace(t.StringClaim("vo_orgcode")); strings.HasPrefix(org, "OVO") {
		return org
	}
	return ""
}
