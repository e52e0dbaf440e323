package conference

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/callcore/callcore/internal/conference/rooms"
	"github.com/callcore/callcore/media"
)

// Participant is a call of this node in a room. It implements
// call.Participant (with the app's adapter).
type Participant = participant

// participant is one local call in a room: mixed here when this node
// hosts the room, else bridged to an internal leg to the host.
type participant struct {
	s   *Service
	key rooms.RoomKey
	req JoinRequest
	log *slog.Logger

	mu       sync.Mutex
	host     string // node hosting the room as last attached
	epoch    int64
	member   *hostMember // while hosted here
	link     *remoteLink // while hosted elsewhere
	detached bool
	left     bool

	rejoin   chan string // a reason to reconnect (buffer 1)
	leaving  chan struct{}
	lost     chan struct{}
	lostOnce sync.Once
}

// remoteLink is the internal leg to the host and the bridge of the
// caller's session to it.
type remoteLink struct {
	leg    OutLeg
	sess   *media.Session
	bridge *media.Bridge
}

func (l *remoteLink) close(log *slog.Logger) {
	if l.bridge != nil {
		l.bridge.Stop()
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.leg.Hangup(ctx); err != nil {
			log.Debug("conference: hanging up the internal leg failed", "err", err)
		}
		_ = l.sess.Close()
	}()
}

// attach connects the participant to the room's host: the mixer when it
// is this node, an internal leg otherwise.
func (p *participant) attach(ctx context.Context, host string, epoch int64, room rooms.Room) error {
	s := p.s
	if host == "" {
		return errors.New("the room has no host")
	}
	var flags rooms.Participant
	for _, q := range room.Participants {
		if q.CallID == p.req.CallID {
			flags = q
		}
	}
	if host == s.o.Node {
		hr, err := s.hostRoom(p.key, epoch)
		if err != nil {
			return err
		}
		hm, err := hr.add(p.req.CallID, p.req.Session, p.req.MOH, flags, p)
		if err != nil {
			return err
		}
		p.mu.Lock()
		if p.left { // left while reconnecting: undo
			p.mu.Unlock()
			hr.remove(hm)
			return nil
		}
		p.host, p.epoch, p.member, p.link = host, epoch, hm, nil
		if p.detached {
			hm.mb.SetDetached(true)
		}
		p.mu.Unlock()
		return nil
	}
	if s.o.Dialer == nil {
		return fmt.Errorf("the room is hosted by node %s and this node cannot place internal legs", host)
	}
	sess, offer, err := s.o.Media.OfferOptions(ctx, media.SessionOptions{CallID: p.req.CallID, Logger: p.log})
	if err != nil {
		return fmt.Errorf("internal leg media: %w", err)
	}
	tok := SignToken(s.o.Secret, Claims{
		App: p.key.App, Room: p.key.ID, CallID: p.req.CallID, From: s.o.Node, To: host,
		CLI: p.req.CLI, DTMF: string(p.req.DTMF.Mode), MOH: p.req.MOH, Time: s.o.Now().Unix(),
	})
	leg, err := s.o.Dialer.DialNode(ctx, host, tok, offer)
	if err != nil {
		_ = sess.Close()
		s.m.legs.WithLabelValues("out", "failed").Inc()
		return fmt.Errorf("internal leg to node %s: %w", host, err)
	}
	answer, err := leg.WaitAnswer(ctx)
	if err == nil {
		err = sess.SetRemote(answer)
	}
	var br *media.Bridge
	if err == nil {
		p.mu.Lock()
		detached := p.detached
		p.mu.Unlock()
		if !detached {
			br, err = s.o.Media.Bridge(p.req.Session, sess)
		}
	}
	if err != nil {
		_ = leg.Hangup(context.WithoutCancel(ctx))
		_ = sess.Close()
		s.m.legs.WithLabelValues("out", "failed").Inc()
		return fmt.Errorf("internal leg to node %s: %w", host, err)
	}
	s.m.legs.WithLabelValues("out", "ok").Inc()
	link := &remoteLink{leg: leg, sess: sess, bridge: br}
	p.mu.Lock()
	if p.left { // left while reconnecting: undo
		p.mu.Unlock()
		link.close(p.log)
		return nil
	}
	p.host, p.epoch, p.member, p.link = host, epoch, nil, link
	p.mu.Unlock()
	p.log.Debug("conference: bridged to the host over an internal leg", "host", host)
	return nil
}

// detachLink undoes attach (the participant stays in the room's record).
func (p *participant) detachLink() {
	p.mu.Lock()
	hm, link := p.member, p.link
	p.member, p.link = nil, nil
	p.mu.Unlock()
	if hm != nil {
		hm.room.remove(hm)
	}
	if link != nil {
		link.close(p.log)
	}
}

// run watches the internal leg and reconnects when the host changes or
// the leg ends, until the participant leaves.
func (p *participant) run() {
	defer p.s.wg.Done()
	for {
		p.mu.Lock()
		var legDone <-chan struct{}
		if p.link != nil {
			legDone = p.link.leg.Done()
		}
		p.mu.Unlock()
		var why string
		select {
		case <-p.leaving:
			return
		case <-p.s.stop:
			return
		case why = <-p.rejoin:
		case <-legDone:
			why = "the internal leg to the host ended"
		}
		if !p.reconnect(why) {
			return
		}
	}
}

