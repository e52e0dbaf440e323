package phone

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// A deliberately small SDP (RFC 8866) reader and writer: one audio stream,
// RTP/AVP, G.711 and telephone-event. Offer/answer follows RFC 3264.

const (
	maxSDPSize    = 16 << 10
	maxSDPFormats = 64
	// offerDTMFPT is the dynamic payload type this phone offers for
	// telephone-event (RFC 4733 §7.1.1).
	offerDTMFPT = 101
)

var (
	errSDPNoAudio = errors.New("sdp: no audio stream")
	errSDPNoCodec = errors.New("sdp: no common codec")
)

// rtpMap is one a=rtpmap attribute.
type rtpMap struct {
	name string // encoding name as written, compared case-insensitively
	rate int
}

// sessionDesc is the part of an SDP body the phone uses.
type sessionDesc struct {
	version   uint64 // o= sess-version
	addr      netip.Addr
	port      int // 0: the audio stream is rejected
	formats   []uint8
	rtpmap    map[uint8]rtpMap
	direction Direction
	ptime     int
}

// parseSDP parses an SDP body. It keeps the first m=audio line and ignores
// every other media description. Lines it does not know are skipped;
// malformed lines it needs (v, o, c, m, rtpmap) are errors.
func parseSDP(body []byte) (*sessionDesc, error) {
	if len(body) == 0 {
		return nil, errors.New("sdp: empty body")
	}
	if len(body) > maxSDPSize {
		return nil, fmt.Errorf("sdp: body of %d bytes is too large", len(body))
	}
	d := &sessionDesc{rtpmap: make(map[uint8]rtpMap)}
	var (
		sessionAddr, mediaAddr netip.Addr
		sessionDir, mediaDir   Direction
		inAudio, seenAudio     bool
		inMedia, seenVersion   bool
	)
	for line := range strings.Lines(string(body)) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			continue
		}
		if len(line) < 2 || line[1] != '=' {
			return nil, fmt.Errorf("sdp: malformed line %q", truncate(line))
		}
		typ, val := line[0], line[2:]
		if !seenVersion {
			if typ != 'v' || val != "0" {
				return nil, fmt.Errorf("sdp: first line must be v=0, got %q", truncate(line))
			}
			seenVersion = true
			continue
		}
		switch typ {
		case 'o':
			f := strings.Fields(val)
			if len(f) != 6 {
				return nil, fmt.Errorf("sdp: malformed origin %q", truncate(val))
			}
			v, err := strconv.ParseUint(f[2], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("sdp: origin version: %w", err)
			}
			d.version = v
		case 'c':
			a, err := parseConnection(val)
			if err != nil {
				return nil, err
			}
			switch {
			case inAudio:
				mediaAddr = a
			case !inMedia:
				sessionAddr = a
			}
		case 'm':
			inMedia, inAudio = true, false
			if seenAudio {
				continue
			}
			f := strings.Fields(val)
			if len(f) < 3 || f[0] != "audio" {
				continue
			}
			if len(f) < 4 {
				return nil, fmt.Errorf("sdp: audio stream without formats %q", truncate(val))
			}
			port, err := strconv.Atoi(f[1])
			if err != nil || port < 0 || port > 65535 {
				return nil, fmt.Errorf("sdp: bad audio port %q", f[1])
			}
			if f[2] != "RTP/AVP" {
				return nil, fmt.Errorf("sdp: unsupported profile %q", f[2])
			}
			if len(f)-3 > maxSDPFormats {
				return nil, fmt.Errorf("sdp: %d formats is too many", len(f)-3)
			}
			for _, s := range f[3:] {
				pt, err := strconv.ParseUint(s, 10, 8)
				if err != nil || pt > 127 {
					return nil, fmt.Errorf("sdp: bad payload type %q", s)
				}
				d.formats = append(d.formats, uint8(pt))
			}
			d.port = port
			inAudio, seenAudio = true, true
		case 'a':
			if inMedia && !inAudio {
				continue
			}
			name, value, _ := strings.Cut(val, ":")
			switch name {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				dir := parseDirection(name)
				if inAudio {
					mediaDir = dir
				} else {
					sessionDir = dir
				}
			case "rtpmap":
				if !inAudio {
					continue
				}
				pt, m, err := parseRTPMap(value)
				if err != nil {
					return nil, err
				}
				d.rtpmap[pt] = m
			case "ptime":
				if !inAudio {
					continue
				}
				if p, err := strconv.Atoi(value); err == nil && p > 0 && p <= 1000 {
					d.ptime = p
				}
			}
		}
	}
	if !seenVersion {
		return nil, errors.New("sdp: no v= line")
	}
	if !seenAudio {
		return nil, errSDPNoAudio
	}
	d.addr = mediaAddr
	if !d.addr.IsValid() {
		d.addr = sessionAddr
	}
	if !d.addr.IsValid() && d.port != 0 {
		return nil, errors.New("sdp: audio stream without connection address")
	}
	d.direction = SendRecv
	if sessionDir != DirectionUnknown {
		d.direction = sessionDir
	}
	if mediaDir != DirectionUnknown {
		d.direction = mediaDir
	}
	return d, nil
}

func parseConnection(val string) (netip.Addr, error) {
	f := strings.Fields(val)
	if len(f) != 3 || f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6") {
		return netip.Addr{}, fmt.Errorf("sdp: malformed connection %q", truncate(val))
	}
	host, _, _ := strings.Cut(f[2], "/") // multicast TTL, never used here
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("sdp: connection address: %w", err)
	}
	return a, nil
}

