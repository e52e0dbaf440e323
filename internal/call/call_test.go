package call

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/svaml"
)

type env struct {
	t       *testing.T
	m       *Manager
	dialer  *fakeDialer
	media   *fakeMedia
	backend *fakeBackend
	store   *memStore
	recs    *fakeRecordings
	streams *fakeStreams
	ids     atomic.Int64
}

// newEnv must be called inside synctest.Test.
func newEnv(t *testing.T) *env {
	e := &env{t: t, dialer: &fakeDialer{legs: make(chan *fakeLeg, 4)}, media: &fakeMedia{}, backend: newBackend(), store: &memStore{},
		recs: &fakeRecordings{}, streams: &fakeStreams{}}
	m, err := NewManager(Deps{Dialer: e.dialer, Media: e.media, Callbacks: e.backend, Apps: fakeApps{}, Store: e.store,
		Recordings: e.recs, Streams: e.streams},
		Options{Node: "node-a", Region: "euc1", BaseURL: "https://node-a.example", Currency: "EUR",
			Registerer: prometheus.NewRegistry(),
			NewID:      func() string { return fmt.Sprintf("call-%d", e.ids.Add(1)) }})
	require.NoError(t, err)
	e.m = m
	return e
}

func (e *env) inbound(to string) *fakeLeg {
	l := newFakeLeg()
	e.m.HandleInbound(context.Background(), Inbound{
		Leg: l, From: "+46701111111", To: events.Destination{Type: "did", Endpoint: to},
		Headers: []events.KeyValue{{Key: "X-Account", Value: "42"}}, Offer: []byte("caller-offer"),
	})
	return l
}

