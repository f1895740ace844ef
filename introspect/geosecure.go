package introspect

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tokengate/tokengate/scopes"
)

// The Geosecure verify endpoints of Digitaal Vlaanderen's legacy
// authorization server.
const (
	GeosecureProductionURL = "https://oauth.vlaanderen.be/authorization/ws/oauth/v2/authorization/verify"
	GeosecureBetaURL       = "https://beta.oauth.vlaanderen.be/authorization/ws/oauth/v2/authorization/verify"
)

// GeosecureConfig configures a [Geosecure] verifier. The zero value of each
// field but URL is a sensible default.
type GeosecureConfig struct {
	// URL is the verify endpoint, such as [GeosecureProductionURL]. It must
	// be https, except to a loopback address.
	URL string
	// HTTPClient sends the requests. Nil means a client of the verifier's own
	// with a [NewTransport] transport, whose idle connections
	// [Geosecure.Close] closes. A client given here is copied; the copy
	// never follows redirects; Timeout applies as well as the client's own;
	// Close leaves its connections alone.
	HTTPClient *http.Client
	// Timeout limits one call. Zero means [DefaultTimeout].
	Timeout time.Duration
	// Now tells the time, to turn "expires_in" into an expiry. Nil means
	// [time.Now].
	Now func() time.Time
}

// Geosecure is a [Verifier] for the legacy Geosecure verify endpoint
// (GET …/authorization/ws/oauth/v2/authorization/verify). It sends the token
// in an Authorization header, never in the URL.
//
// The endpoint answers {"audience","scope","expires_in"} for a valid token,
// where audience is the client id of the token's holder; Geosecure sets both
// [TokenInfo.ClientID] and [TokenInfo.Audience] from it. A token is invalid
// only on the documented refusal, {"error":"invalid_token"}, with a status
// that is neither 5xx nor 429 (the documentation gives no status, so any
// other is accepted). A 5xx or 429 is [ErrUnavailable] whatever its body,
// with the server's Retry-After; so is an "error" member with any other
// code. Every other answer is [ErrUnavailable] too.
//
// A Geosecure is safe for concurrent use.
type Geosecure struct {
	url    string
	client client
}

// NewGeosecure returns a Geosecure verifier, or an error when the
// configuration is unusable.
func NewGeosecure(cfg GeosecureConfig) (*Geosecure, error) {
	u, err := checkEndpoint("verify", cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("introspect: negative timeout %v", cfg.Timeout)
	}
	return &Geosecure{
		url:    u.String(),
		client: newHTTPClient(cfg.HTTPClient, cmp.Or(cfg.Timeout, DefaultTimeout), cfg.Now),
	}, nil
}

// Verify asks the verify endpoint about token.
func (g *Geosecure) Verify(ctx context.Context, token string) (*TokenInfo, error) {
	if err := checkTokenSyntax(token); err != nil {
		return nil, err
	}
	return exchange(ctx, g.client, request{
		method:        http.MethodGet,
		url:           g.url,
		authorization: "Bearer " + token,
	}, parseGeosecure)
}

// Close closes the idle connections of the transport the Geosecure made for
// itself, so that they and their goroutines do not outlive it (an idle
// connection is otherwise kept for up to 90 s). It never touches the
// connections of a client given as GeosecureConfig.HTTPClient: those are the
// caller's to close. A closed Geosecure still works, but keeps no idle
// connection after a call. Close is safe to call more than once and
// concurrently with Verify.
func (g *Geosecure) Close() { g.client.close() }

// geosecureFields are the members of a verify answer with a TokenInfo
// field, and "error", which is read and, when null, means nothing.
var geosecureFields = []string{"audience", "scope", "expires_in", "error"}

