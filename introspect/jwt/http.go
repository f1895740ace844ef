package jwt

// Replaced by internal/upstream when the layout lands.
//
// The minimal private copy of package introspect's HTTP plumbing that key
// sets and discovery need: the https-only URL check, a tuned transport, a
// client that never follows redirects, a bounded body and Retry-After.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/introspect"
)

// checkURL parses a URL the verifier will call and insists on https, except
// for loopback hosts, where plain http serves tests and demos.
func checkURL(what, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("jwt: %s URL is empty", what)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("jwt: %s URL: %w", what, err)
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("jwt: %s URL %q is not absolute", what, u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("jwt: %s URL must not hold credentials", what)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("jwt: %s URL %q has a fragment", what, u.Redacted())
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("jwt: %s URL %q uses http; only https is allowed, except to loopback addresses", what, u.Redacted())
		}
	default:
		return nil, fmt.Errorf("jwt: %s URL %q: scheme must be https", what, u.Redacted())
	}
	return u, nil
}

// isLoopback reports whether host is "localhost" or a loopback IP address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newTransport returns a transport for a handful of calls an hour to one
// host: bounded dial and handshake times, TLS 1.2 at least, few
// connections.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4,
		MaxIdleConnsPerHost:   2,
		MaxConnsPerHost:       4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 5 * time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// errRedirect is the cause reported when a server answers with a redirect,
// which is never followed: a key set that moves must be configured anew,
// or anyone who can plant a redirect chooses the keys.
var errRedirect = errors.New("redirect not followed")

// httpClient sends the verifier's requests, each limited to timeout.
type httpClient struct {
	c       *http.Client
	timeout time.Duration
	own     *http.Transport // closed by close; nil for a caller's client
}

// newHTTPClient returns a copy of c that follows no redirect, or a client
// of its own when c is nil.
func newHTTPClient(c *http.Client, timeout time.Duration) httpClient {
	var hc http.Client
	var own *http.Transport
	if c != nil {
		hc = *c
	} else {
		own = newTransport()
		hc.Transport = own
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return httpClient{c: &hc, timeout: timeout, own: own}
}

// close closes the idle connections of the client's own transport.
func (c httpClient) close() {
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
}

// get fetches url and reads at most introspect.MaxBodyBytes of a 200
// answer. Every failure is an *introspect.UnavailableError.
func (c httpClient) get(ctx context.Context, what, url string, header http.Header, now time.Time) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, unavailable(nil, now, what+": building request failed", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.c.Do(req)
	if err != nil {
		return nil, nil, unavailable(nil, now, what+": request failed", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, nil, unavailable(resp, now, what+": unexpected redirect", errRedirect)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, unavailable(resp, now, what+": unexpected status", nil)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, introspect.MaxBodyBytes+1))
	if err != nil {
		return nil, nil, unavailable(resp, now, what+": reading response failed", err)
	}
	if len(body) > introspect.MaxBodyBytes {
		return nil, nil, unavailable(resp, now, fmt.Sprintf("%s: response larger than %d bytes", what, introspect.MaxBodyBytes), nil)
	}
	return resp, body, nil
}

// unavailable builds an *introspect.UnavailableError for a response, which
// may be nil.
func unavailable(resp *http.Response, now time.Time, reason string, err error) *introspect.UnavailableError {
	e := &introspect.UnavailableError{Reason: "jwt: " + reason, Err: err}
	if resp != nil {
		e.StatusCode = resp.StatusCode
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return e
}

// maxRetryAfter caps what a server may ask for.
const maxRetryAfter = time.Hour

// parseRetryAfter reads a Retry-After value (RFC 9110 §10.2.3): either
// delay-seconds or an HTTP-date. Anything else, and a date in the past,
// give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}