// final waits (in virtual time, at most an hour) for the call to end and
// its DiCE to be handed over, and returns its record.
func (e *env) final(id string) *Snapshot {
	e.t.Helper()
	for range 36000 {
		synctest.Wait()
		if s, err := e.store.Load(context.Background(), id); err == nil && s.State == StateEnded {
			synctest.Wait()
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	s, err := e.store.Load(context.Background(), id)
	require.NoError(e.t, err)
	e.t.Fatalf("call %s did not end: %s", id, s.State)
	return nil
}

func (e *env) dice() *events.DiCE {
	e.t.Helper()
	for _, ev := range e.backend.events() {
		if d, ok := ev.(*events.DiCE); ok {
			return d
		}
	}
	e.t.Fatalf("no DiCE among %v", e.backend.kinds())
	return nil
}

func TestInboundAnswerSayHangup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"instructions":[{"name":"answer"},{"name":"setCookie","key":"step","value":"greeted"},
			{"name":"say","text":"Hello","locale":"en-US"}],"action":{"name":"hangup"}}`)
		caller := e.inbound("+46701234567")
		s := e.final("call-1")

		require.Equal(t, []string{"200", "hangup"}, caller.calls())
		require.Equal(t, []string{"tts:Hello"}, e.media.plays())
		require.Equal(t, events.ResultAnswered, s.Result)
		require.Equal(t, events.ReasonManagerHangup, s.Reason)
		require.Equal(t, int(promptTime/time.Second), s.Duration(s.EndedAt))

		require.Equal(t, []string{"ice", "dice"}, e.backend.kinds())
		ice := e.backend.events()[0].(*events.ICE)
		require.Equal(t, "call-1", ice.ID)
		require.Equal(t, "https://node-a.example/calling/v1/calls/id/call-1", ice.CallResourceURL)
		require.Equal(t, "+46701111111", ice.CLI)
		require.Equal(t, events.Destination{Type: "did", Endpoint: "+46701234567"}, ice.To)
		require.Equal(t, "pstn", ice.Domain)
		require.Equal(t, "PSTN", ice.OriginationType)
		require.Equal(t, "app", ice.ApplicationKey)
		require.Equal(t, events.Money{CurrencyID: "EUR"}, ice.UserRate)
		require.Equal(t, []events.KeyValue{{Key: "X-Account", Value: "42"}}, ice.CallHeaders)
		require.Empty(t, ice.Cookies)

		d := e.dice()
		require.Equal(t, events.ReasonManagerHangup, d.Reason)
		require.Equal(t, events.ResultAnswered, d.Result)
		require.Equal(t, "+46701111111", d.From)
		require.Equal(t, []events.KeyValue{{Key: "step", Value: "greeted"}}, d.Cookies)
		require.Equal(t, 2, d.Duration)
		require.Equal(t, 0, e.m.Active())
		for _, ms := range e.media.sessions {
			require.True(t, ms.closed, "media released")
		}
	})
}

func TestUnroutedInboundIsRejected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		caller := e.inbound("+46700000000")
		synctest.Wait()
		require.Equal(t, 404, caller.rejected)
		require.Empty(t, e.backend.events())
		_, err := e.store.Load(context.Background(), "call-1")
		require.ErrorIs(t, err, ErrCallNotFound)
	})
}

func TestConnectPSTNWithACEAndCalleeHangup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"instructions":[{"name":"setCookie","key":"a","value":"1"}],
			"action":{"name":"connectPstn","number":"+12025550100","cli":"+46709999999","dialTimeout":20,"dtmf":"1w2","maxDuration":600}}`)
		e.backend.on(events.KindACE, `{"action":{"name":"continue"}}`)
		callee := newFakeLeg()
		e.dialer.legs <- callee
		caller := e.inbound("+46701234567")
		synctest.Wait()

		reqs := e.dialer.requests()
		require.Len(t, reqs, 1)
		require.Equal(t, DialRequest{CallID: "call-1", Kind: DestNumber, Endpoint: "+12025550100", CLI: "+46709999999",
			Offer: []byte("offer-sdp"), DialTimeout: 20 * time.Second}, reqs[0])
		require.Equal(t, []string{"180"}, caller.calls(), "caller hears ringing, is not answered yet")

		time.Sleep(3 * time.Second) // ringing
		callee.answer <- outcome{sdp: []byte("callee-sdp")}
		time.Sleep(3 * dtmfTime) // the dtmf on answer
		synctest.Wait()
		require.Equal(t, []string{"180", "200"}, caller.calls(), "caller answered once the callee answered")
		s, err := e.m.Get(context.Background(), "call-1")
		require.NoError(t, err)
		require.Equal(t, StateConnected, s.State)
		calleeMedia := e.media.sessions[0]
		calleeMedia.mu.Lock()
		require.Equal(t, []byte("callee-sdp"), calleeMedia.remote)
		calleeMedia.mu.Unlock()
		require.Equal(t, []string{"1w2"}, calleeMedia.dtmf)
		require.True(t, calleeMedia.bridged || e.media.sessions[1].bridged)
		ace := e.backend.events()[1].(*events.ACE)
		require.Equal(t, []events.KeyValue{{Key: "a", Value: "1"}}, ace.Cookies, "cookies ride on every later event")

		time.Sleep(30 * time.Second)
		callee.remoteHangup()
		s = e.final("call-1")
		require.Equal(t, events.ReasonCalleeHangup, s.Reason)
		require.Equal(t, events.ResultAnswered, s.Result)
		require.Equal(t, 30, s.Duration(s.EndedAt))
		require.Equal(t, []string{"180", "200", "hangup"}, caller.calls())
		require.Equal(t, []string{"ice", "ace", "dice"}, e.backend.kinds())
		require.InDelta(t, 1, testutil.ToFloat64(e.m.metrics.ended.WithLabelValues("ANSWERED", "CALLEEHANGUP")), 0)
	})
}

func TestConnectPSTNBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"action":{"name":"connectPstn","number":"+12025550100"}}`)
		callee := newFakeLeg()
		callee.answer <- outcome{err: &DialError{Code: 486, Result: events.ResultBusy, Reason: events.ReasonBusy}}
		e.dialer.legs <- callee
		caller := e.inbound("+46701234567")
		s := e.final("call-1")
		require.Equal(t, events.ResultBusy, s.Result)
		require.Equal(t, events.ReasonBusy, s.Reason)
		require.Equal(t, 486, caller.rejected)
		require.Equal(t, 0, s.Duration(s.EndedAt))
		require.Equal(t, events.ResultBusy, e.dice().Result)
	})
}

func TestICEFailuresEndTheCallAudibly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reply  func(events.Event) ([]byte, error)
		reason string
	}{
		{"backend down", func(events.Event) ([]byte, error) { return nil, errors.New("connection refused") }, events.ReasonCallbackError},
		{"garbage svaml", func(events.Event) ([]byte, error) { return []byte(`{"action":{"name":"dance"}}`), nil }, events.ReasonInvalidSVAMLAction},
		{"not json", func(events.Event) ([]byte, error) { return []byte(`<html>`), nil }, events.ReasonInvalidSVAMLAction},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				e.backend.reply[events.KindICE] = tc.reply
				caller := e.inbound("+46701234567")
				s := e.final("call-1")
				require.Equal(t, tc.reason, s.Reason)
				require.Equal(t, []string{"183", "reject"}, caller.calls(), "error prompt over early media, then the call is refused")
				require.Len(t, e.media.plays(), 1)
				require.Contains(t, e.media.plays()[0], "Sorry")
				require.Equal(t, tc.reason, e.dice().Reason)
			})
		})
	}
}

func TestCallerHangsUpDuringICE(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		release := make(chan struct{})
		e.backend.reply[events.KindICE] = func(events.Event) ([]byte, error) {
			<-release // a slow backend
			return []byte(`{"action":{"name":"hangup"}}`), nil
		}
		caller := e.inbound("+46701234567")
		synctest.Wait()
		caller.remoteHangup() // CANCEL before any answer
		synctest.Wait()
		close(release)
		s := e.final("call-1")
		require.Equal(t, events.ReasonCancel, s.Reason)
		require.Equal(t, events.ResultNA, s.Result)
		require.Empty(t, caller.calls(), "nothing is sent to a caller that is gone")
	})
}

func TestUnsupportedActionEndsWithInvalidSVAMLAction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"action":{"name":"connectConf","conferenceId":"room"}}`)
		e.inbound("+46701234567")
		s := e.final("call-1")
		require.Equal(t, events.ReasonInvalidSVAMLAction, s.Reason)
		require.InDelta(t, 1, testutil.ToFloat64(e.m.metrics.svamlErrors.WithLabelValues("unsupported_action")), 0)
	})
}

func TestParkUntilPatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"action":{"name":"park","introPrompt":"#tts[Please hold]","holdPrompt":"#tts[Still holding]","maxDuration":600}}`)
		caller := e.inbound("+46701234567")
		synctest.Wait()
		time.Sleep(7 * time.Second) // intro (2 s) and hold loops
		s, err := e.m.Get(context.Background(), "call-1")
		require.NoError(t, err)
		require.Equal(t, StateParked, s.State)
		plays := e.media.plays()
		require.Equal(t, "tts:Please hold", plays[0])
		require.GreaterOrEqual(t, len(plays), 3)
		require.Equal(t, "tts:Still holding", plays[2])

		// A PATCH unparks: the hold prompt stops at once and the new document runs.
		require.NoError(t, e.m.Update(context.Background(), "call-1", "", []byte(`{"instructions":[{"name":"say","text":"Bye"}],"action":{"name":"hangup"}}`)))
		s = e.final("call-1")
		require.Equal(t, events.ReasonManagerHangup, s.Reason)
		plays = e.media.plays()
		require.Equal(t, "tts:Bye", plays[len(plays)-1])
		require.Equal(t, []string{"200", "hangup"}, caller.calls())

		require.ErrorIs(t, e.m.Update(context.Background(), "call-1", "", []byte(`{"action":{"name":"hangup"}}`)), ErrCallEnded)
	})
}

func TestParkMaxDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"action":{"name":"park","holdPrompt":"#tts[Hold]","maxDuration":5}}`)
		e.inbound("+46701234567")
		s := e.final("call-1")
		require.Equal(t, events.ReasonTimeout, s.Reason)
		// 5 s max with 2 s prompts: the prompt playing at 5 s is finished.
		require.Equal(t, 6, s.Duration(s.EndedAt))
	})
}

func TestPatchValidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		require.ErrorIs(t, e.m.Update(context.Background(), "nope", "", []byte(`{"action":{"name":"hangup"}}`)), ErrCallNotFound)
		err := e.m.Update(context.Background(), "nope", "", []byte(`{"action":{"name":"connectPstn","number":"+1"}}`))
		require.Error(t, err)
		require.True(t, strings.Contains(err.Error(), "connectPstn"), err.Error())
		require.ErrorIs(t, e.m.Update(context.Background(), "nope", "sideways", []byte(`{"action":{"name":"hangup"}}`)), ErrInvalidCommand)
	})
}

func TestSuppressCallbacks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"action":{"name":"connectSip","destination":{"type":"sip","endpoint":"bob@pbx.example"},"suppressCallbacks":true,"callHeaders":[{"key":"X-Ref","value":"7"}],"transport":"tcp"}}`)
		callee := newFakeLeg()
		callee.answer <- outcome{sdp: []byte("sdp")}
		e.dialer.legs <- callee
		caller := e.inbound("+46701234567")
		synctest.Wait()
		req := e.dialer.requests()[0]
		require.Equal(t, DestSIP, req.Kind)
		require.Equal(t, "tcp", req.Transport)
		require.Equal(t, []events.KeyValue{{Key: "X-Ref", Value: "7"}}, req.Headers)
		caller.remoteHangup()
		s := e.final("call-1")
		require.Equal(t, events.ReasonCallerHangup, s.Reason)
		require.Equal(t, []string{"ice"}, e.backend.kinds(), "no ACE and no DiCE when suppressed")
	})
}

func TestTTSCallout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		callee := newFakeLeg()
		callee.answer <- outcome{sdp: []byte("sdp")}
		e.dialer.legs <- callee
		id, err := e.m.Callout(context.Background(), Callout{AppKey: "app", Method: MethodTTS,
			Destination: &events.Destination{Type: "number", Endpoint: "+12025550100"}, CLI: "+46701111111",
			Text: "Your code is 1234", Locale: "en-US", DTMF: "ww1", EnableDiCE: true, Custom: "order-9"})
		require.NoError(t, err)
		s := e.final(id)
		require.Equal(t, events.ReasonManagerHangup, s.Reason)
		require.Equal(t, events.ResultAnswered, s.Result)
		require.Equal(t, []string{"tts:Your code is 1234"}, e.media.plays())
		require.Equal(t, []string{"ww1"}, e.media.sessions[0].dtmf)
		require.Equal(t, []string{"dice"}, e.backend.kinds(), "no ICE for tts callouts, no ACE without enableAce")
		require.Equal(t, "order-9", e.dice().Custom)
		require.Equal(t, []string{"hangup"}, callee.calls())
	})
}

func TestCustomCalloutInlineICEAndACE(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		iceDoc := mustParse(t, e, "ice", `{"action":{"name":"connectPstn","number":"+12233445566","cli":"+12234325234"}}`)
		aceDoc := mustParse(t, e, "ace", `{"instructions":[{"name":"say","text":"Hello from callcore"}],"action":{"name":"hangup"}}`)
		callee := newFakeLeg()
		callee.answer <- outcome{sdp: []byte("sdp")}
		e.dialer.legs <- callee
		id, err := e.m.Callout(context.Background(), Callout{AppKey: "app", Method: MethodCustom,
			ICE: Script{Doc: iceDoc}, ACE: Script{Doc: aceDoc}, MaxDuration: 30 * time.Second})
		require.NoError(t, err)
		s := e.final(id)
		require.Equal(t, "+12233445566", e.dialer.requests()[0].Endpoint)
		require.Equal(t, []string{"tts:Hello from callcore"}, e.media.plays())
		require.Equal(t, events.ReasonManagerHangup, s.Reason)
		require.Equal(t, []string{"dice"}, e.backend.kinds(), "inline ICE and ACE: only the DiCE goes to the backend")
	})
}

func TestDrainHangsUpAfterDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"action":{"name":"park","holdPrompt":"#tts[Hold]"}}`)
		e.inbound("+46701234567")
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, e.m.Drain(ctx))
		s := e.final("call-1")
		require.Equal(t, events.ReasonGeneralError, s.Reason)
		late := e.inbound("+46701234567")
		synctest.Wait()
		require.Equal(t, 503, late.rejected, "a draining node refuses new calls")
	})
}

