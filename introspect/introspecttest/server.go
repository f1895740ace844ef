package introspecttest

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokengate/tokengate/introspect/geosecure"
)

// Paths the server answers on, below [Server.URL]. They mirror the
// production servers, so a URL can be swapped for the real one by changing
// only its host.
const (
	// Geosecure's verify and profile endpoints.
	verifyPath  = "/authorization/ws/oauth/v2/authorization/verify"
	profilePath = "/authorization/ws/oauth/v2/authorization/profile"

	// issuerPath is the path of the issuer identifier of the ACM/IDM-style
	// OpenID Provider; its discovery document and RFC 7662 introspection
	// endpoint are below it, as at ACM/IDM.
	issuerPath        = "/op"
	discoveryPath     = issuerPath + "/.well-known/openid-configuration"
	introspectionPath = issuerPath + "/v1/introspect"
)

// DefaultLifetime is how long a registered token stays valid when its
// [Token] gives no expiry.
const DefaultLifetime = time.Hour

// Token is what the fake authorization server knows about one access token.
type Token struct {
	// Scopes are the scopes granted to the token.
	Scopes []string
	// ClientID is the client id of the token's holder: Geosecure's verify
	// endpoint returns it as "audience", the introspection endpoint as
	// "client_id". Empty means "demo-client".
	ClientID string
	// Audience is the introspection answer's "aud", left out when empty.
	// Geosecure has no such member.
	Audience []string
	// Subject is the introspection answer's "sub", left out when empty.
	Subject string
	// Claims are further members of the introspection and verify answers,
	// such as ACM/IDM's "vo_id", "vo_orgcode" or "credential_manager". As
	// at ACM/IDM, the introspection endpoint sends "credential_manager"
	// only to a request with token_endpoint_auth=credential_manager.
	Claims map[string]any
	// ExpiresAt is when the token stops being valid. Zero means
	// [DefaultLifetime] after the token is registered.
	ExpiresAt time.Time
	// Profile is what the profile endpoint returns for the token's owner.
	// Nil means a profile derived from the client id.
	Profile *geosecure.Profile
	// Fault, when not zero, is how every endpoint answers about this token,
	// unless the server-wide fault of [Server.SetFault] overrides it. It
	// lets one test hold working and failing tokens side by side.
	Fault Fault
}

// Fault makes the server misbehave: a request to the verify, profile or
// introspection endpoint (see [Server.SetFault] and [Token.Fault]), or for
// the discovery document (see [Server.SetDiscoveryFault]), gets the fault
// instead of its normal answer. The zero Fault changes nothing.
type Fault struct {
	// Status, when not zero, is the status to answer with, with Body as the
	// body (which may be empty) and ContentType as its type (empty means
	// "application/json").
	Status      int
	Body        string
	ContentType string
	// RetryAfter, when not empty, is sent as the Retry-After header.
	RetryAfter string
	// BodySize, when not zero, makes the answer a 200 whose body is that
	// many bytes of an unterminated JSON string, to exercise body limits.
	BodySize int64
	// Delay holds every answer back this long, or until the request is
	// cancelled, whichever comes first.
	Delay time.Duration
	// Drop closes the connection without answering.
	Drop bool
	// Reset starts a 200 answer that announces a longer body than it sends,
	// then resets the connection (TCP RST) in the middle of the body.
	Reset bool
	// Trickle, when not zero, sends Body with Status (zero means 200) one
	// byte at a time, Trickle apart, until done or the client goes away.
	Trickle time.Duration
	// Redirect, when not empty, answers 307 Temporary Redirect to it.
	Redirect string
}

func (f Fault) isZero() bool { return f == Fault{} }

// Server is a fake Digitaal Vlaanderen authorization server on a loopback
// address, for tests of code that verifies tokens. It serves Geosecure's
// verify and profile endpoints as documented, and an ACM/IDM-style OpenID
// Provider: a discovery document and an RFC 7662 introspection endpoint
// that authenticates its clients for real. It answers from tokens a test
// registers, counts the calls it gets per token, and misbehaves on demand.
//
// A Server is safe for concurrent use. Close it when done.
type Server struct {
	// URL is the base URL of the running server, of the form
	// http://127.0.0.1:port, with no trailing slash.
	URL string

	// Now tells the time, for expiry. Set it before Start; nil means
	// time.Now.
	Now func() time.Time
	// ClientID and ClientSecret are the credentials the profile endpoint
	// accepts. Set them before Start; empty means "demo-client" and
	// "demo-secret".
	ClientID     string
	ClientSecret string
	// InvalidTokenStatus is the status of an {"error":"invalid_token"}
	// answer. Set it before Start; zero means 400. Geosecure's
	// documentation does not give the status, so clients must not depend on
	// it.
	InvalidTokenStatus int
	// ExpiresInAsNumber makes the verify endpoint send "expires_in" as a
	// JSON number instead of the string its documentation shows. Set it
	// before Start.
	ExpiresInAsNumber bool

	// AssertionAudience is the "aud" a private_key_jwt client assertion
	// must name. Set it before Start; empty means the issuer, which is
	// ACM/IDM's rule.
	AssertionAudience string
	// ScopeAsArray makes the introspection endpoint send "scope" as a JSON
	// array instead of a space-delimited string. Set it before Start.
	ScopeAsArray bool

	ts *httptest.Server

	mu       sync.Mutex
	tokens   map[string]registered
	clients  map[string]Client
	jtis     map[string]time.Time // assertion ids seen, until they expire
	jtiPrune int                  // prune jtis when it grows to this size
	calls    map[string]int
	total    int
	fault    Fault
	holder   holder // Hold and Release

	discoveryFault Fault
	discoveryCalls int
}

