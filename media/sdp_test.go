package media

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func sdp(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n") }

var offerPCMUFirst = sdp(
	"v=0",
	"o=alice 2890844526 2890844526 IN IP4 192.0.2.10",
	"s=-",
	"c=IN IP4 192.0.2.10",
	"t=0 0",
	"m=audio 49170 RTP/AVP 0 8 96 101",
	"a=rtpmap:0 PCMU/8000",
	"a=rtpmap:8 PCMA/8000",
	"a=rtpmap:96 opus/48000/2",
	"a=rtpmap:101 telephone-event/8000",
	"a=fmtp:101 0-16",
	"a=ptime:20",
	"a=sendrecv",
)

func TestParseSDP(t *testing.T) {
	sd, err := ParseSDP(offerPCMUFirst)
	require.NoError(t, err)
	require.Equal(t, Origin{Username: "alice", SessionID: "2890844526", Version: 2890844526, Address: "192.0.2.10"}, sd.Origin)
	require.Equal(t, netip.MustParseAddr("192.0.2.10"), sd.Connection)
	require.Len(t, sd.Media, 1)
	m := sd.Media[0]
	require.Equal(t, "audio", m.Type)
	require.Equal(t, 49170, m.Port)
	require.Equal(t, 20, m.Ptime)
	require.Equal(t, SendRecv, m.Direction)
	require.Equal(t, []Codec{
		{PT: 0, Name: "PCMU", Rate: 8000, Channels: 1},
		{PT: 8, Name: "PCMA", Rate: 8000, Channels: 1},
		{PT: 96, Name: "opus", Rate: 48000, Channels: 2},
		{PT: 101, Name: "telephone-event", Rate: 8000, Channels: 1, Fmtp: "0-16"},
	}, m.Codecs())
}

func TestNegotiateOffer(t *testing.T) {
	tests := []struct {
		name       string
		offer      []byte
		codec      string
		pt         uint8
		events     bool
		eventPT    uint8
		remote     string
		local      Direction
		canSend    bool
		held       bool
		wantErr    error
		errContain string
	}{
		{name: "pcmu first", offer: offerPCMUFirst, codec: "PCMU", pt: 0, events: true, eventPT: 101,
			remote: "192.0.2.10:49170", local: SendRecv, canSend: true},
		{name: "pcma preferred, media-level c=, LF line ends, dynamic event pt", offer: []byte(
			"v=0\no=- 1 1 IN IP4 198.51.100.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 18 8 0 96\nc=IN IP4 198.51.100.7\na=rtpmap:96 telephone-event/8000\n"),
			codec: "PCMA", pt: 8, events: true, eventPT: 96, remote: "198.51.100.7:4000", local: SendRecv, canSend: true},
		{name: "static types without rtpmap, no events", offer: sdp("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0", "m=audio 5000 RTP/AVP 8"),
			codec: "PCMA", pt: 8, remote: "10.0.0.1:5000", local: SendRecv, canSend: true},
		{name: "dynamic pcmu", offer: sdp("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0", "m=audio 5000 RTP/AVP 97", "a=rtpmap:97 pcmu/8000"),
			codec: "PCMU", pt: 97, remote: "10.0.0.1:5000", local: SendRecv, canSend: true},
		{name: "hold with sendonly", offer: sdp("v=0", "o=- 1 2 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0", "m=audio 5000 RTP/AVP 0", "a=sendonly"),
			codec: "PCMU", pt: 0, remote: "10.0.0.1:5000", local: RecvOnly, held: true},
		{name: "hold with inactive at session level", offer: sdp("v=0", "o=- 1 2 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0", "a=inactive", "m=audio 5000 RTP/AVP 0"),
			codec: "PCMU", pt: 0, remote: "10.0.0.1:5000", local: Inactive, held: true},
		{name: "hold with 0.0.0.0", offer: sdp("v=0", "o=- 1 2 IN IP4 10.0.0.1", "s=-", "c=IN IP4 0.0.0.0", "t=0 0", "m=audio 5000 RTP/AVP 0"),
			codec: "PCMU", pt: 0, remote: "0.0.0.0:5000", local: RecvOnly, held: true},
		{name: "recvonly offer makes us sendonly", offer: sdp("v=0", "o=- 1 2 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0", "m=audio 5000 RTP/AVP 0", "a=recvonly"),
			codec: "PCMU", pt: 0, remote: "10.0.0.1:5000", local: SendOnly, canSend: true, held: true},
		{name: "ipv6", offer: sdp("v=0", "o=- 1 1 IN IP6 2001:db8::1", "s=-", "c=IN IP6 2001:db8::1", "t=0 0", "m=audio 5000 RTP/AVP 0"),
			codec: "PCMU", pt: 0, remote: "[2001:db8::1]:5000", local: SendRecv, canSend: true},
		{name: "video first then audio", offer: sdp("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0", "m=video 6000 RTP/AVP 96", "a=rtpmap:96 H264/90000", "m=audio 5000 RTP/AVP 8 0"),
			codec: "PCMA", pt: 8, remote: "10.0.0.1:5000", local: SendRecv, canSend: true},
		{name: "no common codec", offer: sdp("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0", "m=audio 5000 RTP/AVP 18 9", "a=rtpmap:18 G729/8000"),
			wantErr: ErrNoCommonCodec, errContain: "neither PCMU nor PCMA"},
		{name: "srtp only", offer: sdp("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0", "m=audio 5000 RTP/SAVP 0"),
			wantErr: ErrNoCommonCodec, errContain: "RTP/SAVP"},
		{name: "audio disabled", offer: sdp("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0", "m=audio 0 RTP/AVP 0"),
			wantErr: ErrNoCommonCodec, errContain: "port 0"},
		{name: "no audio", offer: sdp("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "t=0 0"),
			wantErr: ErrNoCommonCodec, errContain: "no audio stream"},
		{name: "pcmu at 16 kHz is not G.711", offer: sdp("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0", "m=audio 5000 RTP/AVP 97", "a=rtpmap:97 PCMU/16000"),
			wantErr: ErrNoCommonCodec},
		{name: "no connection address", offer: sdp("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "t=0 0", "m=audio 5000 RTP/AVP 0"),
			wantErr: ErrBadSDP, errContain: "no connection address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd, err := ParseSDP(tt.offer)
			require.NoError(t, err)
			n, err := negotiateOffer(sd)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.Contains(t, err.Error(), tt.errContain)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.codec, n.Codec.Name)
			require.Equal(t, tt.pt, n.Codec.PT)
			require.Equal(t, tt.events, n.Events)
			if tt.events {
				require.Equal(t, tt.eventPT, n.EventPT)
			}
			require.Equal(t, tt.remote, n.Remote.String())
			require.Equal(t, tt.local, n.Local)
			require.Equal(t, tt.canSend, n.CanSend())
			require.Equal(t, tt.held, n.Held())
		})
	}
}

func TestParseSDPErrors(t *testing.T) {
	tests := map[string]string{
		"empty":              "",
		"no version":         "o=- 1 1 IN IP4 10.0.0.1\r\n",
		"version 1":          "v=1\r\n",
		"garbage line":       "v=0\r\nhello\r\n",
		"bad origin":         "v=0\r\no=- 1\r\n",
		"bad origin version": "v=0\r\no=- 1 x IN IP4 1.2.3.4\r\n",
		"hostname in c=":     "v=0\r\nc=IN IP4 pbx.example.com\r\n",
		"ipv6 in IP4":        "v=0\r\nc=IN IP4 ::1\r\n",
		"c= net type":        "v=0\r\nc=ATM NSAP 1\r\n",
		"bad m= port":        "v=0\r\nm=audio 70000 RTP/AVP 0\r\n",
		"short m=":           "v=0\r\nm=audio 5000 RTP/AVP\r\n",
		"bad rtpmap":         "v=0\r\nm=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n",
		"bad rtpmap pt":      "v=0\r\nm=audio 5000 RTP/AVP 0\r\na=rtpmap:300 PCMU/8000\r\n",
		"bad ptime":          "v=0\r\nm=audio 5000 RTP/AVP 0\r\na=ptime:0\r\n",
		"repeated version":   "v=0\r\nv=0\r\n",
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSDP([]byte(body))
			require.ErrorIs(t, err, ErrBadSDP)
		})
	}
	_, err := ParseSDP(make([]byte, maxSDPSize+1))
	require.ErrorIs(t, err, ErrBadSDP)
}

