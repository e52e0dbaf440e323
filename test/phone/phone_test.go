package phone

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	callTimeout = 10 * time.Second
	loudRMS     = 1000.0 // a -12 dBFS tone has an RMS near 5800
	speechRMS   = 300.0
)

var toneCandidates = []float64{400, 697, 1000, 1209, 1500, 2000, 3000}

// dialPair starts phone A, phone B (auto-answer) and a call from A to B.
func dialPair(t *testing.T, aOpts, bOpts Options) (a, b *Phone, ac, bc *Call) {
	t.Helper()
	if aOpts.User == "" {
		aOpts.User = "alice"
	}
	if bOpts.User == "" {
		bOpts.User = "bob"
	}
	bOpts.Answer = AnswerAuto
	a, b = New(t, aOpts), New(t, bOpts)
	ctx := timeout(t, callTimeout)
	ac, err := a.Dial(ctx, b.URI(), DialOptions{})
	require.NoError(t, err)
	bc, err = b.NextCall(ctx)
	require.NoError(t, err)
	return a, b, ac, bc
}

// saveOnFailure writes a call's recording to the test's temp dir when the
// test fails, and logs where.
func saveOnFailure(t *testing.T, name string, c *Call) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		path := filepath.Join(t.TempDir(), name+".wav")
		if err := WriteWAV(path, c.Recording()); err != nil {
			t.Logf("saving %s: %v", name, err)
			return
		}
		t.Logf("%s recording: %s", name, path)
	})
}

func TestCallCarriesToneAndSpeech(t *testing.T) {
	t.Parallel()
	_, _, ac, bc := dialPair(t, Options{}, Options{})
	saveOnFailure(t, "a", ac)
	saveOnFailure(t, "b", bc)
	ctx := timeout(t, callTimeout)
	assert.Equal(t, PCMU, ac.Codec())
	assert.Equal(t, PCMU, bc.Codec())
	assert.Equal(t, ac.CallID(), bc.CallID())
	assert.True(t, ac.Outbound())
	assert.False(t, bc.Outbound())

	// A → B: a 1 kHz tone.
	require.NoError(t, ac.PlayTone(ctx, 1000, 600*time.Millisecond))
	require.NoError(t, bc.WaitAudio(ctx, 500*time.Millisecond, loudRMS))
	rec := activePart(bc.Recording(), loudRMS)
	assert.Equal(t, 1000.0, DominantFrequency(rec, toneCandidates))
	share := Goertzel(rec, 8000, 1000) / (RMS(rec) * RMS(rec))
	assert.Greater(t, share, 0.9, "nearly all received power is at 1 kHz")
	assert.False(t, SpeechLike(bc.Recording()), "a tone is not speech: %v", speechScore(bc.Recording()))

	// B → A: speech from espeak-ng.
	words := speech(t, "hello world")
	require.NoError(t, bc.Play(ctx, words))
	require.NoError(t, ac.WaitAudio(ctx, 400*time.Millisecond, speechRMS))
	got := ac.Recording()
	assert.True(t, SpeechLike(got), "speech not detected: %v", speechScore(got))
	assert.InDelta(t, RMS(activePart(words, speechRMS)), RMS(activePart(got, speechRMS)), 0.1*RMS(words),
		"G.711 keeps the level")
	assert.Zero(t, ac.Stats().Unexpected)
	assert.Zero(t, bc.Stats().Unexpected)
}

// activePart keeps the 20 ms frames with an RMS of at least min.
func activePart(samples []int16, minRMS float64) []int16 {
	var out []int16
	for i := 0; i+frameSamples <= len(samples); i += frameSamples {
		if f := samples[i : i+frameSamples]; RMS(f) >= minRMS {
			out = append(out, f...)
		}
	}
	return out
}

