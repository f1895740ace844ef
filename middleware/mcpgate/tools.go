package mcpgate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
	"github.com/tokengate/tokengate/scopes"
)

// CodeInsufficientScope is the JSON-RPC error code of a tool call refused
// for want of a scope, in the body of the Gate's 403 and in the error
// [Gate.ToolMiddleware] returns. JSON-RPC reserves -32768 to -32000 and MCP
// defines no code for this, so it is an application code outside that
// range, named after the HTTP status. The error's data is
// {"error":"insufficient_scope","error_description":…,"scope":…}.
const CodeInsufficientScope = 403

const methodCallTool = "tools/call"

// toolCalls are the tool calls of a POST body.
type toolCalls struct {
	names []string
	// id is the call's id when the body is a single request, for the
	// JSON-RPC error of a refusal; invalid for a batch.
	id jsonrpc.ID
}

// readToolCalls finds the tools/call requests in a POST body as the SDK
// reads it: a JSON array is a batch, anything else one message, each
// decoded with the SDK's own decoder, and the tool's name read
// case-sensitively as the SDK reads it. ok is false when the body is not
// JSON-RPC the SDK would take; the SDK would refuse it too.
func readToolCalls(body []byte) (calls toolCalls, ok bool) {
	var msgs []jsonrpc.Message
	var batch []json.RawMessage
	if err := json.Unmarshal(body, &batch); err == nil {
		for _, raw := range batch {
			msg, err := jsonrpc.DecodeMessage(raw)
			if err != nil {
				return toolCalls{}, false
			}
			msgs = append(msgs, msg)
		}
	} else {
		msg, err := jsonrpc.DecodeMessage(body)
		if err != nil {
			return toolCalls{}, false
		}
		msgs = []jsonrpc.Message{msg}
	}
	for _, msg := range msgs {
		req, isReq := msg.(*jsonrpc.Request)
		if !isReq || req.Method != methodCallTool {
			continue
		}
		name, ok := toolName(req.Params)
		if !ok {
			return toolCalls{}, false
		}
		calls.names = append(calls.names, name)
		if len(msgs) == 1 {
			calls.id = req.ID
		}
	}
	return calls, true
}

// toolName reads params' "name" member, matched exactly: encoding/json
// would match a struct field case-insensitively ("NAME"), which the SDK's
// decoder does not.
func toolName(params json.RawMessage) (string, bool) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(params, &members); err != nil {
		return "", false
	}
	var name string
	if err := json.Unmarshal(members["name"], &name); err != nil {
		return "", false
	}
	return name, true
}

// admitToolCalls reads r's body, checks the policy of every tool it calls
// on the token's facts, and returns r with the body restored. It answers
// the request itself and returns false when it refuses it.
func (g *Gate) admitToolCalls(w http.ResponseWriter, r *http.Request, info *introspect.TokenInfo) (*http.Request, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.maxBody))
	_ = r.Body.Close()
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			writeJSONRPCError(w, http.StatusRequestEntityTooLarge, jsonrpc.ID{}, &jsonrpc.Error{
				Code: jsonrpc.CodeInvalidRequest, Message: "request body too large",
			})
			return nil, false
		}
		writeJSONRPCError(w, http.StatusBadRequest, jsonrpc.ID{}, &jsonrpc.Error{
			Code: jsonrpc.CodeParseError, Message: "failed to read the request body",
		})
		return nil, false
	}
	calls, ok := readToolCalls(body)
	if !ok {
		// Not a body the SDK would take; refused here so that no reading
		// of it the Gate did not make can reach a tool.
		writeJSONRPCError(w, http.StatusBadRequest, jsonrpc.ID{}, &jsonrpc.Error{
			Code: jsonrpc.CodeParseError, Message: "malformed JSON-RPC message",
		})
		return nil, false
	}
	if p := g.toolPolicy(calls.names); p != nil {
		if _, err := g.auth.Admit(w, r, g.stepUp(p, info)); err != nil {
			g.refuse(w, r, g.refusal(err), &calls)
			return nil, false
		}
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	return r2, true
}