// registered is a token as the server holds it.
type registered struct {
	Token
	issuedAt time.Time
}

// NewServer starts and returns a Server. The caller must call Close when
// finished, to shut it down.
func NewServer() *Server {
	s := NewUnstartedServer()
	s.Start()
	return s
}

// NewUnstartedServer returns a Server that is not yet listening, so that
// its fields can be changed before Start.
func NewUnstartedServer() *Server {
	s := &Server{
		tokens:  make(map[string]registered),
		clients: make(map[string]Client),
		jtis:    make(map[string]time.Time),
		calls:   make(map[string]int),
	}
	s.ts = httptest.NewUnstartedServer(s.handler())
	return s
}

// Start starts a server from NewUnstartedServer.
func (s *Server) Start() {
	if s.ClientID == "" {
		s.ClientID = "demo-client"
	}
	if s.ClientSecret == "" {
		s.ClientSecret = "demo-secret"
	}
	if s.InvalidTokenStatus == 0 {
		s.InvalidTokenStatus = http.StatusBadRequest
	}
	s.AddClient(Client{ID: s.ClientID, Secret: s.ClientSecret})
	s.ts.Start()
	s.URL = s.ts.URL
}

// Close shuts the server down, releasing held answers, and blocks until all
// outstanding requests on it have completed.
func (s *Server) Close() {
	s.Release()
	s.ts.CloseClientConnections()
	s.ts.Close()
}

// Client returns an HTTP client for the server, as [httptest.Server.Client]
// does.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// VerifyURL returns the URL of the Geosecure verify endpoint, for
// geosecure.Config.URL. Its path is the production one
// (/authorization/ws/oauth/v2/authorization/verify); only the host
// differs.
func (s *Server) VerifyURL() string { return s.URL + verifyPath }

// ProfileURL returns the URL of the Geosecure profile endpoint, for
// geosecure.ProfileConfig.URL. Its path is the production one; only the
// host differs.
func (s *Server) ProfileURL() string { return s.URL + profilePath }

// Issuer returns the issuer identifier of the OpenID Provider, for
// rfc7662.Config.Issuer: {URL}/op, whose discovery document
// ({Issuer}/.well-known/openid-configuration) names the introspection
// endpoint.
func (s *Server) Issuer() string { return s.URL + issuerPath }

// IntrospectionURL returns the URL of the RFC 7662 introspection endpoint,
// {Issuer}/v1/introspect as at ACM/IDM, for rfc7662.Config.Endpoint.
func (s *Server) IntrospectionURL() string { return s.URL + introspectionPath }

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// AddToken registers token with the facts in t, replacing what was known
// about it.
func (s *Server) AddToken(token string, t Token) {
	if t.ExpiresAt.IsZero() {
		t.ExpiresAt = s.now().Add(DefaultLifetime)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = registered{Token: t, issuedAt: s.now()}
}

// IssueToken registers a new random token with the facts in t and returns
// it. Tokens are 43 characters of base64url, valid RFC 6750 b64tokens.
func (s *Server) IssueToken(t Token) string {
	token := NewToken()
	s.AddToken(token, t)
	return token
}

// NewToken returns a random opaque token of 43 base64url characters.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails: crypto/rand panics instead
	return base64.RawURLEncoding.EncodeToString(b)
}

// RevokeToken forgets token: from now on the server says it is invalid.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, token)
}

// Calls returns how many requests about token the server has received, on
// any endpoint, faulty or not.
func (s *Server) Calls(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[token]
}

// TotalCalls returns how many requests the server has received on its
// endpoints.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// SetFault makes every later request to a verify, profile or introspection
// endpoint get f. SetFault(Fault{}) restores normal answers. The discovery
// document has [Server.SetDiscoveryFault].
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Hold makes every answer wait, from now until Release (or until its request
// is cancelled). Use it to gather concurrent requests at the server, with
// [Server.Held] telling how many are waiting.
func (s *Server) Hold() { s.holder.hold() }

// Release lets held answers go and stops holding new ones.
func (s *Server) Release() { s.holder.release() }

// Held returns the number of requests waiting for Release.
func (s *Server) Held() int { return s.holder.waiting() }

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+verifyPath, s.verify)
	mux.HandleFunc("POST "+profilePath, s.profile)
	mux.HandleFunc("GET "+discoveryPath, s.discovery)
	mux.HandleFunc("POST "+introspectionPath, s.introspect)
	return mux
}

