// Command callcore runs one callcore node: a Sinch-compatible programmable
// voice platform. All logic lives in internal/app; this file parses flags,
// loads the configuration, sets up logging and waits for a signal.
//
//	callcore -config /etc/callcore/callcore.yml   run a node
//	callcore                                      run the embedded demo node
//	callcore -config FILE -check                  validate FILE and exit
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/callcore/callcore/internal/app"
	"github.com/callcore/callcore/internal/config"
	demoapp "github.com/callcore/callcore/internal/demo"
)

//go:embed demo.yml
var demoConfig []byte

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("callcore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", os.Getenv("CALLCORE_CONFIG"), "configuration `file` (env CALLCORE_CONFIG); empty runs the embedded demo node")
	check := fs.Bool("check", false, "validate the configuration and exit")
	stopTimeout := fs.Duration("stop-timeout", 0, "how long to wait for the node to stop after SIGINT/SIGTERM (0: node.drain_timeout plus 30s)")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	var cfg *config.Config
	var err error
	demo := *path == ""
	if demo {
		cfg, err = config.Parse("demo.yml (embedded)", demoConfig)
	} else {
		cfg, err = config.Load(*path)
	}
	if err != nil {
		fmt.Fprintf(stderr, "callcore: invalid configuration:\n%v\n", err)
		return 2
	}
	if *check {
		fmt.Fprintln(stderr, "callcore: configuration is valid")
		return 0
	}

	log := newLogger(cfg.Log, stderr)
	log.Info("configuration loaded", "config", cfg) // Config.LogValue leaves secrets out
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if demo {
		// The one place a secret is printed: the demo app's credentials, so a
		// developer can point an SDK at the node. Never in a log line.
		a := cfg.Apps[0]
		fmt.Fprintf(stderr, "callcore demo node (in-memory store)\n  API:        %s\n  app key:    %s\n  app secret: %s\n"+
			"  demo app:   %s (answers every call with a spoken welcome)\n  call it:    sip:%s@%s\n\n",
			cfg.API.BaseURL, a.Key, a.Secret.Reveal(), a.CallbackURL, a.Numbers[0], cfg.SIP.Listen)
		go func() {
			u, _ := url.Parse(a.CallbackURL)
			if err := demoapp.Serve(ctx, u.Host, a.Key, a.Secret.Reveal(), log.With("component", "demo")); err != nil {
				log.Error("demo app failed", "err", err)
			}
		}()
	}

	node, err := app.New(cfg, app.Options{Logger: log})
	if err != nil {
		log.Error("start-up failed", "err", err)
		return 1
	}
	if err := node.Start(ctx); err != nil {
		log.Error("start-up failed", "err", err)
		_ = node.Stop(context.Background())
		return 1
	}
	<-ctx.Done()
	stop()
	// Drain: the node turns not-ready, refuses new calls (SIP 503 with
	// Retry-After, REST 503) and lets its calls run for up to
	// node.drain_timeout, then hangs up the rest with their DiCE. A second
	// signal hangs them up at once; a third one kills the process.
	timeout := *stopTimeout
	if timeout <= 0 {
		timeout = cfg.Node.DrainTimeout + 30*time.Second
	}
	log.Info("draining", "drain_timeout", cfg.Node.DrainTimeout, "active_calls", node.ActiveCalls())
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	again := make(chan os.Signal, 2)
	signal.Notify(again, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(again)
	go func() {
		if _, ok := <-again; !ok {
			return
		}
		log.Warn("second signal: ending the remaining calls now (a third one kills the process)")
		cancel()
		if _, ok := <-again; ok {
			log.Error("third signal: exiting without waiting")
			os.Exit(1)
		}
	}()
	err = node.Stop(sctx)
	signal.Stop(again)
	close(again)
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("stop failed", "err", err)
		return 1
	}
	return 0
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