// signal asks run to reconnect.
func (p *participant) signal(why string) {
	select {
	case p.rejoin <- why:
	default:
	}
}

// reconnect finds (or becomes) the room's host and attaches to it again.
// It reports false when the participant left or gave up (Lost).
func (p *participant) reconnect(why string) bool {
	s := p.s
	p.mu.Lock()
	old := p.host
	p.mu.Unlock()
	p.log.Warn("conference: reconnecting to the room", "why", why, "old_host", old)
	p.detachLink()
	deadline := time.Now().Add(rejoinFor)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		select {
		case <-p.leaving:
			return false
		case <-s.stop:
			return false
		default:
		}
		err := p.tryReconnect(old)
		if err == nil {
			s.m.rehosts.Inc()
			p.mu.Lock()
			host := p.host
			p.mu.Unlock()
			p.log.Info("conference: back in the room", "host", host, "attempts", attempt)
			return true
		}
		if time.Now().After(deadline) {
			p.log.Error("conference: no node could host the room; giving up", "err", err)
			p.lostOnce.Do(func() { close(p.lost) })
			return false
		}
		p.log.Debug("conference: reconnect attempt failed", "attempt", attempt, "err", err)
		select {
		case <-time.After(backoff):
		case <-p.leaving:
			return false
		case <-s.stop:
			return false
		}
		backoff = min(backoff*2, time.Second)
	}
}

func (p *participant) tryReconnect(old string) error {
	s := p.s
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dead := ""
	if old != "" && old != s.o.Node && s.o.Alive != nil {
		if alive, err := s.o.Alive(ctx, old); err == nil && !alive {
			dead = old
		}
	}
	room, err := s.o.Rooms.Claim(ctx, p.key.App, p.key.ID, s.o.Node, dead, s.ttl())
	if errors.Is(err, rooms.ErrNotFound) {
		// Everyone else left meanwhile: the room starts again with us.
		room, err = s.o.Rooms.Join(ctx, p.key.App, p.key.ID, rooms.Participant{
			CallID: p.req.CallID, Node: s.o.Node, CLI: p.req.CLI, JoinedAt: s.o.Now(),
		}, s.o.Node, s.ttl())
	}
	if err != nil {
		return err
	}
	if room.Host == "" {
		return errors.New("the room has no live host yet")
	}
	if room.Host == old && old != s.o.Node && dead == "" {
		// The old host still holds a live lease: dial it again.
		s.log.Debug("conference: host unchanged, dialling it again", "host", old)
	}
	return p.attach(ctx, room.Host, room.HostEpoch, room)
}

// Detach implements call.Participant: out of the mix both ways, or back.
// A remote participant is detached here, by stopping the bridge to the
// host: the host keeps the leg in its mix, silent, and the participant's
// phone gets no RTP until it is back (seconds: detect mode's digit
// collection), where a locally mixed one gets silence frames.
func (p *participant) Detach(_ context.Context, detached bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.detached == detached {
		return nil
	}
	p.detached = detached
	switch {
	case p.member != nil:
		p.member.mb.SetDetached(detached)
	case p.link != nil && detached:
		if p.link.bridge != nil {
			p.link.bridge.Stop()
			p.link.bridge = nil
		}
	case p.link != nil:
		br, err := p.s.o.Media.Bridge(p.req.Session, p.link.sess)
		if err != nil {
			return fmt.Errorf("conference: bridging back to the host: %w", err)
		}
		p.link.bridge = br
	}
	return nil
}

// Forward implements call.Participant: the digit goes to the other
// participants as RFC 4733. For a participant bridged to a remote host
// the bridge already relayed the digit's telephone-events to the host,
// which forwards them; nothing more is sent here.
func (p *participant) Forward(_ context.Context, d rune) error {
	p.mu.Lock()
	hm := p.member
	p.mu.Unlock()
	if hm != nil {
		hm.room.mix.ForwardDTMF(hm.mb, d)
	}
	return nil
}

// Lost implements call.Participant.
func (p *participant) Lost() <-chan struct{} { return p.lost }

// Leave implements call.Participant.
func (p *participant) Leave(ctx context.Context) error {
	s := p.s
	p.mu.Lock()
	if p.left {
		p.mu.Unlock()
		return nil
	}
	p.left = true
	close(p.leaving)
	p.mu.Unlock()
	p.detachLink()
	s.mu.Lock()
	if s.parts[p.req.CallID] == p {
		delete(s.parts, p.req.CallID)
	}
	s.mu.Unlock()
	s.m.participants.Dec()
	left, err := s.o.Rooms.Leave(ctx, p.key.App, p.key.ID, p.req.CallID)
	if err != nil {
		return fmt.Errorf("conference: leaving %q: %w", p.key.ID, err)
	}
	p.log.Info("left the conference", "participants_left", left)
	return nil
}
