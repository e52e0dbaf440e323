package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/syncbuf"
	"github.com/callcore/callcore/test/phone"
)

// runSipp starts sipp with args in a temp dir and returns a channel that
// yields its exit error; it is killed when the test ends.
func runSipp(t *testing.T, args ...string) <-chan error {
	t.Helper()
	return runSippIn(t, t.TempDir(), args...)
}

// runSippIn is runSipp with sipp's working directory (where relative
// pcap paths of a scenario resolve).
func runSippIn(t *testing.T, dir string, args ...string) <-chan error {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Fatalf("sipp is required (apt-get install sip-tester): %v", err)
	}
	args = append(args, "-i", "127.0.0.1", "-nostdin", "-timeout", "25s", "-timeout_error",
		"-mp", strconv.Itoa(freeEvenPortRange(t, 4)))
	cmd := exec.Command("sipp", args...)
	cmd.Dir = dir
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("sipp output:\n%s", out.String())
		}
	})
	return done
}

func freeUDPPort(t *testing.T) int { return freeEvenPortRange(t, 2) + 1 }

// sipp calls the DID with RTP; every call is answered by ICE → answer, say,
// hangup and reported by a DiCE.
func TestSippInboundCallsToDID(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ice", `{"instructions":[{"name":"answer"},{"name":"say","text":"Hi","locale":"en-US"}],"action":{"name":"hangup"}}`)
	n := node(t, b, "")
	scenario, err := filepath.Abs("../load/testdata/uac_say.xml")
	require.NoError(t, err)
	const calls = 10
	done := runSipp(t, n.SIPAddr(), "-sf", scenario, "-s", did, "-p", strconv.Itoa(freeUDPPort(t)),
		"-r", "5", "-m", strconv.Itoa(calls))
	for range calls {
		d := b.want(ctx, "dice")
		require.Equal(t, "MANAGERHANGUP", d["reason"])
		require.Equal(t, "ANSWERED", d["result"])
	}
	select {
	case err := <-done:
		require.NoError(t, err, "sipp reports failed calls")
	case <-ctx.Done():
		t.Fatal("sipp did not finish")
	}
}

// sipp plays the PSTN gateway: it answers, is busy, or never answers.
func TestSippAsGateway(t *testing.T) {
	for _, tc := range []struct {
		name         string
		args         func(t *testing.T) []string
		result       string
		reason       string
		callerStatus int
	}{
		{"answers", func(t *testing.T) []string { return []string{"-sn", "uas", "-rtp_echo"} }, "ANSWERED", "CALLERHANGUP", 0},
		{"busy", func(t *testing.T) []string { return []string{"-sf", abs(t, "testdata/gw_busy.xml")} }, "BUSY", "", 486},
		{"silent", func(t *testing.T) []string { return []string{"-sf", abs(t, "testdata/gw_silent.xml")} }, "NOANSWER", "", 480},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			gwPort := freeUDPPort(t)
			runSipp(t, append(tc.args(t), "-p", strconv.Itoa(gwPort), "-m", "1")...)
			b := newBackend(t)
			b.on("ice", `{"action":{"name":"connectPstn","number":"+12025550100","cli":"+46709990000","dialTimeout":2}}`)
			b.on("ace", `{"instructions":[{"name":"say","text":"Connected"}],"action":{"name":"continue"}}`)
			n := node(t, b, "sip:127.0.0.1:"+strconv.Itoa(gwPort))

			caller := phone.New(t, phone.Options{User: "alice"})
			c, err := caller.Dial(ctx, "sip:"+did+"@"+n.SIPAddr(), phone.DialOptions{})
			if tc.callerStatus != 0 {
				var se *phone.StatusError
				require.ErrorAs(t, err, &se)
				require.Equal(t, tc.callerStatus, se.Code)
			} else {
				require.NoError(t, err)
				b.want(ctx, "ace")
				// Bridged to sipp's RTP echo: the caller hears its own tone back.
				go func() { _ = c.PlayTone(ctx, 1000, 1500*time.Millisecond) }()
				require.NoError(t, c.WaitAudio(ctx, 500*time.Millisecond, 500))
				require.NoError(t, c.Hangup(ctx))
				rec := c.Recording()
				require.Greater(t, phone.Goertzel(rec, 8000, 1000)/(phone.RMS(rec)*phone.RMS(rec)), 0.5,
					"the echoed tone is not 1 kHz: the bridge mangled it")
			}
			d := b.want(ctx, "dice")
			require.Equal(t, tc.result, d["result"])
			if tc.reason != "" {
				require.Equal(t, tc.reason, d["reason"])
			}
		})
	}
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	require.NoError(t, err)
	return a
}

// sipp replays RFC 4733 digits from a pcap into an IVR: the PIE has them,
// each once (the end packet is sent three times, as phones do).
func TestSippRFC4733DigitsFromPcap(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ice", `{"instructions":[{"name":"answer"}],"action":{"name":"runMenu","menus":[
		{"id":"main","mainPrompt":"#tts[Enter your pin.]","maxDigits":4,"timeoutMills":3000}]}}`)
	b.on("pie", `{"action":{"name":"hangup"}}`)
	n := node(t, b, "")
	dir := t.TempDir()
	// sipp replays from the first packet on: one second of silence (PCMU)
	// comes first, so the digits barge into the prompt once the menu runs.
	var pkts [][]byte
	var at []time.Duration
	for i := range 50 {
		b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == 0, PayloadType: 0, SequenceNumber: uint16(3950 + i),
			Timestamp: uint32(152000 + 160*i), SSRC: 0x4733}, Payload: bytes.Repeat([]byte{0xFF}, 160)}).Marshal()
		require.NoError(t, err)
		pkts, at = append(pkts, b), append(at, time.Duration(i)*20*time.Millisecond)
	}
	ev, evAt := rfc4733Packets(t, "4711", 101)
	for i := range evAt {
		pkts, at = append(pkts, ev[i]), append(at, time.Second+evAt[i])
	}
	writePCAP(t, filepath.Join(dir, "dtmf.pcap"), pkts, at)
	done := runSippIn(t, dir, n.SIPAddr(), "-sf", abs(t, "testdata/uac_dtmf_pcap.xml"), "-s", did,
		"-p", strconv.Itoa(freeUDPPort(t)), "-m", "1")
	pie := b.want(ctx, "pie")
	require.Equal(t, map[string]any{"menuId": "main", "type": "sequence", "value": "4711", "inputMethod": "dtmf"}, pie["menuResult"])
	require.Equal(t, "MANAGERHANGUP", b.want(ctx, "dice")["reason"])
	select {
	case err := <-done:
		require.NoError(t, err, "sipp reports a failed call")
	case <-ctx.Done():
		t.Fatal("sipp did not finish")
	}
}
