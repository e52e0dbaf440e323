package signaling

import (
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// traces collects what Options.Trace sees.
type traces struct {
	mu   sync.Mutex
	msgs []TraceMessage
}

func (tr *traces) hook(m TraceMessage) {
	tr.mu.Lock()
	tr.msgs = append(tr.msgs, m)
	tr.mu.Unlock()
}

func (tr *traces) all() []TraceMessage {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]TraceMessage(nil), tr.msgs...)
}

func (tr *traces) summaries() []string {
	var out []string
	for _, m := range tr.all() {
		out = append(out, m.Summary())
	}
	return out
}

// waitFor waits until the summaries contain want in this order.
func (tr *traces) waitFor(t *testing.T, want ...string) {
	t.Helper()
	if !assert.Eventually(t, func() bool { return isSubsequence(tr.summaries(), want) }, wait, 5*time.Millisecond) {
		t.Fatalf("want %q in order, have %q", want, tr.summaries())
	}
}

func isSubsequence(have, want []string) bool {
	i := 0
	for _, h := range have {
		if i < len(want) && h == want[i] {
			i++
		}
	}
	return i == len(want)
}

// An inbound call's messages are held until the call core names the
// dialog, then traced in order with the name.
func TestTraceInbound(t *testing.T) {
	tr := &traces{}
	ts := newTestServer(t, Options{Trace: tr.hook})
	p := newPhone(t, phoneOpts{})
	ctx := ctxT(t)
	type result struct {
		resp []*sip.Response
		err  error
		ack  func() error
		bye  func() error
	}
	res := make(chan result, 1)
	go func() {
		s, r, err := p.call(ctx, p.uriOf("+15550001111", ts.addr(p.transport)), []byte(offerSDP), sip.NewHeader("Reason", "Q.850;cause=16"))
		rr := result{resp: r, err: err}
		if s != nil {
			rr.ack = func() error { return s.Ack(ctx) }
			rr.bye = func() error { return s.Bye(ctx) }
		}
		res <- rr
	}()
	in := ts.nextCall(t)
	time.Sleep(50 * time.Millisecond)
	assert.Empty(t, tr.all(), "nothing is traced before the dialog has an id")
	in.SetTraceID("call-1")
	in.SetTraceID("call-2") // the first id counts
	tr.waitFor(t, "received INVITE (Reason: Q.850;cause=16) (sdp: audio PCMU,telephone-event sendrecv)", "sent 100 Trying to INVITE")

	require.NoError(t, in.Ring(ctx, nil))
	answered := make(chan error, 1)
	go func() { answered <- in.Answer(ctx, []byte(ourSDP)) }()
	r := recvTimeout(t, res, wait, "phone answer")
	require.NoError(t, r.err)
	require.NoError(t, r.ack())
	require.NoError(t, recvTimeout(t, answered, wait, "Answer after ACK"))
	require.NoError(t, r.bye())
	waitDone(t, in.Done(), "dialog end")

	tr.waitFor(t,
		"received INVITE (Reason: Q.850;cause=16) (sdp: audio PCMU,telephone-event sendrecv)",
		"sent 100 Trying to INVITE",
		"sent 180 Ringing to INVITE",
		"sent 200 OK to INVITE (sdp: audio PCMU sendrecv)",
		"received ACK",
		"received BYE",
		"sent 200 OK to BYE",
	)
	for _, m := range tr.all() {
		assert.Equal(t, "call-1", m.TraceID)
		assert.Equal(t, in.CallID(), m.SIPCallID)
		assert.Equal(t, "testphone", m.From)
		assert.Equal(t, "+15550001111", m.To)
		assert.NotZero(t, m.CSeq)
		assert.False(t, m.At.IsZero())
	}
	assert.Len(t, tr.all(), 7, "%q", tr.summaries())
}

// A dial carries its trace id from the INVITE on.
func TestTraceOutbound(t *testing.T) {
	tr := &traces{}
	ts := newTestServer(t, Options{Trace: tr.hook})
	p := newPhone(t, phoneOpts{})
	_, sessions := answering(p)
	ctx := ctxT(t)
	o, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetSIP, Value: "sip:" + p.endpoint()}, CLI: "46708000000",
		SDP: []byte(ourSDP), TraceID: "call-9"})
	require.NoError(t, err)
	_, err = o.WaitAnswer(ctx)
	require.NoError(t, err)
	s := recvTimeout(t, sessions, wait, "phone session")
	require.NoError(t, s.Bye(ctx))
	waitDone(t, o.Done(), "end")
	tr.waitFor(t,
		"sent INVITE (sdp: audio PCMU sendrecv)",
		"received 200 OK to INVITE (sdp: audio PCMA sendrecv)",
		"sent ACK",
		"received BYE",
		"sent 200 OK to BYE",
	)
	for _, m := range tr.all() {
		assert.Equal(t, "call-9", m.TraceID)
		assert.Equal(t, o.CallID(), m.SIPCallID)
	}
	assert.Equal(t, "+46708000000", tr.all()[0].From)
}

// Without a hook nothing is held and SetTraceID does nothing.
func TestTraceOff(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPhone(t, phoneOpts{})
	ctx := ctxT(t)
	go func() { _, _, _ = p.call(ctx, p.uriOf("+15550001111", ts.addr(p.transport)), []byte(offerSDP)) }()
	in := ts.nextCall(t)
	in.SetTraceID("x")
	in.traceMu.Lock()
	assert.Empty(t, in.tracePending)
	assert.Empty(t, in.traceID)
	in.traceMu.Unlock()
	require.NoError(t, in.Reject(ctx, 486, ""))
}

func TestSummarizeSDP(t *testing.T) {
	assert.Equal(t, "audio PCMU,telephone-event sendrecv", SummarizeSDP([]byte(offerSDP)))
	assert.Equal(t, "audio PCMA,G729,opus sendonly; video 96 inactive", SummarizeSDP([]byte(
		"v=0\r\na=sendonly\r\nm=audio 1 RTP/AVP 8 18 111\r\na=rtpmap:111 opus/48000/2\r\nm=video 2 RTP/AVP 96\r\na=inactive\r\n")))
	assert.Equal(t, "", SummarizeSDP([]byte("not sdp")))
	assert.Equal(t, "audio  sendrecv", SummarizeSDP([]byte("m=audio\n")))
	long := SummarizeSDP([]byte("m=audio 1 RTP/AVP " + strings.Repeat("x", 400) + "\n"))
	assert.LessOrEqual(t, len(long), maxSDPSummary+len("…"))
}

func TestTraceMessageSummary(t *testing.T) {
	assert.Equal(t, "sent 487 Request Terminated to INVITE", TraceMessage{Sent: true, Code: 487, Reason: "Request Terminated", Method: "INVITE"}.Summary())
	assert.Equal(t, "received CANCEL", TraceMessage{Method: "CANCEL"}.Summary())
}

// SDP comes from outside: summarizing it never panics and stays short.
func FuzzSummarizeSDP(f *testing.F) {
	f.Add([]byte(offerSDP))
	f.Add([]byte(ourSDP))
	f.Add([]byte("m=audio 1 RTP/AVP 0\na=rtpmap:0\na=sendonly\nm=\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := SummarizeSDP(b)
		if len(s) > maxSDPSummary+len("…") {
			t.Fatalf("summary of %d bytes", len(s))
		}
		if utf8.Valid(b) && !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 summary %q", s)
		}
	})
}
