package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/test/phone"
)

// An INVITE without SDP (late offer, RFC 3261 §13.2.1): the node offers in
// its 200 OK and takes the answer from the ACK. The test phone always
// offers, so this caller is a bare sipgo dialog with its own RTP socket:
// it must hear the park's hold prompt as speech in PCMU.
func TestOfferlessInvite(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ice", `{"instructions":[{"name":"answer"}],"action":{"name":"park","holdPrompt":"#tts[You sent no offer, and that is fine.]","maxDuration":30}}`)
	n := node(t, b, "")

	rtpConn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rtpConn.Close() })
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = ua.Close() })
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	require.NoError(t, err)
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "lateoffer", Host: "127.0.0.1", Port: 5999}}
	dua := sipgo.DialogUA{Client: cli, ContactHDR: contact}

	var ruri sip.Uri
	require.NoError(t, sip.ParseUri("sip:"+did+"@"+n.SIPAddr(), &ruri))
	req := sip.NewRequest(sip.INVITE, ruri)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: callerNumber, Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: did, Host: ruri.Host, Port: ruri.Port}, Params: sip.NewParams()})
	dlg, err := dua.WriteInvite(ctx, req)
	require.NoError(t, err, "INVITE without a body")
	t.Cleanup(func() { _ = dlg.Close() })
	require.NoError(t, dlg.WaitAnswer(ctx, sipgo.AnswerOptions{}))

	offer := string(dlg.InviteResponse.Body())
	require.Contains(t, offer, "m=audio ", "the node offers in its 200 OK")
	raddr, pts, err := audioOf(offer)
	require.NoError(t, err, "offer:\n%s", offer)
	require.Contains(t, pts, "0", "PCMU is offered")

	port := rtpConn.LocalAddr().(*net.UDPAddr).Port
	answer := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n", port)
	ack := sip.NewRequest(sip.ACK, dlg.InviteResponse.Contact().Address)
	ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ack.SetBody([]byte(answer))
	require.NoError(t, dlg.WriteAck(ctx, ack))

	// Send silence like a phone would, and record what arrives.
	go func() {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x5eed}, Payload: make([]byte, 160)}
		for i := range pkt.Payload {
			pkt.Payload[i] = 0xFF
		}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
			pkt.SequenceNumber++
			pkt.Timestamp += 160
			raw, _ := pkt.Marshal()
			if _, err := rtpConn.WriteToUDP(raw, raddr); err != nil {
				return
			}
		}
	}()
	rec := receivePCMU(t, rtpConn, 2*time.Second)
	assert.True(t, phone.SpeechLike(rec), "the late-offer caller hears the hold prompt (%d samples, rms %.0f)", len(rec), phone.RMS(rec))

	require.NoError(t, dlg.Bye(ctx))
	dice := b.want(ctx, "dice")
	assert.Equal(t, "CALLERHANGUP", dice["reason"])
	assert.Equal(t, "ANSWERED", dice["result"])
}

// audioOf returns the RTP address and payload types of an SDP's audio.
func audioOf(sdp string) (*net.UDPAddr, []string, error) {
	var ip net.IP
	var port int
	var pts []string
	for _, line := range strings.Split(sdp, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "c=IN IP4 "):
			ip = net.ParseIP(strings.TrimPrefix(line, "c=IN IP4 "))
		case strings.HasPrefix(line, "m=audio "):
			f := strings.Fields(line)
			if len(f) < 4 {
				return nil, nil, errors.New("short m= line")
			}
			p, err := strconv.Atoi(f[1])
			if err != nil {
				return nil, nil, err
			}
			port, pts = p, f[3:]
		}
	}
	if ip == nil || port == 0 {
		return nil, nil, errors.New("no audio address")
	}
	return &net.UDPAddr{IP: ip, Port: port}, pts, nil
}

// receivePCMU records PCMU for d from conn, decoded in arrival order.
func receivePCMU(t *testing.T, conn *net.UDPConn, d time.Duration) []int16 {
	t.Helper()
	var out []int16
	buf := make([]byte, 1500)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		require.NoError(t, conn.SetReadDeadline(end))
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			require.NoError(t, err)
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) != nil || p.PayloadType != 0 {
			continue
		}
		for _, b := range p.Payload {
			out = append(out, phone.MulawDecode(b))
		}
	}
	return out
}
