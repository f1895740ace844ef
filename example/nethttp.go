package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/tokengate/tokengate/introspect"
	"github.com/tokengate/tokengate/middleware"
)

// newHTTPHandler serves the API with net/http's ServeMux, its tokens checked
// by verifier.
func newHTTPHandler(a *api, cfg *config, verifier introspect.Verifier, logger *slog.Logger) (http.Handler, error) {
	auth, err := middleware.New(middleware.Config{
		Verifier:  verifier,
		Realm:     cfg.realm,
		Sources:   cfg.sources,
		Audiences: cfg.audiences,
		Logger:    logger,
		Hooks:     a.hooks,

		ResourceMetadata: resourceMetadata(cfg),
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	// The RFC 9728 document is public: no auth.
	mux.Handle(auth.ResourceMetadataHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	// Metrics hold no token, client or subject; a real deployment serves
	// them on an internal port or behind its own access control.
	mux.Handle("GET /metrics", a.metrics)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		status, body := a.ready(r.Context())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
	mux.Handle("GET /v1/token", auth.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.token(introspect.FromContext(r.Context())))
	})))
	mux.Handle("GET /v1/maps", auth.Require(needMapRequest)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.maps())
	})))
	mux.Handle("GET /v1/occupations", auth.Require(needReadOrRW)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.listOccupations())
	})))
	mux.Handle("POST /v1/occupations", auth.Require(needReadAndRW)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		occ, err := a.createOccupation(r, introspect.FromContext(r.Context()))
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, occ)
	})))
	mux.Handle("POST /v1/logout", auth.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _ := auth.Token(r) // there is one: the middleware verified it
		a.logout(token)
		w.WriteHeader(http.StatusNoContent)
	})))
	mux.Handle("GET /v1/profile", auth.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _ := auth.Token(r) // there is one: the middleware verified it
		p, err := a.profile(r.Context(), token)
		var pr *problem
		if err != nil && !errors.As(err, &pr) {
			err = auth.ErrorFor(err) // answered as the middleware would
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, p)
	})))
	return accessLog(logger, recoverPanics(logger, mux)), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers a handler's error: a refusal about the token as the
// middleware would, a problem as itself, anything else as a bare 500.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var me *middleware.Error
	var p *problem
	switch {
	case errors.As(err, &me):
		middleware.WriteError(w, r, me)
	case errors.As(err, &p):
		writeJSON(w, p.status, p.body)
	default:
		writeJSON(w, http.StatusInternalServerError, middleware.Body{Error: "server_error", Description: "internal error"})
	}
}

// recoverPanics answers a panicking handler with a bare 500, never a stack
// trace.
func recoverPanics(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logger.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p)
				writeJSON(w, http.StatusInternalServerError, middleware.Body{Error: "server_error", Description: "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog logs one line per request. It logs the path, never the query
// string, which may hold an access_token.
func accessLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		logRequest(logger, r.Method, r.URL.Path, rec.status, time.Since(start))
	})
}

func logRequest(logger *slog.Logger, method, path string, status int, took time.Duration) {
	logger.Info("request", "method", method, "path", path, "status", status, "duration", took.Round(time.Microsecond))
}
