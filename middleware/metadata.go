package middleware

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ResourceMetadata describes a protected resource as RFC 9728 (OAuth 2.0
// Protected Resource Metadata) §2 does, so that a client that meets the
// resource can learn which authorization servers issue its tokens and how
// to send them. Set it in Config.ResourceMetadata: every challenge then
// points at the document with a resource_metadata attribute (§5.1), and
// [Authenticator.ResourceMetadataHandler] serves it.
//
// Resource is required; empty fields are left out of the document. A
// ResourceMetadata is read by [New], which keeps a copy: changing it later
// changes nothing.
type ResourceMetadata struct {
	// Resource is the resource identifier: an https URL without a fragment
	// (http is accepted for a loopback host, for development), written
	// byte for byte as clients write it, usually the audience its tokens
	// are issued for. A client discards a document whose resource differs
	// from the identifier it derived the document's URL from (§3.3), so
	// the document carries it exactly as given. Required.
	Resource string `json:"resource"`
	// AuthorizationServers are the issuer identifiers (RFC 8414) of the
	// authorization servers whose tokens the resource accepts: https URLs
	// without query or fragment, such as
	// "https://authenticatie.vlaanderen.be/op".
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// ScopesSupported are the scopes a client may ask for to use the
	// resource (RFC 6749 §3.3 scope tokens). RFC 9728 recommends it.
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// BearerMethodsSupported are the RFC 6750 ways of sending a token the
	// resource accepts: "header", "body", "query". Nil means those of
	// Config.Sources (FromHeader, FromForm, FromQuery; a cookie and an
	// extractor have no name in RFC 9728), so the document cannot
	// disagree with the middleware; a method that Config.Sources does not
	// enable is an error of New. An empty, non-nil slice says no RFC 6750
	// method is supported.
	BearerMethodsSupported []string `json:"bearer_methods_supported,omitempty"`
	// ResourceName is a human-readable name of the resource, such as
	// "GIPOD API". RFC 9728 recommends it.
	ResourceName string `json:"resource_name,omitempty"`
	// ResourceDocumentation is the URL of the resource's documentation for
	// developers.
	ResourceDocumentation string `json:"resource_documentation,omitempty"`
}

// wellKnownPath is the well-known URI suffix of RFC 9728 §3, with its
// slashes.
const wellKnownPath = "/.well-known/oauth-protected-resource"

// metadataMaxAge is how long clients and caches may reuse the document. The
// document changes only with a deployment; an hour bounds how long a
// changed list of authorization servers goes unseen, and the ETag lets a
// cache revalidate for the price of a 304.
const metadataMaxAge = "public, max-age=3600"

// URL returns the URL of the metadata document of m.Resource (RFC 9728
// §3.1): the well-known suffix goes between the host and the path, and the
// path's last slash after the host, if that is all the path is, goes away.
// For "https://api.example/v1/maps" it is
// "https://api.example/.well-known/oauth-protected-resource/v1/maps"; for
// "https://api.example" and "https://api.example/" it is
// "https://api.example/.well-known/oauth-protected-resource". It returns an
// error when Resource is not a resource identifier.
func (m *ResourceMetadata) URL() (string, error) {
	u, _, err := metadataLocation(m.Resource)
	return u, err
}

// metadataLocation returns the URL of resource's metadata document and its
// path, as a request for it has it in URL.Path (unescaped). It inserts the
// well-known suffix in the string as written, so that nothing in it is
// re-escaped or normalised.
func metadataLocation(resource string) (location, path string, err error) {
	if err := checkURL("Resource", resource, true); err != nil {
		return "", "", err
	}
	afterScheme := strings.Index(resource, "://") + len("://")
	tail := ""
	if end := strings.IndexAny(resource[afterScheme:], "/?"); end >= 0 {
		tail = resource[afterScheme+end:]
	}
	authority := resource[:len(resource)-len(tail)]
	if strings.HasPrefix(tail, "/") && (len(tail) == 1 || tail[1] == '?') {
		tail = tail[1:] // the terminating slash of §3
	}
	location = authority + wellKnownPath + tail
	u, err := url.Parse(location)
	if err != nil {
		return "", "", fmt.Errorf("middleware: Config.ResourceMetadata.Resource: %w", err)
	}
	return location, u.Path, nil
}

// checkURL checks that s is an absolute https URL (http for a loopback
// host) without user info or fragment, and without query unless query is
// allowed.
func checkURL(field, s string, query bool) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("middleware: Config.ResourceMetadata.%s: %w", field, err)
	case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())):
		return fmt.Errorf("middleware: Config.ResourceMetadata.%s %q is not an https URL", field, s)
	case u.Host == "" || u.Opaque != "":
		return fmt.Errorf("middleware: Config.ResourceMetadata.%s %q has no host", field, s)
	case u.User != nil:
		return fmt.Errorf("middleware: Config.ResourceMetadata.%s %q holds user information", field, s)
	case strings.Contains(s, "#"):
		return fmt.Errorf("middleware: Config.ResourceMetadata.%s %q has a fragment", field, s)
	case !query && strings.Contains(s, "?"):
		return fmt.Errorf("middleware: Config.ResourceMetadata.%s %q has a query", field, s)
	}
	return nil
}

// isLoopback reports whether host is "localhost" or a loopback IP address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bearerMethods are the names RFC 9728 §2 gives the sources of RFC 6750.
var bearerMethods = []bearerMethod{{"header", FromHeader}, {"body", FromForm}, {"query", FromQuery}}

