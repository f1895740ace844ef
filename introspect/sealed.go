package introspect

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// sharedFormat is the version of the shared tier's key names, sealing and
// value encoding. From the first release that has the shared tier on, a
// change to any of them changes it, so that replicas of different versions
// never read each other's entries; until then they may change under v1.
const sharedFormat = "v1"

// Domain-separation labels: the key hash and the value key are derived from
// the same token, and must never be equal or related. Both are HMACs keyed
// with the pepper over a label and then the token; the labels differ within
// their common length, so no input of one is an input of the other.
const (
	keyLabel   = "tokengate shared-tier key " + sharedFormat
	valueLabel = "tokengate shared-tier value " + sharedFormat
)

// sealer names and seals a token's entries in the shared tier of one
// namespace and answer scope (see [AnswerScoper]). Both go into every
// derivation as the context c = namespace ‖ 0 ‖ SHA-256(scope): the
// namespace has no 0 byte and the hash a fixed length, so no two pairs
// give one c.
//
// A key is "tokengate:v1:" + namespace + ":{" + base64url(mac) + "}", where
// mac = HMAC-SHA-256(pepper, keyLabel ‖ 0 ‖ c ‖ 0 ‖ token): not the memory
// tier's key (the plain SHA-256 of the token, whose prefix is the
// Fingerprint in logs), different in every namespace and scope, and, with
// a pepper, not computable from a token without the server's secret.
//
// A value is 1 ‖ nonce ‖ AES-256-GCM(k, nonce, answer, ad), where k =
// HKDF-SHA-256(secret: valueLabel ‖ 0 ‖ token, salt: pepper, info:
// valueLabel ‖ 0 ‖ c) and ad = "tokengate:v1" ‖ 0 ‖ c ‖ 0 ‖ key: reading it
// takes the token, and a value moved to another key, namespace or scope
// does not open. The label in the secret keeps HKDF-Extract's HMAC from
// ever hashing what the key's does: with the token alone there, a token
// made of keyLabel ‖ 0 ‖ c ‖ 0 ‖ t would have t's key hash, which Redis
// shows, as its pseudorandom key.
type sealer struct {
	namespace string
	prefix    string // "tokengate:v1:" + namespace + ":{"
	keyInput  string // keyLabel ‖ 0 ‖ c ‖ 0
	valueIKM  string // valueLabel ‖ 0: what HKDF's secret starts with
	info      string // valueLabel ‖ 0 ‖ c: the value key's HKDF info
	adPrefix  string // "tokengate:v1" ‖ 0 ‖ c ‖ 0
	// macs holds HMAC-SHA-256 states keyed with the pepper, which both
	// the key and the value key start from (HKDF-Extract is an HMAC keyed
	// with the salt): keying one costs more than the rest of the hash.
	macs *sync.Pool
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

func newSealer(namespace, scope string, pepper []byte) sealer {
	pepper = bytes.Clone(pepper)
	scopeSum := sha256.Sum256([]byte(scope))
	c := namespace + "\x00" + string(scopeSum[:])
	return sealer{
		namespace: namespace,
		prefix:    "tokengate:" + sharedFormat + ":" + namespace + ":{",
		keyInput:  keyLabel + "\x00" + c + "\x00",
		valueIKM:  valueLabel + "\x00",
		info:      valueLabel + "\x00" + c,
		adPrefix:  "tokengate:" + sharedFormat + "\x00" + c + "\x00",
		macs:      &sync.Pool{New: func() any { return hmac.New(sha256.New, pepper) }},
	}
}

// mac returns HMAC-SHA-256(pepper, parts…) in sum.
func (s sealer) mac(sum *[sha256.Size]byte, parts ...string) {
	m := s.macs.Get().(hash.Hash)
	m.Reset()
	for _, p := range parts {
		m.Write(bytesOf(p))
	}
	m.Sum(sum[:0])
	s.macs.Put(m)
}

// bytesOf returns the bytes of s without copying them, for functions that
// only read their input.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// key returns the shared key of token, and id, the leading bytes of its
// hash, by which the memory tier finds the entry again when another replica
// invalidates the key.
func (s sealer) key(token string) (key string, id uint64) {
	var sum [sha256.Size]byte
	s.mac(&sum, s.keyInput, token)
	b := make([]byte, 0, len(s.prefix)+base64.RawURLEncoding.EncodedLen(len(sum))+1)
	b = append(b, s.prefix...)
	b = base64.RawURLEncoding.AppendEncode(b, sum[:])
	b = append(b, '}')
	return unsafe.String(unsafe.SliceData(b), len(b)), binary.LittleEndian.Uint64(sum[:8])
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

// valueKey returns the key that seals token's value: HKDF-SHA-256 with
// valueLabel ‖ 0 ‖ token as secret, the pepper as salt and s.info as info,
// 32 bytes. HKDF-Extract is an HMAC keyed with the salt, so it takes one of
// the pooled states; HKDF-Expand is crypto/hkdf's.
func (s sealer) valueKey(token string) ([]byte, error) {
	var prk [sha256.Size]byte
	s.mac(&prk, s.valueIKM, token)
	return hkdf.Expand(sha256.New, prk[:], s.info, 32)
}

func (s sealer) aead(token string) (cipher.AEAD, error) {
	k, err := s.valueKey(token)
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
	return append(append(make([]byte, 0, len(s.adPrefix)+len(key)), s.adPrefix...), key...)
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

// seal returns the sealed value of a for token under key.
func (s sealer) seal(token, key string, a sharedAnswer) ([]byte, error) {
	plain, err := a.appendWire(nil)
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
	a, err := readWire(plain)
	if err != nil {
		return sharedAnswer{}, fmt.Errorf("%w: %v", errUnreadable, err)
	}
	return a, nil
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