func TestDTMF(t *testing.T) {
	t.Parallel()
	for _, mode := range []DTMFMode{DTMFRFC4733, DTMFInfo} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			_, _, ac, bc := dialPair(t, Options{DTMFMode: mode}, Options{DTMFMode: mode})
			ctx := timeout(t, callTimeout)
			const aDigits, bDigits = "0123456789*#ABCD", "#91*"
			errs := make(chan error, 2)
			go func() { errs <- ac.SendDTMF(ctx, aDigits) }()
			go func() { errs <- bc.SendDTMF(ctx, bDigits) }()
			require.NoError(t, <-errs)
			require.NoError(t, <-errs)

			got, err := bc.WaitDTMF(ctx, len(aDigits))
			require.NoError(t, err)
			assert.Equal(t, aDigits, got)
			got, err = ac.WaitDTMF(ctx, len(bDigits))
			require.NoError(t, err)
			assert.Equal(t, bDigits, got)

			// Repeated end packets must not count twice: let more RTP
			// through and check again.
			require.NoError(t, bc.WaitPackets(ctx, bc.Packets()+10))
			assert.Equal(t, aDigits, bc.ReceivedDTMF())
			assert.Equal(t, bDigits, ac.ReceivedDTMF())
			if mode == DTMFInfo {
				assert.Zero(t, bc.Stats().Events, "INFO mode sends no RTP events")
			} else {
				assert.GreaterOrEqual(t, bc.Stats().Events, len(aDigits)*(dtmfToneTicks+dtmfEndPackets-1))
			}
		})
	}
}

func TestSendDTMFRejectsBadDigits(t *testing.T) {
	t.Parallel()
	_, _, ac, _ := dialPair(t, Options{}, Options{})
	require.ErrorIs(t, ac.SendDTMF(timeout(t, callTimeout), "12x"), errNotDigit)
}

func TestHoldAndUnhold(t *testing.T) {
	t.Parallel()
	for _, holder := range []string{"caller", "callee"} {
		t.Run(holder, func(t *testing.T) {
			t.Parallel()
			_, _, ac, bc := dialPair(t, Options{}, Options{})
			h, o := ac, bc // holder, other
			if holder == "callee" {
				h, o = bc, ac
			}
			ctx := timeout(t, callTimeout)
			require.NoError(t, h.WaitPackets(ctx, 5))

			require.NoError(t, h.Hold(ctx))
			assert.Equal(t, SendOnly, h.LocalDirection())
			assert.Equal(t, RecvOnly, h.RemoteDirection())
			assert.Equal(t, RecvOnly, o.LocalDirection())
			assert.Equal(t, SendOnly, o.RemoteDirection())
			assert.Contains(t, o.RemoteSDP(), "a=sendonly")

			// The held side stops sending; the holder still sends.
			sent := o.Stats().Sent
			recv := h.Packets()
			require.NoError(t, o.WaitPackets(ctx, o.Packets()+10))
			assert.Equal(t, sent, o.Stats().Sent, "held phone sends nothing")
			assert.LessOrEqual(t, h.Packets()-recv, 2, "holder receives at most what was in flight")
			require.NoError(t, h.PlayTone(ctx, 1000, 200*time.Millisecond))
			require.NoError(t, o.WaitAudio(ctx, 160*time.Millisecond, loudRMS))

			require.NoError(t, h.Unhold(ctx))
			assert.Equal(t, SendRecv, h.LocalDirection())
			assert.Equal(t, SendRecv, o.LocalDirection())
			require.NoError(t, h.WaitPackets(ctx, h.Packets()+5))
			assert.Greater(t, o.Stats().Sent, sent)
		})
	}
}

func TestHangup(t *testing.T) {
	t.Parallel()
	for _, side := range []string{"caller", "callee"} {
		t.Run(side, func(t *testing.T) {
			t.Parallel()
			a, b, ac, bc := dialPair(t, Options{}, Options{})
			h, o := ac, bc
			if side == "callee" {
				h, o = bc, ac
			}
			ctx := timeout(t, callTimeout)
			require.NoError(t, h.Hangup(ctx))
			by, err := o.WaitEnd(ctx)
			require.NoError(t, err)
			assert.Equal(t, EndRemote, by)
			<-h.Done()
			assert.Equal(t, EndLocal, h.EndedBy())
			require.ErrorIs(t, h.Hangup(ctx), ErrCallEnded)
			require.ErrorIs(t, o.Hangup(ctx), ErrCallEnded)
			require.ErrorIs(t, o.Play(ctx, Tone(1000, time.Second, 1000)), ErrCallEnded)
			assert.Zero(t, a.ActiveCalls())
			assert.Zero(t, b.ActiveCalls())
		})
	}
}

