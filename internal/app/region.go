package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/bus"
	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/internal/cluster"
	"github.com/callcore/callcore/internal/conference"
	"github.com/callcore/callcore/internal/config"
	"github.com/callcore/callcore/internal/outbox"
	"github.com/callcore/callcore/internal/redisconn"
	"github.com/callcore/callcore/internal/timeline"
)

// How the nodes of a region work together (ARCHITECTURE.md, "State across
// nodes"). With a Redis store: one go-redis client per process shared by
// the store, the node bus (commands forwarded to the node that runs a
// call), the event outbox (DiCE and Notify, durable and retried) and the
// membership (heartbeats; the elected survivor ends a dead node's calls).
// With the memory store the same parts run inside the process.

// keyPrefix scopes every Redis key and channel of a region.
func keyPrefix(cfg *config.Config) string { return "callcore:" + cfg.Node.Region }

// busKindUpdate is the bus request that runs Manager.UpdateLocal.
const busKindUpdate = "call.update"

// updateRequest and busReply are the payloads of busKindUpdate.
type updateRequest struct {
	ID  string          `json:"id"`
	Leg string          `json:"leg,omitempty"`
	Doc json.RawMessage `json:"doc"`
}

type busReply struct {
	// Err is "" on success, else one of not_found, ended,
	// invalid_command, error.
	Err string `json:"err,omitempty"`
	Msg string `json:"msg,omitempty"`
}

// peers forwards commands to other nodes over the bus; it implements
// call.Peers. The bus is set in Start.
type peers struct {
	timeout time.Duration
	mu      sync.Mutex
	b       bus.Bus
}

var _ call.Peers = (*peers)(nil)

func (p *peers) set(b bus.Bus) {
	p.mu.Lock()
	p.b = b
	p.mu.Unlock()
}

func (p *peers) Update(ctx context.Context, node, id, leg string, doc []byte) error {
	p.mu.Lock()
	b := p.b
	p.mu.Unlock()
	if b == nil {
		return fmt.Errorf("%w: node %s (this node is not connected to the region's bus)", call.ErrOwnerUnreachable, node)
	}
	payload, err := json.Marshal(updateRequest{ID: id, Leg: leg, Doc: doc})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	raw, err := b.Request(ctx, node, busKindUpdate, payload)
	var re *bus.RemoteError
	switch {
	case errors.Is(err, bus.ErrNoResponder):
		return fmt.Errorf("%w: node %s runs this call but is not connected to the region's bus", call.ErrOwnerUnreachable, node)
	case errors.Is(err, bus.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: node %s runs this call but did not answer within %v", call.ErrOwnerUnreachable, node, p.timeout)
	case errors.As(err, &re):
		return fmt.Errorf("%w: node %s failed: %s", call.ErrOwnerUnreachable, node, re.Message)
	case err != nil:
		return fmt.Errorf("%w: node %s: %v", call.ErrOwnerUnreachable, node, err)
	}
	var rep busReply
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("%w: node %s sent an unreadable reply", call.ErrOwnerUnreachable, node)
	}
	switch rep.Err {
	case "":
		return nil
	case "not_found":
		return call.ErrCallNotFound
	case "ended":
		return call.ErrCallEnded
	case "invalid_command":
		return fmt.Errorf("%w: %s", call.ErrInvalidCommand, rep.Msg)
	}
	return fmt.Errorf("node %s: %s", node, rep.Msg)
}

// busHandler answers the requests other nodes send to this one.
func busHandler(mgr *call.Manager, conf *conference.Service) bus.Handler {
	return func(ctx context.Context, kind string, payload []byte) ([]byte, error) {
		if kind == conference.BusKind && conf != nil {
			return conf.HandleBus(ctx, payload)
		}
		if kind != busKindUpdate {
			return nil, fmt.Errorf("unknown request kind %q", kind)
		}
		var req updateRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, fmt.Errorf("malformed %s request: %w", kind, err)
		}
		var rep busReply
		switch err := mgr.UpdateLocal(ctx, req.ID, req.Leg, req.Doc); {
		case err == nil:
		case errors.Is(err, call.ErrCallNotFound):
			rep.Err = "not_found"
		case errors.Is(err, call.ErrCallEnded):
			rep.Err = "ended"
		case errors.Is(err, call.ErrInvalidCommand):
			rep.Err, rep.Msg = "invalid_command", err.Error()
		default:
			rep.Err, rep.Msg = "error", err.Error()
		}
		return json.Marshal(rep)
	}
}

// eventQueue puts the call core's DiCE and Notify events into the region's
// outbox, which starts with the node; it implements call.EventQueue.
type eventQueue struct{ r *region }

var _ call.EventQueue = eventQueue{}

