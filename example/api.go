package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/introspect/geosecure"
	"github.com/tokengate/tokengate/middleware"
)

// Route requirements of the net/http stack; echo.go states the same ones
// with echogate's names, so that an Echo application need not import
// tokengate's middleware next to Echo's.
var (
	needMapRequest = middleware.AllOf(scopesMaps...)
	needReadOrRW   = middleware.AnyOf(scopesOccupations...)
	needReadAndRW  = middleware.AllOf(scopesOccupations...)
)

// The scopes the routes require, for both stacks. routeScopes lists every
// one of them, so that scopes_supported in the RFC 9728 metadata document
// names what the routes ask for and nothing else.
var (
	scopesMaps        = []string{"MapRequest"}                        // GET /v1/maps
	scopesOccupations = []string{"gipod_pdo_read", "gipod_pdo_write"} // GET and POST /v1/occupations
	routeScopes       = [][]string{scopesMaps, scopesOccupations}
)

// supportedScopes returns the scopes of routeScopes, sorted, each once.
func supportedScopes() []string {
	var out []string
	for _, list := range routeScopes {
		out = append(out, list...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// maxBodyBytes bounds what POST /v1/occupations reads.
const maxBodyBytes = 1 << 20

// api is the sample application, without any web framework: both stacks
// call it and turn what it returns into responses.
type api struct {
	cache        *introspect.Cache
	profiles     *geosecure.ProfileClient // nil when not configured
	readyTimeout time.Duration            // bounds a readiness check
	metrics      http.Handler             // GET /metrics
	hooks        *introspect.Hooks        // for the middleware's decisions
	logger       *slog.Logger             // for why the service is not ready

	mu          sync.Mutex
	occupations []occupation
	notReady    bool // the latest probe found the service not ready
}

// problem is a refusal by a handler that is not about the token.
type problem struct {
	status int
	body   middleware.Body
}

func (p *problem) Error() string { return p.body.Description }

// tokenView is what GET /v1/token shows of a token.
type tokenView struct {
	ClientID  string         `json:"client_id,omitempty"`
	Audience  []string       `json:"audience"`
	Scopes    any            `json:"scopes"`
	Subject   string         `json:"subject,omitempty"`
	Issuer    string         `json:"issuer,omitempty"`
	ExpiresAt *time.Time     `json:"expires_at,omitempty"`
	ExpiresIn int64          `json:"expires_in,omitempty"`
	Claims    map[string]any `json:"claims,omitempty"`
}

func (a *api) token(info *introspect.TokenInfo) tokenView {
	v := tokenView{
		ClientID: info.ClientID,
		Audience: info.Audience,
		Scopes:   info.Scopes,
		Subject:  info.Subject,
		Issuer:   info.Issuer,
		Claims:   info.Claims,
	}
	if v.Audience == nil {
		v.Audience = []string{}
	}
	if !info.ExpiresAt.IsZero() {
		exp := info.ExpiresAt.UTC().Truncate(time.Second)
		v.ExpiresAt = &exp
		v.ExpiresIn = int64(info.ExpiresIn(time.Now()) / time.Second)
	}
	return v
}

type mapLayer struct {
	Name  string `json:"name"`
	Title string `json:"title"`
}

func (a *api) maps() map[string]any {
	return map[string]any{"layers": []mapLayer{
		{"GRB_Basiskaart", "GRB basiskaart"},
		{"Ortho", "Orthofoto's Vlaanderen"},
		{"GIPOD_Innames", "Innames openbaar domein"},
	}}
}

// occupation is a GIPOD-like occupation of the public domain.
type occupation struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	Location    string `json:"location,omitempty"`
	Start       string `json:"start,omitempty"`
	End         string `json:"end,omitempty"`
	CreatedBy   string `json:"created_by"`
}

func (a *api) listOccupations() []occupation {
	a.mu.Lock()
	defer a.mu.Unlock()
	list := make([]occupation, len(a.occupations), len(a.occupations)+1)
	copy(list, a.occupations)
	if len(list) == 0 {
		list = append(list, occupation{ID: "occ-0", Description: "Heraanleg Grote Markt", Location: "Brugge", CreatedBy: "gipod"})
	}
	return list
}

// createOccupation reads an occupation from a JSON object or a form body.
// Only the occupation's own fields are kept: a form that carried the token
// in access_token does not have it stored or echoed.
func (a *api) createOccupation(r *http.Request, info *introspect.TokenInfo) (occupation, error) {
	var in occupation
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		return occupation{}, badRequest("the body is too large or could not be read")
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case len(body) == 0:
	case mt == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return occupation{}, badRequest("the form body is malformed")
		}
		in = occupation{Description: form.Get("description"), Location: form.Get("location"), Start: form.Get("start"), End: form.Get("end")}
	default:
		if err := json.Unmarshal(body, &in); err != nil {
			return occupation{}, badRequest("the body is not a JSON occupation")
		}
	}
	if in.Description == "" {
		in.Description = "Nieuwe inname"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	in.ID = fmt.Sprintf("occ-%d", len(a.occupations)+1)
	in.CreatedBy = info.ClientID
	a.occupations = append(a.occupations, in)
	return in, nil
}

func badRequest(description string) *problem {
	return &problem{status: http.StatusBadRequest, body: middleware.Body{Error: "invalid_request", Description: description}}
}

// profile fetches the profile of the token's owner with the client
// credentials. It returns a *problem when profiles are not configured, and
// the profile client's error when the authorization server refuses the
// token or fails, for the stack to answer as its middleware would.
func (a *api) profile(ctx context.Context, token string) (*geosecure.Profile, error) {
	if a.profiles == nil {
		return nil, &problem{status: http.StatusNotImplemented, body: middleware.Body{
			Error: "not_configured", Description: "profile lookup is Geosecure's and needs -client-id and -client-secret; " +
				"with ACM/IDM or a JWT, GET /v1/token shows the token's claims",
		}}
	}
	return a.profiles.Profile(ctx, token)
}

// logout forgets token in this replica's cache and, with -redis-url, in
// Redis and every replica that shares it, so that none answers from what
// it remembers: the next request with the token asks the authorization
// server (or, for a JWT, validates it) again. It does not revoke the token
// at the authorization server.
func (a *api) logout(token string) { a.cache.Invalidate(token) }

// ready answers GET /readyz: 200 when tokens can be verified now (the
// endpoint discovered, the keys loaded, the authorization server not
// failing lately), and 503 with a fixed "not ready" otherwise; the reason
// is logged, not served. GET /healthz stays plain liveness.
func (a *api) ready(ctx context.Context) (status int, body string) {
	ctx, cancel := context.WithTimeout(ctx, a.readyTimeout)
	defer cancel()
	err := introspect.Ready(ctx, a.cache)
	// The reason names internal hosts and addresses, so it goes to the
	// log, once each time readiness changes, and not to whoever asks. (Its
	// text changes on every probe: it says how long ago the latest
	// failure was.)
	a.mu.Lock()
	changed := (err != nil) != a.notReady
	a.notReady = err != nil
	a.mu.Unlock()
	if changed && a.logger != nil {
		if err != nil {
			a.logger.Warn("not ready", "reason", err.Error())
		} else {
			a.logger.Info("ready again")
		}
	}
	if err != nil {
		return http.StatusServiceUnavailable, "not ready\n"
	}
	return http.StatusOK, "ready\n"
}