func TestRejectGivesStatusError(t *testing.T) {
	t.Parallel()
	t.Run("auto", func(t *testing.T) {
		t.Parallel()
		a := New(t, Options{User: "alice"})
		b := New(t, Options{User: "bob", Answer: AnswerReject, RejectCode: 486})
		ctx := timeout(t, callTimeout)
		_, err := a.Dial(ctx, b.URI(), DialOptions{})
		var se *StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 486, se.Code)
		inc, err := b.NextIncoming(ctx)
		require.NoError(t, err)
		_, err = inc.Call(ctx)
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 486, se.Code)
		assert.Error(t, inc.WaitCancel(ctx), "rejected, not canceled")
		assert.Zero(t, a.ActiveCalls())
		assert.Zero(t, b.ActiveCalls())
	})
	t.Run("manual", func(t *testing.T) {
		t.Parallel()
		a := New(t, Options{User: "alice"})
		b := New(t, Options{User: "bob"})
		ctx := timeout(t, callTimeout)
		go func() {
			inc, err := b.NextIncoming(ctx)
			if err != nil {
				return // the Dial below fails on its own then
			}
			_ = inc.Ring()
			_ = inc.Reject(603)
		}()
		_, err := a.Dial(ctx, b.URI(), DialOptions{})
		var se *StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 603, se.Code)
	})
}

func TestCancelWhileRinging(t *testing.T) {
	t.Parallel()
	a := New(t, Options{User: "alice"})
	b := New(t, Options{User: "bob", Answer: AnswerNever})
	ctx := timeout(t, callTimeout)
	dialCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, err := a.Dial(dialCtx, b.URI(), DialOptions{OnProgress: func(code int, _ *Call) {
		if code == 180 {
			cancel()
		}
	}})
	require.ErrorIs(t, err, context.Canceled)
	inc, err := b.NextIncoming(ctx)
	require.NoError(t, err)
	require.NoError(t, inc.WaitCancel(ctx))
	_, err = inc.Answer()
	require.ErrorIs(t, err, ErrCanceled)
	assert.Zero(t, a.ActiveCalls())
	assert.Zero(t, b.ActiveCalls())
}

func TestCodecNegotiation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		a, b     Options
		want     Codec
		wantCode int
	}{
		{"PCMA offer first wins", Options{Codec: PCMA}, Options{Codec: PCMU}, PCMA, 0},
		{"answerer allows only PCMU", Options{Codec: PCMA}, Options{Codec: PCMU, OnlyCodec: true}, PCMU, 0},
		{"answerer allows only PCMA", Options{Codec: PCMU}, Options{Codec: PCMA, OnlyCodec: true}, PCMA, 0},
		{"no common codec", Options{Codec: PCMA, OnlyCodec: true}, Options{Codec: PCMU, OnlyCodec: true}, 0, 488},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.a.User, tt.b.User, tt.b.Answer = "alice", "bob", AnswerAuto
			a, b := New(t, tt.a), New(t, tt.b)
			ctx := timeout(t, callTimeout)
			ac, err := a.Dial(ctx, b.URI(), DialOptions{})
			if tt.wantCode != 0 {
				var se *StatusError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tt.wantCode, se.Code)
				return
			}
			require.NoError(t, err)
			bc, err := b.NextCall(ctx)
			require.NoError(t, err)
			assert.Equal(t, tt.want, ac.Codec())
			assert.Equal(t, tt.want, bc.Codec())
			assert.Contains(t, ac.RemoteSDP(), "a=rtpmap:"+map[Codec]string{PCMU: "0 PCMU", PCMA: "8 PCMA"}[tt.want])
			require.NoError(t, bc.PlayTone(ctx, 697, 200*time.Millisecond))
			require.NoError(t, ac.WaitAudio(ctx, 160*time.Millisecond, loudRMS))
			assert.Equal(t, 697.0, DominantFrequency(activePart(ac.Recording(), loudRMS), toneCandidates))
		})
	}
}