func TestAnswerSDP(t *testing.T) {
	offer := sdp("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0",
		"m=video 6000 RTP/AVP 96", "a=rtpmap:96 H264/90000",
		"m=audio 5000 RTP/AVP 8 0 100", "a=rtpmap:100 telephone-event/8000", "a=sendonly")
	sd, err := ParseSDP(offer)
	require.NoError(t, err)
	n, err := negotiateOffer(sd)
	require.NoError(t, err)
	l := localSDP{sessionID: 42, version: 7, addr: netip.MustParseAddr("203.0.113.5"), port: 30000}
	ans := string(l.answer(sd, n))
	require.Equal(t, strings.Join([]string{
		"v=0",
		"o=callcore 42 7 IN IP4 203.0.113.5",
		"s=callcore",
		"c=IN IP4 203.0.113.5",
		"t=0 0",
		"m=video 0 RTP/AVP 96",
		"m=audio 30000 RTP/AVP 8 100",
		"a=rtpmap:8 PCMA/8000",
		"a=rtpmap:100 telephone-event/8000",
		"a=fmtp:100 0-16",
		"a=ptime:20",
		"a=recvonly",
		"",
	}, "\r\n"), ans)

	// The answer is itself a valid description that maps back to the choice.
	back, err := ParseSDP([]byte(ans))
	require.NoError(t, err)
	require.Equal(t, 0, back.Media[0].Port)
	c := back.Media[1].Codecs()
	require.Equal(t, "PCMA", c[0].Name)
	require.Equal(t, uint8(100), c[1].PT)
}

