package call

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/svaml"
)

// Func-field style fakes of the ports, recording what the call core did.

type fakeLeg struct {
	mu       sync.Mutex
	log      []string
	done     chan struct{}
	once     sync.Once
	remote   bool
	evs      chan LegEvent
	answered chan []byte // inbound: SDP of the 200
	rejected int
	// noACK makes Answer wait for an ACK that never comes: it fails when
	// the leg ends (a BYE that overtook the ACK).
	noACK bool
	// ackGate, when set, holds Answer until it is closed (a slow ACK).
	ackGate chan struct{}
	okSent  bool // a 200 went out (guarded by mu)
	// outbound
	answer chan outcome
}

type outcome struct {
	sdp []byte
	err error
}

func newFakeLeg() *fakeLeg {
	return &fakeLeg{done: make(chan struct{}), evs: make(chan LegEvent), answered: make(chan []byte, 1), answer: make(chan outcome, 1)}
}

func (l *fakeLeg) record(s string) {
	l.mu.Lock()
	l.log = append(l.log, s)
	l.mu.Unlock()
}

func (l *fakeLeg) calls() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.log...)
}

func (l *fakeLeg) end(remote bool) {
	l.once.Do(func() {
		l.mu.Lock()
		l.remote = remote
		l.mu.Unlock()
		close(l.done)
	})
}

// remoteHangup is the far end sending BYE or CANCEL.
func (l *fakeLeg) remoteHangup() { l.end(true) }

func (l *fakeLeg) Hangup(context.Context) error { l.record("hangup"); l.end(false); return nil }
func (l *fakeLeg) Done() <-chan struct{}        { return l.done }
func (l *fakeLeg) RemoteEnded() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.remote
}
func (l *fakeLeg) Events() <-chan LegEvent { return l.evs }

func (l *fakeLeg) Ring(_ context.Context, early []byte) error {
	if early != nil {
		l.record("183")
	} else {
		l.record("180")
	}
	return nil
}

// Answer behaves like signaling's: one 200 per dialog ("call already
// answered" after that), and a ctx that ends stops the wait for the ACK
// (not the ACK itself).
func (l *fakeLeg) Answer(ctx context.Context, sdp []byte) ([]byte, error) {
	l.mu.Lock()
	again := l.okSent
	l.okSent = true
	l.mu.Unlock()
	if again {
		return nil, errors.New("signaling: call already answered")
	}
	l.record("200")
	if l.noACK {
		select {
		case <-l.done:
			return nil, errors.New("dialog ended before the ACK")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if l.ackGate != nil {
		select {
		case <-l.ackGate:
		case <-l.done:
			return nil, errors.New("dialog ended before the ACK")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l.answered <- sdp
	return nil, nil
}

func (l *fakeLeg) Reject(_ context.Context, code int, _ string) error {
	l.mu.Lock()
	l.rejected = code
	l.mu.Unlock()
	l.record("reject")
	l.end(false)
	return nil
}

func (l *fakeLeg) WaitAnswer(ctx context.Context) ([]byte, error) {
	select {
	case o := <-l.answer:
		return o.sdp, o.err
	case <-ctx.Done():
		l.end(false)
		return nil, ctx.Err()
	}
}

type fakeDialer struct {
	mu   sync.Mutex
	reqs []DialRequest
	legs chan *fakeLeg // the test hands out the leg for each dial
	err  error
}

func (d *fakeDialer) Dial(ctx context.Context, req DialRequest) (OutboundLeg, error) {
	d.mu.Lock()
	d.reqs = append(d.reqs, req)
	err := d.err
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case l := <-d.legs:
		return l, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (d *fakeDialer) requests() []DialRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]DialRequest(nil), d.reqs...)
}

// fakeMedia plays a prompt in promptTime of (virtual) time.
type fakeMedia struct {
	mu        sync.Mutex
	played    []string // "role:kind:value"
	sessions  []*fakeSession
	promptErr error

	// The fake AMD decides after amdFrames frames with amdResult, and
	// hears a beep after beepFrames frames (0: never).
	amdFrames, beepFrames int
	amdResult             events.AMD
}

const promptTime = 2 * time.Second

func (m *fakeMedia) newSession() *fakeSession {
	s := &fakeSession{m: m, timeout: make(chan struct{}), digits: make(chan rune, 64)}
	m.mu.Lock()
	m.sessions = append(m.sessions, s)
	m.mu.Unlock()
	return s
}

func (m *fakeMedia) Answer(context.Context, string, []byte) (MediaSession, []byte, error) {
	return m.newSession(), []byte("answer-sdp"), nil
}

func (m *fakeMedia) Offer(context.Context, string) (MediaSession, []byte, error) {
	return m.newSession(), []byte("offer-sdp"), nil
}

func (m *fakeMedia) Prompt(_ context.Context, p svaml.Prompt, locale string) (Audio, error) {
	if m.promptErr != nil {
		return nil, m.promptErr
	}
	return p.Kind.String() + ":" + p.Value, nil
}

func (m *fakeMedia) Ringback(country string) Audio { return "ringback:" + country }

func (m *fakeMedia) MOH(class string) Audio {
	switch class {
	case "ring", "music1", "music2", "music3":
		return "moh:" + class
	}
	return nil
}

func (m *fakeMedia) AMD() AMDDetector {
	return &fakeAMD{decideAt: m.amdFrames, beepAt: m.beepFrames, res: m.amdResult}
}

type fakeAMD struct {
	n, b, decideAt, beepAt int
	res                    events.AMD
	decided, beeped        bool
}

func (d *fakeAMD) Process([]int16) (events.AMD, bool) {
	d.n++
	if !d.decided && d.decideAt > 0 && d.n >= d.decideAt {
		d.decided = true
		return d.res, true
	}
	return events.AMD{}, false
}

func (d *fakeAMD) Beep([]int16) (events.AMD, bool) {
	d.b++
	if !d.beeped && d.beepAt > 0 && d.b >= d.beepAt {
		d.beeped = true
		return events.AMD{Status: "machine", Reason: "beep", Duration: d.b / 50}, true
	}
	return events.AMD{}, false
}

func (d *fakeAMD) Hangup() events.AMD { return events.AMD{Status: "hangup", Reason: "n/a"} }

func (m *fakeMedia) plays() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.played...)
}

