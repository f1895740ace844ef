package jwt

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tokengate/tokengate/introspect"
)

// FuzzLooksLikeJWT: the shape check never panics; what it calls a JWT
// has three or five base64url segments; and every token whose shape and
// header the Verifier accepts looks like a JWT, so a Fallback never
// sends one to the opaque verifier.
func FuzzLooksLikeJWT(f *testing.F) {
	for _, s := range []string{
		"eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "2YotnFZFEjr1zCsicMWpAA", "eyJ..", "eyJhbGciOiJub25lIn0..",
		"eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", "eyJ9.e30.x", "", "IHsiYWxnIjoiUlMyNTYifQ.e30.c2ln",
		"IFsxXQ.e30.c2ln", // " [1]": whitespace, then no object
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		looks := LooksLikeJWT(token)
		if _, _, err := parse(token, len(token)+1, asymmetric); err == nil && !looks {
			t.Fatalf("%q: the Verifier reads its header, but it does not look like a JWT", token)
		}
		if !looks {
			return
		}
		if n := strings.Count(token, "."); n != 2 && n != 4 {
			t.Fatalf("%q is no JWT", token)
		}
		if strings.Trim(token, b64URLAlphabet+".") != "" {
			t.Fatalf("%q: a character outside base64url", token)
		}
		// Its header opens a JSON object.
		header, _, _ := strings.Cut(token, ".")
		if !opensJSONObject(header) {
			t.Fatalf("%q: the header does not open a JSON object", token)
		}
		// A Fallback keeps it whatever its encoding.
		for _, nearly := range []string{token, token + "=", token + "~", token + ".x", "." + token,
			strings.Replace(token, ".", "==.", 1), strings.Replace(token, ".", "..", 1),
			token[:strings.LastIndexByte(token, '.')] + token[strings.LastIndexByte(token, '.')+1:],
			strings.NewReplacer("-", "+", "_", "/").Replace(token)} {
			if !nearlyJWT(nearly) {
				t.Fatalf("%q would be sent on by a Fallback", nearly)
			}
		}
	})
}

// opensJSONObject reports whether seg, base64url, decodes to JSON
// whitespace and then '{'. It is written apart from the package's
// opensObject, to check it: it decodes the segment whole, leniently (a
// lone last character, which holds no whole byte, left out).
func opensJSONObject(seg string) bool {
	n := len(seg)
	if n%4 == 1 {
		n--
	}
	raw, err := base64.RawURLEncoding.DecodeString(seg[:n])
	if err != nil {
		return false
	}
	trimmed := strings.TrimLeft(string(raw), " \t\r\n")
	return trimmed != "" && trimmed[0] == '{'
}

const b64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// FuzzParseClaims: any payload maps without a panic, and a mapped
// TokenInfo is active, keeps the mapped claims out of Claims and holds
// every string of the scope claims.
func FuzzParseClaims(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"exp":1e300}`, `{"exp":-1}`, `{"exp":1.5,"aud":["a",1]}`, `{"scp":"a  b","roles":["c"],"scope":["d"]}`,
		`{"iss":"i","sub":"s","aud":"a","exp":2000000000,"iat":1,"nbf":1,"client_id":"c","azp":"z","appid":"x","vo_ovocode":"OVO1"}`,
		`null`, `[]`, `{"aud":{}}`, `{"exp":"1"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := parseClaims(payload)
		if err != nil {
			return
		}
		// Taken before tokenInfo, which makes c's map the Claims.
		roles, hadRoles := c.all["roles"]
		info := c.tokenInfo([3]bool{true, true, true})
		if !info.Active {
			t.Fatal("inactive")
		}
		// The names written here, not the package's list, so that a name
		// dropped from that list is caught.
		for _, name := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "client_id", "scope"} {
			if _, ok := info.Claims[name]; ok {
				t.Fatalf("%s left in Claims", name)
			}
		}
		for _, list := range c.scopes {
			for _, s := range list {
				if s != "" && !info.Scopes.Has(s) {
					t.Fatalf("scope %q lost", s)
				}
			}
		}
		if hadRoles && roles != nil && info.Claims["roles"] == nil {
			t.Fatal("roles dropped from Claims")
		}
		if !c.exp.IsZero() && c.exp.Year() > 9999 {
			t.Fatal("exp out of range")
		}
		_ = slices.Clone(info.Audience)
	})
}

