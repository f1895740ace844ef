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
	"strings"
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

// client is the HTTP client a backend uses, with the time limit of one call
// and the clock that dates its answers.
type client struct {
	*http.Client
	timeout time.Duration
	now     func() time.Time
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
// (see client.limit), on top of any Timeout c has. now dates the answers,
// for Retry-After and for what the backend parses; nil means time.Now.
func newHTTPClient(c *http.Client, timeout time.Duration, now func() time.Time) client {
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
	return client{Client: &hc, timeout: timeout, now: nowFunc(now), own: own, closed: closed}
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

// request is one call to an authorization server.
type request struct {
	method string
	url    string
	// form, when not nil, is sent form-encoded as the body.
	form url.Values
	// authorization, when not empty, is the Authorization header.
	authorization string
}

// exchange makes one call to an authorization server: it limits ctx to the
// client's timeout, sends req asking for JSON, reads at most MaxBodyBytes of
// the answer and hands it to parse with the time it arrived. Every failure
// to get an answer is an [*UnavailableError]; one that parse returns gets
// the answer's status and Retry-After.
func exchange[T any](ctx context.Context, c client, req request, parse func(status int, body []byte, now time.Time) (T, error)) (T, error) {
	var zero T
	ctx, cancel := c.limit(ctx)
	defer cancel()
	var body io.Reader
	if req.form != nil {
		body = strings.NewReader(req.form.Encode())
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, req.url, body)
	if err != nil {
		return zero, &UnavailableError{Reason: "building the request failed", Err: err}
	}
	if req.form != nil {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	hr.Header.Set("Accept", "application/json")
	if req.authorization != "" {
		hr.Header.Set("Authorization", req.authorization)
	}
	resp, answer, err := roundTrip(c, hr)
	if err != nil {
		return zero, err
	}
	now := c.now()
	v, err := parse(resp.StatusCode, answer, now)
	return v, annotate(err, resp, now)
}

// roundTrip sends req, which carries the call's context, and reads at most
// MaxBodyBytes of the answer. Every failure is an [*UnavailableError].
func roundTrip(c client, req *http.Request) (*http.Response, []byte, error) {
	// Deferred first, so it runs after the body is closed and its
	// connection is back in the pool.
	defer c.release()
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, unavailable(nil, c.now(), "request failed", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, nil, unavailable(resp, c.now(), "unexpected redirect", errRedirect)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, nil, unavailable(resp, c.now(), "reading response failed", err)
	}
	if len(body) > MaxBodyBytes {
		return nil, nil, unavailable(resp, c.now(), fmt.Sprintf("response larger than %d bytes", MaxBodyBytes), nil)
	}
	return resp, body, nil
}

// annotate completes an [*UnavailableError] from parsing an answer with the
// answer's status and Retry-After. Other errors pass through.
func annotate(err error, resp *http.Response, now time.Time) error {
	var ue *UnavailableError
	if errors.As(err, &ue) {
		ue.StatusCode = resp.StatusCode
		ue.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
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