type fakeSession struct {
	m       *fakeMedia
	mu      sync.Mutex
	remote  []byte
	dtmf    []string
	bridged bool
	closed  bool
	held    bool
	timeout chan struct{}
	digits  chan rune
	taps    map[int]func(rx, tx []int16)
	tapSeq  int
}

func (s *fakeSession) Tap(fn func(rx, tx []int16)) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.taps == nil {
		s.taps = map[int]func(rx, tx []int16){}
	}
	s.tapSeq++
	id := s.tapSeq
	s.taps[id] = fn
	return func() {
		s.mu.Lock()
		delete(s.taps, id)
		s.mu.Unlock()
	}
}

// feed delivers n frames of silence to the taps, as the media clock would.
func (s *fakeSession) feed(n int) {
	frame := make([]int16, 160)
	for range n {
		s.mu.Lock()
		fns := make([]func(rx, tx []int16), 0, len(s.taps))
		for _, fn := range s.taps {
			fns = append(fns, fn)
		}
		s.mu.Unlock()
		for _, fn := range fns {
			fn(frame, frame)
		}
	}
}

func (s *fakeSession) tapCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.taps)
}

func (s *fakeSession) OnHold() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

func (s *fakeSession) Digits() <-chan rune { return s.digits }
func (s *fakeSession) InjectDigit(d rune) error {
	s.digits <- d
	return nil
}

