package outbox

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// asRead returns XADD fields as go-redis reads them back: a map of strings.
func asRead(fields []any) map[string]any {
	m := make(map[string]any, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		k := fields[i].(string)
		switch v := fields[i+1].(type) {
		case string:
			m[k] = v
		case []byte:
			m[k] = string(v)
		default:
			panic("unexpected field type")
		}
	}
	return m
}

func sampleEntry() Entry {
	return Entry{
		ID:          "evt-1",
		CallID:      "call-1",
		AppKey:      "app-1",
		Kind:        KindDiCE,
		URL:         "https://backend.example/cb?x=1",
		FallbackURL: "https://fallback.example/cb",
		Body:        []byte(`{"event":"dice"}`),
		EnqueuedAt:  time.Unix(1_700_000_000, 123456789),
	}
}

func TestEntryRoundTrip(t *testing.T) {
	e := sampleEntry()
	got, err := decodeEntry(asRead(encodeEntry(e)))
	require.NoError(t, err)
	require.Equal(t, e.ID, got.ID)
	require.Equal(t, e.CallID, got.CallID)
	require.Equal(t, e.AppKey, got.AppKey)
	require.Equal(t, e.Kind, got.Kind)
	require.Equal(t, e.URL, got.URL)
	require.Equal(t, e.FallbackURL, got.FallbackURL)
	require.Equal(t, e.Body, got.Body)
	require.True(t, e.EnqueuedAt.Equal(got.EnqueuedAt))
	require.Zero(t, got.Attempts)

	// The documented field names.
	m := asRead(encodeEntry(e))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, []string{"v", "id", "call", "app", "kind", "url", "fb", "body", "at"}, keys)
	require.Equal(t, "1700000000123456789", m["at"])
}

func TestDecodeEntryMalformed(t *testing.T) {
	valid := asRead(encodeEntry(sampleEntry()))
	with := func(k string, v any) map[string]any {
		m := make(map[string]any, len(valid))
		for kk, vv := range valid {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := map[string]map[string]any{
		"nil (deleted)":   nil,
		"foreign":         {"foo": "bar"},
		"no version":      with("v", nil),
		"version 2":       with("v", "2"),
		"no id":           with("id", nil),
		"empty id":        with("id", ""),
		"id with space":   with("id", "a b"),
		"id too long":     with("id", strings.Repeat("x", MaxIDLen+1)),
		"no kind":         with("kind", nil),
		"upper kind":      with("kind", "DICE"),
		"long kind":       with("kind", strings.Repeat("k", MaxKindLen+1)),
		"no url":          with("url", nil),
		"empty url":       with("url", ""),
		"no body":         with("body", nil),
		"no time":         with("at", nil),
		"bad time":        with("at", "yesterday"),
		"zero time":       with("at", "0"),
		"negative time":   with("at", "-5"),
		"non-string kind": with("kind", int64(3)),
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := decodeEntry(v)
			require.ErrorIs(t, err, errMalformed)
		})
	}
	// Optional fields may be missing.
	e, err := decodeEntry(with("call", nil))
	require.NoError(t, err)
	require.Empty(t, e.CallID)
	_, err = decodeEntry(with("fb", nil))
	require.NoError(t, err)
}

func TestDeadLetterRoundTrip(t *testing.T) {
	e := sampleEntry()
	e.Attempts = 7
	at := time.Unix(1_700_000_100, 0)
	d := decodeDead(asRead(encodeDead(DeadLetter{
		Entry: e, Reason: ReasonExpired, Error: "503 from backend", At: at,
		Consumer: "n1/b1", StreamID: "1-1",
	})))
	require.Equal(t, e.ID, d.Entry.ID)
	require.Equal(t, e.Body, d.Entry.Body)
	require.Equal(t, 7, d.Entry.Attempts)
	require.Equal(t, ReasonExpired, d.Reason)
	require.Equal(t, "503 from backend", d.Error)
	require.True(t, at.Equal(d.At))
	require.Equal(t, "n1/b1", d.Consumer)
	require.Equal(t, "1-1", d.StreamID)
	require.Nil(t, d.Raw)

	// A malformed entry keeps its raw fields; long errors are cut.
	raw := rawFields(map[string]any{"foo": "bar", "n": int64(3)})
	d = decodeDead(asRead(encodeDead(DeadLetter{
		Reason: ReasonMalformed, Error: strings.Repeat("e", 5000), At: at, Raw: raw,
	})))
	require.Equal(t, map[string]string{"foo": "bar", "n": "3"}, d.Raw)
	require.Len(t, d.Error, maxErrorLen)
	require.Empty(t, d.Entry.ID)
}

