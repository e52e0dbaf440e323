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
	wg       sync.WaitGroup // actors and DiCE deliveries
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
	return &Manager{deps: d, opts: o, log: o.Logger, metrics: NewMetrics(o.Registerer), calls: map[string]*Call{}}, nil
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
	target, err := m.deps.Apps.RouteInbound(rctx, in.To)
	if err != nil {
		reason := "no_route"
		code, text := 404, "Not Found"
		if !errors.Is(err, ErrNoRoute) {
			reason, code, text = "error", 500, "Server Internal Error"
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
	if err := m.register(c); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	err := m.deps.Store.Create(sctx, &c.snap)
	cancel()
	if err != nil {
		m.unregister(c)
		m.wg.Done()
		return fmt.Errorf("creating call record: %w", err)
	}
	m.metrics.active.WithLabelValues(string(c.snap.Direction)).Inc()
	go func() {
		defer m.wg.Done()
		c.run(context.WithoutCancel(ctx))
	}()
	return nil
}

// Get returns the snapshot of a call, live on this node or recorded in the
// store by any node.
func (m *Manager) Get(ctx context.Context, id string) (*Snapshot, error) {
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
// valid SVAML for a call update is a *svaml.ValidationError.
func (m *Manager) Update(ctx context.Context, id, leg string, doc []byte) error {
	resp, err := m.opts.Limits.Parse(svaml.ContextPatchCall, doc)
	if err != nil {
		m.metrics.svamlErrors.WithLabelValues("patch").Inc()
		return err
	}
	switch leg {
	case "", roleCaller, roleCallee, "both":
	default:
		return fmt.Errorf("%w: call leg %q is not caller, callee or both", ErrInvalidCommand, leg)
	}
	c := m.local(id)
	if c == nil {
		s, err := m.deps.Store.Load(ctx, id)
		if err != nil {
			return err
		}
		if !s.State.Ongoing() {
			return ErrCallEnded
		}
		return ErrNotOwner
	}
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

// Drain stops taking new calls, waits for the running ones to end until
// ctx is done, then hangs up the rest (DiCE reason GENERALERROR) and waits
// for their teardown.
func (m *Manager) Drain(ctx context.Context) error {
	m.draining.Store(true)
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	m.mu.Lock()
	live := make([]*Call, 0, len(m.calls))
	for _, c := range m.calls {
		live = append(live, c)
	}
	m.mu.Unlock()
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

// Draining reports whether the node stopped taking calls.
func (m *Manager) Draining() bool { return m.draining.Load() }
