package region_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/redisserver"
	"github.com/callcore/callcore/test/phone"
)

// Conferences across nodes (issue 6): phones call different nodes into one
// room, each plays its own continuous tone, and what each phone receives is
// analysed with Goertzel: it must hold the others' tones and not its own.

// confRouter answers ICEs with a connectConf chosen per caller (by cli).
type confRouter struct {
	t     *testing.T
	mu    sync.Mutex
	byCLI map[string]string
}

func newConfRouter(t *testing.T) *confRouter {
	return &confRouter{t: t, byCLI: map[string]string{}}
}

// route makes calls from p get reply as their ICE's answer.
func (r *confRouter) route(p *phone.Phone, reply string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byCLI[strings.TrimPrefix(p.User(), "+")] = reply
}

func (r *confRouter) ice(ev map[string]any) string {
	cli, _ := ev["cli"].(string)
	r.mu.Lock()
	reply, ok := r.byCLI[strings.TrimPrefix(cli, "+")]
	r.mu.Unlock()
	if !ok {
		r.t.Errorf("ICE from a caller without a room: cli %q", cli)
		return `{"action":{"name":"hangup"}}`
	}
	return reply
}

// connectConfICE is an ICE reply putting the caller into room; extra are
// more fields of the action (",\"moh\":...").
func connectConfICE(room, extra string) string {
	return `{"action":{"name":"connectConf","conferenceId":"` + room + `"` + extra + `}}`
}

// dialConf calls the region's number on n and returns the call with its
// callcore call id.
func dialConf(ctx context.Context, t *testing.T, b *backend, p *phone.Phone, n *node) (*phone.Call, string) {
	t.Helper()
	before := len(b.events("ice"))
	c := dialNode(ctx, t, p, n)
	return c, callIDOf(ctx, t, b, before)
}

// playTone makes c send a continuous sine at freq until ctx ends or the
// call does (10 s chunks: a whole number of periods of every test tone, so
// the joins have no phase jump).
func playTone(ctx context.Context, c *phone.Call, freq float64) {
	pcm := phone.Tone(freq, 10*time.Second, 8192)
	go func() {
		for ctx.Err() == nil {
			if err := c.Play(ctx, pcm); err != nil {
				return
			}
		}
	}()
}

// steadyTTL is the heartbeat TTL (and so the conference host lease) of
// the tests where the host must not change.
const steadyTTL = 6 * time.Second

const (
	rate = 8000.0
	// controlHz is far from every test tone and their low-order products.
	controlHz = 2000.0
	// audibleRMS is the least level of a window that holds a tone.
	audibleRMS = 200.0
)

// share is the part of w's power at freq: about 1 for a pure tone at
// freq, 0.5 for each of two equal tones, 0 for silence.
func share(w []int16, freq float64) float64 {
	r := phone.RMS(w)
	if r == 0 {
		return 0
	}
	return phone.Goertzel(w, rate, freq) / (r * r)
}

// describe is w's level and the share of each test frequency, for
// failure messages.
func describe(w []int16) string {
	var b strings.Builder
	fmt.Fprintf(&b, "RMS %.0f", phone.RMS(w))
	for _, f := range []float64{440, 700, 1100, controlHz} {
		fmt.Fprintf(&b, ", %.0f Hz %.3f", f, share(w, f))
	}
	return b.String()
}

// tones passes a window that holds every frequency of hear clearly (a
// tenth of the power or more, and at least 10× the control frequency) and
// each of not at most a tenth of the weakest heard.
func tones(hear []float64, not ...float64) func([]int16) error {
	return func(w []int16) error {
		r := phone.RMS(w)
		if r < audibleRMS {
			return fmt.Errorf("too quiet (%s)", describe(w))
		}
		ctrl := phone.Goertzel(w, rate, controlHz)
		weakest := math.Inf(1)
		for _, f := range hear {
			p := phone.Goertzel(w, rate, f)
			if p/(r*r) < 0.1 || p < 10*ctrl {
				return fmt.Errorf("%.0f Hz not heard clearly (%s)", f, describe(w))
			}
			weakest = min(weakest, p)
		}
		for _, f := range not {
			if p := phone.Goertzel(w, rate, f); p > weakest/10 {
				return fmt.Errorf("%.0f Hz heard (%s)", f, describe(w))
			}
		}
		return nil
	}
}

