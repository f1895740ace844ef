package jwt

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
)

// FuzzLooksLikeJWT: the shape check never panics, and what it calls a JWT
// has three segments, the first decoding to a JSON object.
func FuzzLooksLikeJWT(f *testing.F) {
	for _, s := range []string{
		"eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "2YotnFZFEjr1zCsicMWpAA", "eyJ..", "eyJhbGciOiJub25lIn0..",
		"eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", "eyJ9.e30.x", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		if !LooksLikeJWT(token) {
			return
		}
		if strings.Count(token, ".") != 2 || !strings.HasPrefix(token, "eyJ") {
			t.Fatalf("%q is no JWT", token)
		}
		if _, err := base64.RawURLEncoding.DecodeString(token[:strings.IndexByte(token, '.')]); err != nil {
			t.Fatalf("%q: header is not base64url", token)
		}
	})
}

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
		info := c.tokenInfo([3]bool{true, true, true})
		if !info.Active {
			t.Fatal("inactive")
		}
		for _, name := range mapped {
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
		if roles, ok := c.all["roles"]; ok && info.Claims["roles"] == nil && roles != nil {
			t.Fatal("roles dropped from Claims")
		}
		if !c.exp.IsZero() && c.exp.Year() > 9999 {
			t.Fatal("exp out of range")
		}
		_ = slices.Clone(info.Audience)
	})
}

// FuzzSplitHeader: the shape and header checks never panic, and accept
// only base64url with two dots.
func FuzzSplitHeader(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.c2ln")
	f.Add("eyJjcml0IjpbXX0.e30.c2ln")
	f.Add("a.b.c.d.e")
	f.Fuzz(func(t *testing.T, token string) {
		h, _, _, err := split(token, DefaultMaxTokenBytes)
		if err != nil {
			return
		}
		if strings.Count(token, ".") != 2 || len(token) > DefaultMaxTokenBytes {
			t.Fatalf("%q split", token)
		}
		_, _ = parseHeader(h)
	})
}
