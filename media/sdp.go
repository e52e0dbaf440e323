package media

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// SDP (RFC 8866, formerly RFC 4566) parsing and the offer/answer model of
// RFC 3264, restricted to what a G.711 voice platform needs: one audio
// stream, PCMU (0) or PCMA (8), RFC 4733 telephone-event, ptime and the
// direction attributes used for hold.

// Limits that keep a hostile description cheap to parse.
const (
	maxSDPSize      = 64 << 10
	maxSDPMedia     = 32
	maxSDPFormats   = 128
	maxSDPAttrPerMD = 512
)

// Payload types and names of the codecs the engine speaks.
const (
	PayloadPCMU = 0
	PayloadPCMA = 8

	// DefaultEventPayload is the payload type of telephone-event in the
	// engine's own offers.
	DefaultEventPayload = 101

	codecPCMU  = "PCMU"
	codecPCMA  = "PCMA"
	codecEvent = "telephone-event"
)

// Direction is an SDP media direction attribute (RFC 3264 §5.1).
type Direction int

// Directions. DirectionUnknown is the zero value: no attribute given.
const (
	DirectionUnknown Direction = iota
	SendRecv
	SendOnly
	RecvOnly
	Inactive
)

// String returns the SDP attribute name, or "unknown".
func (d Direction) String() string {
	switch d {
	case SendRecv:
		return "sendrecv"
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	default:
		return "unknown"
	}
}

// Sends reports whether the side using this direction sends media.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// Receives reports whether the side using this direction receives media.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly }

// Reverse returns the direction the answerer uses for an offered one.
func (d Direction) Reverse() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	default:
		return SendRecv
	}
}

func directionOf(s string) Direction {
	switch s {
	case "sendrecv":
		return SendRecv
	case "sendonly":
		return SendOnly
	case "recvonly":
		return RecvOnly
	case "inactive":
		return Inactive
	}
	return DirectionUnknown
}

// Codec is one payload format of a media description.
type Codec struct {
	PT       uint8  // RTP payload type
	Name     string // encoding name as given, e.g. "PCMU", "telephone-event"
	Rate     int    // clock rate in Hz
	Channels int    // 1 unless the rtpmap says otherwise
	Fmtp     string // format parameters, "" if none
}

func (c Codec) is(name string) bool {
	return strings.EqualFold(c.Name, name) && c.Rate == 8000 && c.Channels == 1
}

// staticCodecs are the RFC 3551 static payload types a description may use
// without an rtpmap.
var staticCodecs = map[uint8]Codec{
	0:  {PT: 0, Name: codecPCMU, Rate: 8000, Channels: 1},
	3:  {PT: 3, Name: "GSM", Rate: 8000, Channels: 1},
	4:  {PT: 4, Name: "G723", Rate: 8000, Channels: 1},
	8:  {PT: 8, Name: codecPCMA, Rate: 8000, Channels: 1},
	9:  {PT: 9, Name: "G722", Rate: 8000, Channels: 1},
	13: {PT: 13, Name: "CN", Rate: 8000, Channels: 1},
	18: {PT: 18, Name: "G729", Rate: 8000, Channels: 1},
}

// SessionDescription is a parsed SDP body.
type SessionDescription struct {
	Origin     Origin
	Name       string
	Connection netip.Addr // session-level c=, invalid when absent
	Direction  Direction  // session-level direction, DirectionUnknown when absent
	Media      []MediaDescription
}

// Origin is the o= line.
type Origin struct {
	Username  string
	SessionID string // numeric string, kept verbatim
	Version   uint64
	Address   string
}

// MediaDescription is one m= section.
type MediaDescription struct {
	Type       string   // "audio", "video", ...
	Port       int      // 0 means the stream is rejected or disabled
	Proto      string   // "RTP/AVP", ...
	Formats    []string // payload formats in preference order, verbatim
	Connection netip.Addr
	Direction  Direction
	Ptime      int // a=ptime in milliseconds, 0 when absent
	rtpmap     map[uint8]Codec
	fmtp       map[uint8]string
}

// Codecs returns the formats of the m-line in preference order, named from
// rtpmap attributes or the static payload table. Formats that are not a
// payload type number, or dynamic types without rtpmap, are skipped.
func (m *MediaDescription) Codecs() []Codec {
	out := make([]Codec, 0, len(m.Formats))
	for _, f := range m.Formats {
		pt, err := strconv.ParseUint(f, 10, 8)
		if err != nil || pt > 127 {
			continue
		}
		c, ok := m.rtpmap[uint8(pt)]
		if !ok {
			c, ok = staticCodecs[uint8(pt)]
			if !ok {
				continue
			}
		}
		c.Fmtp = m.fmtp[uint8(pt)]
		out = append(out, c)
	}
	return out
}

