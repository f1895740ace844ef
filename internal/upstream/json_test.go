package upstream_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tokengate/tokengate/internal/upstream"
)

// FuzzJSONString checks JSONString's quick path against encoding/json.
func FuzzJSONString(f *testing.F) {
	for _, seed := range []string{`"MapRequest"`, `"a\"b"`, `"\u00e9"`, `"é"`, "\"\xff\"", `""`, `"\n"`, `7`, `null`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want string
		wantErr := json.Unmarshal(raw, &want)
		got, ok := upstream.JSONString(raw)
		if (wantErr == nil) != ok || got != want {
			t.Fatalf("JSONString(%q) = %q, %v; encoding/json: %q, %v", raw, got, ok, want, wantErr)
		}
	})
}

func TestStringOrNumber(t *testing.T) {
	for raw, want := range map[string]string{`"38890"`: "38890", `38890`: "38890", `-1.5`: "-1.5", `"a\u00e9"`: "aé"} {
		got, ok := upstream.StringOrNumber(json.RawMessage(raw))
		assert.True(t, ok, raw)
		assert.Equal(t, want, got, raw)
	}
	for _, raw := range []string{``, `true`, `{}`, `["a"]`} {
		_, ok := upstream.StringOrNumber(json.RawMessage(raw))
		assert.False(t, ok, raw)
	}
}

func TestOtherClaims(t *testing.T) {
	members := map[string]json.RawMessage{"scope": []byte(`"a"`), "vo_id": []byte(`"x"`), "n": []byte(`2`)}
	assert.Equal(t, map[string]any{"vo_id": "x", "n": 2.0}, upstream.OtherClaims(members, []string{"scope"}))
	assert.Nil(t, upstream.OtherClaims(members, []string{"scope", "vo_id", "n"}), "nil when nothing is left")
}

func TestIsNull(t *testing.T) {
	assert.True(t, upstream.IsNull(nil))
	assert.True(t, upstream.IsNull(json.RawMessage(`null`)))
	assert.False(t, upstream.IsNull(json.RawMessage(`""`)))
}
