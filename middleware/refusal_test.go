package middleware_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/tokengate/tokengate/internal/testutil"
	"github.com/tokengate/tokengate/middleware"
)

// BenchmarkRefused measures a refused request, an invalid token or an
// authorization server failing, with the log at each level: under attack
// or during an outage, every request is one.
func BenchmarkRefused(b *testing.B) {
	for _, token := range []string{"nope", "down"} {
		for _, level := range []struct {
			name    string
			handler slog.Handler
		}{
			{"discard", slog.DiscardHandler},
			{"warn", slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})},
			{"info", slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})},
			{"debug", slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})},
		} {
			b.Run(token+"/"+level.name, func(b *testing.B) {
				a, err := middleware.New(middleware.Config{Verifier: verifierOf(nil), Logger: slog.New(level.handler)})
				if err != nil {
					b.Fatal(err)
				}
				h := a.Require(middleware.AllOf("MapRequest"))(okHandler)
				r := httptest.NewRequest("GET", "/v1/maps", nil)
				r.Header.Set("Authorization", "Bearer "+token)
				w := &testutil.DiscardWriter{}
				b.ReportAllocs()
				for b.Loop() {
					h.ServeHTTP(w, r)
				}
			})
		}
	}
}
