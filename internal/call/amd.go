package call

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/svaml"
)

// Answering-machine detection on connectPstn (reference §7 AMD).
//
// Synchronous (amd.enabled without async): once the callee answers, the
// detector listens to the callee for up to amdMaxAnalysis; the ACE then
// carries the result in amd, and the caller keeps hearing ring-back
// meanwhile. A callee who hangs up during the analysis ends the call as
// usual (there is no ACE to carry status hangup).
//
// Asynchronous (amd.async true): the ACE goes out at once with amd.status
// "inprogress" (the reference marks it UNCONFIRMED; callcore sends it so a
// backend can tell an AMD call from one without), and the result follows in
// a Notify of type amd. The detector keeps listening for a voicemail beep
// for up to amdBeepWindow after answer and reports it in a Notify of type
// amd_beep (status machine, reason beep). A call that ends before the
// decision gets a Notify amd with status hangup.
//
// amd.duration is in whole seconds, rounded up: the audio analysed until
// the decision (for amd_beep: until the beep). The reference documents it
// only as "the length of the call"; seconds match every other duration of
// the API.

// amdMaxAnalysis bounds a synchronous analysis: the detector decides by its
// own total-analysis limit (5 s by default); this is the safety net.
const amdMaxAnalysis = 6 * time.Second

// amdBeepWindow is how long after answer an asynchronous detection still
// reports a beep.
const amdBeepWindow = 60 * time.Second

// amdStatusInProgress is amd.status in the ACE of an asynchronous AMD.
const amdStatusInProgress = "inprogress"

// amdRun is a running detection fed by a media tap.
type amdRun struct {
	det     AMDDetector
	remove  func()
	decided chan events.AMD // one result
	beep    chan events.AMD // one beep
	frames  atomic.Int64
}

// startAMD taps the callee's session. Frames are analysed on the media
// goroutine (the detector is allocation-free and cheap); results come out
// on channels.
func (c *Call) startAMD(ms MediaSession, withBeep bool) *amdRun {
	r := &amdRun{det: c.m.deps.Media.AMD(), decided: make(chan events.AMD, 1), beep: make(chan events.AMD, 1)}
	done, beeped := false, !withBeep
	r.remove = ms.Tap(func(rx, _ []int16) {
		r.frames.Add(1)
		if !done {
			if res, ok := r.det.Process(rx); ok {
				done = true
				r.decided <- res
			}
		}
		if !beeped {
			if res, ok := r.det.Beep(rx); ok {
				beeped = true
				r.beep <- res
			}
		}
	})
	return r
}

// amdSync runs a synchronous detection on the dial task, after answer.
func (c *Call) amdSync(ctx context.Context, l *leg) *events.AMD {
	ms := l.session()
	if ms == nil {
		return nil
	}
	r := c.startAMD(ms, false)
	defer r.remove()
	t := time.NewTimer(amdMaxAnalysis)
	defer t.Stop()
	var res events.AMD
	select {
	case res = <-r.decided:
	case <-l.done():
		res = r.det.Hangup()
	case <-t.C:
		res = events.AMD{Status: "notsure", Reason: "n/a", Duration: int(amdMaxAnalysis / time.Second)}
	case <-ctx.Done():
		return nil
	}
	c.m.metrics.amd.WithLabelValues(res.Status).Inc()
	c.log.Info("amd result", "status", res.Status, "reason", res.Reason, "duration_s", res.Duration, "frames", r.frames.Load())
	return &res
}

// amdAsync starts a detection that reports through Notify events; it
// stops with the call (stopExtras) or after amdBeepWindow.
func (c *Call) amdAsync(l *leg) {
	ms := l.session()
	if ms == nil {
		return
	}
	r := c.startAMD(ms, true)
	ctx, cancel := context.WithTimeout(context.Background(), amdBeepWindow)
	c.extras.add(cancel)
	c.m.wg.Add(1)
	go func() {
		defer c.m.wg.Done()
		defer cancel()
		defer r.remove()
		notify := func(typ string, res events.AMD) {
			// The analysis window may be over (ctx done): deliver anyway.
			dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), c.m.opts.TeardownTimeout)
			defer dcancel()
			c.sendNotify(dctx, &events.Notify{Type: typ, AMD: &res})
		}
		decided := false
		for {
			select {
			case res := <-r.decided:
				decided = true
				c.m.metrics.amd.WithLabelValues(res.Status).Inc()
				c.log.Info("amd result", "status", res.Status, "reason", res.Reason, "duration_s", res.Duration, "async", true)
				notify("amd", res)
			case res := <-r.beep:
				c.log.Info("amd beep", "duration_s", res.Duration)
				notify("amd_beep", res)
				if decided {
					return
				}
			case <-ctx.Done():
				if !decided && ctx.Err() == context.Canceled { // the call ended first
					res := r.det.Hangup()
					c.m.metrics.amd.WithLabelValues(res.Status).Inc()
					notify("amd", res)
				}
				return
			}
		}
	}()
}

// amdOf returns the connectPstn amd request when detection is enabled.
func amdOf(a *svaml.AMD) *svaml.AMD {
	if a == nil || !a.Enabled {
		return nil
	}
	return a
}