// FuzzShapeHeader: the shape and header checks never panic; the shape
// accepts only base64url with two dots, each segment the one encoding of
// its bytes; and a header accepted has none of the members a JWT never
// has, as a second parser (encoding/json) reads it, null or not.
func FuzzShapeHeader(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.c2ln")
	f.Add("eyJjcml0IjpbXX0.e30.c2ln")
	f.Add("a.b.c.d.e")
	f.Add(b64([]byte(`{"alg":"RS256","crit":null}`)) + ".e30.c2ln")
	f.Add(b64([]byte(`{"alg":"RS256","kid":"null","b64":null}`)) + ".e30.c2ln")
	f.Add(b64([]byte(`{"alg":"RS256","zip":"DEF"}`)) + ".e30.c2ln")
	strict := base64.RawURLEncoding.Strict()
	f.Fuzz(func(t *testing.T, token string) {
		if _, err := checkShape(token, DefaultMaxTokenBytes); err != nil {
			return
		}
		if strings.Count(token, ".") != 2 || len(token) > DefaultMaxTokenBytes {
			t.Fatalf("%q: the shape is accepted", token)
		}
		segs := strings.Split(token, ".")
		for _, seg := range segs {
			if b, err := strict.DecodeString(seg); err != nil || base64.RawURLEncoding.EncodeToString(b) != seg {
				t.Fatalf("%q: segment %q is accepted, but is not canonical", token, seg)
			}
		}
		if _, _, err := parse(token, DefaultMaxTokenBytes, asymmetric); err != nil {
			return
		}
		raw, _ := base64.RawURLEncoding.DecodeString(segs[0])
		var members map[string]json.RawMessage
		if err := json.Unmarshal(raw, &members); err != nil {
			t.Fatalf("%q: the header is accepted, but is not a JSON object", token)
		}
		for _, name := range []string{"crit", "enc", "b64", "zip"} {
			if _, ok := members[name]; ok {
				t.Fatalf("%q: the header is accepted with %q", token, name)
			}
		}
	})
}

// FuzzVerify runs the exported Verify on a loaded Verifier, seeded with
// valid RS256, ES256 and PS256 tokens and an HS256 one. It never panics;
// every error is either invalid or an *introspect.UnavailableError; no
// error quotes the token; and a token accepted is one of the valid seeds,
// byte for byte — no re-encoding or other mutation of a valid token
// verifies but ECDSA's second form, which RequireLowS refuses — and looks
// like a JWT, so a Fallback keeps it.
func FuzzVerify(f *testing.F) {
	is, clock, v := standardIssuer(f)
	c := claimsAt(is, clock.Now(), nil)
	valid := []string{
		rs256(is, clock.Now(), nil),
		token(map[string]any{"alg": "ES256", "kid": "e1"}, c, signES256(ec1)),
		token(map[string]any{"alg": "PS256", "kid": "k1"}, c, signPS256(rsa1)),
	}
	for _, tok := range valid {
		_, err := v.Verify(context.Background(), tok)
		require.NoError(f, err)
		f.Add(tok)
	}
	f.Add(token(map[string]any{"alg": "HS256", "kid": "k1"}, c, signHS256([]byte("x"))))
	// What anyone holding a valid token can make of it without the key:
	// the last character's unused bits flipped, and ECDSA's other s.
	for _, tok := range valid {
		f.Add(tok[:len(tok)-1] + string(b64URLAlphabet[strings.IndexByte(b64URLAlphabet, tok[len(tok)-1])^1]))
	}
	es := valid[1]
	i := strings.LastIndexByte(es, '.')
	sig, err := base64.RawURLEncoding.DecodeString(es[i+1:])
	require.NoError(f, err)
	n := ec1.Curve.Params().N
	new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:])).FillBytes(sig[32:])
	// Without Config.RequireLowS the other form verifies too, with the
	// same claims.
	valid = append(valid, es[:i+1]+base64.RawURLEncoding.EncodeToString(sig))
	f.Add(valid[len(valid)-1])

	f.Fuzz(func(t *testing.T, tok string) {
		info, err := v.Verify(context.Background(), tok)
		if err != nil {
			if info != nil {
				t.Fatal("an error with a TokenInfo")
			}
			var ue *introspect.UnavailableError
			invalid, unavailable := errors.Is(err, introspect.ErrInvalidToken), errors.As(err, &ue)
			if invalid == unavailable || unavailable != errors.Is(err, introspect.ErrUnavailable) {
				t.Fatalf("error neither invalid nor unavailable, or both: %v", err)
			}
			// Fixed texts hold no run of 16 base64url characters, so a
			// match is the token's text, not a coincidence.
			msg := err.Error()
			for _, part := range append(strings.Split(tok, "."), tok) {
				if len(part) >= 16 && strings.Contains(msg, part) {
					t.Fatalf("the error quotes the token: %v", err)
				}
			}
			return
		}
		if info == nil || !info.Active {
			t.Fatal("accepted without an active TokenInfo")
		}
		if !slices.Contains(valid, tok) {
			t.Fatalf("accepted a token that is not one of the valid seeds: %q", tok)
		}
		if !LooksLikeJWT(tok) {
			t.Fatalf("accepted, but a Fallback would send it on: %q", tok)
		}
	})
}
