package introspect

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/scopes"
)

func TestSealerRoundTripAndSeparation(t *testing.T) {
	s := newSealer("https://authenticatie.vlaanderen.be/op", "", []byte("pepper"))
	token := "a-token-of-43-characters-aaaaaaaaaaaaaaaaaa"
	key, id := s.key(token)
	assert.True(t, strings.HasPrefix(key, "tokengate:v1:https://authenticatie.vlaanderen.be/op:{"))
	assert.NotContains(t, key, Fingerprint(token))
	got, ok := s.idOf(key)
	require.True(t, ok)
	assert.Equal(t, id, got)

	a := sharedAnswer{Until: time.Now().Add(time.Minute).UnixMilli(), Info: &TokenInfo{Active: true, Scopes: scopes.New("MapRequest"), ClientID: "38890"}}
	value, err := s.seal(token, key, a)
	require.NoError(t, err)
	assert.NotContains(t, string(value), "MapRequest")
	opened, err := s.open(token, key, value)
	require.NoError(t, err)
	assert.True(t, opened.Info.HasScope("MapRequest"))
	assert.Equal(t, "38890", opened.Info.ClientID)

	other := newSealer("https://authenticatie-ti.vlaanderen.be/op", "", []byte("pepper"))
	otherKey, _ := other.key(token)
	assert.NotEqual(t, key, otherKey)
	_, ok = other.idOf(key)
	assert.False(t, ok, "a key of another namespace")

	// The same namespace, as a Verifier with other settings: another key,
	// in the same namespace, and a value that does not open.
	scoped := newSealer(s.namespace, "jwt aud=api-b", []byte("pepper"))
	scopedKey, _ := scoped.key(token)
	assert.NotEqual(t, key, scopedKey)
	_, ok = scoped.idOf(key)
	assert.True(t, ok, "a key of the same namespace")

	tests := []struct {
		name       string
		s          sealer
		token, key string
		value      []byte
	}{
		{"another namespace", other, token, otherKey, value},
		{"another pepper", newSealer(s.namespace, "", []byte("other")), token, key, value},
		{"no pepper", newSealer(s.namespace, "", nil), token, key, value},
		{"another answer scope", scoped, token, key, value},
		{"another answer scope, its own key", scoped, token, scopedKey, value},
		{"another token", s, token + "x", key, value},
		{"another key", s, token, otherKey, value},
		{"truncated", s, token, key, value[:10]},
		{"empty", s, token, key, nil},
		{"flipped bit", s, token, key, flip(value, len(value)-1)},
		{"unknown version", s, token, key, flip(value, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.s.open(tt.token, tt.key, tt.value)
			require.ErrorIs(t, err, errUnreadable)
		})
	}
}

// TestSealerDerivesWhatItDocuments checks the key and the value key
// against crypto/hmac and crypto/hkdf, for peppers shorter and longer than
// a block and none, and tokens of every length around a block.
func TestSealerDerivesWhatItDocuments(t *testing.T) {
	const ns = "https://authenticatie.vlaanderen.be/op"
	for _, scope := range []string{"", "jwt aud=api-a"} {
		scopeSum := sha256.Sum256([]byte(scope))
		c := ns + "\x00" + string(scopeSum[:])
		for _, pepper := range [][]byte{nil, []byte("pepper"), bytes.Repeat([]byte{0xa5}, 100)} {
			s := newSealer(ns, scope, pepper)
			for n := range 140 {
				token := strings.Repeat("t", n)
				m := hmac.New(sha256.New, pepper)
				m.Write([]byte(keyLabel + "\x00" + c + "\x00" + token))
				sum := m.Sum(nil)
				key, id := s.key(token)
				require.Equal(t, "tokengate:v1:"+ns+":{"+base64.RawURLEncoding.EncodeToString(sum)+"}", key)
				require.Equal(t, binary.LittleEndian.Uint64(sum), id)

				want, err := hkdf.Key(sha256.New, []byte(valueLabel+"\x00"+token), pepper, valueLabel+"\x00"+c, 32)
				require.NoError(t, err)
				got, err := s.valueKey(token)
				require.NoError(t, err)
				require.Equal(t, want, got, "scope %q, pepper %q, token of %d bytes", scope, pepper, n)
				require.Equal(t, []byte("tokengate:v1\x00"+c+"\x00"+key), s.ad(key))
			}
		}
	}
}

