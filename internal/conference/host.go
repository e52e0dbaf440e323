package conference

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/callcore/callcore/internal/conference/rooms"
	"github.com/callcore/callcore/media"
	"github.com/callcore/callcore/svaml"
)

// hostRoom is a room whose mixer runs on this node.
type hostRoom struct {
	s     *Service
	key   rooms.RoomKey
	epoch int64
	mix   *media.Mixer

	mu      sync.Mutex
	members map[string]*hostMember // by call id
	closed  bool
	emptyAt time.Time // when the last member left; zero while not empty
}

// hostMember is one participant in the mixer: a local call's session, or
// an internal leg from the call's node.
type hostMember struct {
	room    *hostRoom
	callID  string
	mb      *media.Member
	leg     InLeg          // nil for a local participant
	sess    *media.Session // the leg's session (closed with it); the call's own session otherwise
	local   *participant   // nil for a leg
	muted   bool
	onhold  bool
	holdMOH string
}

// hostRoom returns the mixer of a room hosted here, creating it.
func (s *Service) hostRoom(key rooms.RoomKey, epoch int64) (*hostRoom, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("node stopping")
	}
	if hr := s.hosted[key]; hr != nil {
		hr.mu.Lock()
		if !hr.closed {
			if epoch > hr.epoch {
				hr.epoch = epoch
			}
			hr.mu.Unlock()
			return hr, nil
		}
		hr.mu.Unlock()
	}
	hr := &hostRoom{s: s, key: key, epoch: epoch, members: map[string]*hostMember{},
		mix: s.o.Media.NewMixer(media.MixerOptions{Room: key.ID, Logger: s.log.With("conference_id", key.ID)})}
	s.hosted[key] = hr
	s.m.rooms.Inc()
	s.log.Info("conference hosted on this node", "conference_id", key.ID, "epoch", epoch)
	return hr, nil
}

// add puts a session into the mix with the participant's recorded flags.
func (hr *hostRoom) add(callID string, sess *media.Session, moh string, flags rooms.Participant, local *participant) (*hostMember, error) {
	hr.mu.Lock()
	if hr.closed {
		hr.mu.Unlock()
		return nil, errNotHost
	}
	old := hr.members[callID]
	hr.mu.Unlock()
	if old != nil {
		hr.remove(old) // the same call again (its leg reconnected)
	}
	mb, err := hr.mix.Add(sess, media.MemberOptions{Muted: flags.Muted, Alone: mohSource(moh)})
	if err != nil {
		return nil, err
	}
	hm := &hostMember{room: hr, callID: callID, mb: mb, sess: sess, local: local, muted: flags.Muted, onhold: flags.OnHold}
	if flags.OnHold {
		mb.SetHold(holdMusic(""))
	}
	hr.mu.Lock()
	if hr.closed {
		hr.mu.Unlock()
		mb.Remove()
		return nil, errNotHost
	}
	hr.members[callID] = hm
	hr.emptyAt = time.Time{}
	hr.mu.Unlock()
	return hm, nil
}

// remove takes a member out of the mix; a leg is hung up and its session
// closed. An emptied room is closed after emptyGrace unless someone joins.
func (hr *hostRoom) remove(hm *hostMember) {
	hm.mb.Remove()
	hr.mu.Lock()
	if hr.members[hm.callID] == hm {
		delete(hr.members, hm.callID)
	}
	empty := len(hr.members) == 0 && !hr.closed
	if empty {
		hr.emptyAt = time.Now()
	}
	hr.mu.Unlock()
	hm.dropLeg()
}

// dropLeg hangs up a remote member's internal leg and closes its session,
// in the background (a BYE may take seconds to an unresponsive node).
func (hm *hostMember) dropLeg() {
	if hm.leg == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hm.leg.Hangup(ctx)
		_ = hm.sess.Close()
	}()
}

// member returns the member of a call, or nil.
func (hr *hostRoom) member(callID string) *hostMember {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	return hr.members[callID]
}

// close ends the room here: legs hung up, local participants told to
// reconnect (to whichever node hosts the room next), mixer closed.
func (hr *hostRoom) close(why string) {
	hr.mu.Lock()
	if hr.closed {
		hr.mu.Unlock()
		return
	}
	hr.closed = true
	ms := make([]*hostMember, 0, len(hr.members))
	for _, hm := range hr.members {
		ms = append(ms, hm)
	}
	hr.members = map[string]*hostMember{}
	hr.mu.Unlock()
	for _, hm := range ms {
		hm.mb.Remove()
		hm.dropLeg()
		if hm.local != nil {
			hm.local.mu.Lock()
			if hm.local.member == hm {
				hm.local.member = nil
			}
			hm.local.mu.Unlock()
			hm.local.signal(why)
		}
	}
	hr.mix.Close()
	s := hr.s
	s.mu.Lock()
	if s.hosted[hr.key] == hr {
		delete(s.hosted, hr.key)
	}
	s.mu.Unlock()
	s.m.rooms.Dec()
	s.log.Info("conference no longer hosted on this node", "conference_id", hr.key.ID, "why", why)
}

// dropHosted closes a hosted room and gives its lease up, so that its
// participants' nodes can host it at once.
func (s *Service) dropHosted(ctx context.Context, hr *hostRoom, why string) {
	hr.close(why)
	if err := s.o.Rooms.Release(ctx, hr.key.App, hr.key.ID, s.o.Node); err != nil {
		s.log.Debug("conference: releasing the host lease failed", "conference_id", hr.key.ID, "err", err)
	}
}

