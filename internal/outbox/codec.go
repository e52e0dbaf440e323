package outbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stream entry fields (format version 1). An outbox stream entry holds
// exactly these fields:
//
//	v     "1"
//	id    event id (x-callcore-event-id)
//	call  call id (may be empty)
//	app   app key (may be empty)
//	kind  event kind token
//	url   callback URL
//	fb    fallback URL (may be empty)
//	body  event JSON
//	at    EnqueuedAt, Unix nanoseconds
//
// A dead-letter entry has the same fields (those that could be decoded)
// plus reason, error, attempts, dead_at (Unix ns), consumer, src (the id it
// had in the outbox stream, if any) and, for a malformed entry, raw (JSON
// object of the fields as read).
const (
	fVersion  = "v"
	fID       = "id"
	fCall     = "call"
	fApp      = "app"
	fKind     = "kind"
	fURL      = "url"
	fFallback = "fb"
	fBody     = "body"
	fAt       = "at"

	fReason   = "reason"
	fError    = "error"
	fAttempts = "attempts"
	fDeadAt   = "dead_at"
	fConsumer = "consumer"
	fSrc      = "src"
	fRaw      = "raw"

	formatVersion = "1"
)

// maxErrorLen bounds the error text kept in a dead letter.
const maxErrorLen = 1024

// errMalformed is wrapped by decodeEntry errors.
var errMalformed = errors.New("malformed outbox entry")

// encodeEntry returns the XADD field/value list of e.
func encodeEntry(e Entry) []any {
	return []any{
		fVersion, formatVersion,
		fID, e.ID,
		fCall, e.CallID,
		fApp, e.AppKey,
		fKind, e.Kind,
		fURL, e.URL,
		fFallback, e.FallbackURL,
		fBody, e.Body,
		fAt, strconv.FormatInt(e.EnqueuedAt.UnixNano(), 10),
	}
}

// decodeEntry parses the fields of an outbox stream entry (as go-redis
// returns them: string values). Anything but a complete version-1 entry
// with a valid id, kind, URL and time is malformed.
func decodeEntry(v map[string]any) (Entry, error) {
	if v == nil {
		return Entry{}, fmt.Errorf("%w: no fields (entry deleted)", errMalformed)
	}
	var e Entry
	var missing string
	get := func(k string, required bool) string {
		x, ok := v[k]
		s, isStr := x.(string)
		if (!ok || !isStr) && required && missing == "" {
			missing = k
		}
		return s
	}
	ver := get(fVersion, true)
	e.ID = get(fID, true)
	e.CallID = get(fCall, false)
	e.AppKey = get(fApp, false)
	e.Kind = get(fKind, true)
	e.URL = get(fURL, true)
	e.FallbackURL = get(fFallback, false)
	body := get(fBody, true)
	at := get(fAt, true)
	if missing != "" {
		return Entry{}, fmt.Errorf("%w: field %q missing", errMalformed, missing)
	}
	if ver != formatVersion {
		return Entry{}, fmt.Errorf("%w: unknown version %q", errMalformed, truncate(ver, 16))
	}
	if err := checkID(e.ID); err != nil {
		return Entry{}, fmt.Errorf("%w: %w", errMalformed, err)
	}
	if err := checkKind(e.Kind); err != nil {
		return Entry{}, fmt.Errorf("%w: %w", errMalformed, err)
	}
	if e.URL == "" {
		return Entry{}, fmt.Errorf("%w: empty url", errMalformed)
	}
	ns, err := strconv.ParseInt(at, 10, 64)
	if err != nil || ns <= 0 {
		return Entry{}, fmt.Errorf("%w: bad time %q", errMalformed, truncate(at, 32))
	}
	e.EnqueuedAt = time.Unix(0, ns)
	e.Body = []byte(body)
	return e, nil
}

// encodeDead returns the XADD field/value list of a dead letter.
func encodeDead(d DeadLetter) []any {
	var vals []any
	if d.Raw == nil {
		vals = encodeEntry(d.Entry)
	} else {
		raw, _ := json.Marshal(d.Raw) // a map[string]string always marshals
		vals = []any{fVersion, formatVersion, fRaw, raw}
	}
	return append(vals,
		fReason, d.Reason,
		fError, truncate(d.Error, maxErrorLen),
		fAttempts, strconv.Itoa(d.Entry.Attempts),
		fDeadAt, strconv.FormatInt(d.At.UnixNano(), 10),
		fConsumer, d.Consumer,
		fSrc, d.StreamID,
	)
}

// decodeDead parses a dead-letter stream entry. It is lenient: fields that
// do not parse are left empty.
func decodeDead(v map[string]any) DeadLetter {
	str := func(k string) string { s, _ := v[k].(string); return s }
	var d DeadLetter
	if e, err := decodeEntry(v); err == nil {
		d.Entry = e
	}
	d.Entry.Attempts, _ = strconv.Atoi(str(fAttempts))
	d.Reason = str(fReason)
	d.Error = str(fError)
	if ns, err := strconv.ParseInt(str(fDeadAt), 10, 64); err == nil && ns > 0 {
		d.At = time.Unix(0, ns)
	}
	d.Consumer = str(fConsumer)
	d.StreamID = str(fSrc)
	if raw := str(fRaw); raw != "" {
		if err := json.Unmarshal([]byte(raw), &d.Raw); err != nil {
			d.Raw = map[string]string{fRaw: raw}
		}
	}
	return d
}

// rawFields copies the fields of a malformed entry for its dead letter,
// bounding each value.
func rawFields(v map[string]any) map[string]string {
	out := make(map[string]string, len(v))
	for k, x := range v {
		switch x := x.(type) {
		case string:
			out[truncate(k, 64)] = truncate(x, 4096)
		default:
			out[truncate(k, 64)] = truncate(fmt.Sprint(x), 4096)
		}
	}
	return out
}

// parseMessages parses a script reply shaped like an XCLAIM reply: an array
// of [id, [field, value, ...]] pairs, a deleted entry having a nil field
// list.
func parseMessages(reply any) ([]redis.XMessage, error) {
	arr, ok := reply.([]any)
	if !ok {
		return nil, fmt.Errorf("reply is %T, not an array", reply)
	}
	out := make([]redis.XMessage, 0, len(arr))
	for i, x := range arr {
		if x == nil {
			continue // a deleted entry in a Redis 6 XCLAIM reply
		}
		pair, ok := x.([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("message %d is not an [id, fields] pair", i)
		}
		id, ok := pair[0].(string)
		if !ok {
			return nil, fmt.Errorf("message %d: id is %T", i, pair[0])
		}
		msg := redis.XMessage{ID: id}
		switch fields := pair[1].(type) {
		case nil:
		case []any:
			if len(fields)%2 != 0 {
				return nil, fmt.Errorf("message %s: odd field list", id)
			}
			msg.Values = make(map[string]any, len(fields)/2)
			for j := 0; j < len(fields); j += 2 {
				k, ok := fields[j].(string)
				if !ok {
					return nil, fmt.Errorf("message %s: field name is %T", id, fields[j])
				}
				msg.Values[k] = fields[j+1]
			}
		case map[any]any: // a RESP3 map, should a server send one
			msg.Values = make(map[string]any, len(fields))
			for k, v := range maps.All(fields) {
				ks, ok := k.(string)
				if !ok {
					return nil, fmt.Errorf("message %s: field name is %T", id, k)
				}
				msg.Values[ks] = v
			}
		default:
			return nil, fmt.Errorf("message %s: fields are %T", id, pair[1])
		}
		out = append(out, msg)
	}
	return out, nil
}

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
