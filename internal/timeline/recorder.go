package timeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Recorder. Zero values take the documented defaults.
type Options struct {
	// Node is this node's id, stored with every entry.
	Node string
	// MaxEntries is the backend's Limits.MaxEntries (it names the limit in
	// the truncation marker). Default DefaultMaxEntries.
	MaxEntries int
	// MaxBody is how many bytes of a request, reply or SVAML body an entry
	// keeps. Default DefaultMaxBody.
	MaxBody int
	// RevealNumbers and RevealCookies turn the masking of phone numbers
	// and of cookie values off.
	RevealNumbers, RevealCookies bool
	// FlushInterval is how often the buffer is written. Default
	// DefaultFlushInterval (100 ms).
	FlushInterval time.Duration
	// FlushTimeout bounds one write. Default 5 s.
	FlushTimeout time.Duration
	// BufferSize caps the entries waiting for a flush, all calls
	// together; beyond it entries are dropped. Default DefaultBufferSize.
	BufferSize int
	// Logger receives write failures (at most one line per 10 s); nil
	// discards.
	Logger *slog.Logger
	// Registerer receives the metrics (NewMetrics); nil keeps them
	// unregistered.
	Registerer prometheus.Registerer
	// Now is the clock of Record; nil is time.Now.
	Now func() time.Time
}

// item is a recorded entry before redaction and encoding, or an end.
type item struct {
	at                    time.Time
	callID, kind, summary string
	data                  map[string]any
	end                   bool
}