func (q eventQueue) Enqueue(ctx context.Context, t call.CallbackTarget, id string, ev events.Event) error {
	if q.r.outbox == nil {
		return errors.New("the event outbox is not running")
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", ev.Kind(), err)
	}
	return q.r.outbox.Enqueue(ctx, outbox.Entry{
		ID: id, CallID: ev.CallID(), AppKey: t.AppKey, Kind: ev.Kind().String(),
		URL: t.URL, FallbackURL: t.FallbackURL, Body: body,
	})
}

// deliverEntry sends an outbox entry, signed with its app's secret and
// carrying its event id, and records the attempt in the call's timeline
// (tl nil: none). An entry of an app that no longer exists, or with a URL
// that cannot be used, is given up at once.
func deliverEntry(client *events.Client, cfg *config.Config, tl *timeline.Recorder) outbox.DeliverFunc {
	return func(ctx context.Context, e outbox.Entry) error {
		app, ok := cfg.App(e.AppKey)
		if !ok {
			return outbox.Permanent(fmt.Errorf("application %q is not configured on this node", e.AppKey))
		}
		kind, err := events.ParseKind(e.Kind)
		if err != nil {
			return outbox.Permanent(err)
		}
		target := events.Target{
			URL: e.URL, FallbackURL: e.FallbackURL, AppKey: app.Key, Secret: app.Secret.Reveal(),
			ConnectTimeout: app.CallbackConnectTimeout, TotalTimeout: app.CallbackTimeout, EventID: e.ID,
		}
		rep, err := client.Deliver(ctx, target, events.Raw{K: kind, Call: e.CallID, Body: e.Body}, nil)
		if tl != nil {
			// A copy: the entry's body is the outbox's once this returns.
			// Marshalled by a node, it is JSON unless the stream entry
			// was damaged: checked, so that a damaged one is kept as text.
			var body any = append([]byte(nil), e.Body...)
			if json.Valid(e.Body) {
				body = json.RawMessage(body.([]byte))
			}
			recordDelivery(tl, e.CallID, e.ID, kind, target, rep, body, nil, err, e.Attempts)
		}
		var de *events.DeliveryError
		if errors.As(err, &de) && (de.Reason == events.DeliveryInvalidTarget || de.Reason == events.DeliveryInvalidEvent) {
			return outbox.Permanent(err)
		}
		return err
	}
}

// region holds the parts that connect a node to its region.
type region struct {
	client  redis.UniversalClient // nil with the memory store
	health  redis.UniversalClient // one connection for the store watcher
	counter *redisconn.Counter
	peers   *peers
	outbox  outbox.Outbox
	redisOB *outbox.Redis // the outbox, when it is the Redis one
	bus     bus.Bus
	members *cluster.Membership // nil with the memory store
	boot    string

	storeUp prometheus.Gauge
	// storeDown: the store watcher found the store unreachable (new calls
	// refused until it answers again).
	storeDown atomic.Bool
}

// startRegion joins the region: finalizes what an earlier incarnation of
// this node left (calls, undelivered events), then starts the outbox, the
// bus and the membership. It runs before the listeners open.
func (a *App) startRegion(ctx context.Context) error {
	r := a.region
	cfg := a.cfg
	log := a.log.With("component", "cluster")
	obOpts := outbox.Options{
		Consumer:   cfg.Node.ID + "/" + r.boot,
		Deliver:    deliverEntry(a.callbackClient, cfg, a.timeline),
		Retention:  cfg.Events.RetryFor,
		MinBackoff: cfg.Events.MinBackoff,
		MaxBackoff: cfg.Events.MaxBackoff,
		Logger:     a.log.With("component", "outbox"),
		Registerer: a.registry,
	}
	if r.client == nil {
		r.outbox = outbox.NewMemory(obOpts)
		a.addStop("outbox", r.outbox.Close)
		return nil
	}
	prefix := keyPrefix(cfg)

	members, prev, err := cluster.Join(ctx, r.client, prefix, cluster.Options{
		Self:       cluster.Member{Node: cfg.Node.ID, Boot: r.boot, APIURL: cfg.API.BaseURL, SIPAddr: advertisedSIP(cfg.SIP.Listen, cfg.SIP.PublicHost), StartedAt: time.Now()},
		TTL:        cfg.Cluster.HeartbeatTTL,
		OnDead:     a.onNodeDead,
		OnFenced:   func(context.Context) { a.calls.Fence() },
		Logger:     log,
		Registerer: a.registry,
	})
	if err != nil {
		return fmt.Errorf("joining the region: %w", err)
	}
	r.members = members
	a.addStop("membership", members.Leave)
	lastSeen := time.Now()
	if prev != nil {
		lastSeen = prev.LastSeen
		log.Warn("an earlier run of this node left state behind; ending its calls", "boot", prev.Boot, "last_seen", prev.LastSeen)
	}
	if n, err := a.calls.TakeOver(ctx, cfg.Node.ID, lastSeen); err != nil {
		return fmt.Errorf("ending the calls of an earlier run of this node: %w", err)
	} else if n > 0 {
		log.Warn("calls of an earlier run of this node ended", "calls", n)
	}

	ob, err := outbox.NewRedis(ctx, r.client, prefix, obOpts)
	if err != nil {
		return fmt.Errorf("event outbox: %w", err)
	}
	r.outbox, r.redisOB = ob, ob
	a.addStop("outbox", ob.Close)

	b, err := bus.NewRedis(ctx, r.client, prefix, bus.Options{
		Node: cfg.Node.ID, Handler: busHandler(a.calls, a.conf), Timeout: cfg.Cluster.ForwardTimeout,
		Logger: a.log.With("component", "bus"), Registerer: a.registry,
	})
	if err != nil {
		return fmt.Errorf("node bus: %w", err)
	}
	r.bus = b
	r.peers.set(b)
	a.addStop("bus", b.Close)

	go a.watchStore(log)
	return nil
}

