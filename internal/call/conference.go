package call

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/svaml"
)

// connectConf (reference §5.3): the call's party — the caller, or the
// callee of a callout — joins the application's room conferenceId, which is
// created on first join and may be hosted by another node of the region.
// An unanswered caller is answered first. The participant stays in the
// room until its call ends: it hangs up (DiCE CALLERHANGUP/CALLEEHANGUP),
// it is kicked (a hangup through the call's PATCH: MANAGERHANGUP),
// maxDuration, or the room is lost for good (GENERALERROR). There is no
// ACE: the room is not a called party. Every later event of the call
// carries the conferenceId.
//
// conferenceDtmfOptions: ignore drops the participant's digits; forward
// sends them to the other participants as RFC 4733; detect takes the
// participant out of the mix at the first digit, collects up to maxDigits
// (each within timeoutMills of the previous), puts it back and sends a PIE
// of type sequence whose menuId is the conferenceId. The PIE's reply is
// not executed: the reference says the platform only expects a 200 OK.
func (c *Call) connectConf(ctx context.Context, a *svaml.ConnectConf) {
	l := c.caller
	if l == nil {
		l = c.callee
	}
	if c.m.deps.Conferences == nil || l == nil || l.ended {
		c.log.Error("connectConf is not available on this call", "has_conferences", c.m.deps.Conferences != nil)
		c.m.metrics.svamlErrors.WithLabelValues("unsupported_action").Inc()
		c.end(ctx, c.answeredResult(), events.ReasonInvalidSVAMLAction)
		return
	}
	c.snap.ConferenceID = a.ConferenceID // saved with the transition
	if !c.transition(ctx, InputDial) {
		return
	}
	req := JoinRequest{
		AppKey: c.snap.AppKey, ConferenceID: a.ConferenceID, CallID: c.snap.ID,
		CLI: c.snap.From.Endpoint, MOH: string(a.MOH), DTMF: a.DTMFOptions,
	}
	if l.role == roleCallee {
		req.CLI = c.snap.To.Endpoint // a callout's participant is its callee
	}
	var p Participant
	c.spawn(ctx, "connect_conf", func(tctx context.Context) error {
		if l.in != nil && !l.isAnswered() {
			if err := c.answer(tctx, l); err != nil {
				return err
			}
		}
		ms := l.session()
		if ms == nil {
			return errors.New("the participant has no media session")
		}
		req.Media = ms
		var err error
		p, err = c.m.deps.Conferences.Join(tctx, req)
		return err
	}, func(err error) {
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return
			}
			c.m.metrics.conferences.WithLabelValues("failed").Inc()
			c.log.Error("joining the conference failed", "conference_id", a.ConferenceID, "err", err)
			c.tlError("joining conference "+a.ConferenceID+" failed", err)
			c.end(ctx, c.answeredResult(), events.ReasonGeneralError)
			return
		}
		c.m.metrics.conferences.WithLabelValues("joined").Inc()
		c.log.Info("joined the conference", "conference_id", a.ConferenceID, "dtmf_mode", a.DTMFOptions.Mode)
		c.tlMedia("joined conference "+a.ConferenceID, map[string]any{"conferenceId": a.ConferenceID, "dtmfMode": string(a.DTMFOptions.Mode)})
		c.transition(ctx, InputConnected)
		c.runConference(ctx, l, p, a)
	})
}

// conferenceAnswered runs a conferenceCallout once its callee answered
// (and the ACE, if any, said continue): the greeting, then connectConf.
func (c *Call) conferenceAnswered(ctx context.Context) {
	o := c.callout
	if !c.transition(ctx, InputReply) {
		return
	}
	if o.Greeting == "" {
		c.connectConf(ctx, o.Conference)
		return
	}
	l := c.callee
	c.spawn(ctx, "conference_greeting", func(tctx context.Context) error {
		return c.playPrompts(tctx, l, []svaml.Prompt{{Kind: svaml.PromptTTS, Value: o.Greeting}}, o.Locale)
	}, func(err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			c.log.Error("conference greeting failed", "err", err)
			c.end(ctx, c.answeredResult(), events.ReasonGeneralError)
			return
		}
		if err == nil {
			c.connectConf(ctx, o.Conference)
		}
	})
}

// runConference handles the participant's digits and watches the room
// until the call ends; then it leaves the room.
func (c *Call) runConference(ctx context.Context, l *leg, p Participant, a *svaml.ConnectConf) {
	ms := l.session()
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.extras.add(cancel)
	opts := a.DTMFOptions
	pieTarget, _, pieOK := c.pieTarget()
	c.m.wg.Add(1)
	go func() {
		defer c.m.wg.Done()
		defer func() {
			lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer lcancel()
			if err := p.Leave(lctx); err != nil {
				c.log.Warn("leaving the conference failed", "conference_id", a.ConferenceID, "err", err)
				c.tlError("leaving conference "+a.ConferenceID+" failed", err)
				return
			}
			c.tlMedia("left conference "+a.ConferenceID, map[string]any{"conferenceId": a.ConferenceID})
		}()
		var (
			seq      strings.Builder
			timer    = time.NewTimer(time.Hour)
			timerOn  bool
			detached bool
		)
		timer.Stop()
		defer timer.Stop()
		finish := func() {
			if detached {
				if err := p.Detach(sctx, false); err != nil {
					c.log.Warn("conference: putting the participant back into the mix failed", "err", err)
				}
				detached = false
			}
			digits := seq.String()
			seq.Reset()
			if timerOn {
				timer.Stop()
				timerOn = false
			}
			if digits == "" || !pieOK {
				return
			}
			c.log.Info("conference digits collected", "conference_id", a.ConferenceID, "digits", len(digits))
			ev := c.pie(menuOutcome{menuID: a.ConferenceID, typ: menuSequence, value: digits})
			id := c.eventID(ev.Kind().String())
			go func() {
				dctx, dcancel := context.WithTimeout(sctx, 30*time.Second)
				defer dcancel()
				if _, err := c.m.deps.Callbacks.Deliver(dctx, pieTarget, id, ev, nil); err != nil && sctx.Err() == nil {
					c.log.Warn("conference PIE not delivered", "err", err)
				}
			}()
		}
		for {
			select {
			case <-sctx.Done():
				return
			case <-p.Lost():
				c.log.Error("conference lost: its host node is gone and no node could host it again", "conference_id", a.ConferenceID)
				c.tlError("conference "+a.ConferenceID+" lost: its host node is gone and no node could host it again", nil)
				c.post(ctx, func() { c.end(ctx, c.answeredResult(), events.ReasonGeneralError) })
				return
			case <-timer.C:
				timerOn = false
				finish()
			case d := <-ms.Digits():
				c.tlMedia("digit "+string(d)+" received in conference "+a.ConferenceID,
					map[string]any{"digit": string(d), "conferenceId": a.ConferenceID, "dtmfMode": string(opts.Mode)})
				switch opts.Mode {
				case svaml.DTMFForward:
					if err := p.Forward(sctx, d); err != nil {
						c.log.Warn("conference digit not forwarded", "err", err)
					}
				case svaml.DTMFDetect:
					if !detached {
						if err := p.Detach(sctx, true); err != nil {
							c.log.Warn("conference: taking the participant out of the mix failed", "err", err)
						} else {
							detached = true
						}
					}
					seq.WriteRune(d)
					if seq.Len() >= max(opts.MaxDigits, 1) {
						finish()
						continue
					}
					if timerOn {
						timer.Stop()
					}
					timer.Reset(time.Duration(max(opts.TimeoutMills, 1)) * time.Millisecond)
					timerOn = true
				}
			}
		}
	}()
}