// begin counts a request about token and applies the hold and the fault.
// It reports whether the request was answered by a fault.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, token string) bool {
	s.mu.Lock()
	s.calls[token]++
	s.total++
	fault := s.fault
	if fault.isZero() {
		fault = s.tokens[token].Fault
	}
	s.mu.Unlock()
	s.holder.wait(r.Context())
	return applyFault(w, r, fault)
}

// applyFault answers r with fault, unless it is the zero Fault or only a
// delay. It reports whether it answered.
func applyFault(w http.ResponseWriter, r *http.Request, fault Fault) bool {
	if fault.isZero() {
		return false
	}
	if fault.Delay > 0 {
		t := time.NewTimer(fault.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true
		}
	}
	if fault.RetryAfter != "" {
		w.Header().Set("Retry-After", fault.RetryAfter)
	}
	switch {
	case fault.Drop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
	case fault.Reset:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"audience":"388`)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil { // flushes what was written
				if tcp, ok := conn.(*net.TCPConn); ok {
					_ = tcp.SetLinger(0) // close with RST, not FIN
				}
				conn.Close()
			}
		}
	case fault.Redirect != "":
		http.Redirect(w, r, fault.Redirect, http.StatusTemporaryRedirect)
	case fault.Trickle > 0:
		w.Header().Set("Content-Type", cmp.Or(fault.ContentType, "application/json"))
		w.WriteHeader(cmp.Or(fault.Status, http.StatusOK))
		rc := http.NewResponseController(w)
		for i := range len(fault.Body) {
			if _, err := io.WriteString(w, fault.Body[i:i+1]); err != nil || rc.Flush() != nil {
				return true
			}
			select {
			case <-time.After(fault.Trickle):
			case <-r.Context().Done():
				return true
			}
		}
	case fault.BodySize > 0:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.FormatInt(fault.BodySize, 10))
		w.WriteHeader(http.StatusOK)
		writeFiller(w, fault.BodySize)
	case fault.Status != 0:
		w.Header().Set("Content-Type", cmp.Or(fault.ContentType, "application/json"))
		w.WriteHeader(fault.Status)
		_, _ = w.Write([]byte(fault.Body))
	default:
		return false // only a delay: answer normally
	}
	return true
}

// writeFiller writes n bytes of `{"audience":"xxxx…`, a JSON text that never
// ends, stopping early when the client goes away.
func writeFiller(w http.ResponseWriter, n int64) {
	chunk := []byte(strings.Repeat("x", 32<<10))
	head := []byte(`{"audience":"`)
	if int64(len(head)) > n {
		head = head[:n]
	}
	if _, err := w.Write(head); err != nil {
		return
	}
	for left := n - int64(len(head)); left > 0; left -= int64(len(chunk)) {
		if left < int64(len(chunk)) {
			chunk = chunk[:left]
		}
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// lookup returns the facts about a token that is registered and not
// expired.
func (s *Server) lookup(token string) (registered, bool) {
	s.mu.Lock()
	t, ok := s.tokens[token]
	s.mu.Unlock()
	if !ok || !s.now().Before(t.ExpiresAt) {
		return registered{}, false
	}
	return t, true
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		// The documentation allows the query string as a fallback.
		token = r.URL.Query().Get("access_token")
	}
	if s.begin(w, r, token) {
		return
	}
	t, ok := s.lookup(token)
	if !ok {
		writeJSON(w, s.InvalidTokenStatus, map[string]string{"error": "invalid_token"})
		return
	}
	secs := int64(t.ExpiresAt.Sub(s.now()) / time.Second)
	var expiresIn any = strconv.FormatInt(secs, 10)
	if s.ExpiresInAsNumber {
		expiresIn = secs
	}
	answer := withClaims(t.Claims, 3)
	answer["audience"] = cmp.Or(t.ClientID, "demo-client")
	answer["scope"] = strings.Join(t.Scopes, " ")
	answer["expires_in"] = expiresIn
	writeJSON(w, http.StatusOK, answer)
}

// withClaims returns a new answer holding claims, with room for n more
// members.
func withClaims(claims map[string]any, n int) map[string]any {
	answer := make(map[string]any, len(claims)+n)
	for name, v := range claims {
		answer[name] = v
	}
	return answer
}

func (s *Server) profile(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	token := r.PostForm.Get("access_token")
	if s.begin(w, r, token) {
		return
	}
	if r.PostForm.Get("client_id") != s.ClientID || r.PostForm.Get("client_secret") != s.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	t, ok := s.lookup(token)
	if !ok {
		writeJSON(w, s.InvalidTokenStatus, map[string]string{"error": "invalid_token"})
		return
	}
	p := t.Profile
	if p == nil {
		aud := cmp.Or(t.ClientID, "demo-client")
		p = &geosecure.Profile{Name: aud, GivenName: "Demo", Surname: "User " + aud, ContactID: "12345"}
	}
	writeJSON(w, http.StatusOK, p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
