package wsstream

import (
	"encoding/binary"
	"sync"
)

// sendRing is the bounded queue of audio messages waiting for the writer
// goroutine. Its slots are allocated once; when it is full the oldest
// message is overwritten.
type sendRing struct {
	mu    sync.Mutex
	slots [][]byte
	head  int // oldest
	n     int
}

func newSendRing(frames, frameBytes int) *sendRing {
	r := &sendRing{slots: make([][]byte, frames)}
	for i := range r.slots {
		r.slots[i] = make([]byte, 0, frameBytes)
	}
	return r
}

// push encodes pcm as little-endian 16-bit samples into the next slot and
// reports whether the oldest message had to be dropped for it.
func (r *sendRing) push(pcm []int16) (dropped bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == len(r.slots) {
		r.head = (r.head + 1) % len(r.slots)
		r.n--
		dropped = true
	}
	i := (r.head + r.n) % len(r.slots)
	b := r.slots[i][:0]
	for _, v := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	r.slots[i] = b
	r.n++
	return dropped
}

// pop copies the oldest message into dst[:0] and returns it.
func (r *sendRing) pop(dst []byte) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return dst, false
	}
	dst = append(dst[:0], r.slots[r.head]...)
	r.head = (r.head + 1) % len(r.slots)
	r.n--
	return dst, true
}

// mark is a named position in the playback queue.
type mark struct {
	pos  uint64 // absolute sample position: reached when read >= pos
	name string
}

// maxMarks bounds the pending marks; beyond it the oldest is echoed early.
const maxMarks = 256

// playQueue holds the server's audio (8 kHz) until the caller's player
// reads it. It grows on demand up to max samples; beyond that the oldest
// samples are dropped. Positions are absolute sample counts since the
// start of the stream, which lets marks survive drops.
type playQueue struct {
	mu      sync.Mutex
	buf     []int16 // ring
	head    int     // index of the oldest sample
	n       int     // samples queued
	max     int
	written uint64 // samples ever queued (including dropped ones)
	read    uint64 // samples ever played or dropped
	marks   []mark
	ended   bool
}

func newPlayQueue(maxSamples int) *playQueue {
	return &playQueue{buf: make([]int16, min(maxSamples, 8000)), max: maxSamples}
}

// push queues samples and returns how many samples were dropped for room,
// with the marks the drop went past.
func (q *playQueue) push(samples []int16) (dropped int, reached []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(samples) > q.max {
		// Everything queued and the start of samples go.
		skip := len(samples) - q.max
		dropped = q.n + skip
		q.read += uint64(q.n + skip)
		q.written += uint64(skip)
		q.head, q.n = 0, 0
		samples = samples[skip:]
	}
	if over := q.n + len(samples) - q.max; over > 0 {
		q.discard(over)
		dropped += over
	}
	if need := q.n + len(samples); need > len(q.buf) {
		q.grow(min(q.max, max(need, 2*len(q.buf))))
	}
	for len(samples) > 0 {
		tail := (q.head + q.n) % len(q.buf)
		end := len(q.buf)
		if tail < q.head {
			end = q.head
		}
		c := copy(q.buf[tail:end], samples)
		samples = samples[c:]
		q.n += c
		q.written += uint64(c)
	}
	return dropped, q.reachedLocked(nil)
}

// discard drops the n oldest samples.
func (q *playQueue) discard(n int) {
	q.head = (q.head + n) % len(q.buf)
	q.n -= n
	q.read += uint64(n)
}

// grow reallocates the ring with capacity c, oldest sample first.
func (q *playQueue) grow(c int) {
	nb := make([]int16, c)
	k := copy(nb, q.buf[q.head:min(len(q.buf), q.head+q.n)])
	copy(nb[k:], q.buf[:q.n-k])
	q.buf, q.head = nb, 0
}

// readInto moves up to len(p) samples to p and returns how many, the names
// of the marks that playback reached and whether the stream has ended with
// nothing left to play.
// marks is reused for the names (to avoid allocating when there are none).
func (q *playQueue) readInto(p []int16, marks []string) (int, []string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for n < len(p) && q.n > 0 {
		c := copy(p[n:], q.buf[q.head:min(len(q.buf), q.head+q.n)])
		q.head = (q.head + c) % len(q.buf)
		q.n -= c
		q.read += uint64(c)
		n += c
	}
	return n, q.reachedLocked(marks), q.ended && q.n == 0
}

// reachedLocked removes the marks that playback has reached and appends
// their names to out.
func (q *playQueue) reachedLocked(out []string) []string {
	i := 0
	for i < len(q.marks) && q.marks[i].pos <= q.read {
		out = append(out, q.marks[i].name)
		i++
	}
	if i > 0 {
		q.marks = append(q.marks[:0], q.marks[i:]...)
	}
	return out
}

// addMark places a mark after the audio queued so far. It returns the
// names to echo now: the mark itself when nothing is queued, or the oldest
// pending mark when there are too many.
func (q *playQueue) addMark(name string) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return []string{name}
	}
	var early []string
	if len(q.marks) >= maxMarks {
		early = append(early, q.marks[0].name)
		q.marks = append(q.marks[:0], q.marks[1:]...)
	}
	q.marks = append(q.marks, mark{pos: q.written, name: name})
	return early
}

// clear drops the queued audio and returns the pending marks, which are
// echoed at once (playback will never reach them).
func (q *playQueue) clear() (marks []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.read += uint64(q.n)
	q.head, q.n = 0, 0
	for _, m := range q.marks {
		marks = append(marks, m.name)
	}
	q.marks = q.marks[:0]
	return marks
}

// pending returns the samples and marks waiting.
func (q *playQueue) pending() (samples, marks int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n, len(q.marks)
}

// end marks the end of the stream: no more audio will be pushed.
func (q *playQueue) end() {
	q.mu.Lock()
	q.ended = true
	q.mu.Unlock()
}