// effectiveConnection returns the media-level c= address, else the
// session-level one.
func (sd *SessionDescription) effectiveConnection(m *MediaDescription) netip.Addr {
	if m.Connection.IsValid() {
		return m.Connection
	}
	return sd.Connection
}

// effectiveDirection returns the media-level direction, else the
// session-level one, else sendrecv (RFC 3264 §5.1 default).
func (sd *SessionDescription) effectiveDirection(m *MediaDescription) Direction {
	if m.Direction != DirectionUnknown {
		return m.Direction
	}
	if sd.Direction != DirectionUnknown {
		return sd.Direction
	}
	return SendRecv
}

func sdpErr(line int, format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrBadSDP, line, fmt.Sprintf(format, args...))
}

// ParseSDP parses a session description. It accepts CRLF or LF line ends and
// ignores attributes and line types it does not use; it rejects bodies
// without v=0, malformed o=, c= or m= lines, and connection addresses that
// are not IP literals. Errors wrap ErrBadSDP.
func ParseSDP(b []byte) (*SessionDescription, error) {
	if len(b) > maxSDPSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadSDP, len(b), maxSDPSize)
	}
	sd := &SessionDescription{}
	var cur *MediaDescription
	sawVersion := false
	lineNo := 0
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		lineNo++
		line = bytes.TrimRight(line, "\r \t")
		if len(line) == 0 {
			continue
		}
		if len(line) < 2 || line[1] != '=' {
			return nil, sdpErr(lineNo, "want <type>=<value>")
		}
		typ, val := line[0], string(line[2:])
		if !sawVersion {
			if typ != 'v' {
				return nil, sdpErr(lineNo, "first line must be v=0")
			}
			if strings.TrimSpace(val) != "0" {
				return nil, sdpErr(lineNo, "unsupported version %q", val)
			}
			sawVersion = true
			continue
		}
		switch typ {
		case 'o':
			if cur != nil {
				return nil, sdpErr(lineNo, "o= inside a media section")
			}
			o, err := parseOrigin(val)
			if err != nil {
				return nil, sdpErr(lineNo, "%v", err)
			}
			sd.Origin = o
		case 's':
			if cur == nil {
				sd.Name = val
			}
		case 'c':
			addr, err := parseConnection(val)
			if err != nil {
				return nil, sdpErr(lineNo, "%v", err)
			}
			if cur != nil {
				cur.Connection = addr
			} else {
				sd.Connection = addr
			}
		case 'm':
			if len(sd.Media) >= maxSDPMedia {
				return nil, sdpErr(lineNo, "more than %d media sections", maxSDPMedia)
			}
			m, err := parseMediaLine(val)
			if err != nil {
				return nil, sdpErr(lineNo, "%v", err)
			}
			sd.Media = append(sd.Media, m)
			cur = &sd.Media[len(sd.Media)-1]
		case 'a':
			if err := parseAttribute(sd, cur, val); err != nil {
				return nil, sdpErr(lineNo, "%v", err)
			}
		case 'v':
			return nil, sdpErr(lineNo, "repeated v= line")
		default:
			// i, u, e, p, b, t, r, z, k: not needed.
		}
	}
	if !sawVersion {
		return nil, fmt.Errorf("%w: empty description", ErrBadSDP)
	}
	return sd, nil
}

func parseOrigin(v string) (Origin, error) {
	f := strings.Fields(v)
	if len(f) != 6 {
		return Origin{}, fmt.Errorf("o= wants 6 fields, got %d", len(f))
	}
	ver, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return Origin{}, fmt.Errorf("o= session version %q is not a number", f[2])
	}
	return Origin{Username: f[0], SessionID: f[1], Version: ver, Address: f[5]}, nil
}

func parseConnection(v string) (netip.Addr, error) {
	f := strings.Fields(v)
	if len(f) != 3 {
		return netip.Addr{}, fmt.Errorf("c= wants 3 fields, got %d", len(f))
	}
	if f[0] != "IN" {
		return netip.Addr{}, fmt.Errorf("c= network type %q is not IN", f[0])
	}
	host := f[2]
	if i := strings.IndexByte(host, '/'); i >= 0 { // multicast TTL / count
		host = host[:i]
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("c= address %q is not an IP address", host)
	}
	switch f[1] {
	case "IP4":
		if !addr.Is4() {
			return netip.Addr{}, fmt.Errorf("c= address %q is not IPv4", host)
		}
	case "IP6":
		if !addr.Is6() || addr.Is4In6() {
			return netip.Addr{}, fmt.Errorf("c= address %q is not IPv6", host)
		}
	default:
		return netip.Addr{}, fmt.Errorf("c= address type %q is not IP4 or IP6", f[1])
	}
	return addr.WithZone(""), nil
}