// renew extends the leases of the rooms hosted here; a room whose lease
// was lost (this node was cut off and another took it) is closed here, its
// participants reconnect to the new host. Rooms empty for emptyGrace close.
func (s *Service) renew(ctx context.Context) {
	s.mu.Lock()
	keys := make([]rooms.RoomKey, 0, len(s.hosted))
	var idle []*hostRoom
	for k, hr := range s.hosted {
		hr.mu.Lock()
		if !hr.emptyAt.IsZero() && time.Since(hr.emptyAt) > emptyGrace {
			idle = append(idle, hr)
		} else {
			keys = append(keys, k)
		}
		hr.mu.Unlock()
	}
	s.mu.Unlock()
	for _, hr := range idle {
		hr.close("empty")
	}
	if len(keys) == 0 {
		return
	}
	lost, err := s.o.Rooms.Renew(ctx, s.o.Node, keys, s.ttl())
	if err != nil {
		s.log.Warn("conference: renewing host leases failed", "rooms", len(keys), "err", err)
		return
	}
	for _, k := range lost {
		s.mu.Lock()
		hr := s.hosted[k]
		s.mu.Unlock()
		if hr != nil {
			s.log.Warn("conference: host lease lost; the room moves to another node", "conference_id", k.ID)
			hr.close("host lease lost")
		}
	}
}

// watchHosts checks the hosts of the rooms this node's participants reach
// over internal legs: a host whose lease ended or changed (or that the
// membership declared dead) makes them reconnect.
func (s *Service) watchHosts(ctx context.Context) {
	s.mu.Lock()
	var ps []*participant
	for _, p := range s.parts {
		p.mu.Lock()
		remote := p.link != nil
		p.mu.Unlock()
		if remote {
			ps = append(ps, p)
		}
	}
	s.mu.Unlock()
	if len(ps) == 0 {
		return
	}
	keys := make([]rooms.RoomKey, len(ps))
	for i, p := range ps {
		keys[i] = p.key
	}
	leases, err := s.o.Rooms.Hosts(ctx, keys)
	if err != nil {
		s.log.Warn("conference: reading room hosts failed", "err", err)
		return
	}
	deadHosts := map[string]bool{}
	for i, p := range ps {
		p.mu.Lock()
		host, epoch := p.host, p.epoch
		p.mu.Unlock()
		l := leases[i]
		switch {
		case l.Host == "":
			p.signal("the host's lease expired")
		case l.Host != host || l.Epoch != epoch:
			p.signal(fmt.Sprintf("the room moved to node %s", l.Host))
		case s.o.Alive != nil:
			dead, seen := deadHosts[host]
			if !seen {
				alive, err := s.o.Alive(ctx, host)
				dead = err == nil && !alive
				deadHosts[host] = dead
			}
			if dead {
				p.signal("the host node is dead")
			}
		}
	}
}

// HandleInternal answers an internal leg placed to this node by the node
// of a participant's call. value is the Header value. The leg is refused
// with 403 for a bad token and 503 when this node does not host the room.
func (s *Service) HandleInternal(ctx context.Context, in InLeg, value string) {
	c, err := VerifyToken(s.o.Secret, value, s.o.Node, s.o.Now())
	if err != nil {
		s.m.legs.WithLabelValues("in", "refused").Inc()
		s.log.Warn("conference: internal leg refused", "err", err)
		_ = in.Reject(ctx, 403, "Forbidden")
		return
	}
	log := s.log.With("call_id", c.CallID, "conference_id", c.Room, "from_node", c.From)
	key := rooms.RoomKey{App: c.App, ID: c.Room}
	room, err := s.o.Rooms.Get(ctx, c.App, c.Room)
	if err == nil && room.Host != s.o.Node {
		err = fmt.Errorf("%w (the room is hosted by %q)", errNotHost, room.Host)
	}
	var hr *hostRoom
	if err == nil {
		hr, err = s.hostRoom(key, room.HostEpoch)
	}
	if err != nil {
		s.m.legs.WithLabelValues("in", "refused").Inc()
		log.Info("conference: internal leg refused", "err", err)
		_ = in.Reject(ctx, 503, "Service Unavailable")
		return
	}
	var flags rooms.Participant
	for _, q := range room.Participants {
		if q.CallID == c.CallID {
			flags = q
		}
	}
	sess, answer, err := s.o.Media.AnswerOptions(ctx, in.Offer(), media.SessionOptions{CallID: c.CallID, Logger: log})
	if err != nil {
		s.m.legs.WithLabelValues("in", "failed").Inc()
		log.Warn("conference: internal leg media failed", "err", err)
		_ = in.Reject(ctx, 488, "Not Acceptable Here")
		return
	}
	if err := in.Answer(ctx, answer); err != nil {
		s.m.legs.WithLabelValues("in", "failed").Inc()
		log.Warn("conference: answering the internal leg failed", "err", err)
		_ = sess.Close()
		return
	}
	hm, err := hr.add(c.CallID, sess, c.MOH, flags, nil)
	if err != nil {
		s.m.legs.WithLabelValues("in", "failed").Inc()
		log.Warn("conference: mixing the internal leg failed", "err", err)
		_ = in.Hangup(context.WithoutCancel(ctx))
		_ = sess.Close()
		return
	}
	hm.leg = in
	s.m.legs.WithLabelValues("in", "ok").Inc()
	log.Info("conference: remote participant mixed here")
	forward := svaml.DTMFMode(c.DTMF) == svaml.DTMFForward
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-in.Done():
				hr.remove(hm)
				log.Debug("conference: internal leg ended")
				return
			case <-s.stop:
				return
			case d := <-sess.Digits():
				if forward {
					hr.mix.ForwardDTMF(hm.mb, d)
				}
			}
		}
	}()
}