type bearerMethod struct {
	name string
	src  Sources
}

// metadataDocument is what the handler serves: m, checked, with its bearer
// methods filled in.
type metadataDocument struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers,omitempty"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
	ResourceDocumentation  string   `json:"resource_documentation,omitempty"`
}

// metadata is a checked ResourceMetadata, ready to be served and named in
// challenges.
type metadata struct {
	url, path string
	handler   http.Handler
}

// newMetadata checks m against RFC 9728 and the sources the Authenticator
// takes tokens from, and builds its document.
func newMetadata(m *ResourceMetadata, sources Sources) (*metadata, error) {
	location, path, err := metadataLocation(m.Resource)
	if err != nil {
		return nil, err
	}
	for _, as := range m.AuthorizationServers {
		if err := checkURL("AuthorizationServers", as, false); err != nil {
			return nil, err
		}
	}
	for _, s := range m.ScopesSupported {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r == '"' || r == '\\' || r > 0x7e }) {
			return nil, fmt.Errorf("middleware: Config.ResourceMetadata.ScopesSupported: %q is not a scope token (RFC 6749 §3.3)", s)
		}
	}
	if m.ResourceDocumentation != "" {
		if err := checkURL("ResourceDocumentation", m.ResourceDocumentation, true); err != nil {
			return nil, err
		}
	}
	methods := m.BearerMethodsSupported
	if methods == nil {
		methods = []string{}
		for _, bm := range bearerMethods {
			if sources&bm.src != 0 {
				methods = append(methods, bm.name)
			}
		}
	}
	for i, name := range methods {
		k := slices.IndexFunc(bearerMethods, func(bm bearerMethod) bool { return bm.name == name })
		switch {
		case k < 0:
			return nil, fmt.Errorf("middleware: Config.ResourceMetadata.BearerMethodsSupported: unknown method %q (RFC 9728 knows header, body and query)", name)
		case sources&bearerMethods[k].src == 0:
			return nil, fmt.Errorf("middleware: Config.ResourceMetadata.BearerMethodsSupported lists %q, which Config.Sources does not enable", name)
		case slices.Contains(methods[:i], name):
			return nil, fmt.Errorf("middleware: Config.ResourceMetadata.BearerMethodsSupported lists %q twice", name)
		}
	}

	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(metadataDocument{
		Resource:               m.Resource,
		AuthorizationServers:   slices.Clone(m.AuthorizationServers),
		ScopesSupported:        slices.Clone(m.ScopesSupported),
		BearerMethodsSupported: slices.Clone(methods),
		ResourceName:           m.ResourceName,
		ResourceDocumentation:  m.ResourceDocumentation,
	}); err != nil {
		return nil, errors.New("middleware: Config.ResourceMetadata: " + err.Error())
	}
	sum := sha256.Sum256(body.Bytes())
	return &metadata{
		url:  location,
		path: path,
		handler: &metadataHandler{
			body: body.Bytes(),
			etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`,
		},
	}, nil
}

// metadataHandler serves a metadata document.
type metadataHandler struct {
	body []byte
	etag string
}

const metadataMethods = "GET, HEAD, OPTIONS"

// ServeHTTP answers GET and HEAD with the document, readable from any
// origin: it is public, and browser-based clients must be able to read it
// (RFC 9728 §3.1). OPTIONS, a CORS preflight included, gets 204 No
// Content; any other method 405.
func (h *metadataHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", "*")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		hdr.Set("Content-Type", "application/json")
		hdr.Set("Cache-Control", metadataMaxAge)
		hdr.Set("ETag", h.etag)
		// ServeContent answers conditional requests (304 for a matching
		// If-None-Match) and HEAD.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(h.body))
	case http.MethodOptions:
		hdr.Set("Allow", metadataMethods)
		if r.Header.Get("Access-Control-Request-Method") != "" {
			hdr.Set("Access-Control-Allow-Methods", metadataMethods)
			// A client may send headers of its own (MCP clients send
			// MCP-Protocol-Version); none is a credential.
			hdr.Set("Access-Control-Allow-Headers", "*")
			hdr.Set("Access-Control-Max-Age", "86400")
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		hdr.Set("Allow", metadataMethods)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// ResourceMetadataHandler returns the path of the RFC 9728 metadata document
// of Config.ResourceMetadata on the resource's host, and a handler that
// serves it, ready for [http.ServeMux.Handle]:
//
//	mux.Handle(auth.ResourceMetadataHandler())
//
// The path is "/.well-known/oauth-protected-resource" for a resource at the
// root of its host, and has the resource's path appended otherwise (see
// [ResourceMetadata.URL]); the handler serves the document whatever path
// it is mounted at. It answers GET and HEAD with the JSON document,
// Access-Control-Allow-Origin: *, Cache-Control: public, max-age=3600 and an
// ETag; OPTIONS (CORS preflights included) with 204; anything else with
// 405. Mount it outside the protected routes: the document is public.
//
// Without Config.ResourceMetadata it returns "" and nil (which
// [http.ServeMux.Handle] refuses loudly). The handler is safe for
// concurrent use.
func (a *Authenticator) ResourceMetadataHandler() (path string, h http.Handler) {
	if a.metadata == nil {
		return "", nil
	}
	return a.metadata.path, a.metadata.handler
}
