package phone

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sippOffer = "v=0\r\n" +
	"o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"c=IN IP4 127.0.0.1\r\n" +
	"t=0 0\r\n" +
	"m=audio 6000 RTP/AVP 0\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n"

func TestParseSDP(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantAddr  string
		wantPort  int
		wantFmts  []uint8
		wantDir   Direction
		wantDTMF  int
		wantCodec Codec
	}{
		{
			name: "sipp offer", body: sippOffer,
			wantAddr: "127.0.0.1", wantPort: 6000, wantFmts: []uint8{0}, wantDir: SendRecv, wantDTMF: -1, wantCodec: PCMU,
		},
		{
			name: "media connection and direction override the session's, LF line ends",
			body: "v=0\no=- 1 2 IN IP4 10.0.0.1\ns=x\nc=IN IP4 10.0.0.1\nt=0 0\na=sendrecv\n" +
				"m=audio 4000 RTP/AVP 8 0 101\nc=IN IP4 10.0.0.2\na=rtpmap:101 telephone-event/8000\na=sendonly\n",
			wantAddr: "10.0.0.2", wantPort: 4000, wantFmts: []uint8{8, 0, 101}, wantDir: SendOnly, wantDTMF: 101, wantCodec: PCMA,
		},
		{
			name:     "session direction applies without a media one",
			body:     "v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\na=inactive\r\nm=audio 4000 RTP/AVP 0\r\n",
			wantAddr: "1.2.3.4", wantPort: 4000, wantFmts: []uint8{0}, wantDir: Inactive, wantDTMF: -1, wantCodec: PCMU,
		},
		{
			name: "video before audio is skipped with its attributes",
			body: "v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n" +
				"m=video 5000 RTP/AVP 96\r\na=sendonly\r\nc=IN IP4 9.9.9.9\r\n" +
				"m=audio 4000 RTP/AVP 96 0\r\na=rtpmap:96 opus/48000/2\r\na=recvonly\r\n",
			wantAddr: "1.2.3.4", wantPort: 4000, wantFmts: []uint8{96, 0}, wantDir: RecvOnly, wantDTMF: -1, wantCodec: PCMU,
		},
		{
			name:     "dynamic payload type mapped to PCMA",
			body:     "v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 97\r\na=rtpmap:97 pcma/8000\r\n",
			wantAddr: "1.2.3.4", wantPort: 4000, wantFmts: []uint8{97}, wantDir: SendRecv, wantDTMF: -1, wantCodec: PCMA,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := parseSDP([]byte(tt.body))
			require.NoError(t, err)
			assert.Equal(t, tt.wantAddr, d.addr.String())
			assert.Equal(t, tt.wantPort, d.port)
			assert.Equal(t, tt.wantFmts, d.formats)
			assert.Equal(t, tt.wantDir, d.direction)
			assert.Equal(t, tt.wantDTMF, d.dtmfPT())
			p, err := negotiate(d, []Codec{PCMU, PCMA})
			require.NoError(t, err)
			assert.Equal(t, tt.wantCodec, p.codec)
		})
	}
}

