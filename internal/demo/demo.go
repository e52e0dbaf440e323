// Package demo is the application of the embedded demo node (`make run`):
// a callback server that verifies every event's signature like a Sinch SDK,
// logs it, and answers with SVAML, so that a developer can call the demo
// number from a softphone and hear the node work without writing a backend.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/callcore/callcore/events"
)

// Greeting is the demo's answer to every ICE: answer, a spoken welcome that
// echoes a cookie, then hang up.
const Greeting = `{"instructions":[{"name":"answer"},` +
	`{"name":"setCookie","key":"demo","value":"greeted"},` +
	`{"name":"say","text":"Welcome to callcore. This call was answered by the demo application. Goodbye.","locale":"en-US"}],` +
	`"action":{"name":"hangup"}}`

// Handler returns the demo callback handler for the app key and secret.
func Handler(appKey, secret string, log *slog.Logger) http.Handler {
	v := &events.Verifier{Lookup: func(k string) (string, bool) { return secret, k == appKey }}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "reading body", http.StatusBadRequest)
			return
		}
		if _, err := v.Verify(r, body); err != nil {
			log.Warn("demo app: callback with a bad signature", "err", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		ev, err := events.Decode(body)
		if err != nil {
			log.Warn("demo app: not an event", "err", err)
			http.Error(w, "not an event", http.StatusBadRequest)
			return
		}
		log.Info("demo app: event", "event", ev.Kind(), "call_id", ev.CallID())
		w.Header().Set("Content-Type", "application/json")
		switch ev.Kind() {
		case events.KindICE:
			_, _ = io.WriteString(w, Greeting)
		case events.KindACE:
			_, _ = io.WriteString(w, `{"action":{"name":"continue"}}`)
		case events.KindPIE:
			_, _ = io.WriteString(w, `{"action":{"name":"hangup"}}`)
		default:
			_ = json.NewEncoder(w).Encode(struct{}{})
		}
	})
}

// Serve runs the demo application on addr until ctx ends.
func Serve(ctx context.Context, addr, appKey, secret string, log *slog.Logger) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: Handler(appKey, secret, log), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