func mustParse(t *testing.T, e *env, kind, doc string) *svaml.Response {
	t.Helper()
	ctx := svaml.ContextICE
	if kind == "ace" {
		ctx = svaml.ContextACE
	}
	r, err := e.m.opts.Limits.Parse(ctx, []byte(doc))
	require.NoError(t, err)
	return r
}

// The duration counts from the callee's answer, not from the end of the
// dtmf sent on answer (found by the e2e suite: a 5-digit dtmf took 0.7 s
// off every connected call).
func TestDurationCountsFromAnswerNotFromDTMF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"action":{"name":"connectPstn","number":"+12025550100","dtmf":"1234567890"}}`)
		e.backend.on(events.KindACE, `{"action":{"name":"continue"}}`)
		callee := newFakeLeg()
		e.dialer.legs <- callee
		e.inbound("+46701234567")
		synctest.Wait()
		callee.answer <- outcome{sdp: []byte("callee-sdp")}
		time.Sleep(1500 * time.Millisecond) // dtmf takes 1 s of it
		callee.remoteHangup()
		s := e.final("call-1")
		require.Equal(t, events.ReasonCalleeHangup, s.Reason)
		require.Equal(t, 1, s.Duration(s.EndedAt))
	})
}

// Signaling closes a failed leg's Done before WaitAnswer returns its
// DialError; the actor may see Done first. The dial's outcome must still
// decide the result (found by the e2e suite: a 486 from the gateway was
// reported as CALLEEHANGUP and the caller got 480).
func TestDialFailureSeenAsLegEndFirst(t *testing.T) {
	for _, tc := range []struct {
		name           string
		remote         bool
		err            *DialError
		result, reason string
		code           int
	}{
		{"busy", true, &DialError{Code: 486, Result: events.ResultBusy, Reason: events.ReasonBusy}, events.ResultBusy, events.ReasonBusy, 486},
		{"ring timeout", false, &DialError{Code: -1, Result: events.ResultNoAnswer, Reason: events.ReasonTimeout}, events.ResultNoAnswer, events.ReasonTimeout, 480},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				e.backend.on(events.KindICE, `{"action":{"name":"connectPstn","number":"+12025550100"}}`)
				callee := newFakeLeg()
				e.dialer.legs <- callee
				caller := e.inbound("+46701234567")
				synctest.Wait()
				callee.end(tc.remote)
				synctest.Wait() // the actor sees the leg end first
				callee.answer <- outcome{err: tc.err}
				s := e.final("call-1")
				require.Equal(t, tc.result, s.Result)
				require.Equal(t, tc.reason, s.Reason)
				require.Equal(t, tc.code, caller.rejected)
				require.Equal(t, tc.reason, e.dice().Reason)
			})
		})
	}
}

// A callee that answers and hangs up while the dtmf on answer goes out
// ends the call as a callee hangup; the call does not stay up with a dead
// leg.
func TestCalleeHangsUpDuringDTMFOnAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"action":{"name":"connectPstn","number":"+12025550100","dtmf":"1234567890"}}`)
		e.backend.on(events.KindACE, `{"action":{"name":"continue"}}`)
		callee := newFakeLeg()
		e.dialer.legs <- callee
		caller := e.inbound("+46701234567")
		synctest.Wait()
		callee.answer <- outcome{sdp: []byte("callee-sdp")}
		time.Sleep(300 * time.Millisecond)
		callee.remoteHangup()
		s := e.final("call-1")
		require.Equal(t, events.ResultAnswered, s.Result)
		require.Equal(t, events.ReasonCalleeHangup, s.Reason)
		require.Equal(t, []string{"ice", "dice"}, e.backend.kinds(), "no ACE for a callee that is gone")
		require.Equal(t, []string{"180", "reject"}, caller.calls())
	})
}

