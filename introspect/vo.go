package introspect

import "strings"

// VOClaims are the Flemish government's claims that ACM/IDM puts in its
// introspection answers, read from [TokenInfo.Claims]. A claim that is
// absent or not a string reads as "".
type VOClaims struct {
	// ID is "vo_id": the user's identifier at ACM/IDM, stable across
	// sessions.
	ID string
	// OrgCode is "vo_orgcode": the code of the organisation the user acts
	// for, a KBO number or an OVO code.
	OrgCode string
	// OVOCode is "vo_ovocode": the organisation's code in the Flemish
	// Organisatieregister ("OVO" and six digits), when it has one.
	OVOCode string
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
		OVOCode:       t.StringClaim("vo_ovocode"),
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

// Organisation returns the OVO code of the organisation the user acts for,
// by the Basisregisters' rule: "vo_ovocode" when it is set, else
// "vo_orgcode" when that is an OVO code (it starts with "OVO"). Blank values
// are skipped; "" means the token names no OVO code.
func (c VOClaims) Organisation() string {
	if ovo := strings.TrimSpace(c.OVOCode); ovo != "" {
		return ovo
	}
	if org := strings.TrimSpace(c.OrgCode); strings.HasPrefix(org, "OVO") {
		return org
	}
	return ""
}

// OVOCode returns the OVO code of the organisation the token's user acts
// for, by the rule of [VOClaims.Organisation], or "" when there is none.
func (t *TokenInfo) OVOCode() string {
	return VOClaims{OVOCode: t.StringClaim("vo_ovocode"), OrgCode: t.StringClaim("vo_orgcode")}.Organisation()
}
