package introspect

import "context"

// A ReadyChecker is a [Verifier] that can tell whether it is able to
// verify tokens now: whether it has found its authorization server's
// endpoint, loaded its issuer's keys, or heard its authorization server
// answer lately. The Verifiers of this module are ReadyCheckers: the RFC
// 7662 Introspector, the Geosecure Verifier, the JWT Verifier and the
// [Cache].
type ReadyChecker interface {
	Verifier
	// Ready returns nil when the Verifier can verify tokens, and an error
	// saying why not otherwise. It may do what it needs to become ready,
	// such as discovering its endpoint, within ctx; it never asks an
	// authorization server about a token.
	Ready(ctx context.Context) error
}

// Ready reports whether v can verify tokens now (see [ReadyChecker]): a
// Verifier that cannot tell is taken to be ready. It is the answer for a
// readiness probe, as in:
//
//	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
//		if err := introspect.Ready(r.Context(), cache); err != nil {
//			http.Error(w, err.Error(), http.StatusServiceUnavailable)
//			return
//		}
//		io.WriteString(w, "ready\n")
//	})
//
// The errors it returns name no token and no secret, so they may be shown.
func Ready(ctx context.Context, v Verifier) error {
	if r, ok := v.(ReadyChecker); ok {
		return r.Ready(ctx)
	}
	return nil
}
