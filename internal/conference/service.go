package conference

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callcore/callcore/internal/conference/rooms"
	"github.com/callcore/callcore/media"
	"github.com/callcore/callcore/svaml"
)

// Defaults of Options.
const (
	DefaultLeaseTTL = 6 * time.Second
	// rejoinFor is how long a participant that lost its host keeps trying
	// to reach a new one before its call ends.
	rejoinFor = 20 * time.Second
	// emptyGrace is how long a hosted room with no member keeps its mixer
	// (a remote participant may be dialling in).
	emptyGrace = 3 * time.Second
)

// OutLeg is an internal leg this node placed to a host.
type OutLeg interface {
	WaitAnswer(ctx context.Context) ([]byte, error)
	Hangup(ctx context.Context) error
	Done() <-chan struct{}
}

// InLeg is an internal leg a participant's node placed to this host.
type InLeg interface {
	Offer() []byte
	Answer(ctx context.Context, sdp []byte) error
	Reject(ctx context.Context, code int, reason string) error
	Hangup(ctx context.Context) error
	Done() <-chan struct{}
}

// Dialer places internal legs.
type Dialer interface {
	// DialNode sends an INVITE with offer to node's SIP address, carrying
	// the token in Header.
	DialNode(ctx context.Context, node, token string, offer []byte) (OutLeg, error)
}

// Peers sends requests to other nodes (the region's bus).
type Peers interface {
	Request(ctx context.Context, node, kind string, payload []byte) ([]byte, error)
}

// Calls ends participants' calls (kick): a hangup through the call core,
// forwarded to the call's node.
type Calls interface {
	Hangup(ctx context.Context, callID string) error
}

// Options configure a Service.
type Options struct {
	// Node is this node's id. Required.
	Node string
	// Rooms holds the room records. Required.
	Rooms rooms.Store
	// Media allocates sessions and mixers. Required.
	Media *media.Engine
	// Dialer places internal legs; nil on a single node (every room is
	// hosted here).
	Dialer Dialer
	// Peers reaches other nodes; nil on a single node.
	Peers Peers
	// Calls hangs up kicked participants. Required.
	Calls Calls
	// Alive reports whether a node is a live member of the region; nil
	// counts every node as alive (leases alone decide).
	Alive func(ctx context.Context, node string) (bool, error)
	// Secret signs internal legs' tokens. Required with a Dialer.
	Secret []byte
	// LeaseTTL is the host lease; default DefaultLeaseTTL.
	LeaseTTL   time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Service runs this node's side of the region's conferences: the rooms it
// hosts and the participants whose calls run here.
type Service struct {
	o   Options
	log *slog.Logger
	m   *metrics

	mu     sync.Mutex
	hosted map[rooms.RoomKey]*hostRoom
	parts  map[string]*participant // local participants by call id
	closed bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// New returns a running Service; Close stops it.
func New(o Options) (*Service, error) {
	if o.Node == "" || o.Rooms == nil || o.Media == nil || o.Calls == nil {
		return nil, errors.New("conference: Node, Rooms, Media and Calls are required")
	}
	if o.Dialer != nil && len(o.Secret) == 0 {
		return nil, errors.New("conference: a Secret is required to place internal legs")
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		o: o, log: o.Logger, m: newMetrics(o.Registerer),
		hosted: map[rooms.RoomKey]*hostRoom{}, parts: map[string]*participant{},
		stop: make(chan struct{}),
	}
	s.wg.Add(1)
	go s.loop()
	return s, nil
}

// Close stops the lease renewal and the host watch, hangs up the internal
// legs of the rooms hosted here (their participants rejoin elsewhere) and
// closes the mixers. Participants whose calls run here leave with their
// calls. Idempotent.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	hosted := make([]*hostRoom, 0, len(s.hosted))
	for _, hr := range s.hosted {
		hosted = append(hosted, hr)
	}
	s.mu.Unlock()
	close(s.stop)
	for _, hr := range hosted {
		s.dropHosted(ctx, hr, "node stopping")
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ttl is the lease; tick the period of renewals and host checks.
func (s *Service) ttl() time.Duration  { return s.o.LeaseTTL }
func (s *Service) tick() time.Duration { return max(s.o.LeaseTTL/3, 100*time.Millisecond) }

// loop renews the leases of the rooms hosted here and watches the hosts of
// the rooms of remote participants.
func (s *Service) loop() {
	defer s.wg.Done()
	t := time.NewTicker(s.tick())
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.tick())
		s.renew(ctx)
		s.watchHosts(ctx)
		cancel()
	}
}

// Join implements call.Conferences for a call of this node.
func (s *Service) Join(ctx context.Context, r JoinRequest) (*Participant, error) {
	if r.Session == nil {
		return nil, errors.New("conference: join without a media session")
	}
	key := rooms.RoomKey{App: r.AppKey, ID: r.ConferenceID}
	p := &participant{s: s, key: key, req: r, log: s.log.With("call_id", r.CallID, "conference_id", r.ConferenceID),
		lost: make(chan struct{}), rejoin: make(chan string, 1), leaving: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("conference: node stopping")
	}
	if old := s.parts[r.CallID]; old != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("conference: call %s is already in room %q", r.CallID, old.key.ID)
	}
	s.parts[r.CallID] = p
	s.mu.Unlock()
	room, err := s.o.Rooms.Join(ctx, key.App, key.ID, rooms.Participant{
		CallID: r.CallID, Node: s.o.Node, CLI: r.CLI, JoinedAt: s.o.Now(),
	}, s.o.Node, s.ttl())
	if err == nil {
		err = p.attach(ctx, room.Host, room.HostEpoch, room)
	}
	if err != nil {
		s.mu.Lock()
		delete(s.parts, r.CallID)
		s.mu.Unlock()
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if _, lerr := s.o.Rooms.Leave(lctx, key.App, key.ID, r.CallID); lerr != nil {
			p.log.Warn("conference: leaving after a failed join failed", "err", lerr)
		}
		s.m.joins.WithLabelValues("failed").Inc()
		return nil, fmt.Errorf("conference: joining %q: %w", key.ID, err)
	}
	s.m.joins.WithLabelValues("joined").Inc()
	s.m.participants.Inc()
	s.m.roomSize.Observe(float64(len(room.Participants)))
	s.wg.Add(1)
	go p.run()
	return p, nil
}

// JoinRequest is call.JoinRequest with the raw media session.
type JoinRequest struct {
	AppKey, ConferenceID, CallID, CLI string
	Session                           *media.Session
	MOH                               string
	DTMF                              svaml.ConferenceDTMFOptions
}

// mohSource returns a looping source of a hold music class ("" = none).
func mohSource(class string) func() media.Source {
	if class == "" {
		return nil
	}
	return func() media.Source {
		src, _ := media.MOH(class)
		return src
	}
}

// holdMusic is what a participant put on hold hears: its class, else the
// default hold music.
func holdMusic(class string) func() media.Source {
	if class == "" {
		class = media.MOHMusic1
	}
	return mohSource(class)
}

// errNotHost: this node does not host the room (any more).
var errNotHost = errors.New("this node does not host the conference")