func TestParseSDPErrors(t *testing.T) {
	tests := []struct {
		name, body, wantErr string
	}{
		{"empty", "", "empty body"},
		{"no version first", "o=- 1 2 IN IP4 1.2.3.4\r\n", "first line must be v=0"},
		{"garbage line", "v=0\r\nhello\r\n", "malformed line"},
		{"no audio", "v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\nm=video 5000 RTP/AVP 96\r\n", "no audio"},
		{"bad port", "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 70000 RTP/AVP 0\r\n", "bad audio port"},
		{"bad payload type", "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 200\r\n", "bad payload type"},
		{"srtp profile", "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/SAVP 0\r\n", "unsupported profile"},
		{"no connection", "v=0\r\nm=audio 4000 RTP/AVP 0\r\n", "without connection"},
		{"bad connection", "v=0\r\nc=IN IP4 not-an-ip\r\nm=audio 4000 RTP/AVP 0\r\n", "connection address"},
		{"bad rtpmap", "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n", "malformed rtpmap"},
		{"bad origin", "v=0\r\no=- 1\r\n", "malformed origin"},
		{"too large", "v=0\r\n" + strings.Repeat("a=x\r\n", 5000), "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSDP([]byte(tt.body))
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestNegotiate(t *testing.T) {
	offer := func(fmts string) *sessionDesc {
		d, err := parseSDP([]byte("v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP " + fmts +
			"\r\na=rtpmap:101 telephone-event/8000\r\n"))
		require.NoError(t, err)
		return d
	}
	tests := []struct {
		name    string
		fmts    string
		allowed []Codec
		want    Codec
		wantErr error
	}{
		{"offerer order wins", "8 0 101", []Codec{PCMU, PCMA}, PCMA, nil},
		{"only allowed codec", "8 0 101", []Codec{PCMU}, PCMU, nil},
		{"nothing in common", "8 101", []Codec{PCMU}, CodecDefault, errSDPNoCodec},
		{"unknown formats skipped", "18 9 0 101", []Codec{PCMU, PCMA}, PCMU, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := negotiate(offer(tt.fmts), tt.allowed)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, p.codec)
			assert.Equal(t, tt.want.staticPT(), p.pt)
			assert.Equal(t, 101, p.dtmfPT)
			assert.Equal(t, netip.MustParseAddrPort("127.0.0.1:4000"), p.remote)
		})
	}

	held, err := parseSDP([]byte("v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n"))
	require.NoError(t, err)
	p, err := negotiate(held, []Codec{PCMU})
	require.NoError(t, err)
	assert.False(t, p.remote.IsValid(), "0.0.0.0 means do not send (RFC 3264 §8.4 legacy hold)")

	rejected, err := parseSDP([]byte("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n"))
	require.NoError(t, err)
	_, err = negotiate(rejected, []Codec{PCMU})
	require.ErrorIs(t, err, errSDPNoAudio)
}

func TestSDPWriterRoundTrip(t *testing.T) {
	w := sdpWriter{sessID: 7, version: 1, addr: netip.MustParseAddr("127.0.0.1"), port: 40000}
	offer, err := parseSDP(w.offer([]Codec{PCMA, PCMU}, SendOnly))
	require.NoError(t, err)
	assert.Equal(t, []uint8{8, 0, 101}, offer.formats)
	assert.Equal(t, SendOnly, offer.direction)
	assert.Equal(t, 101, offer.dtmfPT())
	assert.Equal(t, uint64(2), offer.version)

	p, err := negotiate(offer, []Codec{PCMU})
	require.NoError(t, err)
	answer, err := parseSDP(w.answer(p, answerDirection(offer.direction, SendRecv)))
	require.NoError(t, err)
	assert.Equal(t, []uint8{0, 101}, answer.formats)
	assert.Equal(t, RecvOnly, answer.direction)
	assert.Equal(t, uint64(3), answer.version, "each body increments the version")
}

func TestAnswerDirection(t *testing.T) {
	tests := []struct{ offered, want, got Direction }{
		{SendRecv, SendRecv, SendRecv},
		{SendOnly, SendRecv, RecvOnly},
		{RecvOnly, SendRecv, SendOnly},
		{Inactive, SendRecv, Inactive},
		{SendRecv, SendOnly, SendOnly},
		{SendOnly, SendOnly, Inactive},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.got, answerDirection(tt.offered, tt.want), "offered %s want %s", tt.offered, tt.want)
	}
}

func FuzzParseSDP(f *testing.F) {
	f.Add([]byte(sippOffer))
	w := sdpWriter{sessID: 1, addr: netip.MustParseAddr("127.0.0.1"), port: 4000}
	f.Add(w.offer([]Codec{PCMU, PCMA}, SendRecv))
	f.Add([]byte("v=0\nc=IN IP6 ::1\nm=video 1 RTP/AVP 96\nm=audio 4000 RTP/AVP 8 101\na=rtpmap:101 telephone-event/8000\na=ptime:30\na=inactive\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := parseSDP(body)
		if err != nil {
			return
		}
		if d.port < 0 || d.port > 65535 || len(d.formats) == 0 || len(d.formats) > maxSDPFormats {
			t.Fatalf("invalid result %+v", d)
		}
		p, err := negotiate(d, []Codec{PCMU, PCMA})
		if err != nil {
			return
		}
		// What was negotiated must survive our own answer and its parse.
		back, err := parseSDP(w.answer(p, answerDirection(d.direction, SendRecv)))
		if err != nil {
			t.Fatalf("answer to a valid offer does not parse: %v", err)
		}
		if c, ok := back.codecOf(p.pt); !ok || c != p.codec {
			t.Fatalf("answer codec %v, want %v", c, p.codec)
		}
	})
}

func BenchmarkParseSDP(b *testing.B) {
	w := sdpWriter{sessID: 1, addr: netip.MustParseAddr("127.0.0.1"), port: 4000}
	body := w.offer([]Codec{PCMU, PCMA}, SendRecv)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseSDP(body); err != nil {
			b.Fatal(err)
		}
	}
}
