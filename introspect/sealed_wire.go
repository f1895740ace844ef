package introspect

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"
	"unsafe"

	"github.com/tokengate/tokengate/scopes"
)

// The plaintext of a sealed value, the wire form of a sharedAnswer, is
//
//	flags ‖ until ‖ rest
//
// flags is one byte of the bits below; until is a varint of Unix
// milliseconds. For an invalid answer (flags without wireValid), rest is
// its text. For a valid one, rest is the TokenInfo's facts in this order:
// scopes and audiences as a uvarint count of texts; client id, subject,
// issuer and token type as texts; each time that flags names as present
// as a varint of Unix seconds and a uvarint of nanoseconds; and, when
// flags names them, the claims as a text of JSON. A text is a uvarint
// length and its bytes.
//
// Decoding that costs a tenth of what JSON does, which matters because
// every shared hit decodes one. Nothing in it is trusted for its shape:
// the AEAD proves who wrote it, and the decoder still checks every length.
const (
	wireValid byte = 1 << iota
	wireExp
	wireIat
	wireNbf
	wireClaims
)

// errWire is the error of a plaintext that does not decode.
var errWire = errors.New("malformed answer")

// appendWire appends the wire form of a to b.
func (a sharedAnswer) appendWire(b []byte) ([]byte, error) {
	info := a.Info
	if a.Invalid != "" || info != nil && !info.Active {
		// An invalid answer is one, as answer reads it, whatever else it
		// holds; an inactive TokenInfo is not an answer, and opens as
		// unreadable.
		info = nil
	}
	var flags byte
	var claims []byte
	if info != nil {
		flags |= wireValid
		flags |= wireFlag(info.ExpiresAt, wireExp) | wireFlag(info.IssuedAt, wireIat) | wireFlag(info.NotBefore, wireNbf)
		if len(info.Claims) > 0 {
			var err error
			if claims, err = json.Marshal(info.Claims); err != nil {
				return nil, err
			}
			flags |= wireClaims
		}
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, a.Until)
	if info == nil {
		return appendText(b, a.Invalid), nil
	}
	b = binary.AppendUvarint(b, uint64(info.Scopes.Len()))
	for scope := range info.Scopes.All {
		b = appendText(b, scope)
	}
	b = binary.AppendUvarint(b, uint64(len(info.Audience)))
	for _, aud := range info.Audience {
		b = appendText(b, aud)
	}
	for _, s := range [...]string{info.ClientID, info.Subject, info.Issuer, info.TokenType} {
		b = appendText(b, s)
	}
	for _, t := range [...]time.Time{info.ExpiresAt, info.IssuedAt, info.NotBefore} {
		if !t.IsZero() {
			b = binary.AppendVarint(b, t.Unix())
			b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
		}
	}
	if flags&wireClaims != 0 {
		b = appendText(b, claims)
	}
	return b, nil
}

func wireFlag(t time.Time, flag byte) byte {
	if t.IsZero() {
		return 0
	}
	return flag
}

func appendText[T string | []byte](b []byte, s T) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// readWire decodes the wire form in plain, which it keeps: the texts of
// the answer share its bytes, so plain must not change afterwards.
func readWire(plain []byte) (sharedAnswer, error) {
	r := wireReader{rest: unsafe.String(unsafe.SliceData(plain), len(plain))}
	flags := r.byte()
	a := sharedAnswer{Until: r.varint()}
	if flags&wireValid == 0 {
		a.Invalid = r.text()
		if flags != 0 || a.Invalid == "" {
			r.fail()
		}
		return a, r.done()
	}
	if flags&^(wireValid|wireExp|wireIat|wireNbf|wireClaims) != 0 {
		r.fail()
	}
	info := &TokenInfo{Active: true}
	info.Scopes = scopes.New(r.texts()...)
	info.Audience = r.texts()
	info.ClientID, info.Subject, info.Issuer, info.TokenType = r.text(), r.text(), r.text(), r.text()
	info.ExpiresAt = r.time(flags&wireExp != 0)
	info.IssuedAt = r.time(flags&wireIat != 0)
	info.NotBefore = r.time(flags&wireNbf != 0)
	if flags&wireClaims != 0 {
		claims := r.text()
		if r.err == nil {
			if err := json.Unmarshal(bytesOf(claims), &info.Claims); err != nil || len(info.Claims) == 0 {
				r.fail()
			}
		}
	}
	a.Info = info
	return a, r.done()
}

// wireReader reads the parts of a wire form off rest; after the first that
// is not there or not well formed, err is set and every read returns a
// zero value.
type wireReader struct {
	rest string
	err  error
}

func (r *wireReader) fail() {
	r.err, r.rest = errWire, ""
}

// done returns r's error, or one when bytes are left over.
func (r *wireReader) done() error {
	if r.rest != "" {
		r.fail()
	}
	return r.err
}

func (r *wireReader) byte() byte {
	if r.rest == "" {
		r.fail()
		return 0
	}
	b := r.rest[0]
	r.rest = r.rest[1:]
	return b
}

func (r *wireReader) uvarint() uint64 {
	v, n := binary.Uvarint(bytesOf(r.rest))
	if n <= 0 {
		r.fail()
		return 0
	}
	r.rest = r.rest[n:]
	return v
}

// varint reads a signed varint: a uvarint of the zig-zag encoding that
// binary.AppendVarint writes.
func (r *wireReader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (r *wireReader) text() string {
	n := r.uvarint()
	if n > uint64(len(r.rest)) {
		r.fail()
		return ""
	}
	s := r.rest[:n]
	r.rest = r.rest[n:]
	return s
}

// texts reads a count and that many texts; nil for none.
func (r *wireReader) texts() []string {
	n := r.uvarint()
	if n == 0 {
		return nil
	}
	if n > uint64(len(r.rest)) { // each text takes one byte at least
		r.fail()
		return nil
	}
	list := make([]string, n)
	for i := range list {
		list[i] = r.text()
	}
	return list
}

// time reads a time when present reports one, in UTC, and returns the zero
// time otherwise.
func (r *wireReader) time(present bool) time.Time {
	if !present {
		return time.Time{}
	}
	sec, nanos := r.varint(), r.uvarint()
	if nanos >= uint64(time.Second) {
		r.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(nanos)).UTC()
}
