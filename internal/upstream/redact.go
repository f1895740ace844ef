package upstream

// Redacted stands in for a secret in the String, GoString and LogValue of
// a configuration: it says whether one is set, and nothing more.
func Redacted(secret string) string {
	if secret == "" {
		return `""`
	}
	return "[REDACTED]"
}