func parseRTPMap(value string) (uint8, rtpMap, error) {
	ptStr, enc, ok := strings.Cut(value, " ")
	pt, err := strconv.ParseUint(ptStr, 10, 8)
	if !ok || err != nil || pt > 127 {
		return 0, rtpMap{}, fmt.Errorf("sdp: malformed rtpmap %q", truncate(value))
	}
	parts := strings.Split(strings.TrimSpace(enc), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return 0, rtpMap{}, fmt.Errorf("sdp: malformed rtpmap %q", truncate(value))
	}
	rate, err := strconv.Atoi(parts[1])
	if err != nil || rate <= 0 {
		return 0, rtpMap{}, fmt.Errorf("sdp: malformed rtpmap rate %q", truncate(value))
	}
	return uint8(pt), rtpMap{name: parts[0], rate: rate}, nil
}

func parseDirection(s string) Direction {
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

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// codecOf tells which codec payload type pt carries in d, if any. Static
// types 0 and 8 count even without an rtpmap (RFC 3551 §6).
func (d *sessionDesc) codecOf(pt uint8) (Codec, bool) {
	if m, ok := d.rtpmap[pt]; ok {
		if m.rate != 8000 {
			return CodecDefault, false
		}
		switch {
		case strings.EqualFold(m.name, "PCMU"):
			return PCMU, true
		case strings.EqualFold(m.name, "PCMA"):
			return PCMA, true
		}
		return CodecDefault, false
	}
	switch pt {
	case 0:
		return PCMU, true
	case 8:
		return PCMA, true
	}
	return CodecDefault, false
}

// dtmfPT returns the payload type of telephone-event/8000 in d, or -1.
func (d *sessionDesc) dtmfPT() int {
	for _, pt := range d.formats {
		if m, ok := d.rtpmap[pt]; ok && strings.EqualFold(m.name, "telephone-event") && m.rate == 8000 {
			return int(pt)
		}
	}
	return -1
}

// mediaParams is the negotiated result of an offer/answer exchange.
type mediaParams struct {
	codec     Codec
	pt        uint8
	dtmfPT    int            // -1: none
	remote    netip.AddrPort // invalid: do not send (port 0 or 0.0.0.0 hold)
	remoteDir Direction      // the direction the peer wrote
}

// negotiate picks, from a peer description (an offer or an answer), the
// first codec in the peer's order that is in allowed.
func negotiate(d *sessionDesc, allowed []Codec) (mediaParams, error) {
	if d.port == 0 {
		return mediaParams{}, errSDPNoAudio
	}
	for _, pt := range d.formats {
		c, ok := d.codecOf(pt)
		if !ok || !containsCodec(allowed, c) {
			continue
		}
		p := mediaParams{codec: c, pt: pt, dtmfPT: d.dtmfPT(), remoteDir: d.direction}
		if d.addr.IsValid() && !d.addr.IsUnspecified() {
			p.remote = netip.AddrPortFrom(d.addr, uint16(d.port))
		}
		return p, nil
	}
	return mediaParams{}, errSDPNoCodec
}

func containsCodec(list []Codec, c Codec) bool {
	for _, x := range list {
		if x == c {
			return true
		}
	}
	return false
}

// sdpWriter builds this phone's SDP bodies; version increments per body.
type sdpWriter struct {
	sessID  uint64
	version uint64
	addr    netip.Addr
	port    int
}

// offer writes an offer listing codecs in order plus telephone-event.
func (w *sdpWriter) offer(codecs []Codec, dir Direction) []byte {
	pts := make([]uint8, 0, len(codecs)+1)
	maps := make(map[uint8]string, len(codecs)+1)
	for _, c := range codecs {
		pts = append(pts, c.staticPT())
		maps[c.staticPT()] = c.String()
	}
	pts = append(pts, offerDTMFPT)
	maps[offerDTMFPT] = "telephone-event"
	return w.write(pts, maps, dir)
}

// answer writes an answer with the negotiated codec and, if the offer had
// one, telephone-event, using the offerer's payload type numbers.
func (w *sdpWriter) answer(p mediaParams, dir Direction) []byte {
	pts := []uint8{p.pt}
	maps := map[uint8]string{p.pt: p.codec.String()}
	if p.dtmfPT >= 0 {
		pts = append(pts, uint8(p.dtmfPT))
		maps[uint8(p.dtmfPT)] = "telephone-event"
	}
	return w.write(pts, maps, dir)
}

func (w *sdpWriter) write(pts []uint8, maps map[uint8]string, dir Direction) []byte {
	w.version++
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\n")
	fmt.Fprintf(&b, "o=- %d %d IN IP4 %s\r\n", w.sessID, w.version, w.addr)
	fmt.Fprintf(&b, "s=callcore-test-phone\r\n")
	fmt.Fprintf(&b, "c=IN IP4 %s\r\n", w.addr)
	fmt.Fprintf(&b, "t=0 0\r\n")
	fmt.Fprintf(&b, "m=audio %d RTP/AVP", w.port)
	for _, pt := range pts {
		fmt.Fprintf(&b, " %d", pt)
	}
	b.WriteString("\r\n")
	for _, pt := range pts {
		fmt.Fprintf(&b, "a=rtpmap:%d %s/8000\r\n", pt, maps[pt])
		if maps[pt] == "telephone-event" {
			fmt.Fprintf(&b, "a=fmtp:%d 0-16\r\n", pt)
		}
	}
	fmt.Fprintf(&b, "a=ptime:20\r\n")
	fmt.Fprintf(&b, "a=%s\r\n", dir)
	return []byte(b.String())
}

// answerDirection is the direction an answerer with local preference want
// writes for an offer with direction offered (RFC 3264 §6.1).
func answerDirection(offered, want Direction) Direction {
	return directionOf(want.sends() && offered.receives(), want.receives() && offered.sends())
}
