package introspect_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tokengate/tokengate/introspect"
)

func TestOVOCode(t *testing.T) {
	tests := []struct {
		name   string
		claims map[string]any
		want   string
	}{
		{"vo_ovocode wins", map[string]any{"vo_ovocode": "OVO002949", "vo_orgcode": "OVO000001"}, "OVO002949"},
		{"vo_orgcode when it is an OVO code", map[string]any{"vo_orgcode": "OVO001833"}, "OVO001833"},
		{"blank vo_ovocode is skipped", map[string]any{"vo_ovocode": "  ", "vo_orgcode": "OVO001833"}, "OVO001833"},
		{"empty vo_ovocode is skipped", map[string]any{"vo_ovocode": "", "vo_orgcode": "OVO001833"}, "OVO001833"},
		{"a KBO number is no OVO code", map[string]any{"vo_orgcode": "0316381039"}, ""},
		{"surrounding blanks are trimmed", map[string]any{"vo_ovocode": " OVO002949 "}, "OVO002949"},
		{"not a string", map[string]any{"vo_ovocode": 2949, "vo_orgcode": "OVO001833"}, "OVO001833"},
		{"no claims", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := &introspect.TokenInfo{Active: true, Claims: tt.claims}
			assert.Equal(t, tt.want, info.OVOCode())
		})
	}
	var none *introspect.TokenInfo
	assert.Empty(t, none.OVOCode())
	assert.Equal(t, introspect.VOClaims{}, none.VO())
}

func TestVOClaims(t *testing.T) {
	info := &introspect.TokenInfo{Claims: map[string]any{
		"vo_id":              "d6b5a1f4-8c2b-4e52-9f1b-3a2e7c9d0e11",
		"vo_orgcode":         "OVO002949",
		"vo_doelgroepcode":   "GID",
		"vo_doelgroepnaam":   "Medewerkers Vlaamse overheid",
		"credential_manager": map[string]any{"code": "DV", "name": "Digitaal Vlaanderen"},
		"vo_ovocode":         " OVO001833 ",
	}}
	assert.Equal(t, introspect.VOClaims{
		ID:                "d6b5a1f4-8c2b-4e52-9f1b-3a2e7c9d0e11",
		OrgCode:           "OVO002949",
		DoelgroepCode:     "GID",
		DoelgroepNaam:     "Medewerkers Vlaamse overheid",
		CredentialManager: introspect.CredentialManager{Code: "DV", Name: "Digitaal Vlaanderen"},
	}, info.VO())
	assert.Equal(t, "OVO001833", info.OVOCode(), "the rule: vo_ovocode first, trimmed")
	assert.Equal(t, " OVO001833 ", info.StringClaim("vo_ovocode"), "the raw claim, as sent")
}
