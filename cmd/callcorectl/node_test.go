package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/test/phone"
)

// numbers list, assign and unassign against a node, in tables and JSON.
func TestNumbers(t *testing.T) {
	t.Parallel()
	e := nodeEnv(t, startNode(t, blackHole))

	out := ok(t, e, "numbers", "list")
	require.Equal(t, [][]string{{"NUMBER", "APPLICATION", "CAPABILITY"}, {testDID, testKey, "voice"}}, rows(out))

	out = ok(t, e, "numbers", "assign", "+46701111111", "+46 70 222 22 22")
	assert.Equal(t, "2 numbers assigned to "+testKey+"\n", out)
	var list struct {
		Numbers []struct {
			Number, ApplicationKey, Capability string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(ok(t, e, "numbers", "list", "--json")), &list))
	nums := map[string]string{}
	for _, n := range list.Numbers {
		nums[n.Number] = n.ApplicationKey
	}
	assert.Equal(t, map[string]string{testDID: testKey, "+46701111111": testKey, "+46702222222": testKey}, nums)

	assert.Equal(t, "+46701111111 unassigned from "+testKey+"\n", ok(t, e, "numbers", "unassign", "+46701111111"))
	assert.Contains(t, rows(ok(t, e, "numbers", "list")), []string{"+46701111111", "-", "voice"}, "unassigned, still in the inventory")

	// --json prints nothing for a command without data.
	assert.Empty(t, ok(t, e, "--json", "numbers", "unassign", "+46702222222"))

	msg := fails(t, exitInvalid, e, "numbers", "unassign", "+46709999999")
	assert.Contains(t, msg, "HTTP 404: number +46709999999 assigned to this application not found (reference ")
	msg = fails(t, exitInvalid, e, "numbers", "assign", "not-a-number")
	assert.Contains(t, msg, "HTTP 400: numbers[0]: ")
	msg = fails(t, exitInvalid, e, "numbers", "assign", "+46701111111", "--capability", "fax")
	assert.Contains(t, msg, `HTTP 400: capability: must be "voice" or "sms"`)
}

