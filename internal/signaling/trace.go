package signaling

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// maxTracePending bounds the messages a dialog holds for Options.Trace
// until its trace id is set (the INVITE and 100 Trying, typically).
const maxTracePending = 16

// TraceMessage is one SIP message of a call's dialog, as Options.Trace
// sees it: what was sent or received, with its summary headers. Bodies
// are never included; an SDP is summarized.
type TraceMessage struct {
	// At is when the message was sent or received.
	At time.Time
	// TraceID is the id the dialog was given (SetTraceID,
	// DialRequest.TraceID): the call core's call id. Never empty.
	TraceID string
	// SIPCallID is the dialog's SIP Call-ID.
	SIPCallID string
	// Sent: this node sent the message; false: it received it.
	Sent bool
	// Method is the request's method, or for a response the method of
	// its CSeq.
	Method string
	// Code and Reason are the status of a response; 0 and "" for a
	// request.
	Code   int
	Reason string
	// From and To are the user parts of the From and To URIs.
	From, To string
	// CSeq is the sequence number of the CSeq header.
	CSeq uint32
	// ReasonHeader is the Reason header (RFC 3326), if any.
	ReasonHeader string
	// SDP summarizes the message's SDP (codecs and direction per media,
	// see SummarizeSDP); "" without one.
	SDP string
}

// IsRequest reports whether the message is a request.
func (m TraceMessage) IsRequest() bool { return m.Code == 0 }

// Summary is one line: "received INVITE (sdp: audio PCMU,telephone-event
// sendrecv)", "sent 200 OK to INVITE".
func (m TraceMessage) Summary() string {
	var b strings.Builder
	if m.Sent {
		b.WriteString("sent ")
	} else {
		b.WriteString("received ")
	}
	if m.IsRequest() {
		b.WriteString(m.Method)
	} else {
		b.WriteString(strconv.Itoa(m.Code))
		if m.Reason != "" {
			b.WriteByte(' ')
			b.WriteString(m.Reason)
		}
		if m.Method != "" {
			b.WriteString(" to ")
			b.WriteString(m.Method)
		}
	}
	if m.ReasonHeader != "" {
		b.WriteString(" (Reason: ")
		b.WriteString(m.ReasonHeader)
		b.WriteByte(')')
	}
	if m.SDP != "" {
		b.WriteString(" (sdp: ")
		b.WriteString(m.SDP)
		b.WriteByte(')')
	}
	return b.String()
}

// SetTraceID names the dialog for Options.Trace: from now on its messages
// are traced with id, and those it held since it began (up to 16) are
// traced now. The first non-empty id counts.
func (d *dialog) SetTraceID(id string) {
	if d.srv.opts.Trace == nil || id == "" {
		return
	}
	d.traceMu.Lock()
	if d.traceID != "" {
		d.traceMu.Unlock()
		return
	}
	d.traceID = id
	pending := d.tracePending
	d.tracePending = nil
	d.traceMu.Unlock()
	for _, m := range pending {
		m.TraceID = id
		d.srv.opts.Trace(m)
	}
}

// tracing reports whether messages are traced at all.
func (d *dialog) tracing() bool { return d.srv.opts.Trace != nil }

// emit hands m to the hook, or holds it until the trace id is known.
func (d *dialog) emit(m TraceMessage) {
	m.SIPCallID = d.callID
	d.traceMu.Lock()
	id := d.traceID
	if id == "" {
		if len(d.tracePending) < maxTracePending {
			d.tracePending = append(d.tracePending, m)
		}
		d.traceMu.Unlock()
		return
	}
	d.traceMu.Unlock()
	m.TraceID = id
	d.srv.opts.Trace(m)
}