func TestParseMessages(t *testing.T) {
	msgs, err := parseMessages([]any{
		[]any{"1-1", []any{"a", "b", "c", "d"}},
		[]any{"1-2", nil},
		nil,
		[]any{"1-3", map[any]any{"k": "v"}},
	})
	require.NoError(t, err)
	require.Equal(t, []redis.XMessage{
		{ID: "1-1", Values: map[string]any{"a": "b", "c": "d"}},
		{ID: "1-2"},
		{ID: "1-3", Values: map[string]any{"k": "v"}},
	}, msgs)

	for name, bad := range map[string]any{
		"not array":  "x",
		"not pair":   []any{[]any{"1-1"}},
		"id not str": []any{[]any{int64(1), nil}},
		"odd fields": []any{[]any{"1-1", []any{"a"}}},
		"int name":   []any{[]any{"1-1", []any{int64(1), "b"}}},
		"int fields": []any{[]any{"1-1", int64(4)}},
		"map int":    []any{[]any{"1-1", map[any]any{int64(1): "v"}}},
	} {
		_, err := parseMessages(bad)
		assert.Error(t, err, name)
	}
}

// fieldsFromBytes builds a field map from fuzz input: NUL-separated
// field/value pairs.
func fieldsFromBytes(data []byte) map[string]any {
	parts := bytes.Split(data, []byte{0})
	m := make(map[string]any, len(parts)/2)
	for i := 0; i+1 < len(parts); i += 2 {
		m[string(parts[i])] = string(parts[i+1])
	}
	return m
}

func FuzzDecodeEntry(f *testing.F) {
	join := func(fields []any) []byte {
		var b bytes.Buffer
		for i, x := range fields {
			if i > 0 {
				b.WriteByte(0)
			}
			switch x := x.(type) {
			case string:
				b.WriteString(x)
			case []byte:
				b.Write(x)
			}
		}
		return b.Bytes()
	}
	f.Add(join(encodeEntry(sampleEntry())))
	e := sampleEntry()
	e.Body = nil
	e.FallbackURL = ""
	f.Add(join(encodeEntry(e)))
	f.Add(join(encodeDead(DeadLetter{Entry: sampleEntry(), Reason: ReasonPermanent, Error: "gone"})))
	f.Add(join(encodeDead(DeadLetter{Reason: ReasonMalformed, Raw: map[string]string{"a": "b"}})))
	f.Add([]byte("foo\x00bar"))
	f.Add([]byte("v\x001\x00id\x00x\x00kind\x00dice\x00url\x00u\x00body\x00\x00at\x00-1"))
	f.Add([]byte("raw\x00{not json"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		v := fieldsFromBytes(data)
		_ = decodeDead(v) // must not panic
		got, err := decodeEntry(v)
		if err != nil {
			return
		}
		// What decodes is valid for Enqueue and survives a round trip.
		require.NoError(t, got.validate())
		again, err := decodeEntry(asRead(encodeEntry(got)))
		require.NoError(t, err)
		require.Equal(t, got.ID, again.ID)
		require.Equal(t, got.Kind, again.Kind)
		require.Equal(t, got.URL, again.URL)
		require.Equal(t, string(got.Body), string(again.Body))
		require.True(t, got.EnqueuedAt.Equal(again.EnqueuedAt))
	})
}

func FuzzEntryRoundTrip(f *testing.F) {
	f.Add("evt-1", "call", "app", "dice", "https://x/", "", []byte("{}"), int64(1))
	f.Add("é", "", "", "Notify", "", "fb", []byte(nil), int64(-1))
	f.Fuzz(func(t *testing.T, id, call, app, kind, url, fb string, body []byte, ns int64) {
		e := Entry{ID: id, CallID: call, AppKey: app, Kind: kind, URL: url, FallbackURL: fb,
			Body: body, EnqueuedAt: time.Unix(0, ns)}
		got, err := decodeEntry(asRead(encodeEntry(e)))
		if e.validate() != nil || ns <= 0 {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		require.Equal(t, e.ID, got.ID)
		require.Equal(t, e.CallID, got.CallID)
		require.Equal(t, e.AppKey, got.AppKey)
		require.Equal(t, e.FallbackURL, got.FallbackURL)
		require.Equal(t, string(e.Body), string(got.Body))
		require.Equal(t, ns, got.EnqueuedAt.UnixNano())
	})
}
