package api

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/store/memstore"
)

// BenchmarkSignedRequest measures one Application-signed request through the
// whole middleware chain (request id, metrics, access log to a discarding
// handler, body read, signature verification) and a handler, in process.
func BenchmarkSignedRequest(b *testing.B) {
	for _, tc := range []struct{ name, method, path, body string }{
		{"query_number", "GET", "/v1/calling/query/number/+46701234567", ""},
		{"assign_numbers", "POST", "/v1/configuration/numbers", `{"numbers":["+46701234567","+12015550100"],"capability":"voice"}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := New(Options{
				Store:      memstore.New(),
				Verifier:   &events.Verifier{Lookup: func(string) (string, bool) { return secretA, true }},
				Registerer: prometheus.NewRegistry(),
				Logger:     slog.New(slog.DiscardHandler),
			})
			if err != nil {
				b.Fatal(err)
			}
			signer, err := events.NewSigner(keyA, secretA)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
				req.Header.Set("Content-Type", "application/json")
				signer.SignRequest(req, []byte(tc.body), time.Now())
				w := httptest.NewRecorder()
				s.ServeHTTP(w, req)
				if w.Code >= 300 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
