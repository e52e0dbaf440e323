// Package app is callcore's composition root: it builds every component from
// the configuration, starts the listeners and stops everything again in
// reverse order. It is the only package that imports all others.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/api"
	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/internal/cluster"
	"github.com/callcore/callcore/internal/conference"
	"github.com/callcore/callcore/internal/config"
	"github.com/callcore/callcore/internal/redisconn"
	"github.com/callcore/callcore/internal/signaling"
	"github.com/callcore/callcore/internal/store"
	"github.com/callcore/callcore/internal/store/memstore"
	"github.com/callcore/callcore/internal/store/redisstore"
	"github.com/callcore/callcore/internal/timeline"
	"github.com/callcore/callcore/media"
	"github.com/callcore/callcore/media/record"
)

// Options are the process-level dependencies of an App.
type Options struct {
	// Logger is the root logger; nil discards.
	Logger *slog.Logger
	// Registry receives every metric; nil creates one with the Go runtime and
	// process collectors.
	Registry *prometheus.Registry
}

// App is one callcore node.
type App struct {
	cfg      *config.Config
	log      *slog.Logger
	registry *prometheus.Registry
	store    store.Store
	api      *api.Server
	media    *media.Engine
	// recordingFiles serves file:// recordings; nil without recordings.dir.
	recordingFiles *record.FileDir
	sip            *signaling.Server
	calls          *call.Manager
	conf           *conference.Service
	callbackClient *events.Client
	region         *region
	// timeline records the per-call timelines; nil when timeline.enabled
	// is off.
	timeline *timeline.Recorder
	// stopping is closed when Stop begins.
	stopping chan struct{}

	apiSrv, opsSrv *http.Server
	apiLn, opsLn   net.Listener

	ready    atomic.Bool
	draining atomic.Bool
	stopOnce sync.Once
	stopErr  error
	onStop   []namedStop // run LIFO
}

type namedStop struct {
	name string
	fn   func(context.Context) error
}

// New builds a node from cfg. It connects to the store and seeds it with the
// configured applications' callback URLs and numbers, but binds no listener:
// Start does. Start-up work against the store is bounded by 10 seconds.
func New(cfg *config.Config, opts Options) (*App, error) {
	ctx := context.Background()
	a := &App{cfg: cfg, log: opts.Logger, registry: opts.Registry, stopping: make(chan struct{})}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("node", cfg.Node.ID, "region", cfg.Node.Region)
	if a.registry == nil {
		a.registry = prometheus.NewRegistry()
		a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}

	a.region = &region{boot: cluster.NewBootID(), peers: &peers{timeout: cfg.Cluster.ForwardTimeout},
		storeUp: newStoreUpGauge(a.registry)}
	a.registerNodeState(a.registry)
	st, err := a.openStore()
	if err != nil {
		return nil, err
	}
	a.store = st
	a.addStop("store", func(context.Context) error { return st.Close() })
	if err := a.seed(ctx); err != nil {
		_ = a.Stop(ctx)
		return nil, err
	}
	a.newTimeline()

	if err := a.newCallCore(); err != nil {
		_ = a.Stop(ctx)
		return nil, err
	}
	if err := a.newConferences(ctx); err != nil {
		_ = a.Stop(ctx)
		return nil, err
	}

	secrets := make(map[string]string, len(cfg.Apps))
	for _, app := range cfg.Apps {
		secrets[app.Key] = app.Secret.Reveal()
	}
	verifier := &events.Verifier{
		Lookup: func(key string) (string, bool) { s, ok := secrets[key]; return s, ok },
		Window: cfg.API.TimestampWindow,
	}
	a.api, err = api.New(api.Options{
		Store:       st,
		Verifier:    verifier,
		Logger:      a.log.With("component", "api"),
		Registerer:  a.registry,
		BodyLimit:   int64(cfg.API.BodyLimit),
		Currency:    cfg.Billing.Currency,
		Calls:       a.calls,
		MaxTTSChars: cfg.Calls.MaxTTSChars,
		Recordings:  a.recordingFiles,
		Conferences: confAPI{a: a},
		Timelines:   a.timelineReader(),
	})
	if err != nil {
		_ = a.Stop(ctx)
		return nil, err
	}
	return a, nil
}

// openStore opens the memory store, or the Redis client shared by the
// store, bus, outbox and membership, and the Redis store on it.
func (a *App) openStore() (store.Store, error) {
	url := a.cfg.Store.RedisURL.Reveal()
	if url == "" {
		return memstore.New(), nil
	}
	a.region.counter = redisconn.NewCounter(a.registry)
	// A pool sized for call load (go-redis' default, 10 per CPU, runs dry
	// under a few hundred calls/s and turns overload into timeouts),
	// unless the URL sets pool_size.
	client, err := redisconn.Open(url, redisconn.Options{Counter: a.region.counter, PoolSize: 50 * runtime.GOMAXPROCS(0)})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	a.region.client = client
	a.addStop("redis client", func(context.Context) error { return client.Close() })
	// The health check has its own connection: a pool exhausted by load
	// is overload, not a store that went away.
	health, err := redisconn.Open(url, redisconn.Options{Counter: a.region.counter, PoolSize: 1})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	a.region.health = health
	a.addStop("redis health client", func(context.Context) error { return health.Close() })
	return redisstore.New(client, keyPrefix(a.cfg), redisstore.WithMetrics(redisstore.NewMetrics(a.registry))), nil
}