// music passes hold music: audible, and not the test tones (hold music
// has well under 0.1 of its power at them over a second).
func music(w []int16) error {
	if r := phone.RMS(w); r < audibleRMS {
		return fmt.Errorf("no music, too quiet (%s)", describe(w))
	}
	if s := share(w, 440) + share(w, 700) + share(w, 1100); s > 0.2 {
		return fmt.Errorf("the test tones, not music (%s)", describe(w))
	}
	return nil
}

// without passes a window that does not hold freq: quiet, or freq a small
// part of it.
func without(freq float64) func([]int16) error {
	return func(w []int16) error {
		if phone.RMS(w) < audibleRMS/2 || share(w, freq) < 0.05 {
			return nil
		}
		return fmt.Errorf("%.0f Hz still heard (%s)", freq, describe(w))
	}
}

// listener is a phone and what it should hear.
type listener struct {
	who  string
	c    *phone.Call
	cond func([]int16) error
}

// expectHeard waits until the latest win of every listener's recording
// passes its condition, counting only audio received at least skip after
// the call of expectHeard; it fails the test after within and returns how
// long the slowest listener took. A phone that receives no RTP at all for
// win hears silence: its condition is checked on a window of zeros (a node
// may stop sending while a participant is out of the mix).
func expectHeard(t *testing.T, what string, within, win, skip time.Duration, ls ...listener) time.Duration {
	t.Helper()
	start := time.Now()
	marks := make([]int, len(ls))
	for i, l := range ls {
		marks[i] = len(l.c.Recording()) + int(skip.Seconds()*rate)
	}
	n := int(win.Seconds() * rate)
	for i, l := range ls {
		var last error
		grew, size := start, -1
		for {
			rec := l.c.Recording()
			if len(rec) != size {
				grew, size = time.Now(), len(rec)
			}
			switch {
			case len(rec)-n >= marks[i]:
				last = l.cond(rec[len(rec)-n:])
			case time.Since(grew) > win && time.Since(start) > skip+win:
				if last = l.cond(make([]int16, n)); last != nil {
					last = fmt.Errorf("no RTP for %v: %w", time.Since(grew).Round(time.Millisecond), last)
				}
			default:
				last = fmt.Errorf("only %d samples since the mark", len(rec)-marks[i]+int(skip.Seconds()*rate))
			}
			if last == nil {
				break
			}
			if time.Since(start) > within {
				t.Fatalf("%s: %s: not within %v: %v", what, l.who, within, last)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return time.Since(start)
}

// confParticipant is one entry of GET /calling/v1/conferences/id/{id}.
type confParticipant struct {
	CLI      string  `json:"cli"`
	ID       string  `json:"id"`
	Duration float64 `json:"duration"`
	Muted    bool    `json:"muted"`
	OnHold   bool    `json:"onhold"`
}

// getConf reads a room through n: the status and, with 200, the
// participants; every participant must have exactly the five keys of
// ParticipantDetails.
func getConf(ctx context.Context, t *testing.T, n *node, room string) (int, []confParticipant) {
	t.Helper()
	code, raw := n.rest(ctx, http.MethodGet, "/calling/v1/conferences/id/"+room, "")
	if code != http.StatusOK {
		return code, nil
	}
	var generic struct {
		Participants []map[string]any `json:"participants"`
	}
	require.NoError(t, json.Unmarshal(raw, &generic), "%s", raw)
	for _, p := range generic.Participants {
		keys := make([]string, 0, len(p))
		for k := range p {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		require.Equal(t, []string{"cli", "duration", "id", "muted", "onhold"}, keys, "%s", raw)
	}
	var info struct {
		Participants []confParticipant `json:"participants"`
	}
	require.NoError(t, json.Unmarshal(raw, &info), "%s", raw)
	require.NotNil(t, info.Participants, "participants is an array: %s", raw)
	return code, info.Participants
}

// waitParticipants waits until a GET through n lists exactly the calls
// ids and returns them by call id.
func waitParticipants(ctx context.Context, t *testing.T, n *node, room string, ids ...string) map[string]confParticipant {
	t.Helper()
	want := slices.Clone(ids)
	sort.Strings(want)
	var (
		code int
		got  []confParticipant
	)
	ok := assert.Eventually(t, func() bool {
		code, got = getConf(ctx, t, n, room)
		have := make([]string, len(got))
		for i, p := range got {
			have[i] = p.ID
		}
		sort.Strings(have)
		return code == http.StatusOK && slices.Equal(have, want)
	}, 20*time.Second, 100*time.Millisecond)
	require.True(t, ok, "GET %s through %s: want participants %v, last got %d %+v", room, n.id, want, code, got)
	out := make(map[string]confParticipant, len(got))
	for _, p := range got {
		out[p.ID] = p
	}
	return out
}

// waitRoomGone waits until a GET of room through every node answers 404.
func waitRoomGone(ctx context.Context, t *testing.T, room string, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		require.Eventually(t, func() bool {
			code, _ := getConf(ctx, t, n, room)
			return code == http.StatusNotFound
		}, 20*time.Second, 100*time.Millisecond, "room %s still there through %s", room, n.id)
	}
}

// waitDiCE waits for the DiCE of call id.
func waitDiCE(ctx context.Context, t *testing.T, b *backend, id string) received {
	t.Helper()
	b.waitFor(ctx, "the DiCE of "+id, func() bool { return len(b.diceByCall()[id]) > 0 })
	return b.diceByCall()[id][0]
}

// endedRemotely waits for the node to end c.
func endedRemotely(ctx context.Context, t *testing.T, who string, c *phone.Call) {
	t.Helper()
	r, err := c.WaitEnd(ctx)
	require.NoError(t, err, "%s's call did not end", who)
	assert.Equal(t, phone.EndRemote, r, "%s's call is ended by the node", who)
}

// manage sends a participant command through n.
func manage(ctx context.Context, t *testing.T, n *node, room, id, body string) {
	t.Helper()
	code, raw := n.rest(ctx, http.MethodPatch, "/calling/v1/conferences/id/"+room+"/"+id, body)
	require.Equal(t, http.StatusNoContent, code, "PATCH %s through %s: %s", body, n.id, raw)
}

// Three phones on two nodes in one room: each hears the two others and
// not itself; mute, hold (with music) and their undoing act on what the
// others hear, through either node; kicking one and then everyone ends
// the calls with MANAGERHANGUP and the room disappears.
func TestConferenceThreePhonesTwoNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	redis := redisserver.Start(t)
	r := newConfRouter(t)
	b := newBackend(t, r.ice)
	// A long lease: on a loaded machine a 2 s lease can lapse while a node
	// is starved, and the room would move in the middle of the checks.
	a := startNode(t, nodeOptions{ID: "node-a", Redis: redis, Callback: b.url(), HeartbeatTTL: steadyTTL})
	nb := startNode(t, nodeOptions{ID: "node-b", Redis: redis, Callback: b.url(), HeartbeatTTL: steadyTTL})

	const room = "room1"
	ice := connectConfICE(room, `,"moh":"music1","conferenceDtmfOptions":{"mode":"detect","maxDigits":3,"timeoutMills":2000}`)
	p1 := phone.New(t, phone.Options{User: "+46701000001"})
	p2 := phone.New(t, phone.Options{User: "+46701000002"})
	p3 := phone.New(t, phone.Options{User: "+46701000003"})
	for _, p := range []*phone.Phone{p1, p2, p3} {
		r.route(p, ice)
	}

	c1, id1 := dialConf(ctx, t, b, p1, a)
	playTone(ctx, c1, 440)
	waitParticipants(ctx, t, a, room, id1) // phone 1 first: A hosts
	c2, id2 := dialConf(ctx, t, b, p2, a)
	playTone(ctx, c2, 700)
	c3, id3 := dialConf(ctx, t, b, p3, nb)
	playTone(ctx, c3, 1100)

	waitParticipants(ctx, t, nb, room, id1, id2, id3)
	ps := waitParticipants(ctx, t, a, room, id1, id2, id3)
	for i, p := range []*phone.Phone{p1, p2, p3} {
		got := ps[[]string{id1, id2, id3}[i]]
		assert.Equal(t, strings.TrimPrefix(p.User(), "+"), strings.TrimPrefix(got.CLI, "+"), "cli of phone %d", i+1)
		assert.False(t, got.Muted)
		assert.False(t, got.OnHold)
		assert.GreaterOrEqual(t, got.Duration, 0.0)
	}

	full := []listener{
		{"phone 1", c1, tones([]float64{700, 1100}, 440)},
		{"phone 2", c2, tones([]float64{440, 1100}, 700)},
		{"phone 3", c3, tones([]float64{440, 700}, 1100)},
	}
	took := expectHeard(t, "all three in the room", 20*time.Second, time.Second, 0, full...)
	t.Logf("every phone heard the two others (and not itself) %v after the third joined", took.Round(10*time.Millisecond))

	// Mute phone 3 (a participant of B) through A.
	manage(ctx, t, a, room, id3, `{"command":"mute"}`)
	expectHeard(t, "phone 3 muted", 10*time.Second, 500*time.Millisecond, 0,
		listener{"phone 1", c1, tones([]float64{700}, 1100, 440)},
		listener{"phone 2", c2, tones([]float64{440}, 1100, 700)},
		listener{"phone 3", c3, tones([]float64{440, 700}, 1100)})
	ps = waitParticipants(ctx, t, nb, room, id1, id2, id3)
	assert.True(t, ps[id3].Muted, "GET shows phone 3 muted")
	assert.False(t, ps[id1].Muted)
	assert.False(t, ps[id3].OnHold)

	manage(ctx, t, a, room, id3, `{"command":"unmute"}`)
	expectHeard(t, "phone 3 unmuted", 10*time.Second, 500*time.Millisecond, 0, full...)
	ps = waitParticipants(ctx, t, nb, room, id1, id2, id3)
	assert.False(t, ps[id3].Muted, "GET shows phone 3 unmuted")

	// Hold phone 1 (a participant of A, the host) through B: it hears
	// music2, the others stop hearing it.
	manage(ctx, t, nb, room, id1, `{"command":"onhold","moh":"music2"}`)
	expectHeard(t, "phone 1 on hold", 10*time.Second, time.Second, 0,
		listener{"phone 1", c1, music},
		listener{"phone 2", c2, tones([]float64{1100}, 440, 700)},
		listener{"phone 3", c3, tones([]float64{700}, 440, 1100)})
	ps = waitParticipants(ctx, t, a, room, id1, id2, id3)
	assert.True(t, ps[id1].OnHold, "GET shows phone 1 on hold")
	assert.False(t, ps[id1].Muted)
	assert.False(t, ps[id2].OnHold)

	manage(ctx, t, nb, room, id1, `{"command":"resume"}`)
	expectHeard(t, "phone 1 resumed", 10*time.Second, time.Second, 0, full...)
	ps = waitParticipants(ctx, t, a, room, id1, id2, id3)
	assert.False(t, ps[id1].OnHold, "GET shows phone 1 resumed")

	// Kick phone 2 (a call of A) through B.
	code, raw := nb.rest(ctx, http.MethodDelete, "/calling/v1/conferences/id/"+room+"/"+id2, "")
	require.Equal(t, http.StatusNoContent, code, "%s", raw)
	endedRemotely(ctx, t, "phone 2", c2)
	dice := waitDiCE(ctx, t, b, id2)
	assert.Equal(t, "MANAGERHANGUP", dice.Body["reason"])
	assert.Equal(t, "ANSWERED", dice.Body["result"])
	assert.Equal(t, room, dice.Body["conferenceId"], "the DiCE of a participant names its room")
	waitParticipants(ctx, t, a, room, id1, id3)
	expectHeard(t, "phone 2 kicked", 10*time.Second, 500*time.Millisecond, 0,
		listener{"phone 1", c1, tones([]float64{1100}, 440, 700)},
		listener{"phone 3", c3, tones([]float64{440}, 700, 1100)})

	// Kick everyone through B.
	code, raw = nb.rest(ctx, http.MethodDelete, "/calling/v1/conferences/id/"+room, "")
	require.Equal(t, http.StatusNoContent, code, "%s", raw)
	endedRemotely(ctx, t, "phone 1", c1)
	endedRemotely(ctx, t, "phone 3", c3)
	for _, id := range []string{id1, id3} {
		dice := waitDiCE(ctx, t, b, id)
		assert.Equal(t, "MANAGERHANGUP", dice.Body["reason"], "DiCE of %s", id)
		assert.Equal(t, room, dice.Body["conferenceId"], "DiCE of %s", id)
	}
	waitRoomGone(ctx, t, room, a, nb)
	for id, ds := range b.diceByCall() {
		assert.Len(t, ds, 1, "one DiCE for %s", id)
	}
}

// The node hosting a room dies (kill -9): the participants on the two
// surviving nodes hear each other again within seconds through a new host;
// the participant whose call ran on the dead node gets its DiCE from a
// survivor and leaves the participant list; the room is still managed.
// threeNodeRoom starts nodes A, B and C (heartbeat TTL ttl) and puts
// phone i+1 (users[i]) into room on node A, B and C in turn — A, the first,
// hosts the room — each playing its tone (440, 700, 1100 Hz), and waits
// until every phone hears the two others.
func threeNodeRoom(ctx context.Context, t *testing.T, room string, ttl time.Duration, users [3]string) (*backend, [3]*node, [3]*phone.Call, [3]string) {
	t.Helper()
	redis := redisserver.Start(t)
	r := newConfRouter(t)
	b := newBackend(t, r.ice)
	var (
		ns    [3]*node
		calls [3]*phone.Call
		ids   [3]string
	)
	for i, id := range []string{"node-a", "node-b", "node-c"} {
		ns[i] = startNode(t, nodeOptions{ID: id, Redis: redis, Callback: b.url(), HeartbeatTTL: ttl})
	}
	ice := connectConfICE(room, "")
	for i, freq := range []float64{440, 700, 1100} {
		p := phone.New(t, phone.Options{User: users[i]})
		r.route(p, ice)
		calls[i], ids[i] = dialConf(ctx, t, b, p, ns[i])
		playTone(ctx, calls[i], freq)
		if i == 0 {
			waitParticipants(ctx, t, ns[0], room, ids[0]) // first joiner: A hosts
		}
	}
	waitParticipants(ctx, t, ns[2], room, ids[:]...)
	expectHeard(t, "all three in the room", 20*time.Second, time.Second, 0,
		listener{"phone 1", calls[0], tones([]float64{700, 1100}, 440)},
		listener{"phone 2", calls[1], tones([]float64{440, 1100}, 700)},
		listener{"phone 3", calls[2], tones([]float64{440, 700}, 1100)})
	return b, ns, calls, ids
}

func TestConferenceHostKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const ttl = 2 * time.Second
	const room = "room1"
	b, ns, calls, ids := threeNodeRoom(ctx, t, room, ttl, [3]string{"+46701000011", "+46701000012", "+46701000013"})
	a, nb, nc := ns[0], ns[1], ns[2]
	c1, c2, c3 := calls[0], calls[1], calls[2]
	id1, id2, id3 := ids[0], ids[1], ids[2]
	assert.Equal(t, 1.0, a.metric(ctx, "callcore_conference_rooms"), "A hosts the room")
	assert.Zero(t, nb.metric(ctx, "callcore_conference_rooms")+nc.metric(ctx, "callcore_conference_rooms"))

	a.kill9()
	killed := time.Now()
	// Only audio from a second after the kill counts: what was in flight
	// from the old host must not pass for the new one.
	took := expectHeard(t, "phones 2 and 3 after the host died", 20*time.Second, 500*time.Millisecond, time.Second,
		listener{"phone 2", c2, tones([]float64{1100}, 700)},
		listener{"phone 3", c3, tones([]float64{700}, 1100)})
	t.Logf("phones 2 and 3 heard each other again %v after kill -9 of the host (heartbeat TTL %v)", took.Round(10*time.Millisecond), ttl)

	dice := waitDiCE(ctx, t, b, id1)
	t.Logf("the DiCE of phone 1 (a call of the dead node) arrived %v after the kill", dice.At.Sub(killed).Round(10*time.Millisecond))
	assert.Equal(t, "GENERALERROR", dice.Body["reason"])
	assert.Equal(t, room, dice.Body["conferenceId"])
	assert.Equal(t, 1.0, nb.metric(ctx, "callcore_calls_taken_over_total")+nc.metric(ctx, "callcore_calls_taken_over_total"),
		"a survivor ended phone 1's call")
	waitParticipants(ctx, t, nb, room, id2, id3)
	waitParticipants(ctx, t, nc, room, id2, id3)
	assert.Equal(t, 1.0, nb.metric(ctx, "callcore_conference_rooms")+nc.metric(ctx, "callcore_conference_rooms"),
		"one survivor hosts the room")

	// The moved room is still managed: kick everyone through C.
	require.Eventually(t, func() bool {
		code, _ := nc.rest(ctx, http.MethodDelete, "/calling/v1/conferences/id/"+room, "")
		return code == http.StatusNoContent
	}, 10*time.Second, 200*time.Millisecond, "kick-all after the move")
	endedRemotely(ctx, t, "phone 2", c2)
	endedRemotely(ctx, t, "phone 3", c3)
	for _, id := range []string{id2, id3} {
		assert.Equal(t, "MANAGERHANGUP", waitDiCE(ctx, t, b, id).Body["reason"], "DiCE of %s", id)
	}
	waitRoomGone(ctx, t, room, nb, nc)
	select {
	case <-c1.Done():
		t.Error("phone 1's call ended by a BYE from a dead node")
	default:
	}
}

// pieOf returns the PIEs of call id received so far.
func pieOf(b *backend, id string) []received {
	var out []received
	for _, r := range b.events("pie") {
		if r.CallID == id {
			out = append(out, r)
		}
	}
	return out
}

// conferenceDtmfOptions: in detect mode a participant of B in a room
// hosted by A leaves the mix at its first digit, and after maxDigits (or
// timeoutMills after the last digit) a PIE carries the sequence with the
// room as menuId; in forward mode digits go as RFC 4733 to every other
// participant, local or remote, and not back to the sender.
func TestConferenceDTMFModes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	redis := redisserver.Start(t)
	r := newConfRouter(t)
	b := newBackend(t, r.ice)
	// A long lease: on a loaded machine a 2 s lease can lapse while a node
	// is starved, and the room would move in the middle of the checks.
	a := startNode(t, nodeOptions{ID: "node-a", Redis: redis, Callback: b.url(), HeartbeatTTL: steadyTTL})
	nb := startNode(t, nodeOptions{ID: "node-b", Redis: redis, Callback: b.url(), HeartbeatTTL: steadyTTL})

	// Detect.
	const detectRoom, timeout = "detect-room", 5 * time.Second
	detectICE := connectConfICE(detectRoom, fmt.Sprintf(`,"conferenceDtmfOptions":{"mode":"detect","maxDigits":3,"timeoutMills":%d}`, timeout.Milliseconds()))
	d1 := phone.New(t, phone.Options{User: "+46701000021"})
	d2 := phone.New(t, phone.Options{User: "+46701000022"})
	r.route(d1, detectICE)
	r.route(d2, detectICE)
	cd1, idd1 := dialConf(ctx, t, b, d1, a)
	playTone(ctx, cd1, 440)
	waitParticipants(ctx, t, a, detectRoom, idd1)
	cd2, idd2 := dialConf(ctx, t, b, d2, nb)
	waitParticipants(ctx, t, nb, detectRoom, idd1, idd2)
	expectHeard(t, "phone 2 in the detect room", 20*time.Second, 500*time.Millisecond, 0,
		listener{"phone 2", cd2, tones([]float64{440})})

	require.NoError(t, cd2.SendDTMF(ctx, "1"))
	expectHeard(t, "phone 2 collecting digits", timeout-time.Second, 300*time.Millisecond, 0,
		listener{"phone 2", cd2, without(440)})
	require.NoError(t, cd2.SendDTMF(ctx, "23"))
	b.waitFor(ctx, "the PIE of the sequence", func() bool { return len(pieOf(b, idd2)) == 1 })
	pie := pieOf(b, idd2)[0].Body
	assert.Equal(t, map[string]any{"type": "sequence", "value": "123", "menuId": detectRoom, "inputMethod": "dtmf"}, pie["menuResult"])
	assert.Equal(t, detectRoom, pie["conferenceId"])
	expectHeard(t, "phone 2 back in the mix", 10*time.Second, 500*time.Millisecond, 0,
		listener{"phone 2", cd2, tones([]float64{440})})

	// Fewer digits than maxDigits: the PIE comes timeoutMills after the last.
	require.NoError(t, cd2.SendDTMF(ctx, "9"))
	sent := time.Now()
	b.waitFor(ctx, "the PIE after the timeout", func() bool { return len(pieOf(b, idd2)) == 2 })
	t.Logf("the PIE of a single digit came %v after it was sent (timeoutMills %v)", time.Since(sent).Round(10*time.Millisecond), timeout)
	assert.Equal(t, "9", pieOf(b, idd2)[1].Body["menuResult"].(map[string]any)["value"])
	assert.Empty(t, cd1.ReceivedDTMF(), "detect mode does not forward digits")
	assert.Empty(t, pieOf(b, idd1))

	// Forward: f1 (A, host) and f3 (A) and f2 (B).
	const fwdRoom = "forward-room"
	fwdICE := connectConfICE(fwdRoom, `,"conferenceDtmfOptions":{"mode":"forward"}`)
	f1 := phone.New(t, phone.Options{User: "+46701000031"})
	f2 := phone.New(t, phone.Options{User: "+46701000032"})
	f3 := phone.New(t, phone.Options{User: "+46701000033"})
	for _, p := range []*phone.Phone{f1, f2, f3} {
		r.route(p, fwdICE)
	}
	cf1, idf1 := dialConf(ctx, t, b, f1, a)
	waitParticipants(ctx, t, a, fwdRoom, idf1)
	cf2, idf2 := dialConf(ctx, t, b, f2, nb)
	cf3, idf3 := dialConf(ctx, t, b, f3, a)
	waitParticipants(ctx, t, nb, fwdRoom, idf1, idf2, idf3)
	// A tone from f1 until everyone hears it: the media paths are up.
	toneCtx, stopTone := context.WithCancel(ctx)
	playTone(toneCtx, cf1, 440)
	expectHeard(t, "the forward room's media", 20*time.Second, 500*time.Millisecond, 0,
		listener{"phone f2", cf2, tones([]float64{440})},
		listener{"phone f3", cf3, tones([]float64{440})})
	stopTone()

	require.NoError(t, cf1.SendDTMF(ctx, "47#"))
	for who, c := range map[string]*phone.Call{"f2 (B)": cf2, "f3 (A)": cf3} {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		got, err := c.WaitDTMF(wctx, 3)
		wcancel()
		require.NoError(t, err, "phone %s", who)
		assert.Equal(t, "47#", got, "phone %s", who)
	}
	require.NoError(t, cf2.SendDTMF(ctx, "5"))
	for who, want := range map[string]struct {
		c      *phone.Call
		digits string
	}{"f1 (A)": {cf1, "5"}, "f3 (A)": {cf3, "47#5"}} {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		got, err := want.c.WaitDTMF(wctx, len(want.digits))
		wcancel()
		require.NoError(t, err, "phone %s", who)
		assert.Equal(t, want.digits, got, "phone %s", who)
	}
	time.Sleep(time.Second) // room for a digit echoed to its sender to show up
	assert.Equal(t, "5", cf1.ReceivedDTMF(), "f1 does not get its own digits back")
	assert.Equal(t, "47#", cf2.ReceivedDTMF(), "f2 does not get its own digit back")
	assert.Equal(t, "47#5", cf3.ReceivedDTMF())
	for _, id := range []string{idf1, idf2, idf3} {
		assert.Empty(t, pieOf(b, id), "no PIE in forward mode")
	}
	if t.Failed() {
		return
	}
	for _, c := range []*phone.Call{cd1, cd2, cf1, cf2, cf3} {
		require.NoError(t, c.Hangup(ctx))
	}
	for _, id := range []string{idd1, idd2, idf1, idf2, idf3} {
		dice := waitDiCE(ctx, t, b, id)
		assert.Equal(t, "CALLERHANGUP", dice.Body["reason"], "DiCE of %s", id)
		assert.NotEmpty(t, dice.Body["conferenceId"], "DiCE of %s", id)
	}
	waitRoomGone(ctx, t, detectRoom, a, nb)
	waitRoomGone(ctx, t, fwdRoom, a, nb)
}