// traceMsg traces a request or response that was sent (or received).
func (d *dialog) traceMsg(sent bool, msg sip.Message) {
	if !d.tracing() || msg == nil {
		return
	}
	m := TraceMessage{At: time.Now(), Sent: sent}
	switch msg := msg.(type) {
	case *sip.Request:
		m.Method = string(msg.Method)
	case *sip.Response:
		m.Code, m.Reason = msg.StatusCode, msg.Reason
	}
	if h := msg.From(); h != nil {
		m.From = h.Address.User
	}
	if h := msg.To(); h != nil {
		m.To = h.Address.User
	}
	if h := msg.CSeq(); h != nil {
		m.CSeq = h.SeqNo
		if m.Code != 0 {
			m.Method = string(h.MethodName)
		}
	}
	if hs := msg.GetHeaders("Reason"); len(hs) > 0 {
		m.ReasonHeader = hs[0].Value()
	}
	if len(msg.Body()) > 0 {
		if sdp, err := sdpBody(msg); err == nil && len(sdp) > 0 {
			m.SDP = SummarizeSDP(sdp)
		}
	}
	d.emit(m)
}

// traceStatus traces a response the SIP stack sent for us without our
// building it (the 487 after a CANCEL), to req.
func (d *dialog) traceStatus(req *sip.Request, code int, reason string) {
	if !d.tracing() || req == nil {
		return
	}
	m := TraceMessage{At: time.Now(), Sent: true, Method: string(req.Method), Code: code, Reason: reason}
	if h := req.From(); h != nil {
		m.From = h.Address.User
	}
	if h := req.To(); h != nil {
		m.To = h.Address.User
	}
	if h := req.CSeq(); h != nil {
		m.CSeq = h.SeqNo
	}
	d.emit(m)
}

// respond sends a response to an in-dialog request and traces it.
func (d *dialog) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, hdrs ...sip.Header) {
	d.srv.respond(tx, req, code, reason, hdrs...)
	d.traceStatus(req, code, reason)
}

// staticPayloads names the static RTP payload types (RFC 3551).
var staticPayloads = map[string]string{"0": "PCMU", "3": "GSM", "4": "G723", "8": "PCMA", "9": "G722", "18": "G729"}

// SummarizeSDP describes an SDP in one line: each media with its codecs
// in offer order and its direction, e.g. "audio PCMU,PCMA,telephone-event
// sendrecv"; media are separated by "; ". It never fails: what it cannot
// read it leaves out.
func SummarizeSDP(sdp []byte) string {
	type media struct {
		kind    string
		formats []string
		names   map[string]string
		dir     string
	}
	var (
		all        []*media
		cur        *media
		sessionDir string
	)
	for line := range bytes.Lines(sdp) {
		l := strings.TrimRight(string(line), "\r\n")
		if len(l) < 2 || l[1] != '=' {
			continue
		}
		v := l[2:]
		switch l[0] {
		case 'm':
			f := strings.Fields(v)
			if len(f) == 0 {
				continue
			}
			cur = &media{kind: f[0], names: map[string]string{}}
			if len(f) > 3 {
				cur.formats = f[3:]
			}
			all = append(all, cur)
		case 'a':
			name, val, _ := strings.Cut(v, ":")
			switch name {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				if cur == nil {
					sessionDir = name
				} else {
					cur.dir = name
				}
			case "rtpmap":
				if cur == nil {
					continue
				}
				pt, enc, ok := strings.Cut(val, " ")
				if !ok {
					continue
				}
				enc, _, _ = strings.Cut(enc, "/")
				cur.names[pt] = enc
			}
		}
		if len(all) >= 8 {
			break
		}
	}
	parts := make([]string, 0, len(all))
	for _, m := range all {
		names := make([]string, 0, len(m.formats))
		for _, pt := range m.formats {
			if len(names) == 8 {
				names = append(names, "…")
				break
			}
			switch n := m.names[pt]; {
			case n != "":
				names = append(names, n)
			case staticPayloads[pt] != "":
				names = append(names, staticPayloads[pt])
			default:
				names = append(names, pt)
			}
		}
		dir := m.dir
		if dir == "" {
			dir = sessionDir
		}
		if dir == "" {
			dir = "sendrecv"
		}
		parts = append(parts, m.kind+" "+strings.Join(names, ",")+" "+dir)
	}
	out := strings.Join(parts, "; ")
	if len(out) > maxSDPSummary {
		out = strings.ToValidUTF8(out[:maxSDPSummary], "") + "…"
	}
	return out
}

// maxSDPSummary bounds what SummarizeSDP returns.
const maxSDPSummary = 256