func flip(b []byte, i int) []byte {
	b = append([]byte(nil), b...)
	b[i] ^= 1
	return b
}

// TestSealerKeyAndValueKeyUnrelated: a token that starts with the key
// hash's label, namespace and separators does not get, as its value key's
// secret material, the key hash of the rest, which Redis shows.
func TestSealerKeyAndValueKeyUnrelated(t *testing.T) {
	s := newSealer("ns", "", []byte("pepper"))
	const rest = "a-token"
	var keyHash [sha256.Size]byte
	s.mac(&keyHash, s.keyInput, rest)
	var prk [sha256.Size]byte
	s.mac(&prk, s.valueIKM, s.keyInput+rest)
	assert.NotEqual(t, keyHash, prk)
	var bare [sha256.Size]byte
	s.mac(&bare, s.keyInput+rest)
	assert.Equal(t, keyHash, bare, "the probe itself: without the label the two are one HMAC")
}

// TestWireInvalidWins: an answer that says both, as sharedAnswer.answer
// reads it, is invalid.
func TestWireInvalidWins(t *testing.T) {
	a := sharedAnswer{Until: 1, Invalid: "introspect: invalid token: revoked", Info: &TokenInfo{Active: true}}
	plain, err := a.appendWire(nil)
	require.NoError(t, err)
	got, err := readWire(plain)
	require.NoError(t, err)
	info, err := got.answer()
	assert.Nil(t, info)
	require.ErrorIs(t, err, ErrInvalidToken)
}

func TestSharedInvalidAnswer(t *testing.T) {
	_, err := sharedAnswer{Invalid: "introspect: invalid token: token is not active"}.answer()
	require.ErrorIs(t, err, ErrInvalidToken)
	assert.NotErrorIs(t, err, ErrUnavailable)
}

func TestValidNamespace(t *testing.T) {
	assert.True(t, validNamespace("https://authenticatie.vlaanderen.be/op"))
	for _, ns := range []string{"", "a b", "a{b}", "tab\t", strings.Repeat("a", 257), "é"} {
		assert.False(t, validNamespace(ns), ns)
	}
}

func TestBreaker(t *testing.T) {
	b := newBreaker()
	for range breakerThreshold - 1 {
		require.True(t, b.allow())
		b.failure()
	}
	require.True(t, b.allow())
	b.success() // a success resets the count
	for range breakerThreshold {
		require.True(t, b.allow())
		b.failure()
	}
	assert.False(t, b.allow(), "open after %d failures in a row", breakerThreshold)
	// Cooled down: one probe.
	b.openUntil.Store(b.now() - 1)
	assert.True(t, b.allow())
	assert.False(t, b.allow(), "a second probe")
	b.failure()
	assert.False(t, b.allow(), "the failed probe reopens it")
	b.openUntil.Store(b.now() - 1)
	require.True(t, b.allow())
	b.success()
	assert.True(t, b.allow())
	assert.True(t, b.allow())
	assert.False(t, b.open())
}

// TestSealerKeepsEveryFact: a sealed answer opens to the TokenInfo that
// was sealed, field for field: times to the nanosecond, zero times zero,
// and the Unix epoch not taken for one.
func TestSealerKeepsEveryFact(t *testing.T) {
	s := newSealer("ns", "", nil)
	token := "a-token"
	key, _ := s.key(token)
	info := &TokenInfo{
		Active:    true,
		Scopes:    scopes.New("MapRequest", "gipod_pdo_read"),
		ClientID:  "38890",
		Audience:  []string{"api://gipod", "other"},
		Subject:   "user-1",
		Issuer:    "https://issuer.example",
		TokenType: "Bearer",
		ExpiresAt: time.Unix(1893456000, 123456789).UTC(),
		IssuedAt:  time.Unix(0, 0).UTC(),
		Claims:    map[string]any{"vo_ovocode": "OVO002949", "n": 1.5, "list": []any{"a", true}, "obj": map[string]any{"k": nil}},
	}
	for _, a := range []sharedAnswer{
		{Until: 1893456000000, Info: info},
		{Until: 1893456000000, Info: &TokenInfo{Active: true}},
		{Until: 1893456000000, Invalid: "introspect: invalid token: revoked"},
	} {
		value, err := s.seal(token, key, a)
		require.NoError(t, err)
		opened, err := s.open(token, key, value)
		require.NoError(t, err)
		assert.Equal(t, a, opened)
	}

	value, err := s.seal(token, key, sharedAnswer{Until: 1893456000000, Info: &TokenInfo{ClientID: "38890"}})
	require.NoError(t, err)
	_, err = s.open(token, key, value)
	assert.ErrorIs(t, err, errUnreadable, "an inactive TokenInfo never opens as an answer")
}

