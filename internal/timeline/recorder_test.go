package timeline

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/redisserver"
)

// manual returns a Recorder that flushes only when told to, with a clock
// the test moves.
func manual(t *testing.T, b Backend, node string, o Options) (*Recorder, *time.Time) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 123_000_000, time.UTC)
	o.Node = node
	o.FlushInterval = time.Hour
	o.Now = func() time.Time { return now }
	r := New(b, o)
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r, &now
}

func TestRecordFlushRead(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(Limits{}, nil)
	r, now := manual(t, m, "node-a", Options{})
	r.Record("c1", KindSIP, "received INVITE from +46708000012", map[string]any{"from": "+46708000012", "cseq": 1})
	*now = now.Add(5 * time.Millisecond)
	r.Record("c1", KindState, "initiated → awaiting_ice", map[string]any{"from": "initiated", "to": "awaiting_ice"})
	r.Record("c2", KindState, "other call", nil)
	r.Record("", KindState, "no call: ignored", nil)

	got, err := r.Read(ctx, "c1")
	require.NoError(t, err)
	assert.Empty(t, got, "nothing before the flush")
	require.NoError(t, r.Flush(ctx))

	got, err = r.Read(ctx, "c1")
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "received INVITE from +467******12", got[0].Summary)
	assert.Equal(t, "+467******12", got[0].Data["from"])
	assert.Equal(t, json.Number("1"), got[0].Data["cseq"])
	assert.Equal(t, "node-a", got[0].Node)
	assert.Equal(t, KindSIP, got[0].Kind)
	// State names are not numbers: "from" and "to" keep them.
	assert.Equal(t, "awaiting_ice", got[1].Data["to"])

	raw, err := json.Marshal(got[0])
	require.NoError(t, err)
	assert.JSONEq(t, `{"t":"2026-11-21T10:00:00.123Z","node":"node-a","kind":"sip","summary":"received INVITE from +467******12",
		"data":{"from":"+467******12","cseq":1}}`, string(raw))
	raw, err = json.Marshal(Entry{T: got[1].T, Kind: KindState})
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"data":{}`)

	other, err := r.Read(ctx, "c2")
	require.NoError(t, err)
	assert.Len(t, other, 1)
	assert.Equal(t, 3.0, testutil.ToFloat64(r.m.written))
}

// Entries of two nodes on one store come back merged by time; entries of
// the same time keep the order they were stored in.
func TestReadMergesNodes(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(Limits{}, nil)
	a, aNow := manual(t, m, "node-a", Options{})
	b, bNow := manual(t, m, "node-b", Options{Registerer: prometheus.NewRegistry()})
	*bNow = aNow.Add(time.Millisecond)
	b.Record("c", KindCallback, "b1", nil)
	*bNow = aNow.Add(3 * time.Millisecond)
	b.Record("c", KindCallback, "b3", nil)
	require.NoError(t, b.Flush(ctx))
	a.Record("c", KindSIP, "a0", nil)
	*aNow = aNow.Add(2 * time.Millisecond)
	a.Record("c", KindSIP, "a2", nil)
	a.Record("c", KindSIP, "a2bis", nil) // same time as a2
	*aNow = aNow.Add(2 * time.Millisecond)
	a.Record("c", KindSIP, "a4", nil)
	require.NoError(t, a.Flush(ctx))

	got, err := a.Read(ctx, "c")
	require.NoError(t, err)
	var order []string
	for _, e := range got {
		order = append(order, e.Node+":"+e.Summary)
	}
	assert.Equal(t, []string{"node-a:a0", "node-b:b1", "node-a:a2", "node-a:a2bis", "node-b:b3", "node-a:a4"}, order)
}

func TestBufferFullDrops(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(Limits{}, nil)
	r, _ := manual(t, m, "n", Options{BufferSize: 3})
	for range 5 {
		r.Record("c", KindMedia, "digit", nil)
	}
	r.End("c") // never dropped
	assert.Equal(t, 2.0, testutil.ToFloat64(r.m.dropped.WithLabelValues(DropBufferFull)))
	require.NoError(t, r.Flush(ctx))
	got, err := r.Read(ctx, "c")
	require.NoError(t, err)
	assert.Len(t, got, 3)
	assert.LessOrEqual(t, m.TTL("c"), DefaultEndedTTL, "the end was applied")
	assert.Equal(t, 4.0, testutil.ToFloat64(r.m.buffered), "3 entries and an end")
	// There is room again after the flush.
	r.Record("c", KindMedia, "digit", nil)
	require.NoError(t, r.Flush(ctx))
	got, _ = r.Read(ctx, "c")
	assert.Len(t, got, 4)
}

func TestMaxEntriesMarker(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(Limits{MaxEntries: 4}, nil)
	r, now := manual(t, m, "n", Options{MaxEntries: 4})
	for i := range 7 {
		*now = now.Add(time.Millisecond)
		r.Record("c", KindMedia, "e"+itoa(i), nil)
		if i == 1 {
			require.NoError(t, r.Flush(ctx))
		}
	}
	require.NoError(t, r.Flush(ctx))
	got, err := r.Read(ctx, "c")
	require.NoError(t, err)
	require.Len(t, got, 4)
	assert.Equal(t, []string{"e0", "e1", "e2"}, []string{got[0].Summary, got[1].Summary, got[2].Summary})
	assert.True(t, got[3].Truncated())
	assert.Equal(t, KindError, got[3].Kind)
	assert.Equal(t, "timeline truncated: more than 3 entries; later ones were dropped", got[3].Summary)
	assert.Equal(t, 4.0, testutil.ToFloat64(r.m.dropped.WithLabelValues(DropMaxEntries)))

	// Redis keeps the same rule.
	client := redis.NewClient(&redis.Options{Addr: redisserver.Start(t)})
	t.Cleanup(func() { _ = client.Close() })
	rr, rnow := manual(t, NewRedis(client, "p", Limits{MaxEntries: 4}), "n", Options{MaxEntries: 4, Registerer: prometheus.NewRegistry()})
	for i := range 7 {
		*rnow = rnow.Add(time.Millisecond)
		rr.Record("c", KindMedia, "e"+itoa(i), nil)
	}
	require.NoError(t, rr.Flush(ctx))
	got, err = rr.Read(ctx, "c")
	require.NoError(t, err)
	require.Len(t, got, 4)
	assert.True(t, got[3].Truncated())
}

func TestRecordCallback(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(Limits{}, nil)
	r, _ := manual(t, m, "n", Options{MaxBody: 64})
	reply := []byte(`{"instructions":[{"name":"setCookie","key":"k","value":"v"}],"action":{"name":"hangup"}}`)
	r.RecordCallback("c", Callback{
		Event: "ice", EventID: "c:ice", URL: "https://u:p@fallback.example/cb?sig=x", Fallback: true,
		Status: 200, Attempts: 2, Latency: 35 * time.Millisecond,
		Request: map[string]any{"event": "ice", "cli": "+46708000012"},
		Reply:   reply,
	})
	r.RecordCallback("c", Callback{Event: "pie", Status: 500, Attempts: 1, Latency: time.Second, Err: errors.New("status 500 Internal Server Error")})
	require.NoError(t, r.Flush(ctx))
	got, err := r.Read(ctx, "c")
	require.NoError(t, err)
	require.Len(t, got, 3)
	ice := got[0]
	assert.Equal(t, KindCallback, ice.Kind)
	assert.Equal(t, "ice callback: HTTP 200 in 35 ms, fallback URL after the primary failed", ice.Summary)
	assert.Equal(t, "https://***@fallback.example/cb?sig=***", ice.Data["url"])
	assert.Equal(t, true, ice.Data["fallback"])
	assert.Equal(t, json.Number("2"), ice.Data["attempts"])
	assert.Equal(t, json.Number("35"), ice.Data["latencyMs"])
	assert.Equal(t, "application", ice.Data["signature"])
	assert.Equal(t, `{"cli":"+467******12","event":"ice"}`, ice.Data["request"])
	assert.Contains(t, ice.Data["reply"], `"value":"***"`)
	assert.Contains(t, ice.Data["reply"], "…[truncated, "+itoa(len(reply))+" bytes]")
	assert.Equal(t, "pie callback failed: HTTP 500 in 1000 ms", got[1].Summary)
	assert.Equal(t, KindError, got[2].Kind)
	assert.Equal(t, "pie callback failed: status 500 Internal Server Error", got[2].Summary)
}

// Bodies known to be JSON are stored as JSON (no escaping, smaller) and
// read back as the same text a string body gives; an invalid reply, a
// cut one, or plain bytes stay strings.
func TestJSONBodiesStoredAsJSON(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(Limits{}, nil)
	r, _ := manual(t, m, "n", Options{MaxBody: 200})
	req := `{"event":"ice","cli":"+46708000012","cookies":[{"key":"pin","value":"4711"}]}`
	reply := `{"instructions":[{"name":"setCookie","key":"k","value":"v"}],"action":{"name":"hangup"}}`
	r.RecordCallback("json", Callback{Event: "ice", Status: 200, Attempts: 1, Request: json.RawMessage(req), Reply: []byte(reply), ReplyJSON: true})
	r.RecordCallback("text", Callback{Event: "ice", Status: 200, Attempts: 1, Request: []byte(req), Reply: []byte(reply)})
	long := `{"text":"` + strings.Repeat("x", 300) + `"}`
	r.RecordCallback("cut", Callback{Event: "ice", Status: 200, Attempts: 1, Request: json.RawMessage(long), Reply: []byte(`{"bad":}`), ReplyJSON: false})
	require.NoError(t, r.Flush(ctx))

	raw, err := m.Read(ctx, "json")
	require.NoError(t, err)
	require.Len(t, raw, 1)
	assert.Contains(t, string(raw[0]), `"request":{"event":"ice","cli":"+467******12","cookies":[{"key":"pin","value":"***"}]}`)
	assert.Contains(t, string(raw[0]), `"reply":{"instructions":`)
	rawText, _ := m.Read(ctx, "text")
	assert.Contains(t, string(rawText[0]), `"request":"{\"event\"`)
	assert.Less(t, len(raw[0]), len(rawText[0]), "smaller stored as JSON")

	asJSON, err := r.Read(ctx, "json")
	require.NoError(t, err)
	asText, err := r.Read(ctx, "text")
	require.NoError(t, err)
	assert.Equal(t, asText[0].Data["request"], asJSON[0].Data["request"], "read back as the same text")
	assert.Equal(t, asText[0].Data["reply"], asJSON[0].Data["reply"])
	assert.Equal(t, `{"event":"ice","cli":"+467******12","cookies":[{"key":"pin","value":"***"}]}`, asJSON[0].Data["request"])

	cut, err := r.Read(ctx, "cut")
	require.NoError(t, err)
	assert.Contains(t, cut[0].Data["request"], "…[truncated, ")
	assert.Equal(t, `{"bad":}`, cut[0].Data["reply"])
}