// seed puts the configured applications into the store without overwriting
// what the management API changed since: callback URLs only when the store
// has none for the app, numbers only when no other app holds them.
func (a *App) seed(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, app := range a.cfg.Apps {
		cb := store.Callbacks{Primary: app.CallbackURL, Fallback: app.FallbackURL}
		if _, err := a.store.SeedCallbacks(ctx, app.Key, cb); err != nil {
			return fmt.Errorf("seeding callbacks of app %s: %w", app.Key, err)
		}
		for _, n := range app.Numbers {
			cur, err := a.store.GetNumber(ctx, n)
			switch {
			case err == nil && cur.AppKey != "":
				if cur.AppKey != app.Key {
					a.log.Warn("configured number is assigned to another app; left as it is",
						"app_key", app.Key, "holder_app_key", cur.AppKey)
				}
				continue
			case err != nil && !errors.Is(err, store.ErrNotFound):
				return fmt.Errorf("seeding numbers of app %s: %w", app.Key, err)
			case err == nil:
				// Known and unassigned: unassigned through the API since, leave it.
				continue
			}
			if err := a.store.AssignNumbers(ctx, app.Key, "voice", []string{n}); err != nil && !errors.Is(err, store.ErrNumberTaken) {
				return fmt.Errorf("seeding numbers of app %s: %w", app.Key, err)
			}
		}
	}
	return nil
}

func (a *App) addStop(name string, fn func(context.Context) error) {
	a.onStop = append(a.onStop, namedStop{name, fn})
}

// Start binds the SIP, API and ops listeners and serves them. The node is
// ready when Start returns.
func (a *App) Start(ctx context.Context) error {
	var lc net.ListenConfig
	var err error
	// The region first: an earlier run's calls are ended and the outbox
	// runs before the first call can arrive.
	if err := a.startRegion(ctx); err != nil {
		_ = a.Stop(ctx)
		return err
	}
	if err := a.sip.Start(ctx); err != nil {
		_ = a.Stop(ctx)
		return fmt.Errorf("sip listener: %w", err)
	}
	a.addStop("sip", func(context.Context) error { return a.sip.Close() })
	if a.apiLn, err = lc.Listen(ctx, "tcp", a.cfg.API.Listen); err != nil {
		return fmt.Errorf("api listener: %w", err)
	}
	a.apiSrv = &http.Server{
		Handler:           a.api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.With("component", "api").Handler(), slog.LevelWarn),
	}
	a.addStop("api listener", a.apiSrv.Shutdown)
	go a.serve("api", a.apiSrv, a.apiLn)

	if a.cfg.Ops.Listen != "" {
		if a.opsLn, err = lc.Listen(ctx, "tcp", a.cfg.Ops.Listen); err != nil {
			_ = a.Stop(ctx)
			return fmt.Errorf("ops listener: %w", err)
		}
		a.opsSrv = &http.Server{
			Handler:           a.opsHandler(),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(a.log.With("component", "ops").Handler(), slog.LevelWarn),
		}
		a.addStop("ops listener", a.opsSrv.Shutdown)
		go a.serve("ops", a.opsSrv, a.opsLn)
	}
	// Registered last, so it runs first on Stop: calls drain while the API
	// still answers GET and PATCH for them.
	a.addStop("calls", a.drainCalls)
	a.ready.Store(true)
	a.log.Info("node started", "api", a.APIAddr(), "ops", a.OpsAddr(), "sip", a.SIPAddr(), "store", a.storeKind())
	return nil
}

func (a *App) serve(name string, srv *http.Server, ln net.Listener) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Error("listener failed", "listener", name, "err", err)
		a.ready.Store(false)
	}
}

func (a *App) storeKind() string {
	if a.cfg.Store.RedisURL.Reveal() == "" {
		return "memory"
	}
	return "redis"
}

// APIAddr is the bound address of the REST API listener.
func (a *App) APIAddr() string {
	if a.apiLn == nil {
		return ""
	}
	return a.apiLn.Addr().String()
}

// SIPAddr is the bound SIP address (UDP; TCP listens on the same port when
// it could be had).
func (a *App) SIPAddr() string {
	if a.sip == nil {
		return ""
	}
	return a.sip.UDPAddr().String()
}

// drainCalls refuses new calls and lets running ones finish for up to
// node.drain_timeout (or until ctx ends); then hangs them up (DiCE
// GENERALERROR) and waits for teardown.
func (a *App) drainCalls(ctx context.Context) error {
	a.draining.Store(true)
	a.sip.SetDraining(true)
	n := a.calls.Active()
	a.log.Info("draining calls", "active", n, "drain_timeout", a.cfg.Node.DrainTimeout)
	// Leave a fifth of the stop budget (at most 5 s) for hanging up the
	// rest and for the listeners and store that stop after the calls.
	if deadline, ok := ctx.Deadline(); ok {
		reserve := min(time.Until(deadline)/5, 5*time.Second)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-reserve))
		defer cancel()
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Node.DrainTimeout)
	defer cancel()
	return a.calls.Drain(ctx)
}

// ActiveCalls is the number of calls this node runs.
func (a *App) ActiveCalls() int {
	if a.calls == nil {
		return 0
	}
	return a.calls.Active()
}

// OpsAddr is the bound address of the ops listener (/metrics, /healthz, /readyz).
func (a *App) OpsAddr() string {
	if a.opsLn == nil {
		return ""
	}
	return a.opsLn.Addr().String()
}

// Stop turns the node not-ready, then stops its parts in reverse order of
// start, each bounded by ctx. It is idempotent and joins the errors.
func (a *App) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() {
		a.ready.Store(false)
		close(a.stopping)
		var errs []error
		for i := len(a.onStop) - 1; i >= 0; i-- {
			s := a.onStop[i]
			if err := s.fn(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stopping %s: %w", s.name, err))
			}
		}
		a.stopErr = errors.Join(errs...)
		a.log.Info("node stopped", "err", a.stopErr)
	})
	return a.stopErr
}