// fullAnswer is a valid answer with every fact set.
func fullAnswer() sharedAnswer {
	return sharedAnswer{Until: 1893456000000, Info: &TokenInfo{
		Active:    true,
		Scopes:    scopes.New("MapRequest", "gipod_pdo_read"),
		ClientID:  "38890",
		Audience:  []string{"api://gipod"},
		Subject:   "user-1",
		Issuer:    "https://issuer.example",
		TokenType: "Bearer",
		ExpiresAt: time.Unix(1893456000, 999999999).UTC(),
		IssuedAt:  time.Unix(-1, 0).UTC(),
		NotBefore: time.Unix(1893455000, 0).UTC(),
		Claims:    map[string]any{"vo_ovocode": "OVO002949"},
	}}
}

// TestWireRejectsMalformed: a plaintext cut short anywhere, with a byte
// more, an unknown flag, or an impossible field does not decode.
func TestWireRejectsMalformed(t *testing.T) {
	for _, a := range []sharedAnswer{fullAnswer(), {Until: 1, Invalid: "introspect: invalid token: revoked"}} {
		plain, err := a.appendWire(nil)
		require.NoError(t, err)
		got, err := readWire(plain)
		require.NoError(t, err)
		require.Equal(t, a, got)
		for n := range len(plain) {
			_, err := readWire(plain[:n])
			require.ErrorIs(t, err, errWire, "cut to %d of %d bytes", n, len(plain))
		}
		_, err = readWire(append(plain, 0))
		require.ErrorIs(t, err, errWire, "a byte more")
		_, err = readWire(append([]byte{plain[0] | 1<<7}, plain[1:]...))
		require.ErrorIs(t, err, errWire, "an unknown flag")
	}

	for name, plain := range map[string][]byte{
		"an empty invalid text":      {0, 2, 0},
		"an invalid answer's flags":  {wireExp, 2, 1, 'x'},
		"nanoseconds of a second":    {wireValid | wireExp, 2, 0, 0, 0, 0, 0, 0, 2, 0x80, 0x94, 0xeb, 0xdc, 0x03},
		"more texts than bytes":      {wireValid, 2, 9, 1, 'a'},
		"a text longer than the end": {wireValid, 2, 1, 9, 'a'},
		"claims that are not JSON":   {wireValid | wireClaims, 2, 0, 0, 0, 0, 0, 0, 1, '{'},
		"claims that are empty":      {wireValid | wireClaims, 2, 0, 0, 0, 0, 0, 0, 2, '{', '}'},
		"an overlong varint":         {wireValid, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
		"a count of 2⁴⁰ texts":       {wireValid, 2, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20},
	} {
		_, err := readWire(plain)
		assert.ErrorIs(t, err, errWire, name)
	}
}

// FuzzWire: no input makes the decoder panic, and what it decodes encodes
// to a form that decodes to the same answer.
func FuzzWire(f *testing.F) {
	for _, a := range []sharedAnswer{fullAnswer(), {Until: 1, Invalid: "invalid"}, {Info: &TokenInfo{Active: true}}} {
		plain, err := a.appendWire(nil)
		require.NoError(f, err)
		f.Add(plain)
	}
	f.Fuzz(func(t *testing.T, plain []byte) {
		a, err := readWire(bytes.Clone(plain))
		if err != nil {
			return
		}
		again, err := a.appendWire(nil)
		require.NoError(t, err)
		b, err := readWire(again)
		require.NoError(t, err)
		require.Equal(t, a, b)
	})
}