// A caller that hangs up right after our 200 OK, with a BYE that overtakes
// its ACK, hung up: it did not cancel (found by the e2e suite).
func TestCallerByeBeforeACKIsNotACancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"instructions":[{"name":"answer"},{"name":"say","text":"Hi"}],"action":{"name":"hangup"}}`)
		l := newFakeLeg()
		l.noACK = true
		e.m.HandleInbound(context.Background(), Inbound{Leg: l, From: "+46701111111",
			To: events.Destination{Type: "did", Endpoint: "+46701234567"}, Offer: []byte("caller-offer")})
		synctest.Wait()
		require.Equal(t, []string{"200"}, l.calls())
		l.remoteHangup()
		s := e.final("call-1")
		require.Equal(t, events.ReasonCallerHangup, s.Reason)
	})
}

// A PATCH that arrives while the legs are being connected (the caller's
// The task answering the caller is replaced by a PATCH before the ACK
// arrives: the 200 OK is out, so the answer must not be abandoned with
// the task; the PATCH's park waits for it.
func TestPatchReplacesAnsweringTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"instructions":[{"name":"answer"},{"name":"say","text":"Welcome"}],"action":{"name":"hangup"}}`)
		caller := newFakeLeg()
		caller.ackGate = make(chan struct{})
		e.m.HandleInbound(context.Background(), Inbound{Leg: caller, From: "+46701111111",
			To: events.Destination{Type: "did", Endpoint: "+46701234567"}, Offer: []byte("caller-offer")})
		synctest.Wait()
		require.Equal(t, []string{"200"}, caller.calls(), "the 200 OK is out, its ACK is not in")

		require.NoError(t, e.m.Update(context.Background(), "call-1", "",
			[]byte(`{"action":{"name":"park","holdPrompt":"#tts[Hold on]","maxDuration":60}}`)))
		synctest.Wait()
		close(caller.ackGate)
		time.Sleep(promptTime + time.Second)
		s, err := e.m.Get(context.Background(), "call-1")
		require.NoError(t, err)
		require.Equal(t, StateParked, s.State)
		require.False(t, s.AnsweredAt.IsZero(), "the caller counts as answered")
		require.Equal(t, []string{"200"}, caller.calls(), "one 200 OK")

		caller.remoteHangup()
		require.Equal(t, events.ReasonCallerHangup, e.final("call-1").Reason)
	})
}

