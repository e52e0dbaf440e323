package timeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The kinds of timeline entries.
const (
	// KindSIP is a SIP request or response the node sent or received.
	KindSIP = "sip"
	// KindCallback is a callback delivery (ICE, ACE, PIE, DiCE, Notify).
	KindCallback = "callback"
	// KindSVAML is a SVAML document the call executed.
	KindSVAML = "svaml"
	// KindState is a state transition of the call.
	KindState = "state"
	// KindMedia is a media event: prompts, digits, recordings, conference
	// membership, bridges.
	KindMedia = "media"
	// KindError is a failure worth a log line: dial failures, callback
	// failures, invalid SVAML, media failures; also the truncation marker.
	KindError = "error"
)

// TimeLayout is how entry times are rendered: UTC with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Entry is one thing that happened to a call, on one node.
type Entry struct {
	// T is when it happened (microsecond precision; rendered to the ms).
	T time.Time
	// Node is the id of the node that recorded it.
	Node string
	// Kind is one of the Kind constants.
	Kind string
	// Summary is one line for humans, already redacted.
	Summary string
	// Data holds the details, already redacted; never nil in entries
	// returned by Read.
	Data map[string]any
}

// Truncated reports whether e is the marker a call's timeline ends with
// when it had more entries than Options.MaxEntries.
func (e Entry) Truncated() bool {
	v, ok := e.Data["truncated"].(bool)
	return ok && v && e.Kind == KindError
}

// entryJSON is the API form of an Entry.
type entryJSON struct {
	T       string         `json:"t"`
	Node    string         `json:"node"`
	Kind    string         `json:"kind"`
	Summary string         `json:"summary"`
	Data    map[string]any `json:"data"`
}

// MarshalJSON renders the entry as the timeline route does:
// {"t": "2026-11-21T10:00:00.123Z", "node", "kind", "summary", "data"}.
func (e Entry) MarshalJSON() ([]byte, error) {
	d := e.Data
	if d == nil {
		d = map[string]any{}
	}
	return json.Marshal(entryJSON{T: e.T.UTC().Format(TimeLayout), Node: e.Node, Kind: e.Kind, Summary: e.Summary, Data: d})
}

// stored is the compact form of an entry in a Backend: short keys, the
// time in Unix microseconds (see encoder).
//
// A body (request, reply, document) is a JSON string, or, when it was
// valid JSON and kept whole, the JSON object or array itself (decode
// turns it back into its text).
type stored struct {
	T int64                      `json:"t"`
	N string                     `json:"n"`
	K string                     `json:"k"`
	S string                     `json:"s"`
	D map[string]json.RawMessage `json:"d,omitempty"`
}

// encode renders an entry in its stored form as it is (no redaction).
func encode(e Entry) []byte {
	enc := encoder{raw: true}
	node, _ := json.Marshal(e.Node)
	return enc.appendEntry(nil, e.T, node, e.Kind, e.Summary, e.Data)
}

// errNoTime: a stored entry without its time.
var errNoTime = errors.New("timeline: stored entry has no time")

// decode parses the stored form of an entry. Numbers in Data stay
// json.Number, so that integers render as they were written.
func decode(b []byte) (Entry, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var s stored
	if err := dec.Decode(&s); err != nil {
		return Entry{}, fmt.Errorf("timeline: malformed stored entry: %w", err)
	}
	if dec.More() {
		return Entry{}, errors.New("timeline: malformed stored entry: data after the object")
	}
	if s.T <= 0 {
		return Entry{}, errNoTime
	}
	data := make(map[string]any, len(s.D))
	for k, raw := range s.D {
		if isBodyKey(k) && len(raw) > 0 && (raw[0] == '{' || raw[0] == '[') {
			data[k] = string(raw)
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return Entry{}, fmt.Errorf("timeline: malformed stored entry: %s: %w", k, err)
		}
		data[k] = v
	}
	return Entry{T: time.UnixMicro(s.T), Node: s.N, Kind: s.K, Summary: s.S, Data: data}, nil
}

// appendMarker appends the stored entry that ends a truncated timeline;
// nodeJSON is the node id as a JSON string.
func appendMarker(b []byte, at time.Time, nodeJSON []byte, max int) []byte {
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, at.UnixMicro(), 10)
	b = append(b, `,"n":`...)
	b = append(b, nodeJSON...)
	b = append(b, `,"k":"error","s":"timeline truncated: more than `...)
	b = strconv.AppendInt(b, int64(max-1), 10)
	b = append(b, ` entries; later ones were dropped","d":{"truncated":true}}`...)
	return b
}
