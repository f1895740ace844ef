package scopes

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

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
		})
	}
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

func BenchmarkMatchers(b *testing.B) {
	granted := Parse("MapRequest gipod_pdo_read gipod_pdo_write gipod_org_read vo_info")
	for _, bc := range []struct {
		name     string
		m        Matcher
		required string
	}{
		{"Exact", Exact, "gipod_pdo_write"},
		{"Hierarchic", Hierarchic("_"), "gipod_pdo_read_all"},
		{"Wildcard", Wildcard(), "gipod_x_read"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = bc.m.Match(granted, bc.required)
			}
		})
	}
}
