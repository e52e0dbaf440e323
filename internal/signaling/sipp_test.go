package signaling

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
)

// sippRun is one sipp process running a scenario for a single call.
type sippRun struct {
	t       *testing.T
	cmd     *exec.Cmd
	out     bytes.Buffer
	errFile string
	done    chan struct{} // closed when sipp exited
	err     error         // exit status, set before done closes
	port    int
}

// freePort returns a port free for both UDP and TCP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		_ = u.Close()
		if err == nil {
			_ = l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// startSipp runs `sipp -sf testdata/sipp/<scenario> -m 1 -timeout 20s` on a
// free local port; remote is the target for a UAC scenario ("" for UAS).
func startSipp(t *testing.T, scenario, transport, remote string, extra ...string) *sippRun {
	t.Helper()
	path, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not installed")
	}
	r := &sippRun{t: t, errFile: filepath.Join(t.TempDir(), "errors.log"), done: make(chan struct{}), port: freePort(t)}
	args := []string{"-sf", filepath.Join("testdata", "sipp", scenario), "-m", "1", "-timeout", "20s", "-timeout_error",
		"-nostdin", "-i", "127.0.0.1", "-p", strconv.Itoa(r.port), "-trace_err", "-error_file", r.errFile,
		"-s", "+15550001111", "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t))}
	if transport == "tcp" {
		args = append(args, "-t", "t1")
	}
	args = append(args, extra...)
	if remote != "" {
		args = append(args, remote)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	r.cmd = exec.CommandContext(ctx, path, args...)
	r.cmd.Stdout = &r.out
	r.cmd.Stderr = &r.out
	require.NoError(t, r.cmd.Start())
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = r.cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			errs, _ := os.ReadFile(r.errFile)
			t.Logf("sipp %s: %v\nerrors:\n%s\nscreen (tail):\n%s", scenario, r.err, errs, tail(r.out.String(), 3000))
		}
	})
	return r
}

// wait requires sipp to finish its call successfully (exit status 0).
func (r *sippRun) wait() {
	r.t.Helper()
	select {
	case <-r.done:
		if r.err != nil {
			r.t.Fatalf("sipp failed: %v", r.err)
		}
	case <-time.After(25 * time.Second):
		r.t.Fatal("sipp did not finish")
	}
}

