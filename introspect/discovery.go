package introspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// DiscoveryPath is where an issuer publishes its OpenID Provider metadata,
// below the issuer URL (OpenID Connect Discovery 1.0 §4).
const DiscoveryPath = "/.well-known/openid-configuration"

// discovery finds an issuer's introspection endpoint from its discovery
// document. A success is kept for good; a failure only for retry, so that a
// provider that was down at start-up is asked again later, but not by every
// request while it is down. Concurrent lookups share one request, made on a
// context detached from any single caller.
type discovery struct {
	issuer string
	url    string
	client client
	retry  time.Duration
	now    func() time.Time
	flight singleflight.Group

	mu       sync.Mutex
	endpoint string
	err      error     // the last failure
	failedAt time.Time // when err happened
}

func newDiscovery(issuer string, c client, retry time.Duration, now func() time.Time) *discovery {
	return &discovery{
		issuer: issuer,
		url:    strings.TrimSuffix(issuer, "/") + DiscoveryPath,
		client: c,
		retry:  retry,
		now:    now,
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
			d.err, d.failedAt = err, d.now()
			return "", err
		}
		d.endpoint, d.err = endpoint, nil
		return endpoint, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	case <-ctx.Done():
		return "", &UnavailableError{Reason: "discovery not finished", Err: ctx.Err()}
	}
}

// known returns the discovered endpoint, or the last failure while it is
// too recent to ask again; known is false when discovery must ask.
func (d *discovery) known() (endpoint string, known bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.endpoint != "" {
		return d.endpoint, true, nil
	}
	if d.err != nil {
		if wait := d.failedAt.Add(d.retry).Sub(d.now()); wait > 0 {
			return "", true, retryLater(d.err, wait)
		}
	}
	return "", false, nil
}

// retryLater returns err, a remembered discovery failure, with a
// Retry-After of at least wait.
func retryLater(err error, wait time.Duration) error {
	var ue *UnavailableError
	if !errors.As(err, &ue) {
		return err
	}
	e := *ue
	e.RetryAfter = max(e.RetryAfter, wait)
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
	ctx, cancel := d.client.limit(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url, nil)
	if err != nil {
		return "", fmt.Errorf("introspect: building discovery request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	now := d.now()
	resp, err := roundTrip(d.client, req, now)
	if err != nil {
		return "", discoveryFailed(err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", discoveryFailed(unavailable(resp.Response, now, "unexpected status", nil))
	}
	var doc discoveryDocument
	if err := json.Unmarshal(resp.body, &doc); err != nil {
		return "", discoveryFailed(unavailable(resp.Response, now, "document is not valid JSON", err))
	}
	// OpenID Connect Discovery §4.3: the issuer in the document must be the
	// one asked for, or the document may be an impostor's.
	if doc.Issuer != d.issuer {
		return "", discoveryFailed(unavailable(resp.Response, now, fmt.Sprintf("document names issuer %q, not %q", doc.Issuer, d.issuer), nil))
	}
	if doc.IntrospectionEndpoint == "" {
		return "", discoveryFailed(unavailable(resp.Response, now, "document names no introspection_endpoint", nil))
	}
	u, err := checkEndpoint("introspection", doc.IntrospectionEndpoint)
	if err != nil {
		return "", discoveryFailed(unavailable(resp.Response, now, "introspection_endpoint is unusable", err))
	}
	return u.String(), nil
}

// discoveryFailed marks an *UnavailableError as a failure of discovery.
func discoveryFailed(err error) error {
	var ue *UnavailableError
	if errors.As(err, &ue) {
		ue.Reason = "discovery: " + ue.Reason
	}
	return err
}