// A PATCH park that replaces the connect task while the caller's ACK is
// still on its way: the answer already sent goes on (its task being
// replaced does not abandon it), the park waits for it instead of
// answering twice, and the caller is parked (seen in e2e under load as
// "call already answered").
func TestParkWhileCallerACKPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"action":{"name":"connectPstn","number":"+12025550100"}}`)
		e.backend.on(events.KindACE, `{"action":{"name":"continue"}}`)
		callee := newFakeLeg()
		callee.answer <- outcome{sdp: []byte("callee-sdp")}
		e.dialer.legs <- callee
		caller := newFakeLeg()
		caller.ackGate = make(chan struct{})
		e.m.HandleInbound(context.Background(), Inbound{Leg: caller, From: "+46701111111",
			To: events.Destination{Type: "did", Endpoint: "+46701234567"}, Offer: []byte("caller-offer")})
		synctest.Wait()
		require.Equal(t, []string{"180", "200"}, caller.calls(), "the caller's 200 OK is out, its ACK is not in")

		require.NoError(t, e.m.Update(context.Background(), "call-1", "",
			[]byte(`{"action":{"name":"park","holdPrompt":"#tts[Hold on]","maxDuration":60}}`)))
		synctest.Wait()
		close(caller.ackGate)
		time.Sleep(promptTime + time.Second)
		s, err := e.m.Get(context.Background(), "call-1")
		require.NoError(t, err)
		require.Equal(t, StateParked, s.State)
		require.False(t, s.AnsweredAt.IsZero(), "the caller counts as answered")
		require.Contains(t, e.media.plays(), "tts:Hold on")
		require.Equal(t, []string{"180", "200"}, caller.calls(), "one 200 OK")

		caller.remoteHangup()
		require.Equal(t, events.ReasonCallerHangup, e.final("call-1").Reason)
	})
}

// ACK has not come yet) runs its document without undoing the connection
// (found by the e2e suite: the bridge was never set up and the parties
// heard nothing of each other).
func TestPatchWhileConnecting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"action":{"name":"connectPstn","number":"+12025550100"}}`)
		e.backend.on(events.KindACE, `{"action":{"name":"continue"}}`)
		callee := newFakeLeg()
		callee.answer <- outcome{sdp: []byte("callee-sdp")}
		e.dialer.legs <- callee
		caller := newFakeLeg()
		caller.ackGate = make(chan struct{})
		e.m.HandleInbound(context.Background(), Inbound{Leg: caller, From: "+46701111111",
			To: events.Destination{Type: "did", Endpoint: "+46701234567"}, Offer: []byte("caller-offer")})
		synctest.Wait()
		require.Equal(t, []string{"180", "200"}, caller.calls(), "the caller's 200 OK is out, its ACK is not in")

		require.NoError(t, e.m.Update(context.Background(), "call-1", "callee",
			[]byte(`{"instructions":[{"name":"playFiles","ids":["#tts[For you]"]}],"action":{"name":"continue"}}`)))
		close(caller.ackGate)
		time.Sleep(promptTime + time.Second)
		s, err := e.m.Get(context.Background(), "call-1")
		require.NoError(t, err)
		require.Equal(t, StateConnected, s.State)
		require.Contains(t, e.media.plays(), "tts:For you")
		bridged := false
		for _, ms := range e.media.sessions {
			ms.mu.Lock()
			bridged = bridged || ms.bridged
			ms.mu.Unlock()
		}
		require.True(t, bridged, "the legs are bridged")

		callee.remoteHangup()
		s = e.final("call-1")
		require.Equal(t, events.ReasonCalleeHangup, s.Reason)
	})
}

