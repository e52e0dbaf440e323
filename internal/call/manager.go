package call

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/regions"
	"github.com/callcore/callcore/svaml"
)

// Deps are the adapters a Manager drives. All are required.
type Deps struct {
	Dialer    Dialer
	Media     Media
	Callbacks Callbacks
	Apps      Apps
	Store     Store
	// Recordings runs startRecording; nil makes it fail the call with a
	// clear error.
	Recordings Recordings
	// Streams runs connectStream; nil makes it unsupported.
	Streams Streams
	// Events queues DiCE and Notify durably; nil delivers them once,
	// directly (unit tests).
	Events EventQueue
	// Conferences runs connectConf and conferenceCallout; nil makes them
	// unsupported (INVALIDSVAMLACTION).
	Conferences Conferences
	// Peers forwards commands for calls of other nodes; nil answers them
	// with ErrOwnerUnreachable.
	Peers Peers
	// Timeline records the per-call timeline (state transitions, SVAML,
	// media events, errors); nil records nothing.
	Timeline Timeline
}

// Options are the Manager's knobs.
type Options struct {
	Node, Region string
	// BaseURL is the public API base URL; ICE's callResourceUrl is
	// BaseURL + "/calling/v1/calls/id/{callid}".
	BaseURL string
	// Currency is the currencyId of the zero rates and debits.
	Currency string
	// Limits apply to every SVAML document.
	Limits svaml.Limits
	// ErrorPrompt is played to a caller whose ICE got no valid answer,
	// before the call ends. Default "#tts[Sorry, this call cannot be completed. Goodbye.]".
	ErrorPrompt string
	// DialTimeout is the ringing timeout when SVAML sets none. Default 60 s.
	DialTimeout time.Duration
	// MaxDuration caps every call when SVAML sets none. Default 4 h (14400 s).
	MaxDuration time.Duration
	// RecordTTL is how long a call record stays readable after the call
	// ended; live records are kept for MaxDuration plus this. Default 1 h.
	RecordTTL time.Duration
	// TeardownTimeout bounds hangups and the DiCE of an ending call. Default 10 s.
	TeardownTimeout time.Duration
	Logger          *slog.Logger
	Registerer      prometheus.Registerer
	// Now and NewID exist for tests; defaults are time.Now and random ids.
	Now   func() time.Time
	NewID func() string
	// Directory and RegionURLs tell a call id of another region of the
	// deployment (answered with a WrongRegionError naming that region's
	// base URL). A nil Directory does not check regions.
	Directory  *regions.Directory
	RegionURLs map[string]string
	// DrainProgress is how often Drain logs how many calls are left.
	// Default 10 s.
	DrainProgress time.Duration
}

// Manager creates calls, finds them for REST commands and drains them.
type Manager struct {
	deps    Deps
	opts    Options
	log     *slog.Logger
	metrics *Metrics

	mu       sync.Mutex
	calls    map[string]*Call
	draining atomic.Bool
	// storeDown refuses new calls at once while the store is unreachable
	// (SetStoreDown), instead of letting each wait for its timeout.
	storeDown atomic.Bool
	wg        sync.WaitGroup // actors and DiCE deliveries
	writeBack writeBack      // final records the store could not take
}

