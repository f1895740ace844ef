package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/introspect"
)

// maxBodyBytes is the most of an authorization server's answer that is
// read. A longer answer is a failure ([introspect.ErrUnavailable]), so a
// broken or hostile server cannot make the resource server buffer without
// limit.
const maxBodyBytes = 1 << 20

// errRedirect is the cause reported when an authorization server answers
// with a redirect, which the backends never follow.
var errRedirect = errors.New("redirect not followed")

// Client is the HTTP client of one backend, with the time limit of one call
// and the clock that dates its answers. It is safe for concurrent use; the
// backend's copies (such as its discovery's) share one *Client.
type Client struct {
	http    *http.Client
	timeout time.Duration
	now     func() time.Time
	// own is the transport made for this client, which Close closes; nil
	// when the caller supplied the client, whose connections are the
	// caller's to close.
	own *http.Transport
	// closed is set by Close, when own is not nil.
	closed atomic.Bool
}

// NewClient returns the client a backend uses: a copy of hc (never hc
// itself, so the caller's client is not changed) or, when hc is nil, a
// client with a [NewTransport] transport. Either way it does not follow
// redirects: a verify or introspection endpoint has no reason to redirect,
// and following one would send the token or the client's credentials to
// wherever it points. Each call is limited to timeout through its context,
// on top of any Timeout hc has. now dates the answers, for Retry-After and
// for what the backend parses; nil means [time.Now].
func NewClient(hc *http.Client, timeout time.Duration, now func() time.Time) *Client {
	c := &Client{timeout: timeout, now: NowFunc(now)}
	var copied http.Client
	if hc != nil {
		copied = *hc
	} else {
		c.own = NewTransport()
		copied.Transport = c.own
	}
	copied.CheckRedirect = func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}
	c.http = &copied
	return c
}

// Now returns the time on the client's clock.
func (c *Client) Now() time.Time { return c.now() }

// Close closes the idle connections of the client's own transport, so that
// their goroutines end now rather than after IdleConnTimeout. It leaves a
// caller's client alone. Calls made later, or in flight now, still work but
// leave no idle connection behind (see release). It is safe to call more
// than once and concurrently with calls.
func (c *Client) Close() {
	if c.own == nil {
		return
	}
	c.closed.Store(true)
	c.own.CloseIdleConnections()
}

// release closes the idle connections of a closed client's own transport
// once a call's response body is closed. A call still in flight at Close
// returns its connection to the pool after Close has emptied it; this
// empties it again. closed is set before Close empties the pool, so either
// Close finds the connection or the call finds closed set.
func (c *Client) release() {
	if c.own != nil && c.closed.Load() {
		c.own.CloseIdleConnections()
	}
}

// limit returns ctx limited to the client's timeout, unless its deadline
// comes sooner anyway, as it does behind an [introspect.Cache]: a second
// timer per call would cost without changing anything. A context is cheaper
// than http.Client.Timeout, which copies the request to attach its own.
func (c *Client) limit(ctx context.Context) (context.Context, context.CancelFunc) {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= c.timeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.timeout)
}

// Request is one call to an authorization server.
type Request struct {
	// Method is the HTTP method, GET or POST.
	Method string
	// URL is the endpoint, checked by [CheckEndpoint].
	URL string
	// Form, when not nil, is sent form-encoded as the body.
	Form url.Values
	// Authorization, when not empty, is the Authorization header. It may
	// hold a token or credentials: it is never put in an error.
	Authorization string
	// Header holds further request headers, such as Cache-Control; nil
	// means none.
	Header http.Header
}

// Answer is an authorization server's answer, read in full.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
	// Now is when the answer arrived, on the client's clock.
	Now time.Time
}

// Unavailable returns the failure of an answer that cannot be used, with
// its status and Retry-After.
func (a Answer) Unavailable(reason string, err error) error {
	return &introspect.UnavailableError{
		StatusCode: a.Status, RetryAfter: parseRetryAfter(a.Header.Get("Retry-After"), a.Now),
		Reason: reason, Err: err,
	}
}

// Call makes one call to an authorization server: it limits ctx to the
// client's timeout, sends req asking for JSON, reads at most 1 MiB of the
// answer and hands it to parse with the time it arrived. Every failure to
// get an answer (no response, a redirect, a body too long) is an
// [*introspect.UnavailableError]; one that parse returns gets the answer's
// status and Retry-After. Other errors from parse pass through unchanged.
func Call[T any](ctx context.Context, c *Client, req Request, parse func(status int, body []byte, now time.Time) (T, error)) (T, error) {
	a, err := Fetch(ctx, c, req)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := parse(a.Status, a.Body, a.Now)
	return v, annotate(err, a.Status, a.Header, a.Now)
}

// Fetch makes one call as [Call] does and returns the answer whatever its
// status, for a caller that needs its headers too. Every failure to get an
// answer is an [*introspect.UnavailableError].
func Fetch(ctx context.Context, c *Client, req Request) (Answer, error) {
	ctx, cancel := c.limit(ctx)
	defer cancel()
	var body io.Reader
	if req.Form != nil {
		body = strings.NewReader(req.Form.Encode())
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, req.URL, body)
	if err != nil {
		return Answer{}, &introspect.UnavailableError{Reason: "building the request failed", Err: err}
	}
	for k, v := range req.Header {
		hr.Header[k] = v
	}
	if req.Form != nil {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	hr.Header.Set("Accept", "application/json")
	if req.Authorization != "" {
		hr.Header.Set("Authorization", req.Authorization)
	}
	resp, answer, err := c.roundTrip(hr)
	if err != nil {
		return Answer{}, err
	}
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: answer, Now: c.now()}, nil
}

// roundTrip sends req, which carries the call's context, and reads at most
// maxBodyBytes of the answer. Every failure is an
// [*introspect.UnavailableError].
func (c *Client) roundTrip(req *http.Request) (*http.Response, []byte, error) {
	// Deferred first, so it runs after the body is closed and its
	// connection is back in the pool.
	defer c.release()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, unavailable(nil, c.now(), "request failed", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, nil, unavailable(resp, c.now(), "unexpected redirect", errRedirect)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return nil, nil, unavailable(resp, c.now(), "reading response failed", err)
	}
	if len(body) > maxBodyBytes {
		return nil, nil, unavailable(resp, c.now(), fmt.Sprintf("response larger than %d bytes", maxBodyBytes), nil)
	}
	return resp, body, nil
}

// NowFunc returns now, or [time.Now] when now is nil: the clock of a
// configuration whose Now may be left nil.
func NowFunc(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