// waitFailed requires sipp to finish with a failed call (exit status 1).
func (r *sippRun) waitFailed() {
	r.t.Helper()
	select {
	case <-r.done:
		var ee *exec.ExitError
		require.ErrorAs(r.t, r.err, &ee, "sipp should have reported a failed call")
		assert.Equal(r.t, 1, ee.ExitCode())
	case <-time.After(25 * time.Second):
		r.t.Fatal("sipp did not finish")
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitListening waits until sipp listens on its TCP port, reading the
// kernel's socket table: an external process gives no readiness signal.
func (r *sippRun) waitListening() {
	r.t.Helper()
	want := fmt.Sprintf(":%04X ", r.port)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f, err := os.Open("/proc/net/tcp")
		require.NoError(r.t, err)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 3 && strings.HasSuffix(fields[1]+" ", want) && fields[3] == "0A" {
				_ = f.Close()
				return
			}
		}
		_ = f.Close()
		select {
		case <-r.done:
			r.t.Fatalf("sipp exited before listening: %v", r.err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	r.t.Fatal("sipp is not listening")
}

func (r *sippRun) target() string { return "sipp@127.0.0.1:" + strconv.Itoa(r.port) }

func TestSippInbound(t *testing.T) {
	for _, tp := range []string{"udp", "tcp"} {
		t.Run(tp, func(t *testing.T) {
			ts := newTestServer(t, Options{})
			remote := ts.UDPAddr().String()
			if tp == "tcp" {
				remote = ts.TCPAddr().String()
			}

			t.Run("caller hangs up", func(t *testing.T) {
				s := startSipp(t, "uac_caller_bye.xml", tp, remote)
				in := ts.nextCall(t)
				ctx := ctxT(t)
				assert.Equal(t, "+15550002222", in.From().User)
				assert.Equal(t, "+15550001111", in.To().User)
				assert.Equal(t, []Header{{"X-Sipp-Scenario", "caller-bye"}}, in.XHeaders())
				assert.Contains(t, string(in.Offer()), "m=audio")
				require.NoError(t, in.Ring(ctx, nil))
				require.NoError(t, in.Answer(ctx, []byte(ourSDP)))
				waitDone(t, in.Done(), "BYE from sipp")
				assert.Equal(t, EndRemoteBye, in.End().Cause)
				assert.Equal(t, events.ReasonCallerHangup, in.End().Reason)
				s.wait()
			})

			t.Run("callee hangs up after early media", func(t *testing.T) {
				s := startSipp(t, "uac_callee_bye.xml", tp, remote)
				in := ts.nextCall(t)
				ctx := ctxT(t)
				require.NoError(t, in.Ring(ctx, []byte(ourSDP)))
				require.NoError(t, in.Answer(ctx, []byte(ourSDP)))
				require.NoError(t, in.Hangup(ctx))
				assert.Equal(t, EndLocalHangup, in.End().Cause)
				s.wait()
			})

			t.Run("cancel while ringing", func(t *testing.T) {
				s := startSipp(t, "uac_cancel.xml", tp, remote)
				in := ts.nextCall(t)
				require.NoError(t, in.Ring(ctxT(t), nil))
				waitDone(t, in.Done(), "CANCEL from sipp")
				assert.Equal(t, EndRemoteCancel, in.End().Cause)
				assert.Equal(t, events.ReasonCancel, in.End().Reason)
				s.wait()
			})

			t.Run("hold, unhold, DTMF", func(t *testing.T) {
				s := startSipp(t, "uac_reinvite.xml", tp, remote)
				in := ts.nextCall(t)
				ctx := ctxT(t)
				require.NoError(t, in.Answer(ctx, []byte(ourSDP)))
				hold := recvTimeout(t, in.Events(), wait, "hold")
				assert.Equal(t, EventOffer, hold.Kind)
				assert.Contains(t, string(hold.SDP), "a=sendonly")
				hold.Respond([]byte(strings.Replace(ourSDP, "a=sendrecv", "a=recvonly", 1)), nil)
				resume := recvTimeout(t, in.Events(), wait, "unhold")
				assert.Contains(t, string(resume.SDP), "a=sendrecv")
				resume.Respond([]byte(ourSDP), nil)
				dtmf := recvTimeout(t, in.Events(), wait, "dtmf")
				assert.Equal(t, EventDTMF, dtmf.Kind)
				assert.Equal(t, "7", dtmf.Digit)
				assert.Equal(t, 160*time.Millisecond, dtmf.Duration)
				waitDone(t, in.Done(), "BYE")
				s.wait()
			})

			t.Run("options", func(t *testing.T) {
				startSipp(t, "uac_options.xml", tp, remote).wait()
			})
		})
	}
}

func TestSippOutbound(t *testing.T) {
	sdp := []byte(ourSDP)
	hdrs := []Header{{"X-Callcore-Test", "sipp"}}
	for _, tp := range []string{"udp", "tcp"} {
		t.Run(tp, func(t *testing.T) {
			ts := newTestServer(t, Options{})
			dial := func(t *testing.T, s *sippRun, timeout time.Duration) *Outbound {
				if tp == "tcp" {
					s.waitListening()
				}
				o, err := ts.Dial(ctxT(t), DialRequest{To: Target{Kind: TargetSIP, Value: s.target(), Transport: tp}, Headers: hdrs, SDP: sdp, DialTimeout: timeout})
				require.NoError(t, err)
				return o
			}

			t.Run("answer", func(t *testing.T) {
				s := startSipp(t, "uas_answer.xml", tp, "")
				o := dial(t, s, 0)
				ctx := ctxT(t)
				answer, err := o.WaitAnswer(ctx)
				require.NoError(t, err)
				assert.Contains(t, string(answer), "PCMA/8000")
				require.NoError(t, o.Hangup(ctx))
				s.wait()
			})

			t.Run("busy", func(t *testing.T) {
				s := startSipp(t, "uas_busy.xml", tp, "")
				o := dial(t, s, 0)
				_, err := o.WaitAnswer(ctxT(t))
				var de *DialError
				require.ErrorAs(t, err, &de)
				assert.Equal(t, 486, de.Code)
				assert.Equal(t, events.ResultBusy, de.Result)
				s.wait()
			})

			t.Run("no answer", func(t *testing.T) {
				s := startSipp(t, "uas_noanswer.xml", tp, "")
				o := dial(t, s, 500*time.Millisecond)
				_, err := o.WaitAnswer(ctxT(t))
				var de *DialError
				require.ErrorAs(t, err, &de)
				assert.Equal(t, events.ResultNoAnswer, de.Result)
				assert.Equal(t, events.ReasonTimeout, de.Reason)
				s.wait()
			})
		})
	}

	t.Run("digest auth at the gateway", func(t *testing.T) {
		s := startSipp(t, "uas_auth.xml", "udp", "")
		ts := newTestServer(t, Options{Gateway: Gateway{URI: "sip:127.0.0.1:" + strconv.Itoa(s.port), Username: "trunk", Password: "s3cret"}})
		ctx := ctxT(t)
		o, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetNumber, Value: "+15551234567"}, CLI: "+15550001111", SDP: sdp})
		require.NoError(t, err)
		_, err = o.WaitAnswer(ctx)
		require.NoError(t, err)
		require.NoError(t, o.Hangup(ctx))
		s.wait()
	})

	t.Run("digest auth with a wrong password", func(t *testing.T) {
		s := startSipp(t, "uas_auth.xml", "udp", "")
		ts := newTestServer(t, Options{Gateway: Gateway{URI: "sip:127.0.0.1:" + strconv.Itoa(s.port), Username: "trunk", Password: "wrong"}})
		ctx := ctxT(t)
		o, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetNumber, Value: "+15551234567"}, SDP: sdp})
		require.NoError(t, err)
		_, err = o.WaitAnswer(ctx)
		var de *DialError
		require.ErrorAs(t, err, &de)
		assert.Equal(t, 403, de.Code)
		assert.Equal(t, events.ReasonBlocked, de.Reason)
		s.waitFailed()
	})
}
