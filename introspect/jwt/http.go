package jwt

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/tokengate/tokengate/internal/upstream"
)

// checkURL parses a URL the verifier will call and insists on https, except
// for loopback hosts, where plain http serves tests and demos.
func checkURL(what, raw string) (*url.URL, error) {
	u, err := upstream.CheckEndpoint(what, raw)
	if err != nil {
		return nil, fmt.Errorf("jwt: %w", err)
	}
	return u, nil
}

// httpClient sends the verifier's requests, each limited to its timeout,
// never following a redirect: a key set that moves must be configured
// anew, or anyone who can plant a redirect chooses the keys.
type httpClient struct{ c *upstream.Client }

// newHTTPClient returns a copy of c, or a client of its own when c is nil.
func newHTTPClient(c *http.Client, timeout time.Duration, now func() time.Time) httpClient {
	return httpClient{c: upstream.NewClient(c, timeout, now)}
}

// close closes the idle connections of the client's own transport.
func (c httpClient) close() { c.c.Close() }

// get fetches url, reading at most 1 MiB of a 200 answer. Every failure is
// an *introspect.UnavailableError.
func (c httpClient) get(ctx context.Context, what, url string, header http.Header) (upstream.Answer, error) {
	a, err := upstream.Fetch(ctx, c.c, upstream.Request{Method: http.MethodGet, URL: url, Header: header})
	if err != nil {
		return a, err
	}
	if a.Status != http.StatusOK {
		return a, a.Unavailable(fmt.Sprintf("jwt: %s: unexpected status %d", what, a.Status), nil)
	}
	return a, nil
}
