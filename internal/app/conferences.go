package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/callcore/callcore/internal/api"
	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/internal/conference"
	"github.com/callcore/callcore/internal/conference/rooms"
	"github.com/callcore/callcore/internal/signaling"
)

// newConferences builds the conference service: room records in Redis
// (or in memory), internal legs over the SIP server, commands over the
// bus. The bus and the membership start later (startRegion); the adapters
// find them when they are needed.
func (a *App) newConferences(ctx context.Context) error {
	cfg := a.cfg
	ropts := rooms.Options{Registerer: a.registry, Logger: a.log.With("component", "conference")}
	var st rooms.Store
	var dialer conference.Dialer
	var peers conference.Peers
	var secret []byte
	if c := a.region.client; c != nil {
		st = rooms.NewRedis(c, keyPrefix(cfg), ropts)
		var err error
		if secret, err = a.regionSecret(ctx); err != nil {
			return err
		}
		dialer = nodeDialer{a: a}
		peers = busPeers{r: a.region}
	} else {
		st = rooms.NewMemory(ropts)
		secret = []byte(randomHex(32))
	}
	svc, err := conference.New(conference.Options{
		Node: cfg.Node.ID, Rooms: st, Media: a.media, Dialer: dialer, Peers: peers,
		Calls: confCalls{a: a}, Alive: a.nodeAlive, Secret: secret, LeaseTTL: cfg.Cluster.HeartbeatTTL,
		Logger: a.log.With("component", "conference"), Registerer: a.registry,
	})
	if err != nil {
		return err
	}
	a.conf = svc
	a.addStop("conferences", svc.Close)
	return nil
}

// regionSecret is cluster.secret, else the region's shared random secret
// in Redis (created by the first node).
func (a *App) regionSecret(ctx context.Context) ([]byte, error) {
	if s := a.cfg.Cluster.Secret.Reveal(); s != "" {
		return []byte(s), nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	key := "{" + keyPrefix(a.cfg) + "}:conf:secret"
	c := a.region.client
	if err := c.SetNX(ctx, key, randomHex(32), 0).Err(); err != nil {
		return nil, fmt.Errorf("conference secret: %w", err)
	}
	s, err := c.Get(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("conference secret: %w", err)
	}
	return []byte(s), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// nodeAlive asks the membership; without one (memory store) only this
// node exists.
func (a *App) nodeAlive(ctx context.Context, node string) (bool, error) {
	if m := a.region.members; m != nil {
		return m.Live(ctx, node)
	}
	return node == a.cfg.Node.ID, nil
}

// advertisedSIP is the SIP address other nodes reach this one at.
func advertisedSIP(listen, publicHost string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if publicHost != "" {
		host = publicHost
	}
	return net.JoinHostPort(host, port)
}

// nodeDialer places internal legs to the SIP address a node advertises in
// the membership.
type nodeDialer struct{ a *App }

func (d nodeDialer) DialNode(ctx context.Context, node, token string, offer []byte) (conference.OutLeg, error) {
	m := d.a.region.members
	if m == nil {
		return nil, errors.New("not a member of the region yet")
	}
	members, err := m.Members(ctx)
	if err != nil {
		return nil, err
	}
	var addr string
	for _, mb := range members {
		if mb.Node == node {
			addr = mb.SIPAddr
		}
	}
	if addr == "" {
		return nil, fmt.Errorf("node %s is not a live member of the region", node)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("node %s advertises a bad SIP address %q", node, addr)
	}
	if _, err := strconv.Atoi(port); err != nil {
		return nil, fmt.Errorf("node %s advertises a bad SIP address %q", node, addr)
	}
	out, err := d.a.sip.Dial(ctx, signaling.DialRequest{
		To:      signaling.Target{Kind: signaling.TargetSIP, Value: "conference@" + net.JoinHostPort(host, port), Transport: "udp"},
		CLI:     d.a.cfg.Node.ID,
		Headers: []signaling.Header{{Key: conference.Header, Value: token}},
		SDP:     offer,
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// busPeers sends conference requests over the region's bus.
type busPeers struct{ r *region }

func (p busPeers) Request(ctx context.Context, node, kind string, payload []byte) ([]byte, error) {
	b := p.r.bus
	if b == nil {
		return nil, errors.New("this node is not connected to the region's bus")
	}
	return b.Request(ctx, node, kind, payload)
}

// confCalls kicks participants: a hangup of their call, wherever it runs.
type confCalls struct{ a *App }

var hangupDoc = []byte(`{"action":{"name":"hangup"}}`)

func (c confCalls) Hangup(ctx context.Context, callID string) error {
	return c.a.calls.Update(ctx, callID, "", hangupDoc)
}

// confPort adapts the service to call.Conferences.
type confPort struct{ a *App }

var _ call.Conferences = confPort{}

func (c confPort) Join(ctx context.Context, r call.JoinRequest) (call.Participant, error) {
	ms, ok := r.Media.(*mediaSession)
	if !ok {
		return nil, fmt.Errorf("conference: cannot mix a %T", r.Media)
	}
	if c.a.conf == nil {
		return nil, errors.New("conferences are not running on this node")
	}
	p, err := c.a.conf.Join(ctx, conference.JoinRequest{
		AppKey: r.AppKey, ConferenceID: r.ConferenceID, CallID: r.CallID, CLI: r.CLI,
		Session: ms.s, MOH: r.MOH, DTMF: r.DTMF,
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// confAPI adapts the service to api.Conferences.
type confAPI struct{ a *App }

var _ api.Conferences = confAPI{}

func (c confAPI) Participants(ctx context.Context, app, id string) ([]api.ConferenceParticipant, error) {
	ps, err := c.a.conf.Participants(ctx, app, id)
	if err != nil {
		return nil, err
	}
	out := make([]api.ConferenceParticipant, len(ps))
	for i, p := range ps {
		out[i] = api.ConferenceParticipant{CLI: p.CLI, ID: p.CallID, Duration: p.Duration, Muted: p.Muted, OnHold: p.OnHold}
	}
	return out, nil
}

func (c confAPI) KickAll(ctx context.Context, app, id string) error {
	return c.a.conf.KickAll(ctx, app, id)
}

func (c confAPI) Manage(ctx context.Context, app, id, callID, command, moh string) error {
	return c.a.conf.Manage(ctx, app, id, callID, command, moh)
}

func (c confAPI) Kick(ctx context.Context, app, id, callID string) error {
	return c.a.conf.Kick(ctx, app, id, callID)
}

// internalCheck is signaling's Options.Internal: a quick signature check
// (the conference service checks the whole token again).
func (a *App) internalCheck(value string) bool {
	return a.conf != nil && a.conf.CheckToken(value)
}
