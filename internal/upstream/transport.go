package upstream

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"github.com/tokengate/tokengate/introspect"
)

// NewTransport returns an [http.Transport] tuned for a resource server's
// calls to its authorization server: many idle connections kept per host
// (Go's default of 2 churns connections under load), at most
// [introspect.DefaultMaxConcurrent] connections per host, bounded dial and
// TLS handshake times, and TLS 1.2 at least. Backends use one of their own
// unless their configuration names an HTTPClient; the reliability tests and
// the benchmarks use it to give a backend a client of theirs.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2: true,
		MaxIdleConns:      512,
		// A stalled authorization server must not get thousands of
		// connections, one per waiting request: past the bound, requests
		// wait for a connection within their own timeout. Behind a Cache
		// with the default MaxConcurrent the bound is never reached: the
		// Cache already holds the calls in flight to that number.
		MaxConnsPerHost: introspect.DefaultMaxConcurrent,
		// More idle connections than can be open would never be used.
		MaxIdleConnsPerHost:   introspect.DefaultMaxConcurrent,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
}