func TestNilRecorder(t *testing.T) {
	var r *Recorder
	r.Record("c", KindSIP, "x", nil)
	r.RecordAt(time.Now(), "c", KindSIP, "x", nil)
	r.End("c")
	r.RecordCallback("c", Callback{})
	require.NoError(t, r.Flush(context.Background()))
	got, err := r.Read(context.Background(), "c")
	require.NoError(t, err)
	require.Empty(t, got)
	require.NoError(t, r.Close(context.Background()))
}

func TestCloseFlushes(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(Limits{}, nil)
	r := New(m, Options{Node: "n", FlushInterval: time.Hour})
	r.Record("c", KindSIP, "last words", nil)
	require.NoError(t, r.Close(ctx))
	require.NoError(t, r.Close(ctx), "idempotent")
	r.Record("c", KindSIP, "after close", nil)
	got, err := r.Read(ctx, "c")
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "last words", got[0].Summary)
	assert.Zero(t, testutil.ToFloat64(r.m.dropped.WithLabelValues(DropBufferFull)), "entries after Close are not drops")
}

// The loop flushes on its own: entries are readable shortly after Record.
func TestFlushLoop(t *testing.T) {
	m := NewMemory(Limits{}, nil)
	r := New(m, Options{Node: "n", FlushInterval: 10 * time.Millisecond})
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	r.Record("c", KindSIP, "x", nil)
	require.Eventually(t, func() bool {
		got, _ := r.Read(context.Background(), "c")
		return len(got) == 1
	}, 10*time.Second, 5*time.Millisecond)
}