// NewManager checks the dependencies and applies defaults.
func NewManager(d Deps, o Options) (*Manager, error) {
	if d.Dialer == nil || d.Media == nil || d.Callbacks == nil || d.Apps == nil || d.Store == nil {
		return nil, errors.New("call: Dialer, Media, Callbacks, Apps and Store are required")
	}
	if o.ErrorPrompt == "" {
		o.ErrorPrompt = "#tts[Sorry, this call cannot be completed. Goodbye.]"
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 60 * time.Second
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = svaml.MaxDuration * time.Second
	}
	if o.RecordTTL <= 0 {
		o.RecordTTL = time.Hour
	}
	if o.TeardownTimeout <= 0 {
		o.TeardownTimeout = 10 * time.Second
	}
	if o.Currency == "" {
		o.Currency = "USD"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewID == nil {
		o.NewID = newUUID
	}
	if o.DrainProgress <= 0 {
		o.DrainProgress = 10 * time.Second
	}
	m := &Manager{deps: d, opts: o, log: o.Logger, metrics: NewMetrics(o.Registerer), calls: map[string]*Call{}}
	m.writeBack.m = m
	return m, nil
}

// SetStoreDown tells the manager whether the shared store is unreachable.
// While it is, new calls are refused with ErrUnavailable (inbound: 503)
// and running calls go on from memory; their records are written back
// when it returns.
func (m *Manager) SetStoreDown(down bool) {
	if m.storeDown.Swap(down) != down && !down {
		m.writeBack.kick()
		// Every running call writes its record again: what changed while
		// the store was away, or all of it if the store lost its data.
		for _, c := range m.liveCalls() {
			ctx := context.Background()
			go c.post(ctx, func() { c.save(ctx) })
		}
	}
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// SetLimits sets the TTS text limit of every SVAML document (0 means 600).
// Call before the first call.
func (m *Manager) SetLimits(maxTTSChars int) { m.opts.Limits.MaxTTSChars = maxTTSChars }

// Active is the number of calls this node is running.
func (m *Manager) Active() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.calls)
}

func (m *Manager) register(c *Call) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.draining.Load() {
		return ErrDraining
	}
	m.calls[c.snap.ID] = c
	m.wg.Add(1)
	return nil
}

func (m *Manager) unregister(c *Call) {
	m.mu.Lock()
	delete(m.calls, c.snap.ID)
	m.mu.Unlock()
}

// liveCalls is a snapshot of the calls this node runs.
func (m *Manager) liveCalls() []*Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	live := make([]*Call, 0, len(m.calls))
	for _, c := range m.calls {
		live = append(live, c)
	}
	return live
}

func (m *Manager) local(id string) *Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[id]
}

// Inbound is a call that reached the node.
type Inbound struct {
	Leg InboundLeg
	// From is the caller: the user part of the From URI (a number, possibly
	// without "+", or a username), "" if anonymous.
	From string
	// To is the dialled destination, typed: "did" for a number dialled on
	// a trunk, "username" for an in-app user, "sip" for a SIP address.
	To events.Destination
	// FromUser is set when the caller is a registered in-app user
	// (originationType MXP).
	FromUser bool
	// Headers are the X- headers of the INVITE, for ICE callHeaders.
	Headers []events.KeyValue
	// Offer is the INVITE's SDP (may be empty: then callcore offers in 200).
	Offer []byte
	// ReceivedAt is when the INVITE arrived; zero means now.
	ReceivedAt time.Time
	// RDNIS is the redirecting number (Diversion or History-Info), "" if
	// the call was not forwarded.
	RDNIS string
}