// toolPolicy returns the policy of calling every one of the named tools on
// top of Config.Policy, or nil when none of them has a policy.
func (g *Gate) toolPolicy(names []string) middleware.Policy {
	var ps []middleware.Policy
	for _, name := range names {
		if p, ok := g.tools[name]; ok {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return middleware.Every(append([]middleware.Policy{g.policy}, ps...)...)
}

// stepUp returns p with the scope of its challenge widened to the scopes
// this server knows that the token already holds: the "recommended
// approach" of the MCP specification's scope challenge handling, so that a
// client that asks for the challenged scopes does not lose the ones it
// had.
func (g *Gate) stepUp(p middleware.Policy, info *introspect.TokenInfo) middleware.Policy {
	all := strings.Fields(p.Scope())
	for _, s := range g.known {
		if info.HasScope(s) {
			all = append(all, s)
		}
	}
	return challengeScope{Policy: p, scope: scopes.New(all...).String()}
}

// challengeScope is a Policy whose challenge names scope.
type challengeScope struct {
	middleware.Policy
	scope string
}

func (c challengeScope) Scope() string { return c.scope }

// refuse answers a refusal: with Config.Middleware.ErrorHandler when set;
// otherwise, for a refused tool call, with a JSON-RPC error for its id, so
// that the SDK's client keeps the session, and else with
// [middleware.WriteError].
func (g *Gate) refuse(w http.ResponseWriter, r *http.Request, e *middleware.Error, calls *toolCalls) {
	e.SetHeaders(w.Header())
	switch {
	case g.errorHandler != nil:
		g.errorHandler(w, r, e)
	case calls != nil && e.Status == http.StatusForbidden:
		writeJSONRPCError(w, e.Status, calls.id, scopeError(e.Description, e.Scope))
	default:
		middleware.WriteError(w, r, e)
	}
}

// scopeError is the JSON-RPC error of a tool call refused for want of
// scope.
func scopeError(description, scope string) *jsonrpc.Error {
	data, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Scope       string `json:"scope,omitempty"`
	}{"insufficient_scope", description, scope})
	return &jsonrpc.Error{Code: CodeInsufficientScope, Message: "insufficient_scope: " + description, Data: data}
}

func writeJSONRPCError(w http.ResponseWriter, status int, id jsonrpc.ID, jerr *jsonrpc.Error) {
	data, err := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: id, Error: jerr})
	if err != nil {
		data = []byte(`{"jsonrpc":"2.0","error":{"code":-32603,"message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// ToolMiddleware returns the SDK middleware that checks Config.Tools inside
// the server, on the tool name the SDK decoded and tokengate's facts in
// req.Extra.TokenInfo: add it with [mcp.Server.AddReceivingMiddleware].
// [Gate.Handler] has already answered such calls with a 403 that a client
// can step up from; this is the check that holds whatever reaches the
// server, such as a request that bypassed the Gate. A refused call gets a
// JSON-RPC error with [CodeInsufficientScope]; a call without tokengate's
// facts behind it is refused too.
func (g *Gate) ToolMiddleware() mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method != methodCallTool {
				return next(ctx, method, req)
			}
			call, ok := req.(*mcp.CallToolRequest)
			if !ok || call.Params == nil {
				return next(ctx, method, req)
			}
			p := g.toolPolicy([]string{call.Params.Name})
			if p == nil {
				return next(ctx, method, req)
			}
			var info *introspect.TokenInfo
			if extra := call.GetExtra(); extra != nil {
				info = TokenInfo(extra.TokenInfo)
			}
			if info == nil || !p.Allow(info) {
				return nil, scopeError("the access token does not grant what this request needs", g.stepUp(p, info).Scope())
			}
			return next(ctx, method, req)
		}
	}
}
