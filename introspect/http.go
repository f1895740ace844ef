package introspect

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

const (
	// DefaultTimeout limits one call to the authorization server when a
	// configuration leaves its Timeout zero.
	DefaultTimeout = 5 * time.Second

	// MaxBodyBytes is the most of an authorization server's answer that is
	// read. A longer answer is a failure ([ErrUnavailable]), so a broken or
	// hostile server cannot make the resource server buffer without limit.
	MaxBodyBytes = 1 << 20
)

// checkEndpoint parses an endpoint URL and insists on https, except for
// loopback hosts, where plain http serves tests and demos.
func checkEndpoint(what, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("introspect: %s URL is empty", what)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("introspect: %s URL: %w", what, err)
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("introspect: %s URL %q is not absolute", what, u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("introspect: %s URL must not hold credentials", what)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("introspect: %s URL %q has a fragment", what, u.Redacted())
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("introspect: %s URL %q uses http; only https is allowed, except to loopback addresses", what, u.Redacted())
		}
	default:
		return nil, fmt.Errorf("introspect: %s URL %q: scheme must be https", what, u.Redacted())
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

// NewTransport returns an [http.Transport] tuned for a resource server's
// calls to its authorization server: many idle connections kept per host (Go's
// default of 2 churns connections under load), at most [DefaultMaxConcurrent]
// connections per host, bounded dial and TLS handshake times, and TLS 1.2 at
// least. Backends use one of their own unless their configuration names an
// HTTPClient.
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
		MaxConnsPerHost: DefaultMaxConcurrent,
		// More idle connections than can be open would never be used.
		MaxIdleConnsPerHost:   DefaultMaxConcurrent,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// errRedirect is the cause reported when an authorization server answers
// with a redirect, which the backends never follow.
var errRedirect = errors.New("redirect not followed")

// client is the HTTP client a backend uses, with the time limit of one call.
type client struct {
	*http.Client
	timeout time.Duration
	// own is the transport made for this client, which close closes; nil
	// when the caller supplied the client, whose connections are the
	// caller's to close.
	own *http.Transport
	// closed is set by close, when own is not nil; shared by the copies of
	// the client, such as discovery's.
	closed *atomic.Bool
}

// newHTTPClient returns the client a backend uses: a copy of c (never c
// itself, so the caller's client is not changed) or, when c is nil, a client
// with a [NewTransport] transport. Either way it does not follow redirects:
// a verify or introspection endpoint has no reason to redirect, and
// following one would send the token or the client's credentials to
// wherever it points. Each call is limited to timeout through its context
// (see client.limit), on top of any Timeout c has.
func newHTTPClient(c *http.Client, timeout time.Duration) client {
	var hc http.Client
	var own *http.Transport
	var closed *atomic.Bool
	if c != nil {
		hc = *c
	} else {
		own, closed = NewTransport(), new(atomic.Bool)
		hc.Transport = own
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}
	return client{Client: &hc, timeout: timeout, own: own, closed: closed}
}

// close closes the idle connections of the client's own transport, so that
// their goroutines end now rather than after IdleConnTimeout. It leaves a
// caller's client alone. Calls made later, or in flight now, still work
// but leave no idle connection behind (see release).
func (c client) close() {
	if c.own == nil {
		return
	}
	c.closed.Store(true)
	c.own.CloseIdleConnections()
}

// release closes the idle connections of a closed client's own transport
// once a call's response body is closed. A call still in flight at close
// returns its connection to the pool after close has emptied it; this
// empties it again. closed is set before close empties the pool, so either
// close finds the connection or the call finds closed set.
func (c client) release() {
	if c.own != nil && c.closed.Load() {
		c.own.CloseIdleConnections()
	}
}

// limit returns ctx limited to the client's timeout, unless its deadline
// comes sooner anyway, as it does behind a [Cache]: a second timer per call
// would cost without changing anything. A context is cheaper than
// http.Client.Timeout, which copies the request to attach its own.
func (c client) limit(ctx context.Context) (context.Context, context.CancelFunc) {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= c.timeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.timeout)
}

// response is an authorization server's answer, read in full.
type response struct {
	*http.Response
	body []byte
}

// roundTrip sends req, which carries the call's context, and reads at most
// MaxBodyBytes of the answer. Every failure is an [*UnavailableError]; the
// caller decides what the answer means.
func roundTrip(c client, req *http.Request, now time.Time) (*response, error) {
	// Deferred first, so it runs after the body is closed and its
	// connection is back in the pool.
	defer c.release()
	resp, err := c.Do(req)
	if err != nil {
		return nil, unavailable(nil, now, "request failed", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, unavailable(resp, now, "unexpected redirect", errRedirect)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, unavailable(resp, now, "reading response failed", err)
	}
	if len(body) > MaxBodyBytes {
		return nil, unavailable(resp, now, fmt.Sprintf("response larger than %d bytes", MaxBodyBytes), nil)
	}
	return &response{Response: resp, body: body}, nil
}

// annotate completes an [*UnavailableError] from parsing the answer with
// the answer's status and Retry-After. Other errors pass through.
func (r *response) annotate(err error, now time.Time) error {
	var ue *UnavailableError
	if errors.As(err, &ue) {
		ue.StatusCode = r.StatusCode
		ue.RetryAfter = parseRetryAfter(r.Header.Get("Retry-After"), now)
	}
	return err
}

// nowFunc returns now, or time.Now when now is nil.
func nowFunc(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// checkTokenSyntax rejects, without a network call, a token no authorization
// server issues: empty, or holding bytes outside visible ASCII. That also
// keeps it from breaking the header or form it travels in.
func checkTokenSyntax(token string) error {
	if token == "" {
		return invalidToken("empty token")
	}
	for i := range len(token) {
		if c := token[i]; c < 0x21 || c > 0x7e {
			return invalidToken("token holds a character outside visible ASCII")
		}
	}
	return nil
}
