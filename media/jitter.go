package media

import "time"

// Defaults of JitterBufferOptions.
const (
	DefaultJitterMinDelay = 40 * time.Millisecond
	DefaultJitterMaxDelay = 200 * time.Millisecond
)

const (
	jbRingSamples   = 4096                  // 512 ms of audio: the cap plus early packets
	jbRingMask      = jbRingSamples - 1     // index mask of the ring
	jbWindow        = 2 * SampleRate        // 2 s buckets of the transit minimum and excess maximum
	jbShrinkEvery   = SampleRate            // at most one dropped frame per second when shrinking
	jbConcealFrames = 2                     // frames repeated (attenuated) before silence
	jbJumpBack      = SampleRate            // a packet this far behind the playout point is a jump
	jbJumpAhead     = jbRingSamples * 3 / 4 // ... or this far ahead (384 ms)
	jbSkipAt        = FrameSamples * 3 / 2  // lateness of the playout point that drops a frame
	jbFarBehind     = jbRingSamples / 2     // lateness that moves the playout point at once
	jbMaxPacket     = jbRingSamples / 4     // larger packets are refused
)

// JitterBufferOptions configure a JitterBuffer. Zero fields take the
// defaults.
type JitterBufferOptions struct {
	// MinDelay is the initial and smallest playout delay. Default 40 ms;
	// at least one frame (20 ms).
	MinDelay time.Duration
	// MaxDelay caps the playout delay. Default 200 ms; at most 300 ms.
	MaxDelay time.Duration
}

// FrameStatus tells what JitterBuffer.Pop produced.
type FrameStatus int

const (
	// FrameSilence is silence: nothing received yet, still buffering, or a
	// gap longer than the concealment (silence suppression, a long loss).
	FrameSilence FrameStatus = iota
	// FrameAudio is received audio; samples of the frame that were not
	// received (part of a lost packet of another size) are silent.
	FrameAudio
	// FrameConcealed replaces a frame that was lost or late, or one
	// inserted to grow the delay: the previous frame at half its level,
	// then a quarter; from the third such frame on the output is silence
	// (FrameSilence).
	FrameConcealed
)

// JitterStats are the counters of a JitterBuffer.
type JitterStats struct {
	Packets    uint64        // packets accepted
	Late       uint64        // packets dropped because their playout time had passed
	Duplicates uint64        // packets dropped because every sample was already buffered
	Resyncs    uint64        // new streams: first packet, SSRC change, timestamp jump
	Concealed  uint64        // frames concealed (lost, late or inserted)
	Stalls     uint64        // frames inserted to grow the delay
	Skips      uint64        // frames dropped to shrink the delay
	Delay      time.Duration // current target playout delay
	Jitter     time.Duration // interarrival jitter (RFC 3550 §6.4.1)
}

// JitterBuffer turns RTP audio that arrives with jitter, out of order,
// duplicated or not at all into a steady stream of 20 ms frames. Packets
// go in with Push (decoded PCM, placed by RTP timestamp, so any packet
// duration works); Pop takes one frame per 20 ms tick. Both take the time
// (on any monotonic time base shared by the two) so that the buffer can be
// driven by a fake clock.
//
// Playout: sample ts plays at ts + base + delay, where base is the smallest
// transit time (arrival minus timestamp) of the last 2 to 4 s (which also
// follows clock drift between the peers) and delay the target. The target
// starts at MinDelay and is the largest excess transit over base of the
// last 2 to 4 s plus the RFC 3550 jitter, rounded up to whole frames and
// capped at MaxDelay: it grows as soon as a packet arrives later than the
// target (one inserted frame per tick until the playout point has moved)
// and shrinks slowly, by dropping one frame per second at most, or at once
// at the start of a talkspurt (marker bit) when nothing is buffered.
// Packets whose playout time has passed are dropped (Late). A change of
// SSRC or a timestamp jump (more than 384 ms ahead of the playout point, or
// more than 1 s behind it) starts a new stream that plays right after the
// audio already buffered (Resyncs).
//
// Concealment: a missing frame is replaced by the previous frame at half
// its level, a second one by a quarter, then silence — chosen over plain
// silence because it hides a single lost packet well and costs nothing.
//
// A JitterBuffer is not safe for concurrent use; Push and Pop do not
// allocate. It holds 512 ms of audio (about 9 KiB).
type JitterBuffer struct {
	minDelay, maxDelay int64 // samples

	ring [jbRingSamples]int16
	have [jbRingSamples / 64]uint64

	started bool
	ssrc    uint32
	lastTS  uint32 // timestamp of the newest packet
	extTS   int64  // extended lastTS
	newest  int64  // end (extended timestamp) of the newest audio
	playing bool
	play    int64 // extended timestamp of the next sample out

	haveBase    bool
	winStart    int64 // arrival (samples) that opened the current bucket
	minCur      int64 // smallest transit in the current bucket
	minPrev     int64 // ... in the previous one
	exCur       int64 // largest excess transit in the current bucket
	exPrev      int64 // ... in the previous one
	lastTransit int64
	haveTransit bool
	jitter      float64 // samples
	target      int64   // samples
	lastSkip    int64   // when (samples) the last frame was dropped

	concealed int // consecutive concealed or silent frames since audio
	last      [FrameSamples]int16

	stats JitterStats
}