// Recorder records the timelines of a node's calls into a Backend and
// reads them back. Its methods are safe for concurrent use; a nil
// *Recorder records nothing.
type Recorder struct {
	b        Backend
	o        Options
	red      redactor
	m        *Metrics
	log      *slog.Logger
	nodeJSON []byte

	mu     sync.Mutex
	buf    []item
	spare  []item
	closed bool

	flushMu  sync.Mutex
	lastWarn time.Time // under flushMu
	enc      encoder   // under flushMu
	// flushBuf is the encoding buffer of the last flush, reused: the
	// backends do not keep the entries' bytes past Append. Under flushMu.
	flushBuf []byte

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// New creates a Recorder writing to b and starts its flush loop; Close
// stops it.
func New(b Backend, o Options) *Recorder {
	if o.MaxEntries < 2 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.FlushTimeout <= 0 {
		o.FlushTimeout = 5 * time.Second
	}
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	node, _ := json.Marshal(o.Node)
	r := &Recorder{
		b: b, o: o, m: NewMetrics(o.Registerer), log: o.Logger, nodeJSON: node,
		red:  redactor{revealNumbers: o.RevealNumbers, revealCookies: o.RevealCookies, maxBody: o.MaxBody},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	r.enc.r = &r.red
	go r.loop()
	return r
}

// Record adds an entry of kind (a Kind constant) to the timeline of
// callID, timed now. It never blocks: a full buffer drops the entry (and
// counts it). An empty callID records nothing.
//
// data is owned by the Recorder from now on and must not be modified. It
// is redacted when flushed, by key:
//   - request, reply, document: a body (string, []byte, json.RawMessage or
//     a value encoding/json marshals), redacted as JSON and truncated to
//     Options.MaxBody bytes; a json.RawMessage (taken as valid JSON) or a
//     marshalled value kept whole is stored as JSON rather than as a
//     string, and read back as its text;
//   - from, to, cli, number, endpoint, rdnis: a phone number (or a
//     username, or a SIP URI whose user part may be a number), masked;
//   - cookies: a cookie jar (map of key to value, or a list of {key,
//     value}), values masked;
//   - url, fallbackUrl: userinfo and query values removed;
//   - anything else: E.164-looking numbers masked in strings, maps and
//     lists walked.
//
// The summary has its E.164-looking numbers masked, and the raw values of
// the number keys replaced by their masked form.
func (r *Recorder) Record(callID, kind, summary string, data map[string]any) {
	if r == nil {
		return
	}
	r.RecordAt(r.o.Now(), callID, kind, summary, data)
}

// RecordAt is Record with the time the thing happened.
func (r *Recorder) RecordAt(at time.Time, callID, kind, summary string, data map[string]any) {
	if r == nil || callID == "" {
		return
	}
	r.mu.Lock()
	if r.closed || len(r.buf) >= r.o.BufferSize {
		closed := r.closed
		r.mu.Unlock()
		if !closed {
			r.m.dropped.WithLabelValues(DropBufferFull).Inc()
		}
		return
	}
	r.buf = append(r.buf, item{at: at, callID: callID, kind: kind, summary: summary, data: data})
	r.mu.Unlock()
}

// End marks the end of a call: from the next flush its timeline keeps the
// ended TTL (Limits.EndedTTL). Entries recorded after End are still
// stored, up to MaxEntries.
func (r *Recorder) End(callID string) {
	if r == nil || callID == "" {
		return
	}
	r.mu.Lock()
	if !r.closed {
		// Not bound by BufferSize: an end is small, and losing it would
		// keep the list for the live TTL.
		r.buf = append(r.buf, item{callID: callID, end: true})
	}
	r.mu.Unlock()
}

// Callback describes one delivery of a callback event, for RecordCallback.
type Callback struct {
	// Event is the event kind: ice, ace, pie, dice or notify.
	Event string
	// EventID is the event's stable id (x-callcore-event-id).
	EventID string
	// URL is the URL of the last attempt (redacted when stored).
	URL string
	// Fallback: the last attempt went to the fallback URL.
	Fallback bool
	// Status is the HTTP status of the last attempt, 0 if none came.
	Status int
	// Attempts is how many URLs were tried: 0, 1 or 2.
	Attempts int
	// Latency is how long the delivery took.
	Latency time.Duration
	// Request is the event as sent (any body Record takes; a
	// json.RawMessage is taken as valid JSON and stored as such).
	Request any
	// Reply is the reply body, nil if it was not read.
	Reply []byte
	// ReplyJSON says Reply is valid JSON (the reply was accepted), so
	// that it is stored as JSON, not as an escaped string.
	ReplyJSON bool
	// Err is why the delivery failed; nil on success.
	Err error
	// QueueAttempt is the outbox's attempt number for a queued event
	// (DiCE, Notify); 0 for a direct delivery.
	QueueAttempt int
}

// RecordCallback records a callback delivery as a KindCallback entry; a
// failed one also as a KindError entry.
func (r *Recorder) RecordCallback(callID string, cb Callback) {
	if r == nil || callID == "" {
		return
	}
	var s strings.Builder
	s.WriteString(cb.Event)
	s.WriteString(" callback")
	if cb.Err != nil {
		s.WriteString(" failed")
	}
	if cb.Status != 0 {
		s.WriteString(": HTTP ")
		s.WriteString(strconv.Itoa(cb.Status))
	}
	s.WriteString(" in ")
	s.WriteString(strconv.FormatInt(cb.Latency.Milliseconds(), 10))
	s.WriteString(" ms")
	if cb.Fallback {
		s.WriteString(", fallback URL")
		if cb.Attempts > 1 {
			s.WriteString(" after the primary failed")
		}
	}
	if cb.QueueAttempt > 1 {
		s.WriteString(", queued delivery attempt ")
		s.WriteString(strconv.Itoa(cb.QueueAttempt))
	}
	data := map[string]any{
		"event": cb.Event, "eventId": cb.EventID, "url": cb.URL, "fallback": cb.Fallback,
		"status": cb.Status, "attempts": cb.Attempts, "latencyMs": cb.Latency.Milliseconds(),
		"signature": "application", "request": cb.Request,
	}
	switch {
	case cb.Reply != nil && cb.ReplyJSON:
		data["reply"] = json.RawMessage(cb.Reply)
	case cb.Reply != nil:
		data["reply"] = cb.Reply
	}
	if cb.QueueAttempt > 0 {
		data["queueAttempt"] = cb.QueueAttempt
	}
	now := r.o.Now()
	if cb.Err != nil {
		data["error"] = cb.Err.Error()
		r.RecordAt(now, callID, KindCallback, s.String(), data)
		r.RecordAt(now, callID, KindError, cb.Event+" callback failed: "+cb.Err.Error(),
			map[string]any{"event": cb.Event, "eventId": cb.EventID, "error": cb.Err.Error()})
		return
	}
	r.RecordAt(now, callID, KindCallback, s.String(), data)
}

// loop flushes the buffer every FlushInterval until Close.
func (r *Recorder) loop() {
	defer close(r.done)
	t := time.NewTicker(r.o.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), r.o.FlushTimeout)
			err := r.Flush(ctx)
			cancel()
			if err != nil {
				r.warn(err)
			}
		}
	}
}

