package conference

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/internal/conference/rooms"
)

// BusKind is the kind of the bus requests that run Manage on the host.
const BusKind = "conf.manage"

// Commands of Manage (the PATCH body's command, lower case).
const (
	CmdMute   = "mute"
	CmdUnmute = "unmute"
	CmdOnHold = "onhold"
	CmdResume = "resume"
)

// ParticipantInfo is one participant as the REST API shows it.
type ParticipantInfo struct {
	CLI      string
	CallID   string
	Duration int // seconds in the room
	Muted    bool
	OnHold   bool
}

// Participants lists a room's participants (GET); an unknown room is
// call.ErrConferenceNotFound.
func (s *Service) Participants(ctx context.Context, app, id string) ([]ParticipantInfo, error) {
	room, err := s.room(ctx, app, id)
	if err != nil {
		return nil, err
	}
	now := s.o.Now()
	out := make([]ParticipantInfo, 0, len(room.Participants))
	for _, p := range room.Participants {
		out = append(out, ParticipantInfo{CLI: p.CLI, CallID: p.CallID, Duration: int(max(now.Sub(p.JoinedAt), 0) / time.Second),
			Muted: p.Muted, OnHold: p.OnHold})
	}
	return out, nil
}

func (s *Service) room(ctx context.Context, app, id string) (rooms.Room, error) {
	room, err := s.o.Rooms.Get(ctx, app, id)
	if errors.Is(err, rooms.ErrNotFound) {
		return rooms.Room{}, call.ErrConferenceNotFound
	}
	if err != nil {
		return rooms.Room{}, fmt.Errorf("%w: %v", call.ErrUnavailable, err)
	}
	return room, nil
}

func findParticipant(room rooms.Room, callID string) (rooms.Participant, bool) {
	for _, p := range room.Participants {
		if p.CallID == callID {
			return p, true
		}
	}
	return rooms.Participant{}, false
}

// manageRequest is the payload of BusKind.
type manageRequest struct {
	App     string `json:"app"`
	Room    string `json:"room"`
	CallID  string `json:"call"`
	Command string `json:"cmd"`
	MOH     string `json:"moh,omitempty"`
}

// manageReply is its answer: Err "not_found" or "error" with Msg.
type manageReply struct {
	Err string `json:"err,omitempty"`
	Msg string `json:"msg,omitempty"`
}

// Manage mutes, unmutes, holds (with moh) or resumes a participant. It
// runs on the room's host: here, or forwarded over the bus.
func (s *Service) Manage(ctx context.Context, app, id, callID, command, moh string) (err error) {
	defer func() { s.m.command(command, err) }()
	switch command {
	case CmdMute, CmdUnmute, CmdOnHold, CmdResume:
	default:
		return fmt.Errorf("%w: unknown conference command %q", call.ErrInvalidCommand, command)
	}
	room, err := s.room(ctx, app, id)
	if err != nil {
		return err
	}
	if _, ok := findParticipant(room, callID); !ok {
		return call.ErrParticipantNotFound
	}
	if room.Host == "" {
		return fmt.Errorf("%w: the conference is moving to another node; try again", call.ErrUnavailable)
	}
	if room.Host == s.o.Node {
		return s.manageLocal(ctx, app, id, callID, command, moh)
	}
	if s.o.Peers == nil {
		return fmt.Errorf("%w: node %s hosts the conference", call.ErrOwnerUnreachable, room.Host)
	}
	body, _ := json.Marshal(manageRequest{App: app, Room: id, CallID: callID, Command: command, MOH: moh})
	raw, err := s.o.Peers.Request(ctx, room.Host, BusKind, body)
	if err != nil {
		return fmt.Errorf("%w: node %s hosts the conference: %v", call.ErrOwnerUnreachable, room.Host, err)
	}
	var rep manageReply
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("node %s: malformed reply: %w", room.Host, err)
	}
	switch rep.Err {
	case "":
		return nil
	case "not_found":
		return call.ErrParticipantNotFound
	case "moving":
		return fmt.Errorf("%w: %s", call.ErrUnavailable, rep.Msg)
	}
	return fmt.Errorf("node %s: %s", room.Host, rep.Msg)
}

