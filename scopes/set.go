package scopes

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Set is an immutable set of scope tokens (RFC 6749 §3.3). Scopes are
// case-sensitive strings without spaces; the order in which they were granted
// carries no meaning.
//
// The zero Set is empty and ready to use. A Set is safe for concurrent use:
// no method modifies it.
type Set struct {
	// sorted holds the distinct scopes in ascending byte order, which gives
	// allocation-free binary search and a stable String.
	sorted []string
}

// Parse returns the set of scopes in a space-delimited scope string, as sent
// in the OAuth 2.0 "scope" parameter and in RFC 7662's "scope" member. Any run
// of spaces separates two scopes; leading and trailing spaces are ignored, as
// are duplicates. Parse never fails: a character that RFC 6749 does not allow
// in a scope token is kept as it is, since the set only ever answers
// membership questions.
func Parse(s string) Set {
	var list []string
	for field := range strings.SplitSeq(s, " ") {
		if field != "" {
			list = append(list, field)
		}
	}
	return New(list...)
}

// New returns the set of the given scopes. Empty strings are dropped and
// duplicates collapse. Scopes are taken as they are, so a string containing a
// space is one scope; use [Parse] for a space-delimited string.
func New(scopes ...string) Set {
	if len(scopes) == 0 {
		return Set{}
	}
	sorted := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if s != "" {
			sorted = append(sorted, s)
		}
	}
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	if len(sorted) == 0 {
		return Set{}
	}
	return Set{sorted: slices.Clip(sorted)}
}

// Len returns the number of distinct scopes in s.
func (s Set) Len() int { return len(s.sorted) }

// Has reports whether s contains scope, compared exactly (case-sensitive).
func (s Set) Has(scope string) bool {
	_, found := slices.BinarySearch(s.sorted, scope)
	return found
}

// HasAll reports whether s contains every one of scopes. It reports true when
// scopes is empty.
func (s Set) HasAll(scopes ...string) bool {
	for _, scope := range scopes {
		if !s.Has(scope) {
			return false
		}
	}
	return true
}

// HasAny reports whether s contains at least one of scopes. It reports false
// when scopes is empty.
func (s Set) HasAny(scopes ...string) bool {
	for _, scope := range scopes {
		if s.Has(scope) {
			return true
		}
	}
	return false
}

// List returns the scopes of s in ascending byte order. The caller may modify
// the returned slice.
func (s Set) List() []string { return slices.Clone(s.sorted) }

// All calls yield for each scope of s in ascending byte order. It allocates
// nothing, which makes it the way to walk a Set on a hot path.
func (s Set) All(yield func(scope string) bool) {
	for _, scope := range s.sorted {
		if !yield(scope) {
			return
		}
	}
}

// String returns the scopes of s space-delimited in ascending byte order: the
// form of the OAuth 2.0 "scope" parameter. The empty Set gives "".
func (s Set) String() string { return strings.Join(s.sorted, " ") }

// Equal reports whether s and other contain the same scopes.
func (s Set) Equal(other Set) bool { return slices.Equal(s.sorted, other.sorted) }

// MarshalJSON encodes s as a JSON array of its scopes in ascending byte
// order; the empty Set gives [].
func (s Set) MarshalJSON() ([]byte, error) {
	if s.sorted == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(s.sorted)
}

// UnmarshalJSON decodes either a space-delimited scope string, as [Parse]
// does, or an array of scope strings, as [New] does. JSON null gives the
// empty Set.
func (s *Set) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("scopes: %w", err)
	}
	switch v := v.(type) {
	case nil:
		*s = Set{}
	case string:
		*s = Parse(v)
	case []any:
		list := make([]string, 0, len(v))
		for _, item := range v {
			str, ok := item.(string)
			if !ok {
				return errors.New("scopes: array holds a value that is not a string")
			}
			list = append(list, str)
		}
		*s = New(list...)
	default:
		return errors.New("scopes: want a string or an array of strings")
	}
	return nil
}
