// Package depcheck holds a test of the module's dependency rule: each
// third-party library is compiled only into the packages that need it, so
// that a net/http user compiles no web framework, no Redis client and no
// metrics or tracing library.
package depcheck