// NewJitterBuffer returns an empty buffer.
func NewJitterBuffer(o JitterBufferOptions) *JitterBuffer {
	j := &JitterBuffer{}
	j.configure(o)
	return j
}

func (j *JitterBuffer) configure(o JitterBufferOptions) {
	if o.MinDelay <= 0 {
		o.MinDelay = DefaultJitterMinDelay
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultJitterMaxDelay
	}
	j.minDelay = max(toSamples(o.MinDelay), FrameSamples)
	j.maxDelay = min(max(toSamples(o.MaxDelay), j.minDelay), 300*SampleRate/1000)
	j.target = j.minDelay
	j.lastSkip = -jbShrinkEvery
	j.concealed = jbConcealFrames
}

// toSamples converts a duration on the monotonic time base to 8 kHz
// samples.
func toSamples(d time.Duration) int64 { return int64(d) * SampleRate / int64(time.Second) }

// Reset empties the buffer and forgets the stream, keeping the current
// target delay and the counters.
func (j *JitterBuffer) Reset() {
	j.started, j.playing = false, false
	j.haveBase, j.haveTransit = false, false
	clear(j.have[:])
	j.concealed = jbConcealFrames
}

// Stats returns the counters, the target delay and the jitter.
func (j *JitterBuffer) Stats() JitterStats {
	st := j.stats
	st.Delay = time.Duration(j.target) * time.Second / SampleRate
	st.Jitter = time.Duration(j.jitter * float64(time.Second) / SampleRate)
	return st
}

// Delay returns the current target playout delay.
func (j *JitterBuffer) Delay() time.Duration {
	return time.Duration(j.target) * time.Second / SampleRate
}

// start begins the first stream at packet timestamp ts.
func (j *JitterBuffer) start(ssrc, ts uint32) {
	j.stats.Resyncs++
	j.started, j.playing = true, false
	j.ssrc, j.lastTS, j.extTS = ssrc, ts, int64(ts)
	j.play, j.newest = int64(ts), int64(ts)
	j.haveBase, j.haveTransit = false, false
	clear(j.have[:])
}

// rebase continues with a new stream (another SSRC, or a timestamp jump)
// whose packet ts follows the audio already buffered: the buffered audio
// still plays, the new packet is placed right after it, and the transit
// statistics restart (the new timestamps are not comparable with the old
// ones) while keeping the excess that sized the target. It returns the
// extended timestamp of ts.
func (j *JitterBuffer) rebase(ssrc, ts uint32) int64 {
	j.stats.Resyncs++
	ext := max(j.newest, j.play)
	j.ssrc, j.lastTS, j.extTS = ssrc, ts, ext
	if j.haveBase {
		j.exPrev = max(j.exPrev, j.exCur)
	}
	j.haveBase, j.haveTransit = false, false
	return ext
}

// Push adds one packet of decoded audio received at arrival: its SSRC, RTP
// timestamp, marker bit and samples (8 kHz). pcm is copied.
func (j *JitterBuffer) Push(ssrc, ts uint32, marker bool, pcm []int16, arrival time.Duration) {
	n := int64(len(pcm))
	if n == 0 || n > jbMaxPacket {
		return
	}
	var ext int64
	switch {
	case !j.started:
		j.start(ssrc, ts)
		ext = j.extTS
	case ssrc != j.ssrc:
		ext = j.rebase(ssrc, ts)
	default:
		ext = j.extTS + int64(int32(ts-j.lastTS))
		if ext-j.play > jbJumpAhead || j.play-ext > jbJumpBack {
			ext = j.rebase(ssrc, ts) // a timestamp jump
		} else if ext > j.extTS {
			j.lastTS, j.extTS = ts, ext
		}
	}
	if j.all(ext, n) {
		j.stats.Duplicates++
		return
	}
	a := toSamples(arrival)
	j.observe(a, a-ext)
	if j.playing && ext+n <= j.play {
		j.stats.Late++
		return
	}
	if marker && j.playing && j.newest <= j.play {
		// A talkspurt starts and nothing is buffered: play it out with the
		// current target from scratch.
		j.playing, j.play = false, ext
	}
	if !j.playing && ext < j.play {
		j.play = ext // an earlier packet arrived after the first one
	}
	start := ext
	if j.playing && start < j.play {
		pcm = pcm[j.play-start:]
		start = j.play
	}
	for i, v := range pcm {
		p := (start + int64(i)) & jbRingMask
		j.ring[p] = v
		j.have[p>>6] |= 1 << (p & 63)
	}
	j.newest = max(j.newest, start+int64(len(pcm)))
	j.stats.Packets++
}