// onNodeDead runs on the elected survivor for a node whose heartbeat
// expired (or that left): it ends the node's calls with their DiCE and
// takes over the events it had not delivered.
func (a *App) onNodeDead(ctx context.Context, m cluster.Member) error {
	log := a.log.With("component", "cluster", "dead_node", m.Node)
	// The dead node's queued events first, so that the DiCE queued below
	// comes after the Notify events of the same call.
	claimed := 0
	if ob := a.region.redisOB; ob != nil {
		var err error
		if claimed, err = ob.ClaimNode(ctx, m.Node); err != nil {
			return err
		}
	}
	n, err := a.calls.TakeOver(ctx, m.Node, m.LastSeen)
	if err != nil {
		return err
	}
	if a.conf != nil {
		if err := a.conf.NodeDead(ctx, m.Node); err != nil {
			log.Warn("removing the dead node's conference participants failed", "err", err)
		}
	}
	if m.Left {
		log.Info("node left the region", "calls_ended", n, "events_taken_over", claimed)
	} else {
		log.Warn("node died; its calls ended and their DiCE queued", "calls_ended", n, "events_taken_over", claimed, "last_seen", m.LastSeen)
	}
	return nil
}

// storeDownAfter is how many failed pings in a row (one a second) make the
// store count as unreachable.
const storeDownAfter = 2

// watchStore pings the store every second, over its own connection: after
// storeDownAfter failures in a row new calls are refused (503) and running
// ones go on from memory; when it answers again, what they changed
// meanwhile is written back (and the configured numbers and callbacks
// seeded again, in case Redis lost its data).
func (a *App) watchStore(log *slog.Logger) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	up := true
	failures := 0
	var downSince time.Time
	a.region.storeUp.Set(1)
	ping := a.store.Ping
	if h := a.region.health; h != nil {
		ping = func(ctx context.Context) error { return h.Ping(ctx).Err() }
	}
	for {
		select {
		case <-a.stopping:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := ping(ctx)
		cancel()
		if err != nil {
			failures++
		} else {
			failures = 0
		}
		switch {
		case failures == storeDownAfter && up:
			up, downSince = false, time.Now()
			a.calls.SetStoreDown(true)
			a.region.storeUp.Set(0)
			a.region.storeDown.Store(true)
			log.Error("store unreachable: refusing new calls; running calls go on and are written back later", "err", err)
		case err == nil && !up:
			up = true
			if err := a.seed(context.Background()); err != nil {
				log.Warn("re-seeding the store failed", "err", err)
			}
			a.calls.SetStoreDown(false)
			a.region.storeUp.Set(1)
			a.region.storeDown.Store(false)
			log.Info("store reachable again: taking new calls", "down_for", time.Since(downSince).Round(time.Millisecond))
		}
	}
}

// newStoreUpGauge returns callcore_store_up, 1 from the start: a node
// is built only once its store answered (the memory store always does).
func newStoreUpGauge(reg prometheus.Registerer) prometheus.Gauge {
	g := promauto.With(reg).NewGauge(prometheus.GaugeOpts{Namespace: "callcore", Subsystem: "store", Name: "up",
		Help: "1 while the node reaches its store (always 1 for the memory store)."})
	g.Set(1)
	return g
}

// RedisStats is what this node's Redis client has sent and received so
// far (zero with the memory store): for benchmarks and capacity planning.
func (a *App) RedisStats() redisconn.Stats {
	if a.region == nil || a.region.counter == nil {
		return redisconn.Stats{}
	}
	return a.region.counter.Stats()
}
