// Package redact takes a bearer token out of texts and errors bound for
// log lines and error strings: Verifiers must keep the token out of their
// errors, and one that does not must not get it logged by tokengate.
package redact

import "strings"

// Text returns text with every occurrence of token replaced by "[token]".
func Text(text, token string) string {
	if token == "" {
		return text
	}
	return strings.ReplaceAll(text, token, "[token]")
}

// Error returns err, or, when err's text holds token, an error whose text
// is err's with the token replaced. It unwraps to err, so that errors.Is
// and errors.As see what they would have; an error errors.As finds in the
// chain still has its own text.
func Error(err error, token string) error {
	if err == nil || token == "" {
		return err
	}
	text := err.Error()
	if !strings.Contains(text, token) {
		return err
	}
	return &redacted{err: err, text: Text(text, token)}
}

type redacted struct {
	err  error
	text string
}

func (r *redacted) Error() string { return r.text }
func (r *redacted) Unwrap() error { return r.err }