func parseMediaLine(v string) (MediaDescription, error) {
	f := strings.Fields(v)
	if len(f) < 4 {
		return MediaDescription{}, fmt.Errorf("m= wants at least 4 fields, got %d", len(f))
	}
	portStr := f[1]
	if i := strings.IndexByte(portStr, '/'); i >= 0 {
		portStr = portStr[:i]
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return MediaDescription{}, fmt.Errorf("m= port %q is not 0-65535", f[1])
	}
	if len(f)-3 > maxSDPFormats {
		return MediaDescription{}, fmt.Errorf("m= lists more than %d formats", maxSDPFormats)
	}
	return MediaDescription{Type: f[0], Port: port, Proto: f[2], Formats: f[3:]}, nil
}

func parseAttribute(sd *SessionDescription, m *MediaDescription, v string) error {
	name, value, _ := strings.Cut(v, ":")
	if d := directionOf(name); d != DirectionUnknown {
		if m != nil {
			m.Direction = d
		} else {
			sd.Direction = d
		}
		return nil
	}
	if m == nil {
		return nil // other session-level attributes are not used
	}
	switch name {
	case "rtpmap":
		pt, rest, ok := strings.Cut(value, " ")
		if !ok {
			return fmt.Errorf("a=rtpmap %q wants <pt> <name>/<rate>", value)
		}
		n, err := strconv.ParseUint(pt, 10, 8)
		if err != nil || n > 127 {
			return fmt.Errorf("a=rtpmap payload type %q is not 0-127", pt)
		}
		c, err := parseRTPMap(uint8(n), strings.TrimSpace(rest))
		if err != nil {
			return err
		}
		if m.rtpmap == nil {
			m.rtpmap = make(map[uint8]Codec)
		}
		if len(m.rtpmap) >= maxSDPAttrPerMD {
			return fmt.Errorf("too many a=rtpmap attributes")
		}
		m.rtpmap[uint8(n)] = c
	case "fmtp":
		pt, rest, _ := strings.Cut(value, " ")
		n, err := strconv.ParseUint(pt, 10, 8)
		if err != nil || n > 127 {
			return nil // fmtp for a non-RTP format: not ours to judge
		}
		if m.fmtp == nil {
			m.fmtp = make(map[uint8]string)
		}
		if len(m.fmtp) >= maxSDPAttrPerMD {
			return fmt.Errorf("too many a=fmtp attributes")
		}
		m.fmtp[uint8(n)] = strings.TrimSpace(rest)
	case "ptime":
		ms, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || ms <= 0 || ms > 1000 {
			return fmt.Errorf("a=ptime %q is not 1-1000 ms", value)
		}
		m.Ptime = int(ms)
	}
	return nil
}

func parseRTPMap(pt uint8, v string) (Codec, error) {
	parts := strings.Split(v, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return Codec{}, fmt.Errorf("a=rtpmap %q wants <name>/<rate>[/<channels>]", v)
	}
	rate, err := strconv.Atoi(parts[1])
	if err != nil || rate <= 0 {
		return Codec{}, fmt.Errorf("a=rtpmap clock rate %q is not a positive number", parts[1])
	}
	ch := 1
	if len(parts) == 3 {
		ch, err = strconv.Atoi(parts[2])
		if err != nil || ch <= 0 || ch > 255 {
			return Codec{}, fmt.Errorf("a=rtpmap channels %q is not 1-255", parts[2])
		}
	}
	return Codec{PT: pt, Name: parts[0], Rate: rate, Channels: ch}, nil
}

// Negotiation is the outcome of an offer/answer exchange for the audio
// stream, as seen from the engine's side.
type Negotiation struct {
	Codec          Codec          // PCMU or PCMA, with the payload type used on the wire
	EventPT        uint8          // telephone-event payload type, valid when Events
	Events         bool           // the peer takes RFC 4733 telephone-event
	Remote         netip.AddrPort // where to send RTP; the address may be unspecified (0.0.0.0 hold)
	Local          Direction      // our direction, as written in our SDP
	RemoteDir      Direction      // the peer's direction, as written in its SDP
	RemotePtime    int            // the peer's a=ptime, 0 if absent (we always send 20 ms)
	mediaIndex     int            // index of the audio m-line in the peer's description
	remoteProto    string
	remoteMediaLen int
}

