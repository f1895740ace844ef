package upstream

import (
	"fmt"

	"github.com/tokengate/tokengate/introspect"
)

// InvalidToken returns an error matching [introspect.ErrInvalidToken] that
// gives reason. reason must be a fixed text: never the token, never text
// from upstream.
func InvalidToken(reason string) error {
	return fmt.Errorf("%w: %s", introspect.ErrInvalidToken, reason)
}

// CheckToken rejects, without a network call, a token no authorization
// server issues: empty, or holding bytes outside visible ASCII. That also
// keeps it from breaking the header or form it travels in.
func CheckToken(token string) error {
	if token == "" {
		return InvalidToken("empty token")
	}
	for i := range len(token) {
		if c := token[i]; c < 0x21 || c > 0x7e {
			return InvalidToken("token holds a character outside visible ASCII")
		}
	}
	return nil
}