// press sends digits as the far end would, one every 100 ms.
func (s *fakeSession) press(digits string) {
	for _, d := range digits {
		s.digits <- d
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *fakeSession) SetRemote(sdp []byte) error {
	s.mu.Lock()
	s.remote = sdp
	s.mu.Unlock()
	return nil
}

// Reoffer takes "hold" and "unhold" as offers.
func (s *fakeSession) Reoffer(offer []byte) ([]byte, error) {
	s.mu.Lock()
	s.held = string(offer) == "hold"
	s.mu.Unlock()
	return []byte("reanswer"), nil
}
func (s *fakeSession) Play(ctx context.Context, a Audio) error {
	s.m.mu.Lock()
	s.m.played = append(s.m.played, a.(string))
	s.m.mu.Unlock()
	select {
	case <-time.After(promptTime):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dtmfTime is how long the fake media takes to send one DTMF character.
const dtmfTime = 100 * time.Millisecond

func (s *fakeSession) SendDTMF(ctx context.Context, d string) error {
	s.mu.Lock()
	s.dtmf = append(s.dtmf, d)
	s.mu.Unlock()
	select {
	case <-time.After(time.Duration(len(d)) * dtmfTime):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (s *fakeSession) Timeout() <-chan struct{} { return s.timeout }
func (s *fakeSession) Bridge(other MediaSession) (func(), error) {
	s.mu.Lock()
	s.bridged = true
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.bridged = false
		s.mu.Unlock()
	}, nil
}
func (s *fakeSession) Close() error { s.mu.Lock(); s.closed = true; s.mu.Unlock(); return nil }

// fakeBackend answers events with scripted bodies and records them.
type fakeBackend struct {
	mu     sync.Mutex
	got    []events.Event
	reply  map[events.Kind]func(ev events.Event) ([]byte, error)
	gotAny chan events.Event
}

func newBackend() *fakeBackend {
	return &fakeBackend{reply: map[events.Kind]func(events.Event) ([]byte, error){}, gotAny: make(chan events.Event, 16)}
}

func (b *fakeBackend) on(k events.Kind, body string) {
	b.reply[k] = func(events.Event) ([]byte, error) { return []byte(body), nil }
}

func (b *fakeBackend) Deliver(ctx context.Context, _ CallbackTarget, _ string, ev events.Event, accept func([]byte) error) ([]byte, error) {
	b.mu.Lock()
	b.got = append(b.got, ev)
	fn := b.reply[ev.Kind()]
	b.mu.Unlock()
	b.gotAny <- ev
	if fn == nil {
		if accept == nil {
			return nil, nil
		}
		return nil, errors.New("backend: no reply scripted")
	}
	body, err := fn(ev)
	if err != nil {
		return nil, err
	}
	if accept != nil {
		if err := accept(body); err != nil {
			return nil, err
		}
	}
	return body, nil
}

func (b *fakeBackend) events() []events.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]events.Event(nil), b.got...)
}

func (b *fakeBackend) kinds() []string {
	var out []string
	for _, ev := range b.events() {
		out = append(out, ev.Kind().String())
	}
	return out
}

type fakeApps struct{}

func (fakeApps) RouteInbound(_ context.Context, to events.Destination) (CallbackTarget, error) {
	if to.Endpoint == "+46700000000" {
		return CallbackTarget{}, ErrNoRoute
	}
	return CallbackTarget{AppKey: "app", URL: "http://backend/cb"}, nil
}

func (fakeApps) Target(context.Context, string) (CallbackTarget, error) {
	return CallbackTarget{AppKey: "app", URL: "http://backend/cb"}, nil
}

type memStore struct {
	mu      sync.Mutex
	m       map[string]Snapshot
	saveErr error // when set, Save fails
}

func (s *memStore) Create(_ context.Context, snap *Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]Snapshot{}
	}
	s.m[snap.ID] = cloneSnap(*snap)
	return nil
}

func (s *memStore) Save(_ context.Context, snap *Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saveErr != nil {
		return s.saveErr
	}
	s.m[snap.ID] = cloneSnap(*snap)
	return nil
}

func (s *memStore) Load(_ context.Context, id string) (*Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, ok := s.m[id]
	if !ok {
		return nil, ErrCallNotFound
	}
	c := cloneSnap(snap)
	return &c, nil
}

func (s *memStore) Orphans(_ context.Context, node string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, snap := range s.m {
		if snap.Node == node && snap.State.Ongoing() {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (s *memStore) Finalize(_ context.Context, id string, fn func(*Snapshot) bool) (*Snapshot, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, ok := s.m[id]
	if !ok {
		return nil, false, ErrCallNotFound
	}
	c := cloneSnap(snap)
	if !fn(&c) {
		return &c, false, nil
	}
	s.m[id] = cloneSnap(c)
	return &c, true, nil
}

func (s *memStore) Unindex(context.Context, string, ...string) error { return nil }

func cloneSnap(s Snapshot) Snapshot {
	s.Cookies = *s.Cookies.Clone()
	return s
}