// CanSend reports whether we may send RTP: our direction sends and the peer
// gave a usable address (not 0.0.0.0 or port 0).
func (n Negotiation) CanSend() bool {
	return n.Local.Sends() && n.Remote.Port() != 0 && n.Remote.Addr().IsValid() && !n.Remote.Addr().IsUnspecified()
}

// Held reports whether the stream is on hold in either direction (anything
// but sendrecv, or a 0.0.0.0 connection address). A held session does not
// time out.
func (n Negotiation) Held() bool {
	return n.Local != SendRecv || !n.CanSend()
}

func isRTPAVP(proto string) bool {
	return strings.EqualFold(proto, "RTP/AVP") || strings.EqualFold(proto, "RTP/AVPF")
}

// negotiateOffer chooses the audio stream, codec and telephone-event of a
// remote offer (RFC 3264 §6) and our answering direction.
func negotiateOffer(sd *SessionDescription) (Negotiation, error) {
	idx := -1
	var why []string
	for i := range sd.Media {
		m := &sd.Media[i]
		if m.Type != "audio" {
			continue
		}
		if m.Port == 0 {
			why = append(why, fmt.Sprintf("audio stream %d is disabled (port 0)", i))
			continue
		}
		if !isRTPAVP(m.Proto) {
			why = append(why, fmt.Sprintf("audio stream %d uses %s, only RTP/AVP is supported", i, m.Proto))
			continue
		}
		if _, ok := pickCodec(m.Codecs()); !ok {
			why = append(why, fmt.Sprintf("audio stream %d offers neither PCMU nor PCMA", i))
			continue
		}
		idx = i
		break
	}
	if idx < 0 {
		if len(why) == 0 {
			why = append(why, "no audio stream")
		}
		return Negotiation{}, fmt.Errorf("%w: %s", ErrNoCommonCodec, strings.Join(why, "; "))
	}
	m := &sd.Media[idx]
	codecs := m.Codecs()
	c, _ := pickCodec(codecs)
	addr := sd.effectiveConnection(m)
	if !addr.IsValid() {
		return Negotiation{}, fmt.Errorf("%w: audio stream %d has no connection address", ErrBadSDP, idx)
	}
	n := Negotiation{
		Codec:          c,
		Remote:         netip.AddrPortFrom(addr, uint16(m.Port)),
		RemoteDir:      sd.effectiveDirection(m),
		RemotePtime:    m.Ptime,
		mediaIndex:     idx,
		remoteProto:    m.Proto,
		remoteMediaLen: len(sd.Media),
	}
	if ev, ok := pickEvent(codecs); ok {
		n.Events, n.EventPT = true, ev.PT
	}
	n.Local = n.RemoteDir.Reverse()
	if addr.IsUnspecified() { // RFC 2543 hold: do not send to 0.0.0.0
		switch n.Local {
		case SendRecv:
			n.Local = RecvOnly
		case SendOnly:
			n.Local = Inactive
		}
	}
	return n, nil
}

// negotiateAnswer applies a remote answer to our offer: PCMU/PCMA and
// telephone-event as our offer proposed them, direction intersected with
// sendrecv (RFC 3264 §6.1).
func negotiateAnswer(sd *SessionDescription) (Negotiation, error) {
	if len(sd.Media) == 0 {
		return Negotiation{}, fmt.Errorf("%w: answer has no media section", ErrBadSDP)
	}
	m := &sd.Media[0]
	if m.Type != "audio" {
		return Negotiation{}, fmt.Errorf("%w: answer's first media section is %q, want audio", ErrBadSDP, m.Type)
	}
	if m.Port == 0 {
		return Negotiation{}, fmt.Errorf("%w: the answer rejected the audio stream (port 0)", ErrNoCommonCodec)
	}
	if !isRTPAVP(m.Proto) {
		return Negotiation{}, fmt.Errorf("%w: answer uses %s, only RTP/AVP is supported", ErrNoCommonCodec, m.Proto)
	}
	codecs := m.Codecs()
	c, ok := pickCodec(codecs)
	if !ok {
		return Negotiation{}, fmt.Errorf("%w: the answer accepts neither PCMU nor PCMA", ErrNoCommonCodec)
	}
	addr := sd.effectiveConnection(m)
	if !addr.IsValid() {
		return Negotiation{}, fmt.Errorf("%w: answer has no connection address", ErrBadSDP)
	}
	n := Negotiation{
		Codec:          c,
		Remote:         netip.AddrPortFrom(addr, uint16(m.Port)),
		RemoteDir:      sd.effectiveDirection(m),
		RemotePtime:    m.Ptime,
		remoteProto:    m.Proto,
		remoteMediaLen: len(sd.Media),
	}
	if ev, ok := pickEvent(codecs); ok {
		n.Events, n.EventPT = true, ev.PT
	}
	n.Local = n.RemoteDir.Reverse()
	if addr.IsUnspecified() {
		switch n.Local {
		case SendRecv:
			n.Local = RecvOnly
		case SendOnly:
			n.Local = Inactive
		}
	}
	return n, nil
}