func TestTCP(t *testing.T) {
	t.Parallel()
	a, b, ac, bc := dialPair(t, Options{Transport: "tcp"}, Options{Transport: "tcp"})
	assert.Contains(t, b.URI(), "transport=tcp")
	assert.Contains(t, a.URI(), "transport=tcp")
	ctx := timeout(t, callTimeout)
	require.NoError(t, ac.PlayTone(ctx, 1000, 200*time.Millisecond))
	require.NoError(t, bc.WaitAudio(ctx, 160*time.Millisecond, loudRMS))
	require.NoError(t, bc.Hold(ctx))
	require.NoError(t, bc.Unhold(ctx))
	require.NoError(t, bc.Hangup(ctx))
	by, err := ac.WaitEnd(ctx)
	require.NoError(t, err)
	assert.Equal(t, EndRemote, by)
}

func TestDialHeadersAndFrom(t *testing.T) {
	t.Parallel()
	a := New(t, Options{User: "alice"})
	b := New(t, Options{User: "bob", Answer: AnswerAuto, NoRinging: true, AnswerDelay: 10 * time.Millisecond})
	ctx := timeout(t, callTimeout)
	ac, err := a.Dial(ctx, b.URI(), DialOptions{
		Headers:     map[string]string{"X-Foo": "bar", "X-Tenant": "t1"},
		FromUser:    "+15551234",
		FromDisplay: "Alice Example",
	})
	require.NoError(t, err)
	assert.NotContains(t, ac.Provisional(), 180)
	inc, err := b.NextIncoming(ctx)
	require.NoError(t, err)
	assert.Equal(t, "bar", inc.Header("X-Foo"))
	assert.Equal(t, "t1", inc.Header("x-tenant"))
	assert.Empty(t, inc.Header("X-Missing"))
	assert.Equal(t, "+15551234", inc.FromUser())
	assert.Equal(t, "Alice Example", inc.FromDisplay())
	assert.Equal(t, "sip:+15551234@127.0.0.1", inc.From())
	assert.Equal(t, "bob", inc.ToUser())
	assert.True(t, strings.HasPrefix(inc.RequestURI(), "sip:bob@127.0.0.1:"))
	assert.Equal(t, ac.CallID(), inc.CallID())
	assert.Contains(t, inc.RemoteSDP(), "telephone-event/8000")
	assert.Equal(t, sip.INVITE, inc.Request().Method)
}

func TestEarlyMedia(t *testing.T) {
	t.Parallel()
	a := New(t, Options{User: "alice"})
	b := New(t, Options{User: "bob"})
	ctx := timeout(t, callTimeout)

	early := make(chan *Call, 1)
	type result struct {
		c   *Call
		err error
	}
	answered := make(chan result, 1)
	go func() {
		c, err := a.Dial(ctx, b.URI(), DialOptions{OnProgress: func(code int, c *Call) {
			if code == 183 {
				early <- c
			}
		}})
		answered <- result{c, err}
	}()
	inc, err := b.NextIncoming(ctx)
	require.NoError(t, err)
	bc, err := inc.Progress()
	require.NoError(t, err)
	var ac *Call
	select {
	case ac = <-early:
	case <-ctx.Done():
		t.Fatal("no 183")
	}
	require.NoError(t, bc.PlayTone(ctx, 400, 200*time.Millisecond))
	require.NoError(t, ac.WaitAudio(ctx, 160*time.Millisecond, loudRMS), "early media reaches the caller")
	assert.Zero(t, ac.Stats().Sent, "the caller sends nothing before the answer")

	bc2, err := inc.Answer()
	require.NoError(t, err)
	assert.Same(t, bc, bc2)
	res := <-answered
	require.NoError(t, res.err)
	assert.Same(t, ac, res.c)
	assert.Equal(t, bc.LocalSDP(), ac.RemoteSDP(), "the 200 repeats the 183's SDP")
	require.NoError(t, ac.PlayTone(ctx, 1000, 100*time.Millisecond))
	require.NoError(t, bc.WaitAudio(ctx, 80*time.Millisecond, loudRMS))
}

