package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/app"
	"github.com/callcore/callcore/test/phone"
)

// Conferences on one node (memory store): the fast checks of issue 6. The
// cross-node behaviour is in test/region.

// confICE is an ICE reply putting the caller into room; extra are more
// fields of the action (",\"moh\":...").
func confICE(room, extra string) string {
	return `{"action":{"name":"connectConf","conferenceId":"` + room + `"` + extra + `}}`
}

// confRoute answers each ICE with the reply set for its cli (without a
// leading "+"); an unknown caller is hung up.
func confRoute(t *testing.T, b *backend, byCLI map[string]string) {
	b.onFunc("ice", func(_ *http.Request, ev map[string]any) (int, string) {
		cli, _ := ev["cli"].(string)
		reply, ok := byCLI[strings.TrimPrefix(cli, "+")]
		if !ok {
			t.Errorf("ICE from a caller without a room: cli %q", cli)
			return http.StatusOK, `{"action":{"name":"hangup"}}`
		}
		return http.StatusOK, reply
	})
}

// confDial calls the node's DID from p and returns the answered call and
// its call id (from the ICE).
func confDial(ctx context.Context, t *testing.T, b *backend, p *phone.Phone, n *app.App) (*phone.Call, string) {
	t.Helper()
	dial := dialDID(ctx, p, n, phone.DialOptions{})
	id, _ := b.want(ctx, "ice")["callid"].(string)
	require.NotEmpty(t, id)
	return answered(ctx, t, dial), id
}

// confPlay makes c send a continuous sine at freq until ctx or the call
// ends (10 s chunks: whole periods of every test tone).
func confPlay(ctx context.Context, c *phone.Call, freq float64) {
	pcm := phone.Tone(freq, 10*time.Second, 8192)
	go func() {
		for ctx.Err() == nil {
			if err := c.Play(ctx, pcm); err != nil {
				return
			}
		}
	}()
}

// confShare is the part of w's power at freq (1 for a pure tone at freq).
func confShare(w []int16, freq float64) float64 {
	r := phone.RMS(w)
	if r == 0 {
		return 0
	}
	return phone.Goertzel(w, 8000, freq) / (r * r)
}

func confDescribe(w []int16) string {
	var b strings.Builder
	fmt.Fprintf(&b, "RMS %.0f", phone.RMS(w))
	for _, f := range []float64{440, 700, 2000} {
		fmt.Fprintf(&b, ", %.0f Hz %.3f", f, confShare(w, f))
	}
	return b.String()
}

// confHears passes a window that is mostly freq (a clear tone, nothing
// else mixed in: no music, not the listener's own tone).
func confHears(freq float64) func([]int16) error {
	return func(w []int16) error {
		if phone.RMS(w) < 200 || confShare(w, freq) < 0.8 {
			return fmt.Errorf("not a clear %.0f Hz tone (%s)", freq, confDescribe(w))
		}
		return nil
	}
}

// confSilent passes a silent window.
func confSilent(w []int16) error {
	if r := phone.RMS(w); r >= 50 {
		return fmt.Errorf("not silence (%s)", confDescribe(w))
	}
	return nil
}

// confMusic passes hold music: loud enough and no steady test tone.
func confMusic(w []int16) error {
	if phone.RMS(w) < 500 || confShare(w, 440)+confShare(w, 700) > 0.2 {
		return fmt.Errorf("not hold music (%s)", confDescribe(w))
	}
	return nil
}

