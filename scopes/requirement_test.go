package scopes

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRequirement(t *testing.T) {
	granted := Parse("gipod_pdo_read MapRequest")
	tests := []struct {
		name string
		req  Requirement
		want bool
		text string
	}{
		{"zero requires nothing", Requirement{}, true, ""},
		{"all of nothing", AllOf(), true, ""},
		{"all of, met", AllOf("MapRequest", "gipod_pdo_read"), true, "MapRequest gipod_pdo_read"},
		{"all of, one missing", AllOf("gipod_pdo_read", "gipod_pdo_write"), false, "gipod_pdo_read gipod_pdo_write"},
		{"all of, empty names dropped", AllOf("", "MapRequest"), true, "MapRequest"},
		{"any of nothing", AnyOf(), false, ""},
		{"any of, one present", AnyOf("gipod_pdo_read", "gipod_pdo_write"), true, "gipod_pdo_read gipod_pdo_write"},
		{"any of, none present", AnyOf("vo_info", "dv_ar_adres_beheer"), false, "vo_info dv_ar_adres_beheer"},
		{"case matters", AllOf("maprequest"), false, "maprequest"},
		{"func true", Func([]string{"x"}, func(s Set) bool { return s.Len() == 2 }), true, "x"},
		{"func false", Func(nil, func(s Set) bool { return s.Has("x") }), false, ""},
		{"nil func", Func([]string{"x"}, nil), false, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.req.SatisfiedBy(granted))
			assert.Equal(t, tt.text, tt.req.String())
		})
	}
}

func TestRequirementScopesIsACopy(t *testing.T) {
	r := AllOf("a", "b")
	list := r.Scopes()
	list[0] = "changed"
	assert.Equal(t, []string{"a", "b"}, r.Scopes())
}

func TestMatchers(t *testing.T) {
	tests := []struct {
		name     string
		m        Matcher
		granted  string
		required string
		want     bool
	}{
		{"exact equal", Exact, "gipod", "gipod", true},
		{"exact child", Exact, "gipod", "gipod.read", false},
		{"hier equal", Hierarchic("."), "gipod", "gipod", true},
		{"hier child", Hierarchic("."), "gipod", "gipod.read", true},
		{"hier grandchild", Hierarchic("."), "gipod", "gipod.pdo.write", true},
		{"hier middle", Hierarchic("."), "gipod.pdo", "gipod.pdo.write", true},
		{"hier sibling", Hierarchic("."), "gipod.org", "gipod.pdo.write", false},
		{"hier not a prefix word", Hierarchic("."), "gip", "gipod.read", false},
		{"hier longer name", Hierarchic("."), "gipod", "gipodx.read", false},
		{"hier parent not by child", Hierarchic("."), "gipod.read", "gipod", false},
		{"hier multi-byte separator", Hierarchic("::"), "gipod", "gipod::read", true},
		{"hier underscore", Hierarchic("_"), "gipod_pdo", "gipod_pdo_read", true},
		{"hier leading separator", Hierarchic("."), "", ".read", false},
		{"hier empty separator is exact", Hierarchic(""), "gipod", "gipod.read", false},
		{"wild suffix", Wildcard(), "gipod_*", "gipod_pdo_read", true},
		{"wild prefix", Wildcard(), "*_read", "gipod_pdo_read", true},
		{"wild middle", Wildcard(), "gipod_*_read", "gipod_pdo_read", true},
		{"wild middle miss", Wildcard(), "gipod_*_read", "gipod_pdo_write", false},
		{"wild empty run", Wildcard(), "gipod_*", "gipod_", true},
		{"wild all", Wildcard(), "*", "anything", true},
		{"wild no star is exact", Wildcard(), "gipod", "gipod_read", false},
		{"wild required pattern literal", Wildcard(), "gipod_pdo_read", "gipod_*", false},
		{"wild backtracking", Wildcard(), "a*b*c", "aXbYbZc", true},
		{"wild backtracking miss", Wildcard(), "a*b*c", "aXbYbZ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.m.Match(Parse(tt.granted), tt.required))
			assert.Equal(t, tt.want, AllOf(tt.required).Matching(tt.m).SatisfiedBy(Parse(tt.granted)))
		})
	}
}

func TestMatchingNilIsExact(t *testing.T) {
	r := AllOf("gipod.read").Matching(nil)
	assert.False(t, r.SatisfiedBy(Parse("gipod")))
	assert.True(t, r.SatisfiedBy(Parse("gipod.read")))
}

func FuzzGlobMatch(f *testing.F) {
	f.Add("gipod_*", "gipod_pdo_read")
	f.Add("a*b*c", "aXbYbZc")
	f.Add("**", "")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		got := globMatch(pattern, s)
		if want := naiveGlob(pattern, s); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, want %v", pattern, s, got, want)
		}
	})
}

// naiveGlob is an obviously correct exponential reference for globMatch.
func naiveGlob(p, s string) bool {
	if len(p) > 12 || len(s) > 24 {
		return globMatch(p, s) // keep the reference tractable
	}
	if p == "" {
		return s == ""
	}
	if p[0] == '*' {
		for i := 0; i <= len(s); i++ {
			if naiveGlob(p[1:], s[i:]) {
				return true
			}
		}
		return false
	}
	return s != "" && p[0] == s[0] && naiveGlob(p[1:], s[1:])
}

func BenchmarkRequirement(b *testing.B) {
	granted := Parse("MapRequest gipod_pdo_read gipod_pdo_write gipod_org_read vo_info")
	for _, bc := range []struct {
		name string
		req  Requirement
	}{
		{"AllOf", AllOf("gipod_pdo_read", "gipod_pdo_write")},
		{"AnyOf", AnyOf("dv_ar_adres_beheer", "gipod_pdo_read")},
		{"Hierarchic", AllOf("gipod_pdo_read_all").Matching(Hierarchic("_"))},
		{"Wildcard", AllOf("gipod_x_read").Matching(Wildcard())},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = bc.req.SatisfiedBy(granted)
			}
		})
	}
}
