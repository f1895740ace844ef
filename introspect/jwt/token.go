package jwt

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"

	"github.com/tokengate/tokengate/introspect"
)

// invalid returns an error matching introspect.ErrInvalidToken that gives
// reason, a fixed text: never the token, never text from it.
func invalid(reason string) error {
	return fmt.Errorf("%w: %s", introspect.ErrInvalidToken, reason)
}

// The reasons a token is refused before its claims are read.
var (
	errEmpty        = invalid("empty token")
	errTooLong      = invalid("token longer than the limit")
	errJWE          = invalid("token is an encrypted JWT (JWE, five segments), which is not supported")
	errNotCompact   = invalid("token is not a JWT in compact serialization")
	errAlphabet     = invalid("token holds a character outside base64url")
	errNoSignature  = invalid("token has no signature")
	errEncoding     = invalid("token segment is not canonical base64url (RFC 7515 §2): one token has one string")
	errHeader       = invalid("token header is malformed: not a JSON object, a member named twice, or a member of the wrong form")
	errAlg          = invalid("token is signed with an algorithm that is not allowed")
	errCrit         = invalid("token header names critical extensions, none of which is supported")
	errHeaderMember = invalid("token header has b64 or zip, which a JWT never has")
	errEncHeader    = invalid("token header has enc: it is a JWE, which is not supported")
	errTyp          = invalid(`token type is not "at+jwt"`)
	errPayload      = invalid("token claims are not a JSON object, or name a member twice, or are not UTF-8")
)

// header holds the members of a JWS protected header that matter. jku,
// x5u, jwk and x5c are not among them: they never select a key.
type header struct {
	alg, kid, typ string
}

// notBase64URL marks, in base64URL, the bytes outside the alphabet.
const notBase64URL = 0xff

// base64URL maps each character of the base64url alphabet (RFC 4648 §5)
// to the six bits it stands for, and every other byte to notBase64URL.
var base64URL = func() (t [256]byte) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range t {
		t[i] = notBase64URL
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// parse checks a token's shape and has go-jose parse it, once: its header
// read, its payload and its signature decoded, none of it verified yet.
// go-jose refuses an alg not among algs, as it does a missing one or one
// that is not a string. The payload is
// jws.UnsafePayloadWithoutVerification() and the signature, the one a
// compact JWS has, jws.Signatures[0].Signature; jws.Verify later checks
// this very parse, so what is verified is what was read.
func parse(token string, maxBytes int, algs []jose.SignatureAlgorithm) (*jose.JSONWebSignature, header, error) {
	hseg, err := checkShape(token, maxBytes)
	if err != nil {
		return nil, header{}, err
	}
	jws, err := jose.ParseSignedCompact(token, algs)
	if err != nil {
		// The shape checked, the segments decode: go-jose refused the
		// header, for its alg, for a member it reads (kid, nonce, jwk,
		// x5c) that is malformed, or because its JSON is not one object
		// naming each member once.
		var unexpected *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &unexpected) {
			return nil, header{}, errAlg
		}
		return nil, header{}, errHeader
	}
	h, err := readHeader(jws.Signatures[0].Protected, hseg)
	if err != nil {
		return nil, header{}, err
	}
	return jws, h, nil
}

// checkShape checks what can be checked of a token without decoding it,
// and returns its header segment: at most maxBytes, base64url and dots
// only, exactly three segments, a signature, and each segment in the one
// encoding RFC 7515 §2 defines.
func checkShape(token string, maxBytes int) (string, error) {
	if token == "" {
		return "", errEmpty
	}
	if len(token) > maxBytes {
		return "", errTooLong
	}
	dots := 0
	first, second := -1, -1
	for i := range len(token) {
		switch c := token[i]; {
		case c == '.':
			switch dots {
			case 0:
				first = i
			case 1:
				second = i
			}
			dots++
		case base64URL[c] == notBase64URL:
			return "", errAlphabet
		}
	}
	switch dots {
	case 2:
	case 4:
		return "", errJWE
	default:
		return "", errNotCompact
	}
	h, p, sig := token[:first], token[first+1:second], token[second+1:]
	if sig == "" {
		return "", errNoSignature
	}
	if h == "" || p == "" {
		return "", errNotCompact
	}
	if !canonical(h) || !canonical(p) || !canonical(sig) {
		return "", errEncoding
	}
	return h, nil
}

// canonical reports whether seg, base64url characters only, is the one
// encoding RFC 7515 §2 defines of the bytes it stands for: unpadded, with
// the unused low bits of its last character zero. go-jose decodes
// leniently, ignoring those bits, and verifies the signature over its own
// encoding of what it decoded, so without this check flipping them would
// make a second string for the same token: another cache key, another
// entry past a deny list of token strings.
func canonical(seg string) bool {
	switch len(seg) % 4 {
	case 1: // six bits: not even one byte
		return false
	case 2: // two characters for one byte: four bits unused
		return base64URL[seg[len(seg)-1]]&0x0f == 0
	case 3: // three characters for two bytes: two bits unused
		return base64URL[seg[len(seg)-1]]&0x03 == 0
	}
	return true
}

// readHeader reads the members that matter from p, the protected header
// as go-jose parsed it, so that the alg a key is looked up for is the one
// go-jose checked and verifies with, and refuses the members a JWT never
// has. seg is the header's segment.
func readHeader(p jose.Header, seg string) (header, error) {
	// go-jose reads a member whose value is null as absent, and leaves it
	// out of the Header it returns: a "crit": null is not in
	// p.ExtraHeaders. Such a member is refused as any other, so a header
	// in which null appears at all has its names read again, by go-jose's
	// own JSON package, which reads them as go-jose did. Issuers do not
	// write null in a header: the common header is parsed once.
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return header{}, errEncoding
	}
	if !bytes.Contains(raw, []byte("null")) {
		err = refuseMembers(p.ExtraHeaders)
	} else {
		var all map[jose.HeaderKey]josejson.RawMessage
		if josejson.Unmarshal(raw, &all) != nil {
			return header{}, errHeader
		}
		err = refuseMembers(all)
	}
	if err != nil {
		return header{}, err
	}
	h := header{alg: p.Algorithm, kid: p.KeyID}
	if typ, ok := p.ExtraHeaders[jose.HeaderType]; ok {
		if h.typ, ok = typ.(string); !ok {
			return header{}, errHeader
		}
	}
	return h, nil
}

// refuseMembers refuses a header that has one of the members a JWT never
// has, whatever its value: members maps a header's names to their values.
func refuseMembers[V any](members map[jose.HeaderKey]V) error {
	// No extension is understood, so any critical one must be refused
	// (RFC 7515 §4.1.11).
	if _, ok := members["crit"]; ok {
		return errCrit
	}
	if _, ok := members["enc"]; ok {
		return errEncHeader
	}
	if _, ok := members["b64"]; ok {
		return errHeaderMember
	}
	if _, ok := members["zip"]; ok {
		return errHeaderMember
	}
	return nil
}

// isATJWT reports whether typ is RFC 9068's, compared as media types are:
// without case, with or without the "application/" prefix (RFC 7515
// §4.1.9).
func isATJWT(typ string) bool {
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}