func TestLateOfferReInvite(t *testing.T) {
	t.Parallel()
	_, _, ac, bc := dialPair(t, Options{}, Options{})
	ctx := timeout(t, callTimeout)
	// A re-INVITE without SDP: B offers in its 200, A answers in the ACK.
	var p mediaParams
	res, err := ac.request(ctx, sip.NewRequest(sip.INVITE, ac.remoteTarget()), func(res *sip.Response) []byte {
		offer, err := parseSDP(res.Body())
		if err != nil {
			return nil
		}
		if p, err = negotiate(offer, []Codec{PCMA}); err != nil {
			return nil
		}
		ac.mu.Lock()
		defer ac.mu.Unlock()
		return ac.sdp.answer(p, SendRecv)
	})
	require.NoError(t, err)
	require.True(t, res.IsSuccess())
	require.Equal(t, PCMA, p.codec, "B offers both codecs")
	ac.media.configure(p, SendRecv)
	ac.mu.Lock()
	ac.params = p
	ac.mu.Unlock()

	// B switches to PCMA when the ACK arrives; then PCMA audio flows both ways.
	require.NoError(t, ac.PlayTone(ctx, 1000, 300*time.Millisecond))
	require.NoError(t, bc.WaitAudio(ctx, 200*time.Millisecond, loudRMS))
	assert.Equal(t, PCMA, bc.Codec())
	assert.Equal(t, 1000.0, DominantFrequency(activePart(bc.Recording(), loudRMS), toneCandidates))
}

func TestOptionsAnswered(t *testing.T) {
	t.Parallel()
	a := New(t, Options{User: "alice"})
	b := New(t, Options{User: "bob"})
	var uri sip.Uri
	require.NoError(t, sip.ParseUri(b.URI(), &uri))
	res, err := a.cli.Do(timeout(t, callTimeout), sip.NewRequest(sip.OPTIONS, uri))
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	assert.Contains(t, res.GetHeader("Allow").Value(), "INVITE")
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{Transport: "sctp"},
		{Codec: Codec(9)},
		{RejectCode: 200},
		{AnswerDelay: -time.Second},
		{DTMFMode: DTMFMode(7)},
		{Answer: AnswerMode(9)},
	} {
		_, err := newPhone(t, o)
		assert.Error(t, err, "%+v", o)
	}
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	a := New(t, Options{User: "alice"})
	ctx := timeout(t, callTimeout)
	_, err := a.Dial(ctx, "sip:bob@127.0.0.1:notaport", DialOptions{})
	require.Error(t, err)

	// Nobody listens: the dial ends with the context, not a hang.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = a.Dial(short, "sip:bob@127.0.0.1:9", DialOptions{})
	require.Error(t, err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Zero(t, a.ActiveCalls())
}

func TestUpdateOffer(t *testing.T) {
	t.Parallel()
	_, _, ac, bc := dialPair(t, Options{}, Options{})
	ctx := timeout(t, callTimeout)
	update := func(body []byte) *sip.Response {
		req := sip.NewRequest(sip.UPDATE, ac.remoteTarget())
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
		res, err := ac.request(ctx, req, nil)
		require.NoError(t, err)
		return res
	}
	ac.mu.Lock()
	hold := ac.sdp.offer([]Codec{PCMU}, SendOnly)
	g722 := []byte(strings.Replace(string(ac.sdp.offer([]Codec{PCMU}, SendRecv)), "RTP/AVP 0 101", "RTP/AVP 9 101", 1))
	ac.mu.Unlock()

	res := update(hold)
	require.Equal(t, 200, res.StatusCode)
	answer, err := parseSDP(res.Body())
	require.NoError(t, err)
	assert.Equal(t, RecvOnly, answer.direction)
	assert.Equal(t, RecvOnly, bc.LocalDirection())

	res = update(g722)
	assert.Equal(t, 488, res.StatusCode, "an offer without G.711 is not acceptable")
	assert.Equal(t, RecvOnly, bc.LocalDirection(), "a refused offer changes nothing")

	res = update([]byte("garbage"))
	assert.Equal(t, 400, res.StatusCode)
}

func TestPauseRTP(t *testing.T) {
	t.Parallel()
	_, _, ac, bc := dialPair(t, Options{}, Options{})
	ctx := timeout(t, callTimeout)
	require.NoError(t, ac.WaitPackets(ctx, 5))
	bc.PauseRTP()
	sent := bc.Stats().Sent
	require.NoError(t, bc.WaitPackets(ctx, bc.Packets()+10))
	assert.Equal(t, sent, bc.Stats().Sent, "a paused phone sends nothing")
	assert.Equal(t, SendRecv, bc.LocalDirection(), "without any signalling")
	bc.ResumeRTP()
	require.NoError(t, ac.WaitPackets(ctx, ac.Packets()+5))
}
