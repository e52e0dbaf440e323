package app

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// opsHandler serves the operator endpoints on their own listener, apart from
// the public API: /metrics for Prometheus, /healthz (the process is alive) and
// /readyz (the node takes traffic: started, not stopping, store reachable).
func (a *App) opsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{
		Registry:          a.registry,
		EnableOpenMetrics: true,
		ErrorLog:          promLogger{a},
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !a.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: node is starting or stopping\n"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.store.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: store unreachable\n"))
			a.log.Warn("readiness check failed", "err", err)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}

type promLogger struct{ a *App }

func (l promLogger) Println(v ...any) { l.a.log.Warn("metrics handler error", "err", v) }
