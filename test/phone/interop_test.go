package phone

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // RFC 2617 digest uses MD5
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testRegistrar is a minimal digest-authenticating registrar (RFC 3261
// §10.3, RFC 2617 with qop=auth), written here so the phone's REGISTER is
// checked against code that shares nothing with it but sipgo's parser.
type testRegistrar struct {
	addr     string
	realm    string
	nonce    string
	password map[string]string

	mu       sync.Mutex
	contacts map[string]string // user → Contact URI
	expires  map[string]string
	attempts int
}

func newTestRegistrar(t *testing.T, users map[string]string) *testRegistrar {
	t.Helper()
	r := &testRegistrar{
		realm: "callcore.test", nonce: randomToken(8), password: users,
		contacts: map[string]string{}, expires: map[string]string{},
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname(loopback))
	require.NoError(t, err)
	srv, err := sipgo.NewServer(ua)
	require.NoError(t, err)
	srv.OnRegister(r.onRegister)
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	r.addr = conn.LocalAddr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeUDP(conn) // returns when conn is closed at cleanup
	}()
	t.Cleanup(func() {
		_ = conn.Close()
		_ = ua.Close()
		<-done
	})
	return r
}

func (r *testRegistrar) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	r.mu.Lock()
	r.attempts++
	r.mu.Unlock()
	h := req.GetHeader("Authorization")
	if h == nil {
		res := sip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
		res.AppendHeader(sip.NewHeader("WWW-Authenticate",
			fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=MD5, qop="auth"`, r.realm, r.nonce)))
		_ = tx.Respond(res)
		return
	}
	p := digestParams(h.Value())
	pass, ok := r.password[p["username"]]
	if !ok || p["realm"] != r.realm || p["nonce"] != r.nonce || p["qop"] != "auth" {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
		return
	}
	ha1 := md5hex(p["username"] + ":" + r.realm + ":" + pass)
	ha2 := md5hex("REGISTER:" + p["uri"])
	want := md5hex(strings.Join([]string{ha1, r.nonce, p["nc"], p["cnonce"], "auth", ha2}, ":"))
	if p["response"] != want {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
		return
	}
	r.mu.Lock()
	r.contacts[p["username"]] = req.Contact().Address.String()
	if e := req.GetHeader("Expires"); e != nil {
		r.expires[p["username"]] = e.Value()
	}
	r.mu.Unlock()
	_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
}

func digestParams(v string) map[string]string {
	out := map[string]string{}
	v = strings.TrimPrefix(strings.TrimSpace(v), "Digest ")
	for part := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			out[strings.ToLower(k)] = strings.Trim(val, `"`)
		}
	}
	return out
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s)) //nolint:gosec // RFC 2617 digest uses MD5
	return hex.EncodeToString(sum[:])
}

func TestRegisterWithDigest(t *testing.T) {
	t.Parallel()
	reg := newTestRegistrar(t, map[string]string{"alice": "s3cret"})
	p := New(t, Options{User: "alice"})
	ctx := timeout(t, callTimeout)

	require.NoError(t, p.Register(ctx, reg.addr, "alice", "s3cret", time.Minute))
	reg.mu.Lock()
	assert.Equal(t, p.URI(), reg.contacts["alice"])
	assert.Equal(t, "60", reg.expires["alice"])
	assert.Equal(t, 2, reg.attempts, "challenged once, then accepted")
	reg.mu.Unlock()

	// A refresh reuses the Call-ID with a higher CSeq; unregister is expires 0.
	require.NoError(t, p.Register(ctx, "sip:"+reg.addr, "alice", "s3cret", 0))
	reg.mu.Lock()
	assert.Equal(t, "0", reg.expires["alice"])
	reg.mu.Unlock()

	err := p.Register(ctx, reg.addr, "alice", "wrong", time.Minute)
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 403, se.Code)
}

// freePort returns a port that was free on 127.0.0.1 for UDP a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	port := c.LocalAddr().(*net.UDPAddr).Port //nolint:forcetypeassert // a UDPConn's address is a UDPAddr
	require.NoError(t, c.Close())
	return port
}

// startSipp runs sipp with args in a temp dir and returns a function that
// waits for it to exit and returns its error and output.
func startSipp(t *testing.T, args ...string) func() (string, error) {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	cmd := exec.CommandContext(ctx, "sipp", append(args, "-nostdin", "-timeout_error")...)
	cmd.Dir = t.TempDir()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	var once sync.Once
	var err error
	wait := func() (string, error) {
		once.Do(func() {
			err = cmd.Wait()
			cancel()
		})
		return out.String(), err
	}
	t.Cleanup(func() { _, _ = wait() })
	return wait
}

func TestSippAnswersPhone(t *testing.T) {
	t.Parallel()
	port, mport := freePort(t), freePort(t)
	wait := startSipp(t, "-sn", "uas", "-m", "1", "-timeout", "20s",
		"-p", strconv.Itoa(port), "-i", loopback, "-mp", strconv.Itoa(mport), "-rtp_echo")
	a := New(t, Options{User: "alice"})
	ctx := timeout(t, 15*time.Second)
	c, err := a.Dial(ctx, fmt.Sprintf("sip:service@127.0.0.1:%d", port), DialOptions{})
	require.NoError(t, err)
	assert.Equal(t, PCMU, c.Codec())
	assert.Equal(t, -1, c.params.dtmfPT, "sipp's answer has no telephone-event")

	// sipp echoes RTP: our tone comes back.
	require.NoError(t, c.PlayTone(ctx, 1000, 300*time.Millisecond))
	require.NoError(t, c.WaitAudio(ctx, 200*time.Millisecond, loudRMS))
	assert.Equal(t, 1000.0, DominantFrequency(activePart(c.Recording(), loudRMS), toneCandidates))
	require.ErrorContains(t, c.SendDTMF(ctx, "1"), "telephone-event", "no RFC 4733 without negotiation")

	require.NoError(t, c.Hangup(ctx))
	out, err := wait()
	require.NoError(t, err, "sipp failed:\n%s", out)
}

func TestSippCallsPhone(t *testing.T) {
	t.Parallel()
	b := New(t, Options{User: "bob", Answer: AnswerAuto})
	port, mport := freePort(t), freePort(t)
	wait := startSipp(t, "-sn", "uac", b.Addr(), "-s", "bob", "-m", "1", "-timeout", "20s", "-d", "3000",
		"-p", strconv.Itoa(port), "-i", loopback, "-mp", strconv.Itoa(mport), "-rtp_echo")
	ctx := timeout(t, 15*time.Second)
	inc, err := b.NextIncoming(ctx)
	require.NoError(t, err)
	assert.Equal(t, "bob", inc.ToUser())
	c, err := inc.Call(ctx)
	require.NoError(t, err)
	assert.Equal(t, PCMU, c.Codec())

	require.NoError(t, c.PlayTone(ctx, 697, 200*time.Millisecond))
	require.NoError(t, c.WaitAudio(ctx, 160*time.Millisecond, loudRMS), "sipp echoes our tone")
	assert.Equal(t, 697.0, DominantFrequency(activePart(c.Recording(), loudRMS), toneCandidates))

	by, err := c.WaitEnd(ctx)
	require.NoError(t, err)
	assert.Equal(t, EndRemote, by, "sipp hangs up after -d")
	out, err := wait()
	require.NoError(t, err, "sipp failed:\n%s", out)
}
