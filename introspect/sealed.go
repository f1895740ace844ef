package introspect

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tokengate/tokengate/scopes"
)

// sharedFormat is the version of the shared tier's key names, sealing and
// value encoding. A change to any of them changes it, so that replicas of
// different versions never read each other's entries.
const sharedFormat = "v1"

// Domain-separation labels: the key hash and the value key are derived from
// the same token, and must never be equal or related.
const (
	keyLabel   = "tokengate shared-tier key " + sharedFormat
	valueLabel = "tokengate shared-tier value " + sharedFormat
)

// sealer names and seals a token's entries in the shared tier of one
// namespace.
//
// A key is "tokengate:v1:" + namespace + ":{" + base64url(mac) + "}", where
// mac = HMAC-SHA-256(pepper, keyLabel ‖ 0 ‖ namespace ‖ 0 ‖ token): not the
// memory tier's key (the plain SHA-256 of the token, whose prefix is the
// Fingerprint in logs), different in every namespace, and, with a pepper,
// not computable from a token without the server's secret.
//
// A value is 1 ‖ nonce ‖ AES-256-GCM(k, nonce, answer, ad), where k =
// HKDF-SHA-256(secret: token, salt: pepper, info: valueLabel ‖ 0 ‖
// namespace) and ad = "tokengate:v1" ‖ 0 ‖ namespace ‖ 0 ‖ key: reading it
// takes the token, and a value moved to another key or namespace does not
// open.
type sealer struct {
	namespace string
	pepper    []byte
	prefix    string // "tokengate:v1:" + namespace + ":{"
}

// validNamespace reports whether ns can name a namespace: printable ASCII
// without spaces or braces (the braces delimit a key's hash), at most 256
// bytes. An issuer or endpoint URL fits.
func validNamespace(ns string) bool {
	if ns == "" || len(ns) > 256 {
		return false
	}
	for i := range len(ns) {
		if b := ns[i]; b <= ' ' || b > '~' || b == '{' || b == '}' {
			return false
		}
	}
	return true
}

func newSealer(namespace string, pepper []byte) sealer {
	return sealer{
		namespace: namespace,
		pepper:    append([]byte(nil), pepper...),
		prefix:    "tokengate:" + sharedFormat + ":" + namespace + ":{",
	}
}

// key returns the shared key of token, and id, the leading bytes of its
// hash, by which the memory tier finds the entry again when another replica
// invalidates the key.
func (s sealer) key(token string) (key string, id uint64) {
	m := hmac.New(sha256.New, s.pepper)
	m.Write([]byte(keyLabel))
	m.Write([]byte{0})
	m.Write([]byte(s.namespace))
	m.Write([]byte{0})
	m.Write([]byte(token))
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	return s.prefix + base64.RawURLEncoding.EncodeToString(sum[:]) + "}", binary.LittleEndian.Uint64(sum[:8])
}

// idOf returns the id of a key of this namespace, and false for a key of
// another namespace or version, or none at all.
func (s sealer) idOf(key string) (uint64, bool) {
	rest, ok := strings.CutPrefix(key, s.prefix)
	if !ok {
		return 0, false
	}
	enc, ok := strings.CutSuffix(rest, "}")
	if !ok || len(enc) != base64.RawURLEncoding.EncodedLen(sha256.Size) {
		return 0, false
	}
	sum, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return 0, false
	}
	return binary.LittleEndian.Uint64(sum[:8]), true
}

func (s sealer) aead(token string) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, []byte(token), s.pepper, valueLabel+"\x00"+s.namespace, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (s sealer) ad(key string) []byte {
	return []byte("tokengate:" + sharedFormat + "\x00" + s.namespace + "\x00" + key)
}

// sharedAnswer is what the shared tier holds about a token, inside the
// ciphertext.
type sharedAnswer struct {
	// Until is when the answer stops being reusable, in Unix milliseconds:
	// what is left of it is what a replica that reads it may keep it.
	Until int64
	// Invalid is the text of an invalid-token answer; empty for a valid one.
	Invalid string
	Info    *TokenInfo
}

// wireAnswer is a sharedAnswer as JSON: the facts of a valid answer
// flattened, and its times as Unix seconds (absent for a zero time) and
// nanoseconds. Decoding that costs half what TokenInfo's own JSON does,
// whose times are RFC 3339 text and whose scopes decode twice; a shared
// hit decodes one.
type wireAnswer struct {
	Until   int64  `json:"until"`
	Invalid string `json:"invalid,omitempty"`
	// Valid is true for an answer with facts, which are the fields below.
	Valid     bool           `json:"valid,omitempty"`
	Scopes    []string       `json:"scope,omitempty"`
	ClientID  string         `json:"client_id,omitempty"`
	Audience  []string       `json:"aud,omitempty"`
	Subject   string         `json:"sub,omitempty"`
	Issuer    string         `json:"iss,omitempty"`
	TokenType string         `json:"token_type,omitempty"`
	Exp       *int64         `json:"exp,omitempty"`
	ExpNanos  int64          `json:"exp_ns,omitempty"`
	Iat       *int64         `json:"iat,omitempty"`
	IatNanos  int64          `json:"iat_ns,omitempty"`
	Nbf       *int64         `json:"nbf,omitempty"`
	NbfNanos  int64          `json:"nbf_ns,omitempty"`
	Claims    map[string]any `json:"claims,omitempty"`
}