// The host freezes (SIGSTOP) for longer than its lease and then runs on:
// the room moves to a survivor while it is frozen, and when it wakes up it
// neither takes the room back nor disturbs the participants who moved;
// its own participant's call ends (it was taken over while the node was
// silent).
func TestConferenceHostStalled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const ttl = 2 * time.Second
	const room = "room-stalled"
	b, ns, calls, ids := threeNodeRoom(ctx, t, room, ttl, [3]string{"+46701000021", "+46701000022", "+46701000023"})
	a, nb, nc := ns[0], ns[1], ns[2]
	c2, c3 := calls[1], calls[2]
	id1, id2, id3 := ids[0], ids[1], ids[2]

	require.NoError(t, a.cmd.Process.Signal(syscall.SIGSTOP))
	expectHeard(t, "phones 2 and 3 while the host is frozen", 20*time.Second, 500*time.Millisecond, time.Second,
		listener{"phone 2", c2, tones([]float64{1100}, 700)},
		listener{"phone 3", c3, tones([]float64{700}, 1100)})
	time.Sleep(ttl)
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGCONT))
	assert.Equal(t, "GENERALERROR", waitDiCE(ctx, t, b, id1).Body["reason"], "phone 1's call was taken over")

	// A is awake: for the next seconds phones 2 and 3 keep hearing each
	// other, window after window.
	for i := range 6 {
		expectHeard(t, fmt.Sprintf("phones 2 and 3 after the host woke up (window %d)", i), 5*time.Second, 500*time.Millisecond, 0,
			listener{"phone 2", c2, tones([]float64{1100}, 700)},
			listener{"phone 3", c3, tones([]float64{700}, 1100)})
	}
	waitParticipants(ctx, t, nb, room, id2, id3)
	assert.Zero(t, a.metric(ctx, "callcore_conference_rooms"), "the woken node hosts nothing")
	assert.Equal(t, 1.0, nb.metric(ctx, "callcore_conference_rooms")+nc.metric(ctx, "callcore_conference_rooms"))
}
