package upstream

import (
	"fmt"
	"net"
	"net/url"
)

// CheckEndpoint parses an endpoint URL and insists on https, except for
// loopback hosts, where plain http serves tests and demos. It refuses a URL
// with credentials or a fragment, and one that is not absolute. what names
// the endpoint in errors ("verify", "issuer", …); errors carry no package
// prefix, for the backend to add its own, and show the URL redacted.
func CheckEndpoint(what, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%s URL is empty", what)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s URL: %w", what, err)
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%s URL %q is not absolute", what, u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s URL must not hold credentials", what)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("%s URL %q has a fragment", what, u.Redacted())
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("%s URL %q uses http; only https is allowed, except to loopback addresses", what, u.Redacted())
		}
	default:
		return nil, fmt.Errorf("%s URL %q: scheme must be https", what, u.Redacted())
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