// toWire returns a as it is encoded.
func (a sharedAnswer) toWire() wireAnswer {
	w := wireAnswer{Until: a.Until, Invalid: a.Invalid}
	if info := a.Info; info != nil {
		w.Valid = info.Active // an inactive one opens as unreadable
		w.Scopes = info.Scopes.List()
		w.ClientID, w.Audience, w.Subject, w.Issuer, w.TokenType = info.ClientID, info.Audience, info.Subject, info.Issuer, info.TokenType
		w.Exp, w.ExpNanos = wireTime(info.ExpiresAt)
		w.Iat, w.IatNanos = wireTime(info.IssuedAt)
		w.Nbf, w.NbfNanos = wireTime(info.NotBefore)
		w.Claims = info.Claims
	}
	return w
}

// answer returns the sharedAnswer w encodes.
func (w wireAnswer) answer() sharedAnswer {
	a := sharedAnswer{Until: w.Until, Invalid: w.Invalid}
	if w.Valid {
		a.Info = &TokenInfo{
			Active:    true,
			Scopes:    scopes.New(w.Scopes...),
			ClientID:  w.ClientID,
			Audience:  w.Audience,
			Subject:   w.Subject,
			Issuer:    w.Issuer,
			TokenType: w.TokenType,
			ExpiresAt: timeOf(w.Exp, w.ExpNanos),
			IssuedAt:  timeOf(w.Iat, w.IatNanos),
			NotBefore: timeOf(w.Nbf, w.NbfNanos),
			Claims:    w.Claims,
		}
	}
	return a
}

// wireTime splits t into Unix seconds, nil for the zero time, and
// nanoseconds.
func wireTime(t time.Time) (*int64, int64) {
	if t.IsZero() {
		return nil, 0
	}
	sec := t.Unix()
	return &sec, int64(t.Nanosecond())
}

// timeOf is the time wireTime split, in UTC.
func timeOf(sec *int64, nanos int64) time.Time {
	if sec == nil {
		return time.Time{}
	}
	return time.Unix(*sec, nanos).UTC()
}

// seal returns the sealed value of a for token under key.
func (s sealer) seal(token, key string, a sharedAnswer) ([]byte, error) {
	plain, err := json.Marshal(a.toWire())
	if err != nil {
		return nil, err
	}
	g, err := s.aead(token)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+g.NonceSize(), 1+g.NonceSize()+len(plain)+g.Overhead())
	out[0] = 1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return g.Seal(out, out[1:], plain, s.ad(key)), nil
}

// errUnreadable is the error of a value that does not open or decode.
var errUnreadable = errors.New("introspect: shared value unreadable")

// open returns the answer sealed in value for token under key.
func (s sealer) open(token, key string, value []byte) (sharedAnswer, error) {
	g, err := s.aead(token)
	if err != nil {
		return sharedAnswer{}, err
	}
	if len(value) < 1+g.NonceSize()+g.Overhead() || value[0] != 1 {
		return sharedAnswer{}, errUnreadable
	}
	nonce, sealed := value[1:1+g.NonceSize()], value[1+g.NonceSize():]
	plain, err := g.Open(nil, nonce, sealed, s.ad(key))
	if err != nil {
		return sharedAnswer{}, errUnreadable
	}
	var w wireAnswer
	if err := json.Unmarshal(plain, &w); err != nil {
		return sharedAnswer{}, fmt.Errorf("%w: %v", errUnreadable, err)
	}
	if w.Invalid == "" && !w.Valid {
		return sharedAnswer{}, errUnreadable
	}
	return w.answer(), nil
}

// answer returns the result a recorded: facts, or an invalid-token error.
func (a sharedAnswer) answer() (*TokenInfo, error) {
	if a.Invalid != "" {
		return nil, sharedInvalid(a.Invalid)
	}
	return a.Info, nil
}

// until returns when a stops being reusable.
func (a sharedAnswer) until() time.Time { return time.UnixMilli(a.Until) }

// sharedInvalid is an invalid-token answer read from the shared tier: the
// text the replica that asked the authorization server got. It never holds
// the token, as no Verifier's error does.
type sharedInvalid string

func (e sharedInvalid) Error() string { return string(e) }

// Is reports whether target is [ErrInvalidToken].
func (e sharedInvalid) Is(target error) bool { return target == ErrInvalidToken }