// A failed write drops the entries and counts them; the call path never
// waits for the store.
func TestStoreErrorDrops(t *testing.T) {
	srv := redisserver.StartServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	r, _ := manual(t, NewRedis(client, "p", Limits{}), "n", Options{})
	require.NoError(t, srv.Stop())
	r.Record("c", KindSIP, "x", nil)
	r.Record("c", KindSIP, "y", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.Error(t, r.Flush(ctx))
	assert.Equal(t, 2.0, testutil.ToFloat64(r.m.dropped.WithLabelValues(DropStoreError)))
}

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{``, `{}`, `{"t":0}`, `{"t":1}{}`, `[]`, `{"t":"x"}`} {
		_, err := decode([]byte(in))
		assert.Error(t, err, "%q", in)
	}
	e, err := decode([]byte(`{"t":1,"n":"a","k":"sip","s":"x"}`))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{}, e.Data)
}

// Read skips a malformed stored entry.
func TestReadSkipsMalformed(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(Limits{}, nil)
	_, err := m.Append(ctx, []Batch{{CallID: "c", Entries: [][]byte{[]byte(`garbage`), []byte(`{"t":5,"n":"a","k":"sip","s":"ok"}`)}}})
	require.NoError(t, err)
	r, _ := manual(t, m, "n", Options{})
	got, err := r.Read(ctx, "c")
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "ok", got[0].Summary)
}