// pickCodec returns the first PCMU or PCMA format in preference order.
func pickCodec(codecs []Codec) (Codec, bool) {
	for _, c := range codecs {
		if c.is(codecPCMU) || c.is(codecPCMA) {
			c.Name = strings.ToUpper(c.Name)
			return c, true
		}
	}
	return Codec{}, false
}

// pickEvent returns the first telephone-event/8000 format.
func pickEvent(codecs []Codec) (Codec, bool) {
	for _, c := range codecs {
		if c.is(codecEvent) {
			return c, true
		}
	}
	return Codec{}, false
}

// localSDP holds what we write about ourselves in every description of one
// session.
type localSDP struct {
	sessionID uint64
	version   uint64
	addr      netip.Addr
	port      int
}

func addrType(a netip.Addr) string {
	if a.Is4() || a.Is4In6() {
		return "IP4"
	}
	return "IP6"
}

func (l *localSDP) header(b *bytes.Buffer) {
	at := addrType(l.addr)
	a := l.addr.Unmap().String()
	fmt.Fprintf(b, "v=0\r\no=callcore %d %d IN %s %s\r\ns=callcore\r\nc=IN %s %s\r\nt=0 0\r\n",
		l.sessionID, l.version, at, a, at, a)
}

func writeAudioAttrs(b *bytes.Buffer, codecs []Codec, dir Direction) {
	for _, c := range codecs {
		fmt.Fprintf(b, "a=rtpmap:%d %s/%d\r\n", c.PT, c.Name, c.Rate)
		if c.Fmtp != "" {
			fmt.Fprintf(b, "a=fmtp:%d %s\r\n", c.PT, c.Fmtp)
		}
	}
	fmt.Fprintf(b, "a=ptime:20\r\na=%s\r\n", dir)
}

// offer writes our offer: PCMU, PCMA, telephone-event 101, ptime 20.
func (l *localSDP) offer(dir Direction) []byte {
	var b bytes.Buffer
	l.header(&b)
	fmt.Fprintf(&b, "m=audio %d RTP/AVP %d %d %d\r\n", l.port, PayloadPCMU, PayloadPCMA, DefaultEventPayload)
	writeAudioAttrs(&b, []Codec{
		{PT: PayloadPCMU, Name: codecPCMU, Rate: 8000},
		{PT: PayloadPCMA, Name: codecPCMA, Rate: 8000},
		{PT: DefaultEventPayload, Name: codecEvent, Rate: 8000, Fmtp: "0-16"},
	}, dir)
	return b.Bytes()
}

// answer writes our answer to a remote offer: the chosen audio m-line
// accepted, every other m-line rejected with port 0 (RFC 3264 §6).
func (l *localSDP) answer(offer *SessionDescription, n Negotiation) []byte {
	var b bytes.Buffer
	l.header(&b)
	for i := range offer.Media {
		m := &offer.Media[i]
		if i != n.mediaIndex {
			fmts := strings.Join(m.Formats, " ")
			fmt.Fprintf(&b, "m=%s 0 %s %s\r\n", m.Type, m.Proto, fmts)
			continue
		}
		codecs := []Codec{{PT: n.Codec.PT, Name: n.Codec.Name, Rate: 8000}}
		fmt.Fprintf(&b, "m=audio %d %s %d", l.port, m.Proto, n.Codec.PT)
		if n.Events {
			fmt.Fprintf(&b, " %d", n.EventPT)
			codecs = append(codecs, Codec{PT: n.EventPT, Name: codecEvent, Rate: 8000, Fmtp: "0-16"})
		}
		b.WriteString("\r\n")
		writeAudioAttrs(&b, codecs, n.Local)
	}
	return b.Bytes()
}