func TestOfferSDPAndAnswerApplied(t *testing.T) {
	l := localSDP{sessionID: 1, version: 1, addr: netip.MustParseAddr("2001:db8::5"), port: 20000}
	offer := string(l.offer(SendRecv))
	require.Contains(t, offer, "c=IN IP6 2001:db8::5\r\n")
	require.Contains(t, offer, "m=audio 20000 RTP/AVP 0 8 101\r\n")
	require.Contains(t, offer, "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n")

	tests := []struct {
		name    string
		answer  []byte
		codec   string
		events  bool
		local   Direction
		wantErr error
	}{
		{"pcma with events", sdp("v=0", "o=- 1 1 IN IP4 10.0.0.9", "s=-", "c=IN IP4 10.0.0.9", "t=0 0", "m=audio 7000 RTP/AVP 8 101", "a=rtpmap:101 telephone-event/8000"), "PCMA", true, SendRecv, nil},
		{"recvonly answer", sdp("v=0", "o=- 1 1 IN IP4 10.0.0.9", "s=-", "c=IN IP4 10.0.0.9", "t=0 0", "m=audio 7000 RTP/AVP 0", "a=recvonly"), "PCMU", false, SendOnly, nil},
		{"rejected", sdp("v=0", "o=- 1 1 IN IP4 10.0.0.9", "s=-", "c=IN IP4 10.0.0.9", "t=0 0", "m=audio 0 RTP/AVP 0"), "", false, 0, ErrNoCommonCodec},
		{"no media", sdp("v=0", "o=- 1 1 IN IP4 10.0.0.9", "s=-", "t=0 0"), "", false, 0, ErrBadSDP},
		{"g729 only", sdp("v=0", "o=- 1 1 IN IP4 10.0.0.9", "s=-", "c=IN IP4 10.0.0.9", "t=0 0", "m=audio 7000 RTP/AVP 18"), "", false, 0, ErrNoCommonCodec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd, err := ParseSDP(tt.answer)
			require.NoError(t, err)
			n, err := negotiateAnswer(sd)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.codec, n.Codec.Name)
			require.Equal(t, tt.events, n.Events)
			require.Equal(t, tt.local, n.Local)
		})
	}
}

func TestDirectionString(t *testing.T) {
	for d, s := range map[Direction]string{DirectionUnknown: "unknown", SendRecv: "sendrecv", SendOnly: "sendonly", RecvOnly: "recvonly", Inactive: "inactive"} {
		require.Equal(t, s, d.String())
		if d != DirectionUnknown {
			require.Equal(t, d, directionOf(s))
		}
	}
}

func FuzzParseSDP(f *testing.F) {
	f.Add(offerPCMUFirst)
	f.Add([]byte("v=0\no=- 1 1 IN IP6 ::1\ns=-\nc=IN IP6 ::1\nt=0 0\nm=audio 1 RTP/AVP 8 96\na=rtpmap:96 telephone-event/8000\na=inactive\n"))
	f.Add([]byte("v=0\r\nc=IN IP4 0.0.0.0/127/3\r\nm=audio 5000/2 RTP/AVPF 0\r\na=fmtp:0 x\r\na=ptime:30.5\r\n"))
	f.Add([]byte("v=0\r\nm=video 0 RTP/AVP 96\r\nm=audio 5 RTP/SAVP 0\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sd, err := ParseSDP(data)
		if err != nil {
			return
		}
		l := localSDP{sessionID: 1, version: 1, addr: loopback, port: 20000}
		if n, err := negotiateOffer(sd); err == nil {
			if n.Codec.Name != codecPCMU && n.Codec.Name != codecPCMA {
				t.Fatalf("negotiated %q", n.Codec.Name)
			}
			ans := l.answer(sd, n)
			back, err := ParseSDP(ans)
			if err != nil {
				t.Fatalf("our answer does not parse: %v\n%s", err, ans)
			}
			if len(back.Media) != len(sd.Media) {
				t.Fatalf("answer has %d m-lines, offer %d", len(back.Media), len(sd.Media))
			}
			n2, err := negotiateOffer(back)
			if err != nil || n2.Codec.PT != n.Codec.PT {
				t.Fatalf("answer does not renegotiate to the same codec: %v", err)
			}
		}
		_, _ = negotiateAnswer(sd)
	})
}