// HandleInbound takes ownership of an inbound call: it routes it to an
// application and runs it on its own actor goroutine. It returns at once.
// A call no application owns is rejected with 404; a draining node
// answers 503.
func (m *Manager) HandleInbound(ctx context.Context, in Inbound) {
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = time.Now()
	}
	id := m.opts.NewID()
	log := m.log.With("call_id", id)
	if l, ok := in.Leg.(interface{ SetCallID(string) }); ok {
		l.SetCallID(id) // the SIP layer's logs carry our call id too
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if m.draining.Load() {
		m.metrics.rejected.WithLabelValues("draining").Inc()
		_ = in.Leg.Reject(rctx, 503, "Service Unavailable")
		return
	}
	if m.storeDown.Load() {
		m.metrics.rejected.WithLabelValues("store_down").Inc()
		log.Warn("inbound call rejected: the store is unreachable")
		_ = in.Leg.Reject(rctx, 503, "Service Unavailable")
		return
	}
	target, err := m.deps.Apps.RouteInbound(rctx, in.To)
	if err != nil {
		reason := "no_route"
		code, text := 404, "Not Found"
		if !errors.Is(err, ErrNoRoute) {
			// The store did not answer: another node (or this one in a
			// moment) can take the call.
			reason, code, text = "store_down", 503, "Service Unavailable"
		}
		log.Warn("inbound call rejected", "reason", reason, "to_type", in.To.Type, "err", err)
		m.metrics.rejected.WithLabelValues(reason).Inc()
		_ = in.Leg.Reject(rctx, code, text)
		return
	}
	domain, origin := "pstn", "PSTN"
	if in.FromUser {
		domain, origin = "mxp", "MXP"
	}
	if in.To.Type == "username" {
		domain = "mxp"
	}
	now := m.opts.Now()
	c := m.newCall(id, log, Snapshot{
		ID: id, Region: m.opts.Region, Node: m.opts.Node, AppKey: target.AppKey,
		Direction: DirectionInbound, State: StateInitiated,
		From: events.Destination{Type: fromType(in), Endpoint: in.From},
		To:   in.To, Domain: domain, Currency: m.opts.Currency,
		Result: events.ResultNA, Reason: events.ReasonNA, StartedAt: now,
	})
	c.target = target
	c.snap.CallHeaders = in.Headers
	c.caller = &leg{role: roleCaller, sip: in.Leg, in: in.Leg, offer: in.Offer}
	c.inbound = &in
	c.origin = origin
	if err := m.start(ctx, c); err != nil {
		log.Warn("inbound call rejected", "err", err)
		_ = in.Leg.Reject(rctx, 503, "Service Unavailable")
	}
}

func fromType(in Inbound) string {
	if in.FromUser {
		return "username"
	}
	return "number"
}

func (m *Manager) newCall(id string, log *slog.Logger, s Snapshot) *Call {
	return &Call{
		m:        m,
		log:      log,
		snap:     s,
		inbox:    make(chan func(), 32),
		commands: make(chan command),
		done:     make(chan struct{}),
		saves:    make(chan Snapshot, 1),
		saved:    make(chan struct{}),
	}
}

// start persists the new call and launches its actor.
func (m *Manager) start(ctx context.Context, c *Call) error {
	if m.storeDown.Load() {
		return ErrUnavailable
	}
	c.snap.Callback = CallbackRef{URL: c.target.URL, Fallback: c.target.FallbackURL}
	c.snap.WantDiCE = c.wantDiCE() && !c.suppressed
	if err := m.register(c); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	err := m.deps.Store.Create(sctx, &c.snap)
	cancel()
	if err != nil {
		m.unregister(c)
		m.wg.Done()
		return fmt.Errorf("%w: creating call record: %v", ErrUnavailable, err)
	}
	m.metrics.active.WithLabelValues(string(c.snap.Direction)).Inc()
	if c.caller != nil && m.deps.Timeline != nil {
		// The caller's SIP messages join the call's timeline now that the
		// call exists: an INVITE turned away before (no route, draining)
		// leaves none behind.
		if l, ok := c.caller.sip.(interface{ SetTraceID(string) }); ok {
			l.SetTraceID(c.snap.ID)
		}
	}
	go func() {
		defer m.wg.Done()
		c.run(context.WithoutCancel(ctx))
	}()
	return nil
}

// checkRegion reports a call id of another region of the deployment.
func (m *Manager) checkRegion(id string) error {
	if m.opts.Directory == nil {
		return nil
	}
	region, _, ok := m.opts.Directory.ParseCallID(id)
	if !ok || string(region) == m.opts.Region {
		return nil
	}
	return &WrongRegionError{Region: string(region), BaseURL: m.opts.RegionURLs[string(region)]}
}

