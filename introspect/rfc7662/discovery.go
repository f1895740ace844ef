package rfc7662

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/tokengate/tokengate/internal/upstream"
	"github.com/tokengate/tokengate/introspect"
)

// discoveryPath is where an issuer publishes its OpenID Provider metadata,
// below the issuer URL (OpenID Connect Discovery 1.0 §4).
const discoveryPath = "/.well-known/openid-configuration"

// discoveryFirstRetry is how soon discovery asks again after a first
// failure: soon enough that a provider's blip costs its clients about a
// second, late enough that a herd of requests makes one attempt.
const discoveryFirstRetry = time.Second

// discovery finds an issuer's introspection endpoint from its discovery
// document. A success is kept for good; a failure only until the next
// attempt, so that a provider that was down at start-up is asked again
// later, but not by every request while it is down. The wait between
// attempts starts at discoveryFirstRetry and doubles while failures
// persist, up to maxRetry. Concurrent lookups share one request, made on a
// context detached from any single caller.
type discovery struct {
	issuer   string
	url      string
	client   *upstream.Client
	maxRetry time.Duration
	flight   singleflight.Group

	mu          sync.Mutex
	endpoint    string
	err         error     // the last failure
	failures    int       // failures in a row
	nextAttempt time.Time // when err stops being the answer
}

func newDiscovery(issuer string, c *upstream.Client, maxRetry time.Duration) *discovery {
	return &discovery{
		issuer:   issuer,
		url:      strings.TrimSuffix(issuer, "/") + discoveryPath,
		client:   c,
		maxRetry: maxRetry,
	}
}

// introspectionEndpoint returns the endpoint, discovering it when needed.
func (d *discovery) introspectionEndpoint(ctx context.Context) (string, error) {
	if endpoint, known, err := d.known(); known {
		return endpoint, err
	}
	ch := d.flight.DoChan("", func() (any, error) {
		// A caller that looked just before the previous lookup finished,
		// and joined just after, finds its answer (or its failure) here
		// rather than asking again at once.
		if endpoint, known, err := d.known(); known {
			return endpoint, err
		}
		// The request outlives a caller that gives up, so that the others
		// waiting for it still get an answer; the client's timeout bounds it.
		endpoint, err := d.fetch(context.WithoutCancel(ctx))
		d.mu.Lock()
		defer d.mu.Unlock()
		if err != nil {
			d.failures++
			wait := d.backoff(err)
			d.err, d.nextAttempt = err, d.client.Now().Add(wait)
			return "", retryLater(err, wait)
		}
		d.endpoint, d.err, d.failures = endpoint, nil, 0
		return endpoint, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	case <-ctx.Done():
		return "", &introspect.UnavailableError{Reason: "discovery not finished", Err: ctx.Err()}
	}
}

// backoff returns how long after the latest failure, err, to ask again:
// discoveryFirstRetry doubled for each failure in a row before it, or
// longer when the provider asked for longer in a Retry-After, but never
// more than maxRetry, so that a provider back up is found within that.
// d.mu is held.
func (d *discovery) backoff(err error) time.Duration {
	wait := min(discoveryFirstRetry, d.maxRetry)
	for i := 1; i < d.failures && wait < d.maxRetry; i++ {
		wait *= 2
	}
	var ue *introspect.UnavailableError
	if errors.As(err, &ue) {
		wait = max(wait, ue.RetryAfter)
	}
	return min(wait, d.maxRetry)
}

// known returns the discovered endpoint, or the last failure until the
// next attempt is due; known is false when discovery must ask.
func (d *discovery) known() (endpoint string, known bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.endpoint != "" {
		return d.endpoint, true, nil
	}
	if d.err != nil {
		if wait := d.nextAttempt.Sub(d.client.Now()); wait > 0 {
			return "", true, retryLater(d.err, wait)
		}
	}
	return "", false, nil
}

// retryLater returns err, a discovery failure, with a Retry-After of wait,
// the time until the next attempt, in whole seconds rounded up: a client
// that comes back when told finds discovery asking again, not the same
// failure. The Retry-After the provider sent, if any, is already in wait.
func retryLater(err error, wait time.Duration) error {
	var ue *introspect.UnavailableError
	if !errors.As(err, &ue) {
		return err
	}
	e := *ue
	secs := (wait + time.Second - 1) / time.Second
	e.RetryAfter = max(secs, 1) * time.Second
	return &e
}

// discoveryDocument holds the members of OpenID Provider metadata that
// matter here.
type discoveryDocument struct {
	Issuer                string `json:"issuer"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// fetch reads the discovery document and checks it.
func (d *discovery) fetch(ctx context.Context) (string, error) {
	endpoint, err := upstream.Call(ctx, d.client, upstream.Request{Method: http.MethodGet, URL: d.url}, d.parse)
	return endpoint, discoveryFailed(err)
}

// parse checks a discovery document and returns its introspection
// endpoint.
func (d *discovery) parse(status int, body []byte, _ time.Time) (string, error) {
	if status != http.StatusOK {
		return "", &introspect.UnavailableError{Reason: "unexpected status"}
	}
	var doc discoveryDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", &introspect.UnavailableError{Reason: "document is not valid JSON", Err: err}
	}
	// OpenID Connect Discovery §4.3: the issuer in the document must be the
	// one asked for, or the document may be an impostor's.
	if doc.Issuer != d.issuer {
		return "", &introspect.UnavailableError{Reason: "document names another issuer"}
	}
	if doc.IntrospectionEndpoint == "" {
		return "", &introspect.UnavailableError{Reason: "document names no introspection_endpoint"}
	}
	u, err := upstream.CheckEndpoint("introspection", doc.IntrospectionEndpoint)
	if err != nil {
		return "", &introspect.UnavailableError{Reason: "introspection_endpoint is unusable", Err: err}
	}
	return u.String(), nil
}

// discoveryFailed marks an *UnavailableError as a failure of discovery.
func discoveryFailed(err error) error {
	var ue *introspect.UnavailableError
	if errors.As(err, &ue) {
		ue.Reason = "discovery: " + ue.Reason
	}
	return err
}
