package scopes

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"spaces only", "   ", nil},
		{"one", "MapRequest", []string{"MapRequest"}},
		{"several", "gipod_pdo_read gipod_pdo_write", []string{"gipod_pdo_read", "gipod_pdo_write"}},
		{"runs of spaces", "  b   a  ", []string{"a", "b"}},
		{"duplicates", "a b a", []string{"a", "b"}},
		{"case-sensitive", "vo_info VO_INFO", []string{"VO_INFO", "vo_info"}},
		{"tab is not a separator", "a\tb", []string{"a\tb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Parse(tt.in)
			assert.Equal(t, tt.want, nilIfEmpty(s.List()))
			assert.Equal(t, len(tt.want), s.Len())
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestSetQueries(t *testing.T) {
	s := New("gipod_pdo_read", "MapRequest", "", "MapRequest")
	assert.Equal(t, 2, s.Len())
	assert.True(t, s.Has("MapRequest"))
	assert.False(t, s.Has("maprequest"))
	assert.False(t, s.Has(""))
	assert.True(t, s.HasAll("MapRequest", "gipod_pdo_read"))
	assert.True(t, s.HasAll())
	assert.False(t, s.HasAll("MapRequest", "gipod_pdo_write"))
	assert.True(t, s.HasAny("gipod_pdo_write", "gipod_pdo_read"))
	assert.False(t, s.HasAny())
	assert.False(t, s.HasAny("vo_info"))
	assert.Equal(t, "MapRequest gipod_pdo_read", s.String())
	assert.True(t, s.Equal(Parse("gipod_pdo_read  MapRequest")))
	assert.False(t, s.Equal(Set{}))

	var got []string
	s.All(func(scope string) bool { got = append(got, scope); return false })
	assert.Equal(t, []string{"MapRequest"}, got, "All stops when yield returns false")

	list := s.List()
	list[0] = "changed"
	assert.True(t, s.Has("MapRequest"), "List returns a copy")
}

func TestZeroSet(t *testing.T) {
	var s Set
	assert.Equal(t, 0, s.Len())
	assert.False(t, s.Has("a"))
	assert.Equal(t, "", s.String())
	assert.True(t, s.Equal(New()))
	assert.True(t, s.Equal(Parse("")))
}

func TestSetJSON(t *testing.T) {
	b, err := json.Marshal(New("b", "a"))
	require.NoError(t, err)
	assert.JSONEq(t, `["a","b"]`, string(b))

	b, err = json.Marshal(Set{})
	require.NoError(t, err)
	assert.Equal(t, `[]`, string(b))

	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{`"a  b"`, "a b", false},
		{`["b","a","a"]`, "a b", false},
		{`null`, "", false},
		{`[]`, "", false},
		{`[1]`, "", true},
		{`5`, "", true},
		{`{"a":1}`, "", true},
		{`"unterminated`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var s Set
			err := json.Unmarshal([]byte(tt.in), &s)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, s.String())
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{"", "a", "a b", "  a  b ", "a\tb", "gipod_pdo_read gipod_pdo_write", "\x00 \xff"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s := Parse(in)
		// Parsing the canonical form again gives the same set.
		again := Parse(s.String())
		if !s.Equal(again) {
			t.Fatalf("Parse(%q).String() = %q does not parse back to the same set", in, s.String())
		}
		for scope := range s.All {
			if scope == "" || containsByte(scope, ' ') {
				t.Fatalf("Parse(%q) holds the scope %q", in, scope)
			}
			if !s.Has(scope) {
				t.Fatalf("Parse(%q) lists %q but does not have it", in, scope)
			}
		}
	})
}

func containsByte(s string, b byte) bool {
	for i := range len(s) {
		if s[i] == b {
			return true
		}
	}
	return false
}

func BenchmarkSetHas(b *testing.B) {
	s := Parse("MapRequest gipod_pdo_read gipod_pdo_write gipod_org_read dv_ar_adres_beheer vo_info")
	b.ReportAllocs()
	for b.Loop() {
		if !s.Has("gipod_pdo_write") {
			b.Fatal("missing scope")
		}
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Parse("MapRequest gipod_pdo_read gipod_pdo_write gipod_org_read")
	}
}