// benchCall records what a say-and-hangup call records: 6 SIP messages,
// 5 states, 2 callbacks with bodies, a SVAML document and 2 prompts.
func benchCall(r *Recorder, id string, ice, iceReply, dice []byte) {
	sip := func(summary string) {
		r.Record(id, KindSIP, summary, map[string]any{"dir": "in", "method": "INVITE", "sipCallId": "a84b4c76e66710",
			"cseq": "1 INVITE", "from": "+46708880000", "to": "+46701234567", "sdp": "audio PCMU,telephone-event sendrecv"})
	}
	state := func(from, to string) {
		r.Record(id, KindState, "state "+from+" → "+to+" (reply)", map[string]any{"from": from, "to": to, "input": "reply"})
	}
	sip("received INVITE (sdp: audio PCMU,telephone-event sendrecv)")
	sip("sent 100 Trying to INVITE")
	r.Record(id, KindState, "call started (inbound), state initiated", map[string]any{"state": "initiated", "direction": "inbound",
		"cli": "+46708880000", "destination": map[string]any{"type": "did", "endpoint": "+46701234567"}})
	state("initiated", "awaiting_ice")
	r.RecordCallback(id, Callback{Event: "ice", EventID: id + ":ice", URL: "http://127.0.0.1:9000/cb", Status: 200, Attempts: 1,
		Latency: time.Millisecond, Request: json.RawMessage(ice), Reply: iceReply, ReplyJSON: true})
	state("awaiting_ice", "executing")
	r.Record(id, KindSVAML, "svaml (ice): answer, say → hangup", map[string]any{"context": "ice", "action": "hangup",
		"instructions": []string{"answer", "say"}, "source": "ice callback reply"})
	sip("sent 200 OK to INVITE (sdp: audio PCMU,telephone-event sendrecv)")
	sip("received ACK")
	r.Record(id, KindMedia, "prompt started: tts to the caller", map[string]any{"kind": "tts", "leg": "caller", "prompt": "Hello"})
	r.Record(id, KindMedia, "prompt finished: tts", map[string]any{"kind": "tts", "leg": "caller", "prompt": "Hello"})
	state("executing", "ending")
	sip("sent BYE")
	sip("received 200 OK to BYE")
	state("ending", "ended")
	r.End(id)
	r.RecordCallback(id, Callback{Event: "dice", EventID: id + ":dice", URL: "http://127.0.0.1:9000/cb", Status: 200, Attempts: 1,
		Latency: time.Millisecond, Request: json.RawMessage(dice), QueueAttempt: 1})
}

// BenchmarkRecordFlushCall is the timeline's CPU cost of one call (its 16
// entries recorded, redacted, encoded and stored in memory).
func BenchmarkRecordFlushCall(b *testing.B) {
	ice := []byte(`{"event":"ice","callid":"0194a3c2-7f1e-8101-a2b3-c4d5e6f7a8b9","callResourceUrl":"http://127.0.0.1:8080/calling/v1/calls/id/0194a3c2-7f1e-8101-a2b3-c4d5e6f7a8b9","timestamp":"2026-11-21T10:00:00.123Z","version":1,"custom":"","userRate":{"currencyId":"USD","amount":0},"cli":"+46708880000","to":{"type":"did","endpoint":"+46701234567"},"domain":"pstn","applicationKey":"669E367E-6BBA-48AB-AF15-266871C28135","originationType":"PSTN"}`)
	reply := []byte(`{"instructions":[{"name":"answer"},{"name":"say","text":"Hello","locale":"en-US"}],"action":{"name":"hangup"}}`)
	dice := []byte(`{"event":"dice","callid":"0194a3c2-7f1e-8101-a2b3-c4d5e6f7a8b9","timestamp":"2026-11-21T10:00:01.123Z","version":1,"reason":"MANAGERHANGUP","result":"ANSWERED","debit":{"currencyId":"USD","amount":0},"userRate":{"currencyId":"USD","amount":0},"to":{"type":"did","endpoint":"+46701234567"},"applicationKey":"669E367E-6BBA-48AB-AF15-266871C28135","duration":1,"from":"+46708880000"}`)
	r := New(NewMemory(Limits{}, nil), Options{Node: "node-a", FlushInterval: time.Hour})
	b.Cleanup(func() { _ = r.Close(context.Background()) })
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		benchCall(r, "call-"+itoa(i), ice, reply, dice)
		if i%50 == 0 {
			_ = r.Flush(ctx)
		}
	}
	_ = r.Flush(ctx)
}
