package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/test/phone"
)

// Recording a conference participant (startRecording before connectConf):
// the split WAV holds what the participant said on the left and what it
// heard from the room on the right.
func TestConferenceRecording(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	const room = "recorded-room"
	b := newBackend(t)
	p1 := phone.New(t, phone.Options{User: "+46701000201"})
	p2 := phone.New(t, phone.Options{User: "+46701000202"})
	confRoute(t, b, map[string]string{
		strings.TrimPrefix(p1.User(), "+"): `{"instructions":[{"name":"answer"},
			{"name":"startRecording","options":{"destinationUrl":"file://","format":"wav","channels":"split"}}],
			"action":{"name":"connectConf","conferenceId":"` + room + `"}}`,
		strings.TrimPrefix(p2.User(), "+"): confICE(room, ""),
	})
	n := node(t, b, "")

	c1, id1 := confDial(ctx, t, b, p1, n)
	c2, id2 := confDial(ctx, t, b, p2, n)
	confWait(ctx, t, n, room, id1, id2)
	confPlay(ctx, c1, 440)
	confPlay(ctx, c2, 700)
	confExpect(t, "phone 1 hears phone 2", c1, 10*time.Second, time.Second, confHears(700))
	time.Sleep(1500 * time.Millisecond)
	require.NoError(t, c1.Hangup(ctx))

	var dest string
	for dest == "" {
		ev := b.want(ctx, "notify")
		if ev["callid"] == id1 && ev["type"] == "recording_available" {
			dest, _ = ev["destination"].(string)
		}
	}
	u, err := url.Parse(dest)
	require.NoError(t, err, "destination %q", dest)
	code, wav := rest(ctx, t, n, http.MethodGet, u.Path, "")
	require.Equal(t, http.StatusOK, code, "%s", wav)
	left, right := decodeStereoWAV(t, wav)
	assert.GreaterOrEqual(t, toneTime(left, 440), time.Second, "the participant's own voice on the left")
	assert.Less(t, toneTime(left, 700), 200*time.Millisecond, "the room is not on the left")
	assert.GreaterOrEqual(t, toneTime(right, 700), time.Second, "what the participant heard from the room on the right")
	assert.Less(t, toneTime(right, 440), 200*time.Millisecond, "its own voice is not in what it heard")
	require.NoError(t, c2.Hangup(ctx))
}