// callbacks get and set.
func TestCallbacks(t *testing.T) {
	t.Parallel()
	e := nodeEnv(t, startNode(t, blackHole))

	out := ok(t, e, "callbacks", "get")
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/callbacks$`, field(t, out, "primary"))
	assert.Equal(t, "-", field(t, out, "fallback"))

	assert.Equal(t, "callback URLs of "+testKey+" updated\n",
		ok(t, e, "callbacks", "set", "--primary", "https://example.com/cb", "--fallback", "https://example.org/cb"))
	out = ok(t, e, "callbacks", "get")
	assert.Equal(t, "https://example.com/cb", field(t, out, "primary"))
	assert.Equal(t, "https://example.org/cb", field(t, out, "fallback"))
	assert.JSONEq(t, `{"url":{"primary":"https://example.com/cb","fallback":"https://example.org/cb"}}`, ok(t, e, "callbacks", "get", "--json"))

	// No --fallback removes it.
	ok(t, e, "callbacks", "set", "--primary", "https://example.com/cb2")
	assert.JSONEq(t, `{"url":{"primary":"https://example.com/cb2"}}`, ok(t, e, "--json", "callbacks", "get"))

	fails(t, exitUsage, e, "callbacks", "set")
	msg := fails(t, exitInvalid, e, "callbacks", "set", "--primary", "ftp://example.com/cb")
	assert.Contains(t, msg, "HTTP 400: url.primary: must be an absolute http or https URL")
}

// callIDPattern matches a callcore call id.
var callIDPattern = regexp.MustCompile(`^\S+$`)

// A ttsCallout to a number nobody answers: the node takes it and the
// call id is printed; call get shows it; a hangup of a call that has not
// been answered is refused with the node's 409 message; call update
// checks the SVAML before sending anything.
func TestCalloutTTSAndCall(t *testing.T) {
	t.Parallel()
	e := nodeEnv(t, startNode(t, blackHole))

	out := ok(t, e, "callout", "tts", "--destination", "+12025550123", "--cli", "+46700000003",
		"--text", "Your code is 1234.", "--locale", "en-US", "--custom", "order-7", "--enable-dice")
	id := strings.TrimSpace(out)
	require.Regexp(t, callIDPattern, id)

	out = ok(t, e, "call", "get", id)
	assert.Equal(t, id, field(t, out, "callId"))
	assert.Contains(t, []string{"ONGOING", "FINAL"}, field(t, out, "status"))
	assert.Equal(t, "number +12025550123", field(t, out, "to"))
	assert.Equal(t, "order-7", field(t, out, "custom"))

	var info map[string]any
	require.NoError(t, json.Unmarshal([]byte(ok(t, e, "call", "get", id, "--json")), &info), "flags after the arguments")
	assert.Equal(t, id, info["callId"])
	assert.Equal(t, map[string]any{"type": "number", "endpoint": "+12025550123"}, info["to"])

	msg := fails(t, exitInvalid, e, "call", "hangup", id)
	assert.Contains(t, msg, "HTTP 409: ", "ringing (or already failed): the node refuses a hangup")

	// The node's timeline of the call so far, as a table.
	var last result
	require.Eventually(t, func() bool {
		last = ctl(t, e, "call", "timeline", id)
		return last.code != exitOK || strings.HasPrefix(last.stdout, "call "+id+", first entry at ")
	}, 10*time.Second, 100*time.Millisecond, "no timeline entries: %+v", last)
	require.Equal(t, exitOK, last.code, last.stderr)
	lines := strings.Split(last.stdout, "\n")
	require.GreaterOrEqual(t, len(lines), 3, last.stdout)
	assert.Equal(t, []string{"TIME", "NODE", "KIND", "SUMMARY"}, strings.Fields(lines[1]))
	assert.True(t, strings.HasPrefix(lines[2], "     +0ms  ctl-1  "), last.stdout)

	// Invalid SVAML never reaches the node: every problem with its path.
	r := ctl(t, e, "call", "update", id, `{"action":{"name":"connectPstn","number":"+1"},"instructions":[{"name":"say"}]}`)
	assert.Equal(t, exitInvalid, r.code)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "SVAML: action.name: action \"connectPstn\" is not allowed in a call update (PATCH)\n")
	assert.Contains(t, r.stderr, "SVAML: instructions[0].text: missing\n")
	assert.Contains(t, r.stderr, "callcorectl: SVAML: invalid SVAML for patch (2 problems); nothing sent\n")

	msg = fails(t, exitInvalid, e, "call", "get", "no-such-call")
	assert.Contains(t, msg, "HTTP ")
	fails(t, exitUsage, e, "call", "update", id, `{"action":{"name":"hangup"}}`, "--leg", "left")
}

// customCallout: inline SVAML is checked locally with the event's context
// and sent compact; a URL is sent as is.
func TestCalloutCustomAndConference(t *testing.T) {
	t.Parallel()
	e := nodeEnv(t, startNode(t, blackHole))

	ice := t.TempDir() + "/ice.json"
	writeFile(t, ice, "{\n  \"action\": {\"name\": \"connectPstn\", \"number\": \"+12025550124\", \"cli\": \"+46700000003\"}\n}\n")
	out := ok(t, e, "callout", "custom", "--ice", "@"+ice, "--ace", `{"action":{"name":"continue"}}`, "--pie", "https://example.com/pie")
	require.Regexp(t, callIDPattern, strings.TrimSpace(out))

	r := ctl(t, e, "callout", "custom", "--destination", "+12025550124", "--ace", `{"action":{"name":"park"}}`)
	assert.Equal(t, exitInvalid, r.code)
	assert.Equal(t, "--ace: action.name: action \"park\" is not allowed in a reply to ACE\n"+
		"callcorectl: --ace: invalid SVAML for ace (1 problem); nothing sent\n", r.stderr)

	out = ok(t, e, "callout", "conference", "--destination", "+12025550125", "--conference", "room-1",
		"--moh", "music1", "--dtmf-options", `{"mode":"forward","maxDigits":2}`, "--json")
	var res map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.NotEmpty(t, res["callId"])

	msg := fails(t, exitInvalid, e, "callout", "conference", "--destination", "+12025550125", "--conference", "room-1", "--moh", "jazz")
	assert.Contains(t, msg, "HTTP 400: conferenceCallout.mohClass: ")
	fails(t, exitInvalid, e, "callout", "conference", "--destination", "+12025550125", "--conference", "r", "--dtmf-options", "[1]")
	fails(t, exitUsage, e, "callout", "conference", "--destination", "+12025550125")
	fails(t, exitUsage, e, "callout", "tts", "--destination", "+12025550125")
	fails(t, exitUsage, e, "callout", "custom")
	msg = fails(t, exitInvalid, e, "callout", "tts", "--to", "12", "--text", "hi")
	assert.Contains(t, msg, "HTTP 400: ttsCallout.destination.endpoint: ")
}

// conference get of a room that does not exist: exit 1 with the API's
// message.
func TestConferenceUnknown(t *testing.T) {
	t.Parallel()
	e := nodeEnv(t, startNode(t, blackHole))
	msg := fails(t, exitInvalid, e, "conference", "get", "no-such-room")
	assert.Regexp(t, `^callcorectl: HTTP 404: Conference not found \(reference \S+\)\n$`, msg)
	msg = fails(t, exitInvalid, e, "conference", "mute", "no-such-room", "some-call")
	assert.Contains(t, msg, "HTTP 404: ")
	fails(t, exitUsage, e, "conference", "kick")
	fails(t, exitUsage, e, "conference", "mute", "room")
}

// Two callees called into a room (a gateway phone answers): conference
// get lists them; mute, hold with music, resume and unmute show in the
// list; a kick and a hangup end their calls; kick without a call id
// empties the room.
func TestConferenceCommands(t *testing.T) {
	t.Parallel()
	gw := phone.New(t, phone.Options{User: "gw", Answer: phone.AnswerAuto})
	e := nodeEnv(t, startNode(t, "sip:"+gw.Addr()))
	const room = "ctl room/1" // a space and a slash: escaped as one path segment

	var ids []string
	for _, to := range []string{"+12025550131", "+12025550132", "+12025550133"} {
		out := ok(t, e, "callout", "conference", "--destination", to, "--cli", "+46700000007", "--conference", room)
		ids = append(ids, strings.TrimSpace(out))
	}
	a, b, c := ids[0], ids[1], ids[2]
	participants := func() map[string][]string {
		got := map[string][]string{}
		r := ctl(t, e, "conference", "get", room)
		if r.code != exitOK {
			return got
		}
		for _, row := range rows(r.stdout)[1:] {
			got[row[0]] = row[1:]
		}
		return got
	}
	require.Eventually(t, func() bool { return len(participants()) == 3 }, 20*time.Second, 100*time.Millisecond,
		"three participants in the room")
	out := ok(t, e, "conference", "get", room)
	assert.Equal(t, []string{"CALLID", "CLI", "DURATION", "MUTED", "ONHOLD"}, rows(out)[0])

	assert.Equal(t, "conference "+room+": "+a+" muted\n", ok(t, e, "conference", "mute", room, a))
	assert.Equal(t, "conference "+room+": "+b+" on hold\n", ok(t, e, "conference", "hold", room, b, "--moh", "music1"))
	ps := participants()
	assert.Equal(t, []string{"yes", "no"}, ps[a][2:], "a muted")
	assert.Equal(t, []string{"no", "yes"}, ps[b][2:], "b on hold")
	fails(t, exitUsage, e, "conference", "mute", room, a, "--moh", "music1")
	msg := fails(t, exitInvalid, e, "conference", "hold", room, b, "--moh", "jazz")
	assert.Contains(t, msg, "HTTP 400: moh: ")

	ok(t, e, "conference", "resume", room, b)
	ok(t, e, "conference", "unmute", room, a)
	ps = participants()
	assert.Equal(t, []string{"no", "no"}, ps[a][2:])
	assert.Equal(t, []string{"no", "no"}, ps[b][2:])

	var info struct {
		Participants []struct {
			ID  string `json:"id"`
			CLI string `json:"cli"`
		} `json:"participants"`
	}
	require.NoError(t, json.Unmarshal([]byte(ok(t, e, "conference", "get", room, "--json")), &info))
	got := make([]string, 0, len(info.Participants))
	for _, p := range info.Participants {
		got = append(got, p.ID)
	}
	slices.Sort(got)
	want := slices.Clone(ids)
	slices.Sort(want)
	assert.Equal(t, want, got)

	assert.Equal(t, "ONGOING", field(t, ok(t, e, "call", "get", c), "status"))
	assert.Equal(t, "call "+c+": hangup accepted\n", ok(t, e, "call", "hangup", c))
	assert.Equal(t, "conference "+room+": "+b+" kicked\n", ok(t, e, "conference", "kick", room, b))
	final := func(id string) func() bool {
		return func() bool {
			r := ctl(t, e, "call", "get", id)
			return r.code == exitOK && field(t, r.stdout, "status") == "FINAL"
		}
	}
	require.Eventually(t, final(c), 20*time.Second, 100*time.Millisecond, "the hung-up call ends")
	require.Eventually(t, final(b), 20*time.Second, 100*time.Millisecond, "the kicked call ends")
	out = ok(t, e, "call", "get", c)
	assert.Equal(t, "ANSWERED", field(t, out, "result"))
	assert.Equal(t, "MANAGERHANGUP", field(t, out, "reason"))

	msg = fails(t, exitInvalid, e, "conference", "kick", room, "no-such-call")
	assert.Contains(t, msg, "HTTP 404: Participant not found in the conference")
	assert.Equal(t, "conference "+room+": every participant kicked\n", ok(t, e, "conference", "kick", room))
	require.Eventually(t, final(a), 20*time.Second, 100*time.Millisecond, "kick-all ends the last call")
}

// call timeline --follow on a real node: a ttsCallout the gateway
// answers; the node speaks, hangs up, and follow ends with the call,
// having printed SIP and state steps each once, in time order.
func TestTimelineFollowNode(t *testing.T) {
	t.Parallel()
	gw := phone.New(t, phone.Options{User: "gw", Answer: phone.AnswerAuto})
	e := nodeEnv(t, startNode(t, "sip:"+gw.Addr()))
	id := strings.TrimSpace(ok(t, e, "callout", "tts", "--destination", "+12025550141", "--text", "Hello.", "--enable-dice"))

	out := ok(t, e, "call", "timeline", id, "--follow", "--interval", "100ms")
	assert.Equal(t, "FINAL", field(t, ok(t, e, "call", "get", id), "status"), "follow ends with the call")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Greater(t, len(lines), 4, out)
	assert.Equal(t, "call "+id, strings.SplitN(lines[0], ",", 2)[0])
	kinds := map[string]int{}
	prev := -1
	for _, line := range lines[2:] {
		f := strings.Fields(line)
		require.GreaterOrEqual(t, len(f), 4, line)
		ms, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(f[0], "+"), "ms"))
		require.NoError(t, err, line)
		assert.GreaterOrEqual(t, ms, prev, "in time order: %s", out)
		prev = ms
		assert.Equal(t, "ctl-1", f[1])
		kinds[f[2]]++
	}
	assert.Positive(t, kinds["sip"], out)
	assert.Positive(t, kinds["state"], out)

	// The one-shot table holds at least what follow printed, in the same
	// order (entries written after follow stopped, such as the DiCE
	// delivery, may follow).
	all := ok(t, e, "call", "timeline", id)
	assert.True(t, strings.HasPrefix(all, strings.Join(lines[:2], "\n")), all)
	for _, line := range lines[2:] {
		assert.Contains(t, all, line+"\n")
	}
}

// Nothing listens at the URL: exit 3.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	e := env{"CALLCORE_URL": deadURL(t), "CALLCORE_KEY": testKey, "CALLCORE_SECRET": testSecret, "HOME": t.TempDir()}
	msg := fails(t, exitUnreachable, e, "numbers", "list")
	assert.Contains(t, msg, "callcorectl: cannot reach the node at "+e["CALLCORE_URL"]+": GET /v1/configuration/numbers: ")
	msg = fails(t, exitUnreachable, e, "call", "timeline", "x", "--follow")
	assert.Contains(t, msg, "cannot reach the node")
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, writeFileMode(path, content, 0o600))
}