// warn logs a flush failure at most once per 10 s.
func (r *Recorder) warn(err error) {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	if now := time.Now(); now.Sub(r.lastWarn) >= 10*time.Second {
		r.lastWarn = now
		r.log.Warn("timeline entries not stored", "err", err)
	}
}

// Flush writes what is buffered now: it redacts and encodes the entries
// and appends them, grouped by call, in one Backend call. Entries the
// backend could not store are dropped and counted; the error says why.
func (r *Recorder) Flush(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	items := r.buf
	r.buf, r.spare = r.spare, nil
	r.mu.Unlock()
	r.m.buffered.Set(float64(len(items)))
	defer r.reclaim(items)
	if len(items) == 0 {
		return nil
	}
	start := time.Now()
	defer func() { r.m.duration.Observe(time.Since(start).Seconds()) }()
	batches := make([]Batch, 0, 16)
	last := make([]time.Time, 0, 16)
	idx := make(map[string]int, 16)
	// Every entry is encoded into one buffer; ends[i] is where entry i
	// ends, owner[i] its batch.
	buf := r.flushBuf[:0]
	defer func() {
		if cap(buf) <= maxKeptFlushBuf {
			r.flushBuf = buf[:0]
		}
	}()
	ends := make([]int, 0, len(items))
	owner := make([]int, 0, len(items))
	for _, it := range items {
		bi, ok := idx[it.callID]
		if !ok {
			bi = len(batches)
			idx[it.callID] = bi
			batches = append(batches, Batch{CallID: it.callID})
			last = append(last, it.at)
		}
		if it.end {
			batches[bi].Ended = true
			continue
		}
		buf = r.enc.appendEntry(buf, it.at, r.nodeJSON, it.kind, it.summary, it.data)
		ends = append(ends, len(buf))
		owner = append(owner, bi)
		if it.at.After(last[bi]) {
			last[bi] = it.at
		}
	}
	start0 := 0
	for i, end := range ends {
		b := &batches[owner[i]]
		b.Entries = append(b.Entries, buf[start0:end:end])
		start0 = end
	}
	// Markers go into the same buffer (most are never stored: only a
	// call at its limit takes one). Appending may move buf; the entries
	// cut above keep the array they were cut from.
	for i := range batches {
		from := len(buf)
		buf = appendMarker(buf, last[i], r.nodeJSON, r.o.MaxEntries)
		batches[i].Marker = buf[from:len(buf):len(buf)]
	}
	res, err := r.b.Append(ctx, batches)
	r.m.written.Add(float64(res.Written))
	r.m.bytes.Add(float64(res.Bytes))
	if res.Truncated > 0 {
		r.m.dropped.WithLabelValues(DropMaxEntries).Add(float64(res.Truncated))
	}
	if res.Failed > 0 {
		r.m.dropped.WithLabelValues(DropStoreError).Add(float64(res.Failed))
	}
	return err
}

// maxKeptFlushBuf bounds the encoding buffer kept between flushes.
const maxKeptFlushBuf = 4 << 20

// reclaim keeps a flushed buffer's array for the next one.
func (r *Recorder) reclaim(items []item) {
	if cap(items) == 0 || cap(items) > 4*r.o.BufferSize {
		return
	}
	clear(items)
	r.mu.Lock()
	if r.spare == nil {
		r.spare = items[:0]
	}
	r.mu.Unlock()
}

// Read returns the timeline of a call as stored by every node: ordered by
// time (entries of the same time keep their stored order), the truncation
// marker, if any, last. A call without entries gives an empty list.
// Malformed stored entries are skipped. A nil Recorder has none.
func (r *Recorder) Read(ctx context.Context, callID string) ([]Entry, error) {
	if r == nil {
		return []Entry{}, nil
	}
	raw, err := r.b.Read(ctx, callID)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(raw))
	for _, b := range raw {
		e, err := decode(b)
		if err != nil {
			r.log.Debug("timeline: stored entry skipped", "call_id", callID, "err", err)
			continue
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b Entry) int {
		if at, bt := a.Truncated(), b.Truncated(); at != bt {
			if at {
				return 1
			}
			return -1
		}
		return a.T.Compare(b.T)
	})
	return out, nil
}

// Close stops the flush loop and writes what is left within ctx. Later
// entries are ignored. Idempotent.
func (r *Recorder) Close(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.closeOnce.Do(func() {
		close(r.stop)
		<-r.done
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		if err := r.Flush(ctx); err != nil {
			r.closeErr = fmt.Errorf("timeline: last flush: %w", err)
		}
	})
	return r.closeErr
}