// confExpect waits until the latest win of c's recording, all of it
// received after the call, passes cond; it fails the test after within.
// A phone that receives no RTP at all for win hears silence: cond is
// checked on a window of zeros.
func confExpect(t *testing.T, what string, c *phone.Call, within, win time.Duration, cond func([]int16) error) {
	t.Helper()
	start := time.Now()
	mark := len(c.Recording())
	n := int(win.Seconds() * 8000)
	grew, size := start, -1
	var last error
	for {
		rec := c.Recording()
		if len(rec) != size {
			grew, size = time.Now(), len(rec)
		}
		switch {
		case len(rec)-n >= mark:
			last = cond(rec[len(rec)-n:])
		case time.Since(grew) > win:
			if last = cond(make([]int16, n)); last != nil {
				last = fmt.Errorf("no RTP for %v: %w", time.Since(grew).Round(time.Millisecond), last)
			}
		default:
			last = fmt.Errorf("only %d samples received", len(rec)-mark)
		}
		if last == nil {
			return
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v: %v", what, within, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// confGet reads a room: the status and the participants by call id.
func confGet(ctx context.Context, t *testing.T, n *app.App, room string) (int, map[string]map[string]any) {
	t.Helper()
	code, body := restJSON(ctx, t, n, http.MethodGet, "/calling/v1/conferences/id/"+room, "")
	if code != http.StatusOK {
		return code, nil
	}
	list, ok := body["participants"].([]any)
	require.True(t, ok, "participants is an array: %v", body)
	out := map[string]map[string]any{}
	for _, v := range list {
		p, _ := v.(map[string]any)
		id, _ := p["id"].(string)
		out[id] = p
	}
	return code, out
}

// confWait waits until the room lists exactly ids and returns them.
func confWait(ctx context.Context, t *testing.T, n *app.App, room string, ids ...string) map[string]map[string]any {
	t.Helper()
	want := slices.Clone(ids)
	sort.Strings(want)
	var (
		code int
		got  map[string]map[string]any
	)
	ok := assert.Eventually(t, func() bool {
		code, got = confGet(ctx, t, n, room)
		have := make([]string, 0, len(got))
		for id := range got {
			have = append(have, id)
		}
		sort.Strings(have)
		return code == http.StatusOK && slices.Equal(have, want)
	}, 10*time.Second, 50*time.Millisecond)
	require.True(t, ok, "room %s: want participants %v, last got %d %v", room, want, code, got)
	return got
}

// confGone waits until GET of the room answers 404.
func confGone(ctx context.Context, t *testing.T, n *app.App, room string) {
	t.Helper()
	require.Eventually(t, func() bool {
		code, _ := confGet(ctx, t, n, room)
		return code == http.StatusNotFound
	}, 10*time.Second, 50*time.Millisecond, "room %s still there", room)
}

// Two phones in a room on one node hear each other and not themselves;
// GET lists them; each hangup leaves the room (DiCE with conferenceId) and
// the room is gone with the last one.
func TestConferenceJoinAndHear(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	const room = "e2e-room"
	b := newBackend(t)
	b.on("ice", confICE(room, ""))
	n := node(t, b, "")
	p1 := phone.New(t, phone.Options{User: "+46701000101"})
	p2 := phone.New(t, phone.Options{User: "+46701000102"})

	c1, id1 := confDial(ctx, t, b, p1, n)
	confPlay(ctx, c1, 440)
	confWait(ctx, t, n, room, id1)
	c2, id2 := confDial(ctx, t, b, p2, n)
	confPlay(ctx, c2, 700)
	ps := confWait(ctx, t, n, room, id1, id2)
	for id, want := range map[string]string{id1: p1.User(), id2: p2.User()} {
		p := ps[id]
		assert.Equal(t, strings.TrimPrefix(want, "+"), strings.TrimPrefix(fmt.Sprint(p["cli"]), "+"))
		assert.Equal(t, false, p["muted"])
		assert.Equal(t, false, p["onhold"])
		assert.IsType(t, 0.0, p["duration"])
		assert.Len(t, p, 5, "exactly cli, id, duration, muted, onhold: %v", p)
	}

	confExpect(t, "phone 1 hears phone 2", c1, 10*time.Second, time.Second, confHears(700))
	confExpect(t, "phone 2 hears phone 1", c2, 10*time.Second, time.Second, confHears(440))

	require.NoError(t, c1.Hangup(ctx))
	dice := b.want(ctx, "dice")
	assert.Equal(t, id1, dice["callid"])
	assert.Equal(t, "CALLERHANGUP", dice["reason"])
	assert.Equal(t, room, dice["conferenceId"])
	confWait(ctx, t, n, room, id2)
	confExpect(t, "phone 2 alone without moh", c2, 10*time.Second, 500*time.Millisecond, confSilent)

	require.NoError(t, c2.Hangup(ctx))
	dice = b.want(ctx, "dice")
	assert.Equal(t, id2, dice["callid"])
	assert.Equal(t, room, dice["conferenceId"])
	confGone(ctx, t, n, room)
}

// A participant alone hears the room's moh, and it stops when a second
// one joins; without moh a participant alone hears silence.
func TestConferenceMOHWhileAlone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	b := newBackend(t)
	p1 := phone.New(t, phone.Options{User: "+46701000111"})
	p2 := phone.New(t, phone.Options{User: "+46701000112"})
	p3 := phone.New(t, phone.Options{User: "+46701000113"})
	mohICE := confICE("moh-room", `,"moh":"music1"`)
	confRoute(t, b, map[string]string{
		"46701000111": mohICE,
		"46701000112": mohICE,
		"46701000113": confICE("quiet-room", ""),
	})
	n := node(t, b, "")

	c1, id1 := confDial(ctx, t, b, p1, n)
	confWait(ctx, t, n, "moh-room", id1)
	confExpect(t, "phone 1 alone hears music", c1, 10*time.Second, time.Second, confMusic)

	c2, id2 := confDial(ctx, t, b, p2, n)
	confPlay(ctx, c2, 700)
	confWait(ctx, t, n, "moh-room", id1, id2)
	confExpect(t, "phone 1 hears phone 2, no more music", c1, 10*time.Second, time.Second, confHears(700))
	confExpect(t, "phone 2 hears the silent phone 1, no music", c2, 10*time.Second, time.Second, confSilent)

	c3, id3 := confDial(ctx, t, b, p3, n)
	confWait(ctx, t, n, "quiet-room", id3)
	confExpect(t, "phone 3 alone without moh", c3, 10*time.Second, time.Second, confSilent)

	for _, c := range []*phone.Call{c1, c2, c3} {
		require.NoError(t, c.Hangup(ctx))
	}
	confGone(ctx, t, n, "moh-room")
	confGone(ctx, t, n, "quiet-room")
}

// The REST routes refuse what they must: unknown rooms and calls (404), bad
// commands and moh (400); a kick ends the call with MANAGERHANGUP.
func TestConferenceRESTErrors(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const room = "rest-room"
	b := newBackend(t)
	b.on("ice", confICE(room, ""))
	n := node(t, b, "")

	code, body := restJSON(ctx, t, n, http.MethodGet, "/calling/v1/conferences/id/no-such-room", "")
	assert.Equal(t, http.StatusNotFound, code, "%v", body)
	assert.EqualValues(t, 40400, body["errorCode"])
	assert.NotEmpty(t, body["message"])
	code, body = restJSON(ctx, t, n, http.MethodDelete, "/calling/v1/conferences/id/no-such-room", "")
	assert.Equal(t, http.StatusNotFound, code, "kick-all of an unknown room: %v", body)

	p1 := phone.New(t, phone.Options{User: "+46701000121"})
	c1, id1 := confDial(ctx, t, b, p1, n)
	confWait(ctx, t, n, room, id1)
	part := "/calling/v1/conferences/id/" + room + "/" + id1

	for _, bad := range []string{`{"command":"dance"}`, `{}`, `{"command":"onhold","moh":"disco"}`, `{"command":`} {
		code, body = restJSON(ctx, t, n, http.MethodPatch, part, bad)
		assert.Equal(t, http.StatusBadRequest, code, "PATCH %s: %v", bad, body)
		assert.NotEmpty(t, body["message"], "PATCH %s", bad)
	}
	code, body = restJSON(ctx, t, n, http.MethodPatch, "/calling/v1/conferences/id/"+room+"/no-such-call", `{"command":"mute"}`)
	assert.Equal(t, http.StatusNotFound, code, "PATCH of a call not in the room: %v", body)
	code, body = restJSON(ctx, t, n, http.MethodPatch, "/calling/v1/conferences/id/no-such-room/"+id1, `{"command":"mute"}`)
	assert.Equal(t, http.StatusNotFound, code, "PATCH in an unknown room: %v", body)
	code, body = restJSON(ctx, t, n, http.MethodDelete, "/calling/v1/conferences/id/"+room+"/no-such-call", "")
	assert.Equal(t, http.StatusNotFound, code, "kick of a call not in the room: %v", body)

	// A good command still works, and shows.
	code, raw := rest(ctx, t, n, http.MethodPatch, part, `{"command":"mute"}`)
	require.Equal(t, http.StatusNoContent, code, "%s", raw)
	assert.Eventually(t, func() bool {
		_, ps := confGet(ctx, t, n, room)
		return ps[id1]["muted"] == true
	}, 5*time.Second, 50*time.Millisecond, "GET shows the mute")

	code, raw = rest(ctx, t, n, http.MethodDelete, part, "")
	require.Equal(t, http.StatusNoContent, code, "%s", raw)
	assert.Equal(t, phone.EndRemote, ended(ctx, t, c1))
	dice := b.want(ctx, "dice")
	assert.Equal(t, id1, dice["callid"])
	assert.Equal(t, "MANAGERHANGUP", dice["reason"])
	assert.Equal(t, room, dice["conferenceId"])
	confGone(ctx, t, n, room)
	code, _ = rest(ctx, t, n, http.MethodDelete, part, "")
	assert.Equal(t, http.StatusNotFound, code, "kick after the room is gone")
}

// conferenceCallout: the callee (a phone behind the gateway) answers,
// hears the greeting, then is in the room with a phone that called in.
func TestConferenceCallout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	const room = "callout-room"
	gw := phone.New(t, phone.Options{User: "gw", Answer: phone.AnswerAuto})
	b := newBackend(t)
	b.on("ice", confICE(room, ""))
	n := node(t, b, "sip:"+gw.Addr())

	p1 := phone.New(t, phone.Options{User: "+46701000131"})
	c1, id1 := confDial(ctx, t, b, p1, n)
	confPlay(ctx, c1, 440)
	confWait(ctx, t, n, room, id1)

	id := callout(ctx, t, n, `{"method":"conferenceCallout","conferenceCallout":{"cli":"+46700000007",
		"destination":{"type":"number","endpoint":"`+calleeNumber+`"},"conferenceId":"`+room+`",
		"greeting":"Welcome to the conference. You are joining the room now.","locale":"en-US",
		"enableDice":true,"custom":"conf-1"}}`)
	inc, err := gw.NextIncoming(ctx)
	require.NoError(t, err)
	assert.Contains(t, inc.RequestURI(), "sip:"+calleeNumber+"@")
	assert.Equal(t, "+46700000007", inc.FromUser())
	callee, err := inc.Call(ctx)
	require.NoError(t, err)

	waitTone(ctx, t, callee, 440, 500*time.Millisecond)
	rec := callee.Recording()
	first := firstTone(rec, 440)
	require.Positive(t, first, "the room's tone")
	assert.True(t, phone.SpeechLike(rec[:first]), "the callee hears the greeting before the room")
	confPlay(ctx, callee, 700)
	confExpect(t, "phone 1 hears the callee", c1, 10*time.Second, time.Second, confHears(700))

	ps := confWait(ctx, t, n, room, id1, id)
	assert.Equal(t, strings.TrimPrefix(calleeNumber, "+"), strings.TrimPrefix(fmt.Sprint(ps[id]["cli"]), "+"),
		"a callout's participant is its callee")

	require.NoError(t, callee.Hangup(ctx))
	dice := b.want(ctx, "dice")
	assert.Equal(t, id, dice["callid"])
	assert.Equal(t, "CALLEEHANGUP", dice["reason"])
	assert.Equal(t, "ANSWERED", dice["result"])
	assert.Equal(t, "conf-1", dice["custom"])
	assert.Equal(t, room, dice["conferenceId"])
	confWait(ctx, t, n, room, id1)
	require.NoError(t, c1.Hangup(ctx))
	confGone(ctx, t, n, room)
}