// HandleBus answers a BusKind request from another node.
func (s *Service) HandleBus(ctx context.Context, payload []byte) ([]byte, error) {
	var req manageRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, fmt.Errorf("malformed %s request: %w", BusKind, err)
	}
	var rep manageReply
	switch err := s.manageLocal(ctx, req.App, req.Room, req.CallID, req.Command, req.MOH); {
	case err == nil:
	case errors.Is(err, call.ErrParticipantNotFound):
		rep.Err = "not_found"
	case errors.Is(err, call.ErrUnavailable):
		rep.Err, rep.Msg = "moving", err.Error()
	default:
		rep.Err, rep.Msg = "error", err.Error()
	}
	return json.Marshal(rep)
}

// manageLocal applies a command to a member of a room hosted here and
// records the new flags.
func (s *Service) manageLocal(ctx context.Context, app, id, callID, command, moh string) error {
	s.mu.Lock()
	hr := s.hosted[rooms.RoomKey{App: app, ID: id}]
	s.mu.Unlock()
	if hr == nil {
		return fmt.Errorf("%w: the conference is moving to another node; try again", call.ErrUnavailable)
	}
	hm := hr.member(callID)
	if hm == nil {
		return call.ErrParticipantNotFound
	}
	hr.mu.Lock()
	switch command {
	case CmdMute:
		hm.muted = true
		hm.mb.SetMuted(true)
	case CmdUnmute:
		hm.muted = false
		hm.mb.SetMuted(false)
	case CmdOnHold:
		hm.onhold, hm.holdMOH = true, strings.ToLower(moh)
		hm.mb.SetHold(holdMusic(hm.holdMOH))
	case CmdResume:
		hm.onhold = false
		hm.mb.SetHold(nil)
	default:
		hr.mu.Unlock()
		return fmt.Errorf("%w: unknown conference command %q", call.ErrInvalidCommand, command)
	}
	muted, onhold := hm.muted, hm.onhold
	hr.mu.Unlock()
	if err := s.o.Rooms.SetFlags(ctx, app, id, callID, muted, onhold); err != nil {
		if errors.Is(err, rooms.ErrNoParticipant) || errors.Is(err, rooms.ErrNotFound) {
			return call.ErrParticipantNotFound
		}
		return fmt.Errorf("recording the participant's state: %w", err)
	}
	s.log.Info("conference participant "+command, "call_id", callID, "conference_id", id)
	return nil
}

// Kick hangs a participant's call up (DiCE reason MANAGERHANGUP); the call
// leaves the room as it ends. A participant whose call already ended
// (a stale record) is just removed.
func (s *Service) Kick(ctx context.Context, app, id, callID string) (err error) {
	defer func() { s.m.command("kick", err) }()
	room, err := s.room(ctx, app, id)
	if err != nil {
		return err
	}
	if _, ok := findParticipant(room, callID); !ok {
		return call.ErrParticipantNotFound
	}
	return s.kick(ctx, app, id, callID)
}

func (s *Service) kick(ctx context.Context, app, id, callID string) error {
	err := s.o.Calls.Hangup(ctx, callID)
	if errors.Is(err, call.ErrCallNotFound) || errors.Is(err, call.ErrCallEnded) {
		_, err = s.o.Rooms.Leave(ctx, app, id, callID)
	}
	return err
}

// KickAll kicks every participant, in parallel; the room disappears with
// the last one.
func (s *Service) KickAll(ctx context.Context, app, id string) (err error) {
	defer func() { s.m.command("kick_all", err) }()
	room, err := s.room(ctx, app, id)
	if err != nil {
		return err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, p := range room.Participants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.kick(ctx, app, id, p.CallID); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("kicking %s: %w", p.CallID, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// NodeDead removes a dead node's participants from the room records (their
// calls are ended by the node-failure path). It runs on the survivor that
// handles the death.
func (s *Service) NodeDead(ctx context.Context, node string) error {
	touched, err := s.o.Rooms.RemoveNode(ctx, node)
	if err != nil {
		return fmt.Errorf("conference: removing node %s from rooms: %w", node, err)
	}
	if len(touched) > 0 {
		s.log.Warn("conference: participants of a dead node removed", "dead_node", node, "rooms", len(touched))
	}
	return nil
}