// parseGeosecure turns a verify answer into a TokenInfo. now is when the
// answer arrived.
func parseGeosecure(status int, body []byte, now time.Time) (*TokenInfo, error) {
	// The status comes first: servers and the proxies in front of them put
	// "error" members in their failure pages too (Spring Boot's default
	// {"status":500,"error":"Internal Server Error"}, a gateway's
	// {"error":"too_many_requests"}), and none of those says a word about
	// the token.
	if serverFailed(status) {
		return nil, unexpectedStatus(status)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return nil, &UnavailableError{Reason: "response is not a JSON object"}
	}
	if raw := members["error"]; !isNull(raw) {
		return nil, oauthError(raw)
	}
	if status != http.StatusOK {
		return nil, unexpectedStatus(status)
	}

	audience, ok := stringOrNumber(members["audience"])
	if !ok || audience == "" {
		return nil, &UnavailableError{Reason: `response has no "audience"`}
	}
	var scope string
	if raw, ok := members["scope"]; ok {
		if scope, ok = jsonString(raw); !ok {
			return nil, &UnavailableError{Reason: `"scope" is not a string`}
		}
	}
	secs, ok := seconds(members["expires_in"])
	if !ok {
		return nil, &UnavailableError{Reason: `"expires_in" is not a number of seconds`}
	}
	if secs <= 0 {
		return nil, invalidToken("token expired")
	}

	return &TokenInfo{
		Active:    true,
		Scopes:    scopes.Parse(scope),
		ClientID:  audience,
		Audience:  []string{audience},
		ExpiresAt: now.Add(time.Duration(secs) * time.Second),
		Claims:    otherClaims(members, geosecureFields),
	}, nil
}

// serverFailed reports whether status says the server, not the request,
// failed: a 5xx, or 429 Too Many Requests, which is about load and never
// about the token.
func serverFailed(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests
}

// unexpectedStatus is the failure of an answer whose status does not fit
// its body, or has none.
func unexpectedStatus(status int) error {
	return &UnavailableError{Reason: "unexpected status " + strconv.Itoa(status)}
}

// oauthError interprets the "error" member of a Geosecure answer whose
// status did not already say the server failed.
//
// Only "invalid_token" condemns the token: it is the one code the verify
// and profile endpoints document (see their seeds), and RFC 6750 §3.1
// defines it as "expired, revoked, malformed, or invalid". The other codes
// of RFC 6750 §3.1 are not about the token presented: "invalid_request"
// says our request is malformed, and "insufficient_scope" would say the
// token may not call the endpoint, which a resource server cannot tell its
// client. RFC 6749's codes ("invalid_client", "server_error", …) are about
// the client or the server. Every one of those, any code we do not know,
// and an "error" member that is not a string, is [ErrUnavailable]: an
// answer we do not understand must not tell a client its token is bad.
func oauthError(raw json.RawMessage) error {
	code, ok := jsonString(raw)
	switch {
	case ok && code == "invalid_token":
		return invalidToken("rejected by the authorization server")
	case ok && slices.Contains(knownOAuthErrors, code):
		return &UnavailableError{Reason: "authorization server reported " + code}
	}
	return &UnavailableError{Reason: "authorization server reported an unknown error"}
}

// knownOAuthErrors are the error codes of RFC 6749 §5.2 and RFC 6750 §3.1
// besides "invalid_token". Only these are named in an [UnavailableError]'s
// Reason: other text from upstream stays out of logs.
var knownOAuthErrors = []string{
	"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope", "insufficient_scope",
	"server_error", "temporarily_unavailable",
}

// stringOrNumber reads a JSON string, or a JSON number as its literal text.
// raw is a member of an object that decoded, so it is valid JSON.
func stringOrNumber(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	if c := raw[0]; c == '-' || ('0' <= c && c <= '9') {
		return string(raw), true
	}
	return jsonString(raw)
}

// jsonString decodes raw when it is a JSON string, without reflection when
// the string holds no escape: the members of an authorization server's
// answer are short and plain, and parsing them is on every miss's path.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		inner := raw[1 : len(raw)-1]
		if plainJSONString(inner) {
			return string(inner), true
		}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// plainJSONString reports whether b, the inside of a JSON string, means
// itself: valid UTF-8, with no escape, quote or control character.
func plainJSONString(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.Valid(b)
}

// seconds reads a count of seconds sent as a JSON number or as a string of
// one ("14556"), as Geosecure's documentation shows. Fractions are dropped.
func seconds(raw json.RawMessage) (int64, bool) {
	s, ok := stringOrNumber(raw)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	// A token valid for more than a hundred years is as good as forever;
	// clamping keeps time.Duration from overflowing.
	const maxSeconds = 100 * 365 * 24 * 3600
	return int64(min(max(f, -1), maxSeconds)), true
}

// otherClaims decodes the members not in known. It returns nil when there
// are none; a member that fails to decode is left out.
func otherClaims(members map[string]json.RawMessage, known []string) map[string]any {
	var claims map[string]any
	for name, raw := range members {
		if slices.Contains(known, name) {
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			continue
		}
		if claims == nil {
			claims = make(map[string]any, len(members)-len(known))
		}
		claims[name] = v
	}
	return claims
}