// all reports whether every sample of [ext, ext+n) is buffered (and not
// yet played).
func (j *JitterBuffer) all(ext, n int64) bool {
	if ext < j.play {
		return false // late packets are counted as late, not duplicates
	}
	for i := ext; i < ext+n; i++ {
		p := i & jbRingMask
		if j.have[p>>6]&(1<<(p&63)) == 0 {
			return false
		}
	}
	return true
}

// observe updates the transit statistics with one packet's transit time
// (arrival minus timestamp, in samples) and recomputes the target.
func (j *JitterBuffer) observe(a, transit int64) {
	if j.haveTransit {
		d := transit - j.lastTransit
		if d < 0 {
			d = -d
		}
		if d < jbRingSamples { // a jump is not jitter
			j.jitter += (float64(d) - j.jitter) / 16
		}
	}
	j.lastTransit, j.haveTransit = transit, true
	switch {
	case !j.haveBase:
		j.haveBase = true
		j.winStart, j.minCur, j.minPrev, j.exCur = a, transit, transit, 0
	case a-j.winStart >= jbWindow:
		j.winStart, j.minPrev, j.minCur, j.exPrev, j.exCur = a, j.minCur, transit, j.exCur, 0
	default:
		j.minCur = min(j.minCur, transit)
	}
	j.exCur = max(j.exCur, transit-j.base())
	need := max(j.exCur, j.exPrev) + int64(j.jitter)
	need = (need + FrameSamples - 1) / FrameSamples * FrameSamples
	j.target = min(max(need, j.minDelay), j.maxDelay)
}

func (j *JitterBuffer) base() int64 { return min(j.minCur, j.minPrev) }

// Pop writes the next 20 ms frame (FrameSamples samples) into out for the
// tick at now and says what it is.
func (j *JitterBuffer) Pop(out []int16, now time.Duration) FrameStatus {
	out = out[:FrameSamples]
	if !j.started || !j.haveBase {
		return j.silence(out)
	}
	n := toSamples(now)
	desired := n - j.base() - j.target
	if !j.playing {
		if j.newest <= j.play || desired < j.play {
			return j.silence(out) // buffering
		}
		j.playing = true
	}
	diff := desired - j.play
	switch {
	case diff < 0:
		// Early: the target grew. Insert a frame.
		j.stats.Stalls++
		return j.conceal(out)
	case diff >= jbFarBehind:
		// Far behind (the ticks stopped for a while): jump.
		skip := diff / FrameSamples * FrameSamples
		j.drop(j.play, skip)
		j.play += skip
		j.stats.Skips += uint64(skip / FrameSamples)
	case diff >= jbSkipAt && n-j.lastSkip >= jbShrinkEvery:
		// Late by more than a frame and a half: the target shrank. Drop a
		// frame, at most one per second.
		j.drop(j.play, FrameSamples)
		j.play += FrameSamples
		j.lastSkip = n
		j.stats.Skips++
	}
	missing := 0
	for i := range out {
		p := (j.play + int64(i)) & jbRingMask
		if j.have[p>>6]&(1<<(p&63)) != 0 {
			out[i] = j.ring[p]
			j.have[p>>6] &^= 1 << (p & 63)
		} else {
			out[i] = 0
			missing++
		}
	}
	j.play += FrameSamples
	if missing == len(out) {
		return j.conceal(out)
	}
	copy(j.last[:], out)
	j.concealed = 0
	return FrameAudio
}

// drop discards n samples from ext.
func (j *JitterBuffer) drop(ext, n int64) {
	for i := ext; i < ext+min(n, jbRingSamples); i++ {
		p := i & jbRingMask
		j.have[p>>6] &^= 1 << (p & 63)
	}
}

// conceal fills out with the attenuated previous frame, or silence once
// jbConcealFrames frames were concealed in a row.
func (j *JitterBuffer) conceal(out []int16) FrameStatus {
	if j.concealed >= jbConcealFrames {
		return j.silence(out)
	}
	j.concealed++
	for i, v := range j.last {
		v /= 2
		j.last[i] = v
		out[i] = v
	}
	j.stats.Concealed++
	return FrameConcealed
}

func (j *JitterBuffer) silence(out []int16) FrameStatus {
	clear(out)
	return FrameSilence
}