// Get returns the snapshot of a call, live on this node or recorded in the
// store by any node.
func (m *Manager) Get(ctx context.Context, id string) (*Snapshot, error) {
	if err := m.checkRegion(id); err != nil {
		return nil, err
	}
	if c := m.local(id); c != nil {
		reply := make(chan Snapshot, 1)
		select {
		case c.commands <- command{snapshot: reply}:
			s := <-reply
			return &s, nil
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return m.deps.Store.Load(ctx, id)
}

// Update applies a PATCH /calls/id/{id} SVAML document (hangup, continue or
// park, with instructions). leg selects where say/playFiles are heard:
// "caller", "callee" or "both" ("" means caller). A document that is not
// valid SVAML for a call update is a *svaml.ValidationError. A call that
// runs on another node of the region gets the command there (Peers).
func (m *Manager) Update(ctx context.Context, id, leg string, doc []byte) error {
	resp, err := m.parseUpdate(leg, doc) // the document first, whatever the call
	if err != nil {
		return err
	}
	s, err := m.Get(ctx, id)
	if err != nil {
		return err
	}
	return m.update(ctx, s, resp, leg, doc)
}

// UpdateCall is Update for a call whose snapshot the caller already has
// (the API reads it to check the application): no second look-up.
func (m *Manager) UpdateCall(ctx context.Context, s *Snapshot, leg string, doc []byte) error {
	resp, err := m.parseUpdate(leg, doc)
	if err != nil {
		return err
	}
	return m.update(ctx, s, resp, leg, doc)
}

// update runs a parsed command on the call here, or forwards the document
// to the node that runs it (Peers).
func (m *Manager) update(ctx context.Context, s *Snapshot, resp *svaml.Response, leg string, doc []byte) error {
	if c := m.local(s.ID); c != nil {
		return m.updateLocal(ctx, c, resp, leg)
	}
	if !s.State.Ongoing() || s.Node == m.opts.Node {
		// Ended, or a record of this node without an actor: a call that
		// just ended, or one of an earlier incarnation (finalized at
		// start-up, or about to be).
		return ErrCallEnded
	}
	if m.deps.Peers == nil {
		return fmt.Errorf("%w: node %s (this node cannot reach other nodes)", ErrOwnerUnreachable, s.Node)
	}
	m.metrics.forwarded.Inc()
	return m.deps.Peers.Update(ctx, s.Node, s.ID, leg, doc)
}

// UpdateLocal is Update for a command another node forwarded here: it
// runs only on this node's own calls (never forwards again), and answers
// ErrCallNotFound for a call that does not run here.
func (m *Manager) UpdateLocal(ctx context.Context, id, leg string, doc []byte) error {
	resp, err := m.parseUpdate(leg, doc)
	if err != nil {
		return err
	}
	c := m.local(id)
	if c == nil {
		s, err := m.deps.Store.Load(ctx, id)
		if err == nil && !s.State.Ongoing() {
			return ErrCallEnded
		}
		return ErrCallNotFound
	}
	return m.updateLocal(ctx, c, resp, leg)
}

func (m *Manager) parseUpdate(leg string, doc []byte) (*svaml.Response, error) {
	resp, err := m.opts.Limits.Parse(svaml.ContextPatchCall, doc)
	if err != nil {
		m.metrics.svamlErrors.WithLabelValues("patch").Inc()
		return nil, err
	}
	switch leg {
	case "", roleCaller, roleCallee, "both":
	default:
		return nil, fmt.Errorf("%w: call leg %q is not caller, callee or both", ErrInvalidCommand, leg)
	}
	return resp, nil
}

func (m *Manager) updateLocal(ctx context.Context, c *Call, resp *svaml.Response, leg string) error {
	errc := make(chan error, 1)
	select {
	case c.commands <- command{patch: resp, leg: leg, result: errc}:
	case <-c.done:
		return ErrCallEnded
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TakeOver ends the calls a node was running when it died (or those of an
// earlier incarnation of this node, at start-up): each live record becomes
// FINAL with reason GENERALERROR, its duration counted up to lastSeen (the
// node's last heartbeat), and its DiCE is queued with the call's DiCE
// event id. It is idempotent and safe to run on several nodes at once:
// only the writer that ends a record queues its DiCE. It returns how many
// calls it ended.
func (m *Manager) TakeOver(ctx context.Context, node string, lastSeen time.Time) (int, error) {
	ids, err := m.deps.Store.Orphans(ctx, node)
	if err != nil {
		return 0, fmt.Errorf("take over the calls of node %s: %w", node, err)
	}
	ended := 0
	var errs []error
	var done []string
	for _, id := range ids {
		if node == m.opts.Node && m.local(id) != nil {
			continue // a call of this incarnation
		}
		s, changed, err := m.deps.Store.Finalize(ctx, id, func(s *Snapshot) bool {
			if !s.State.Ongoing() {
				return false
			}
			end := lastSeen
			if end.Before(s.StartedAt) {
				end = s.StartedAt
			}
			if !s.AnsweredAt.IsZero() && end.Before(s.AnsweredAt) {
				end = s.AnsweredAt
			}
			s.State, s.EndedAt = StateEnded, end
			s.Result, s.Reason = events.ResultFailed, events.ReasonGeneralError
			if !s.AnsweredAt.IsZero() {
				s.Result = events.ResultAnswered
			}
			return true
		})
		switch {
		case errors.Is(err, ErrCallNotFound):
			done = append(done, id) // expired: nothing to send
			continue
		case err != nil:
			errs = append(errs, err)
			continue
		}
		done = append(done, id)
		if !changed {
			continue
		}
		ended++
		log := m.log.With("call_id", id)
		log.Warn("call ended: its node is gone", "node", node, "last_seen", lastSeen, "duration_s", s.Duration(s.EndedAt))
		if tl := m.deps.Timeline; tl != nil {
			tl.Record(id, tlError, "call ended by node "+m.opts.Node+": node "+node+" is gone", map[string]any{
				"node": node, "lastSeen": lastSeen.UTC().Format(time.RFC3339Nano), "result": s.Result, "reason": s.Reason})
			tl.End(id)
		}
		m.metrics.takenOver.Inc()
		m.metrics.ended.WithLabelValues(s.Result, s.Reason).Inc()
		if s.WantDiCE {
			t := CallbackTarget{AppKey: s.AppKey, URL: s.Callback.URL, FallbackURL: s.Callback.Fallback}
			if t.URL == "" {
				if t, err = m.deps.Apps.Target(ctx, s.AppKey); err != nil {
					log.Error("DiCE of a taken-over call not sent: no callback URL", "err", err)
					continue
				}
			}
			m.sendEvent(ctx, log, t, DiCEEventID(id), diceOf(s, m.opts.Now()), false)
		}
	}
	if len(done) > 0 {
		if err := m.deps.Store.Unindex(ctx, node, done...); err != nil {
			errs = append(errs, err)
		}
	}
	return ended, errors.Join(errs...)
}

// Drain stops taking new calls, waits for the running ones to end until
// ctx is done (logging how many are left every DrainProgress), then hangs
// up the rest (DiCE reason GENERALERROR) and waits for their teardown.
func (m *Manager) Drain(ctx context.Context) error {
	m.draining.Store(true)
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	tick := time.NewTicker(m.opts.DrainProgress)
	defer tick.Stop()
	start := time.Now()
wait:
	for {
		select {
		case <-done:
			m.log.Info("drained: no calls left", "after", time.Since(start).Round(time.Millisecond))
			return nil
		case <-tick.C:
			m.log.Info("draining", "calls_left", m.Active(), "elapsed", time.Since(start).Round(time.Second))
		case <-ctx.Done():
			break wait
		}
	}
	live := m.liveCalls()
	m.log.Warn("drain deadline reached; hanging up calls", "calls", len(live))
	for _, c := range live {
		select {
		case c.commands <- command{drain: true}:
		case <-c.done:
		}
	}
	select {
	case <-done:
		return nil
	case <-time.After(m.opts.TeardownTimeout + time.Second):
		return fmt.Errorf("call: %d calls still tearing down after the drain deadline", m.Active())
	}
}

// Fence stops every call of this node without sending their events: the
// node was declared dead while it was cut off from the store, and a
// surviving node has ended these calls and sent their DiCE.
func (m *Manager) Fence() {
	for _, c := range m.liveCalls() {
		ctx := context.Background()
		c.post(ctx, func() { c.onFenced(ctx) })
	}
}

// Draining reports whether the node stopped taking calls.
func (m *Manager) Draining() bool { return m.draining.Load() }
