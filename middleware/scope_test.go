package middleware_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/scopes"
)

func granting(s string) *introspect.TokenInfo {
	return &introspect.TokenInfo{Active: true, Scopes: scopes.Parse(s)}
}

func TestScopeRule(t *testing.T) {
	info := granting("gipod_pdo_read MapRequest")
	tests := []struct {
		name string
		rule middleware.ScopeRule
		want bool
		text string
	}{
		{"zero requires nothing", middleware.ScopeRule{}, true, ""},
		{"all of nothing", middleware.AllOf(), true, ""},
		{"all of, met", middleware.AllOf("MapRequest", "gipod_pdo_read"), true, "MapRequest gipod_pdo_read"},
		{"all of, one missing", middleware.AllOf("gipod_pdo_read", "gipod_pdo_write"), false, "gipod_pdo_read gipod_pdo_write"},
		{"all of, empty names dropped", middleware.AllOf("", "MapRequest"), true, "MapRequest"},
		{"any of nothing", middleware.AnyOf(), false, ""},
		{"any of, one present", middleware.AnyOf("gipod_pdo_read", "gipod_pdo_write"), true, "gipod_pdo_read gipod_pdo_write"},
		{"any of, none present", middleware.AnyOf("vo_info", "dv_ar_adres_beheer"), false, "vo_info dv_ar_adres_beheer"},
		{"case matters", middleware.AllOf("maprequest"), false, "maprequest"},
		{"matching keeps the scopes", middleware.AnyOf("gipod_pdo_write", "vo_info").Matching(scopes.Wildcard()), false, "gipod_pdo_write vo_info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.rule.Allow(info))
			assert.Equal(t, tt.text, tt.rule.Scope())
		})
	}
}

func TestScopeRuleMatching(t *testing.T) {
	tests := []struct {
		name     string
		m        scopes.Matcher
		granted  string
		required string
		want     bool
	}{
		{"nil is exact", nil, "gipod", "gipod.read", false},
		{"nil is exact, equal", nil, "gipod.read", "gipod.read", true},
		{"exact", scopes.Exact, "gipod", "gipod.read", false},
		{"hierarchic child", scopes.Hierarchic("."), "gipod", "gipod.read", true},
		{"hierarchic sibling", scopes.Hierarchic("."), "gipod.org", "gipod.pdo.write", false},
		{"wildcard", scopes.Wildcard(), "gipod_*", "gipod_pdo_read", true},
		{"wildcard miss", scopes.Wildcard(), "gipod_org_*", "gipod_pdo_read", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := granting(tt.granted)
			assert.Equal(t, tt.want, middleware.AllOf(tt.required).Matching(tt.m).Allow(info), "AllOf")
			assert.Equal(t, tt.want, middleware.AnyOf("unrelated", tt.required).Matching(tt.m).Allow(info), "AnyOf")
		})
	}
	exact := middleware.AllOf("gipod.read")
	_ = exact.Matching(scopes.Hierarchic("."))
	assert.False(t, exact.Allow(granting("gipod")), "Matching returns a copy")
}

func TestScopeRuleDoesNotAllocate(t *testing.T) {
	info := granting("MapRequest gipod_pdo_read")
	var p middleware.Policy = middleware.AllOf("gipod_pdo_write")
	allocs := testing.AllocsPerRun(100, func() {
		if p.Allow(info) || p.Scope() == "" {
			t.Fatal("allowed")
		}
	})
	assert.Zero(t, allocs)
}

func BenchmarkScopeRule(b *testing.B) {
	info := granting("MapRequest gipod_pdo_read gipod_pdo_write gipod_org_read vo_info")
	for _, bc := range []struct {
		name string
		rule middleware.ScopeRule
	}{
		{"AllOf", middleware.AllOf("gipod_pdo_read", "gipod_pdo_write")},
		{"AnyOf", middleware.AnyOf("dv_ar_adres_beheer", "gipod_pdo_read")},
		{"Hierarchic", middleware.AllOf("gipod_pdo_read_all").Matching(scopes.Hierarchic("_"))},
		{"Wildcard", middleware.AllOf("gipod_x_read").Matching(scopes.Wildcard())},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = bc.rule.Allow(info)
			}
		})
	}
}
