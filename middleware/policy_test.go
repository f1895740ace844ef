package middleware_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/scopes"
)

func TestEvery(t *testing.T) {
	p := middleware.Every(
		middleware.AllOf("gipod_pdo_write", "gipod_pdo_read"),
		middleware.AnyOf("vo_info"),
		middleware.PolicyFunc(func(info *introspect.TokenInfo) bool { return info.ClientID == "38890" }),
	)
	assert.Equal(t, "gipod_pdo_read gipod_pdo_write vo_info", p.Scope())
	all := scopes.New("gipod_pdo_read", "gipod_pdo_write", "vo_info")
	assert.True(t, p.Allow(&introspect.TokenInfo{Scopes: all, ClientID: "38890"}))
	assert.False(t, p.Allow(&introspect.TokenInfo{Scopes: all, ClientID: "1"}))
	assert.False(t, p.Allow(&introspect.TokenInfo{Scopes: scopes.New("gipod_pdo_read", "vo_info"), ClientID: "38890"}))
	assert.True(t, middleware.Every().Allow(&introspect.TokenInfo{}), "no policies, nothing to refuse")
}

func TestOVOCodes(t *testing.T) {
	p := middleware.OVOCodes("OVO002949", " OVO001833 ")
	assert.Empty(t, p.Scope())
	for _, tt := range []struct {
		claims map[string]any
		want   bool
	}{
		{map[string]any{"vo_ovocode": "OVO002949"}, true},
		{map[string]any{"vo_orgcode": "OVO001833"}, true},
		{map[string]any{"vo_ovocode": "OVO000001", "vo_orgcode": "OVO002949"}, false},
		{map[string]any{"vo_orgcode": "0316381039"}, false},
		{map[string]any{"vo_ovocode": " "}, false},
		{nil, false},
	} {
		assert.Equal(t, tt.want, p.Allow(&introspect.TokenInfo{Active: true, Claims: tt.claims}), "%v", tt.claims)
	}
	assert.False(t, middleware.OVOCodes().Allow(&introspect.TokenInfo{Claims: map[string]any{"vo_ovocode": "OVO002949"}}))
	assert.False(t, middleware.OVOCodes("").Allow(&introspect.TokenInfo{}), "an empty code never matches a missing one")
}
