package middleware

import "net/http"

// Admit is the middleware for one request: it makes the decision of
// [Authenticator.Authorize] and sets on w every response header the decision
// calls for, so that an adapter to a framework has nothing left to get
// wrong. The net/http middleware and the Echo adapter are built on it, and
// so must every other adapter be (gin, an MCP server, …). What is left to
// the adapter is what only it knows how to do:
//
//	res, err := auth.Admit(w, r, policy)
//	switch {
//	case err != nil: // refused: err is an *Error, its headers are set on w
//		// write err's Status and Body (WriteError does both) or give it to
//		// the framework's error handler; call no handler
//	case res.Answered: // a CORS preflight, answered with 204: call no handler
//	default: // allowed: call the next handler with res.Request
//	}
//
// The headers Admit sets are:
//
//   - on a refusal, those of [Error.SetHeaders]: the WWW-Authenticate
//     challenge (with resource_metadata when Config.ResourceMetadata is
//     set), Retry-After on a 503, and Cache-Control: no-store;
//   - on an allowed request whose token came from the query, a cookie or
//     Config.Extractor, Cache-Control: private (RFC 6750 §2.3: shared
//     caches must not keep an answer to a credential they cannot see);
//   - with Config.AllowPreflight, on a CORS preflight, none: Admit writes
//     204 No Content itself, as WriteHeader on w.
//
// Nothing is written to w but that 204; a refusal's status and body are
// the adapter's to write, after the headers Admit set. Admit does not run
// Config.Skipper: each adapter has its own skipper, run before Admit.
func (a *Authenticator) Admit(w http.ResponseWriter, r *http.Request, p Policy) (Result, error) {
	res, e := a.admit(w, r, p)
	if e != nil {
		return Result{}, e
	}
	return res, nil
}

// admit is Admit with the refusal's type, for this package's middleware.
func (a *Authenticator) admit(w http.ResponseWriter, r *http.Request, p Policy) (Result, *Error) {
	if a.Preflight(r) {
		// Passing a preflight on would run the protected handler without a
		// token wherever the route accepts OPTIONS.
		w.WriteHeader(http.StatusNoContent)
		return Result{Answered: true}, nil
	}
	res, e := a.authorize(r, p)
	if e != nil {
		e.SetHeaders(w.Header())
		return Result{}, e
	}
	if res.Source&privateSources != 0 {
		w.Header().Set("Cache-Control", "private")
	}
	return res, nil
}
