package call

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/svaml"
)

// extras are background helpers of a call (asynchronous AMD, a WebSocket
// stream, hold music) that must stop when the call ends. Safe for use by
// the actor and tasks.
type extras struct {
	mu      sync.Mutex
	cancels []context.CancelFunc
	stopped bool
}

// add registers a stop function; after the call ended it runs at once.
func (x *extras) add(cancel context.CancelFunc) {
	x.mu.Lock()
	if x.stopped {
		x.mu.Unlock()
		cancel()
		return
	}
	x.cancels = append(x.cancels, cancel)
	x.mu.Unlock()
}

func (c *Call) stopExtras() {
	c.extras.mu.Lock()
	cs := c.extras.cancels
	c.extras.cancels, c.extras.stopped = nil, true
	c.extras.mu.Unlock()
	for _, cancel := range cs {
		cancel()
	}
	if c.holdStop != nil {
		c.holdStop()
		c.holdStop = nil
	}
}

// Hold (re-INVITE with sendonly or inactive).
//
// The media session answers the offer (recvonly or inactive) and stops
// sending to the party who held. When the call is bridged and the connect
// action named hold music (connectSip.moh: ring, music1, music2, music3),
// the other party hears it, looped, until the holder resumes (a sendrecv
// re-INVITE); without moh the other party hears whatever the holder sends
// (many phones play their own music), as the bridge keeps relaying it.
// callcore applies this to either party holding; the reference describes
// the SIP leg holding.

// onHoldChange runs on the actor after a re-INVITE was answered.
func (c *Call) onHoldChange(ctx context.Context, l *leg, held bool) {
	if l.held == held {
		return
	}
	l.held = held
	c.log.Info("hold state changed", "leg", l.role, "held", held)
	if c.holdStop != nil {
		c.holdStop()
		c.holdStop = nil
	}
	if !held || c.bridgeStop == nil || c.holdMusic == "" {
		return
	}
	other := c.callee
	if l == c.callee {
		other = c.caller
	}
	if other == nil {
		return
	}
	ms := other.session()
	if ms == nil {
		return
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.holdStop = cancel
	class := c.holdMusic
	go func() {
		for hctx.Err() == nil {
			a := c.m.deps.Media.MOH(class)
			if a == nil {
				c.log.Warn("unknown hold music class", "class", class)
				return
			}
			if err := ms.Play(hctx, a); err != nil {
				return
			}
		}
	}()
}

// connectStream (reference §5.3, closed beta at Sinch): the caller is
// answered and connected to a WebSocket server (the wire protocol is
// media/wsstream's). The caller's audio streams to the server; what the
// server sends is played to the caller; the caller's DTMF digits are
// forwarded. The call ends when the caller hangs up (the stream is closed
// cleanly), when the server closes the connection or asks for a hangup
// (DiCE reason CALLEEHANGUP: the server is the called party), or at
// maxDuration. There is no ACE: the server is not a telephone party.
func (c *Call) connectStream(ctx context.Context, a *svaml.ConnectStream) {
	if c.m.deps.Streams == nil || c.caller == nil {
		c.log.Error("connectStream is not available on this call", "has_streams", c.m.deps.Streams != nil)
		c.m.metrics.svamlErrors.WithLabelValues("unsupported_action").Inc()
		c.end(ctx, c.answeredResult(), events.ReasonInvalidSVAMLAction)
		return
	}
	if !c.transition(ctx, InputDial) {
		return
	}
	caller := c.caller
	req := StreamRequest{CallID: c.snap.ID, AppKey: c.snap.AppKey, CLI: c.snap.From.Endpoint, To: c.snap.To.Endpoint,
		Custom: c.snap.Custom, URL: a.Destination.Endpoint, Headers: headers(a.CallHeaders)}
	if o := a.StreamingOptions; o != nil {
		req.SampleRate, req.Version = o.SampleRate, o.Version
	}
	var st Stream
	c.spawn(ctx, "connect_stream", func(tctx context.Context) error {
		if caller.in != nil && !caller.isAnswered() {
			if err := c.answer(tctx, caller); err != nil {
				return err
			}
		}
		var err error
		st, err = c.m.deps.Streams.Dial(tctx, req)
		return err
	}, func(err error) {
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return
			}
			c.m.metrics.streams.WithLabelValues("failed").Inc()
			c.log.Error("connectStream failed", "err", err)
			c.end(ctx, c.answeredResult(), events.ReasonGeneralError)
			return
		}
		c.m.metrics.streams.WithLabelValues("connected").Inc()
		c.log.Info("stream connected") // media/wsstream logs the endpoint, redacted
		c.transition(ctx, InputConnected)
		c.armMaxDuration(seconds(a.MaxDuration))
		c.runStream(ctx, caller, st)
	})
}

// runStream pumps audio and digits until the stream or the call ends.
func (c *Call) runStream(ctx context.Context, caller *leg, st Stream) {
	ms := caller.session()
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.extras.add(cancel)
	remove := ms.Tap(func(rx, _ []int16) { st.WriteFrame(rx) })
	c.m.wg.Add(1)
	go func() {
		defer c.m.wg.Done()
		defer remove()
		playDone := make(chan error, 1)
		go func() { playDone <- ms.Play(sctx, st.Audio()) }()
		ended := ""
		for ended == "" {
			select {
			case d := <-ms.Digits():
				if err := st.SendDigit(d); err != nil {
					c.log.Warn("digit not forwarded to the stream", "err", err)
				}
			case <-st.HangupRequested():
				ended = "hangup requested by the stream server"
			case <-st.Done():
				ended = "stream closed by the server"
			case err := <-playDone:
				// The server's audio ended (the stream is closing) or
				// playback failed; Done or the call's end follows.
				if err != nil && sctx.Err() == nil {
					c.log.Warn("stream playback stopped", "err", err)
				}
				playDone = nil
			case <-sctx.Done():
				ended = "call ended"
			}
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		_ = st.Close(cctx)
		cancel()
		c.log.Info("stream ended", "why", ended)
		if ended != "call ended" {
			c.post(ctx, func() { c.end(ctx, c.answeredResult(), events.ReasonCalleeHangup) })
		}
	}()
}