// PATCH park on connected legs stops the bridge (the callee must not hear
// a parked caller); PATCH continue bridges them again (found by the e2e
// suite).
func TestParkConnectedCallThenContinue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"action":{"name":"connectPstn","number":"+12025550100"}}`)
		e.backend.on(events.KindACE, `{"action":{"name":"continue"}}`)
		callee := newFakeLeg()
		callee.answer <- outcome{sdp: []byte("callee-sdp")}
		e.dialer.legs <- callee
		e.inbound("+46701234567")
		synctest.Wait()
		bridged := func() bool {
			for _, ms := range e.media.sessions {
				ms.mu.Lock()
				b := ms.bridged
				ms.mu.Unlock()
				if b {
					return true
				}
			}
			return false
		}
		require.True(t, bridged())

		require.NoError(t, e.m.Update(context.Background(), "call-1", "", []byte(`{"action":{"name":"park","holdPrompt":"#tts[Hold]"}}`)))
		synctest.Wait()
		require.False(t, bridged(), "a parked caller is not bridged")
		s, err := e.m.Get(context.Background(), "call-1")
		require.NoError(t, err)
		require.Equal(t, StateParked, s.State)

		require.NoError(t, e.m.Update(context.Background(), "call-1", "", []byte(`{"action":{"name":"continue"}}`)))
		synctest.Wait()
		require.True(t, bridged(), "continue bridges the legs again")
		s, err = e.m.Get(context.Background(), "call-1")
		require.NoError(t, err)
		require.Equal(t, StateConnected, s.State)
		callee.remoteHangup()
		require.Equal(t, events.ReasonCalleeHangup, e.final("call-1").Reason)
	})
}

func TestDestinationlessCustomCalloutTakesItsDialledParty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		iceDoc := mustParse(t, e, "ice", `{"action":{"name":"connectPstn","number":"+12233445566"}}`)
		callee := newFakeLeg()
		callee.answer <- outcome{err: &DialError{Code: -5, Result: events.ResultFailed, Reason: events.ReasonUserNotFound}}
		e.dialer.legs <- callee
		id, err := e.m.Callout(context.Background(), Callout{AppKey: "app", Method: MethodCustom, ICE: Script{Doc: iceDoc}})
		require.NoError(t, err)
		s := e.final(id)
		require.Equal(t, events.Destination{Type: "number", Endpoint: "+12233445566"}, s.To)
		require.Equal(t, events.Destination{Type: "number", Endpoint: "+12233445566"}, e.dice().To)
		require.Equal(t, 404, rejectCodeFor(&DialError{Code: -5, Result: events.ResultFailed, Reason: events.ReasonUserNotFound}))
	})
}

// A node without recording configured cannot carry out startRecording.
func TestUnsupportedInstructionEndsWithInvalidSVAMLAction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.m.deps.Recordings = nil
		e.backend.on(events.KindICE, `{"instructions":[{"name":"answer"},{"name":"startRecording","options":{"destinationUrl":"s3://bucket/"}}],"action":{"name":"hangup"}}`)
		e.inbound("+46701234567")
		s := e.final("call-1")
		require.Equal(t, events.ReasonInvalidSVAMLAction, s.Reason)
		require.InDelta(t, 1, testutil.ToFloat64(e.m.metrics.svamlErrors.WithLabelValues("unsupported_instruction")), 0)
	})
}

// A store that fails writes must not stall or break the call: the call
// runs to its end, the DiCE goes out, and the failures are counted.
func TestStoreFailuresDoNotStopACall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.store.saveErr = errors.New("redis: connection refused")
		e.backend.on(events.KindICE, `{"instructions":[{"name":"answer"},{"name":"say","text":"Hi"}],"action":{"name":"hangup"}}`)
		e.inbound("+46701234567")
		for range 100 {
			synctest.Wait()
			if e.m.Active() == 0 {
				break
			}
			time.Sleep(time.Second)
		}
		require.Equal(t, 0, e.m.Active())
		require.Equal(t, events.ReasonManagerHangup, e.dice().Reason)
		require.Greater(t, testutil.ToFloat64(e.m.metrics.storeErrors), 0.0)
		s, err := e.store.Load(context.Background(), "call-1")
		require.NoError(t, err)
		require.Equal(t, StateInitiated, s.State, "only Create reached the store")
		require.InDelta(t, 1, testutil.ToFloat64(e.m.metrics.unsaved), 0, "the final record waits for the store")

		// The store comes back: the final record is written back.
		e.store.mu.Lock()
		e.store.saveErr = nil
		e.store.mu.Unlock()
		e.m.SetStoreDown(true)
		e.m.SetStoreDown(false)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		s, err = e.store.Load(context.Background(), "call-1")
		require.NoError(t, err)
		require.Equal(t, StateEnded, s.State)
		require.Equal(t, events.ReasonManagerHangup, s.Reason)
		require.InDelta(t, 0, testutil.ToFloat64(e.m.metrics.unsaved), 0)
	})
}
