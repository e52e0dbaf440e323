package bus

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sampleEnvelopes are valid messages of every type.
func sampleEnvelopes() []envelope {
	id := reqID{0: 1, 7: 0x80, 15: 0xff}
	return []envelope{
		{typ: typeRequest, id: id, deadline: 1_700_000_000_123, from: "node-1", kind: "call.hangup", body: []byte(`{"id":"c1"}`)},
		{typ: typeRequest, id: id, deadline: 1, from: "n", kind: "k"},
		{typ: typeReply, id: id, from: "node-2", body: bytes.Repeat([]byte{0, 1, 0xff}, 100)},
		{typ: typeReply, id: id, from: "node-2"},
		{typ: typeErrReply, id: id, from: "node-2", body: []byte("call c1: not found")},
		{typ: typeRequest, id: id, deadline: 1 << 62, from: strings.Repeat("f", MaxNameLen), kind: strings.Repeat("k", MaxNameLen),
			body: bytes.Repeat([]byte("p"), 300)},
	}
}

func TestWireRoundTrip(t *testing.T) {
	for _, e := range sampleEnvelopes() {
		b := encode(&e)
		got, err := decode(string(b))
		require.NoError(t, err)
		assert.Equal(t, e, got)
	}
}

func TestWireLayout(t *testing.T) {
	e := envelope{typ: typeRequest, id: reqID{15: 9}, deadline: 0x0102030405060708, from: "ab", kind: "k", body: []byte("xyz")}
	want := []byte{
		1, 1, // version, type
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, // id
		1, 2, 3, 4, 5, 6, 7, 8, // deadline
		2, 'a', 'b', // from
		1, 'k', // kind
		3, 'x', 'y', 'z', // body
	}
	assert.Equal(t, want, encode(&e))
}

func TestWireErrorTruncation(t *testing.T) {
	msg := strings.Repeat("é", maxErrLen) // 2 bytes per rune
	b := encode(&envelope{typ: typeErrReply, from: "n", body: []byte(msg)})
	got, err := decode(string(b))
	require.NoError(t, err)
	assert.Len(t, got.body, maxErrLen)
	assert.Equal(t, msg[:maxErrLen], string(got.body))

	odd := "x" + msg // the cut would split a rune
	b = encode(&envelope{typ: typeErrReply, from: "n", body: []byte(odd)})
	got, err = decode(string(b))
	require.NoError(t, err)
	assert.Equal(t, odd[:maxErrLen-1], string(got.body))

	// A payload is never truncated.
	big := bytes.Repeat([]byte("p"), 3*maxErrLen)
	got, err = decode(string(encode(&envelope{typ: typeReply, from: "n", body: big})))
	require.NoError(t, err)
	assert.Equal(t, big, got.body)
}

func TestWireMalformed(t *testing.T) {
	valid := string(encode(&sampleEnvelopes()[0]))
	reply := string(encode(&sampleEnvelopes()[3]))
	set := func(s string, i int, b byte) string { x := []byte(s); x[i] = b; return string(x) }
	for _, c := range []struct{ name, msg, want string }{
		{"empty", "", "short header"},
		{"short", valid[:headerLen-1], "short header"},
		{"version 0", set(valid, 0, 0), "unsupported version"},
		{"version 2", set(valid, 0, 2), "unsupported version"},
		{"type 0", set(valid, 1, 0), "unknown type"},
		{"type 4", set(valid, 1, 4), "unknown type"},
		{"no from", valid[:headerLen], "bad from length"},
		{"from past end", valid[:headerLen+3], "from too long"},
		{"from too long", valid[:headerLen] + "\x80\x02" + strings.Repeat("x", 256), "from too long"},
		{"varint overflow", valid[:headerLen] + strings.Repeat("\xff", 10) + "\x01", "bad from length"},
		{"truncated body", valid[:len(valid)-1], "body too long"},
		{"trailing", valid + "x", "trailing bytes"},
		{"empty from", valid[:headerLen] + "\x00\x01k\x00", "empty from"},
		{"request without kind", valid[:headerLen] + "\x01n\x00\x00", "request without kind"},
		{"request without deadline", valid[:18] + strings.Repeat("\x00", 8) + valid[26:], "request without deadline"},
		{"negative deadline", valid[:18] + "\x80" + valid[19:], "request without deadline"},
		{"reply with kind", reply[:headerLen] + "\x01n\x01k\x00", "reply with kind or deadline"},
		{"reply with deadline", set(reply, 25, 1), "reply with kind or deadline"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := decode(c.msg)
			require.Error(t, err)
			assert.True(t, errors.Is(err, errMalformed))
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, e := range sampleEnvelopes() {
		b := encode(&e)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{1, 2})
	f.Add(append(make([]byte, headerLen), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))
	f.Fuzz(func(t *testing.T, msg []byte) {
		e, err := decode(string(msg))
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		// What decodes re-encodes to an equivalent message, no longer than
		// the input (varints may have been padded).
		b := encode(&e)
		if len(b) > len(msg) {
			t.Fatalf("re-encoded %d bytes from %d", len(b), len(msg))
		}
		again, err := decode(string(b))
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if e.typ == typeErrReply && len(e.body) > maxErrLen {
			e.body = truncateUTF8(e.body, maxErrLen)
		}
		assert.Equal(t, e, again)
	})
}
