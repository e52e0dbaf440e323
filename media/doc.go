// Package media is callcore's media plane: RTP sessions with SDP
// offer/answer, G.711 (PCMU and PCMA), RFC 4733 DTMF, prompt playback from
// text-to-speech (espeak-ng or an HTTP service), WAV and MP3 files and
// generated hold music, a two-leg bridge and RTP inactivity detection.
//
// It imports only the standard library, github.com/pion/rtp,
// github.com/pion/rtcp, Prometheus and github.com/hajimehoshi/go-mp3; it
// knows nothing of SIP or of the call state machine.
//
// # Engine and sessions
//
// NewEngine takes Options (start from DefaultOptions): the RTP port range,
// the bind and advertised addresses, the inactivity timeout, TTS, download
// and cache settings, a logger and a Prometheus registerer. An inbound call
// gets its session from Engine.Answer(ctx, offer), which returns the SDP
// answer; an outbound leg from Engine.Offer(ctx) followed by
// Session.SetRemote(answer). A re-INVITE or UPDATE goes to Session.Reoffer.
// Each Session owns two UDP sockets, an even port of the range for RTP and
// the odd one above it for RTCP, with one read goroutine each (and a third,
// the 20 ms media clock, while taps are installed). Close is idempotent,
// sends an RTCP BYE and returns the port to the allocator, which
// quarantines it for a short while before reuse.
//
// # Offer/answer (RFC 3264)
//
// The answer takes the first audio stream over RTP/AVP (or RTP/AVPF) that
// offers PCMU or PCMA, chooses the first of the two in the offerer's order,
// keeps the offerer's telephone-event payload type (any dynamic type at
// 8000 Hz) and rejects every other stream with port 0. Our offers carry
// PCMU, PCMA and telephone-event 101 with ptime 20. Hold: when the peer
// offers sendonly or inactive, or a 0.0.0.0 address, we answer recvonly or
// inactive and stop sending; a later sendrecv offer resumes. Without a
// usable codec the error is ErrNoCommonCodec (SIP 488).
//
// # Outgoing audio
//
// Play sends a Source paced at one 20 ms frame (160 samples) per packet,
// with one SSRC, consecutive sequence numbers, timestamps that follow the
// wall clock across gaps and the marker bit on the first packet of each
// talkspurt. One Play or SendDTMF runs at a time: a new one preempts the
// running one (which returns ErrPreempted) — the call core plays prompts
// one after the other and stops them by cancelling the context. When
// nothing is playing and no bridge relays, nothing is sent (no comfort
// noise).
//
// SendDTMF sends RFC 4733 events (100 ms each, 60 ms apart, 'w' = 500 ms)
// or, when the peer negotiated no telephone-event, in-band Q.23 dual tones.
// Received events appear once each on Digits (lost or repeated end packets
// do not matter); InjectDigit adds digits from SIP INFO to the same channel.
//
// # Receiving: in-band DTMF, taps, jitter buffer
//
// With Options.InbandDTMF (on in DefaultOptions) a DTMFDetector (Goertzel
// filters, ITU-T Q.24 acceptance: level, twist, relative peak, energy
// share, second harmonic, duration and pause) finds DTMF tones in the
// decoded received audio and reports them on Digits. From the first
// RFC 4733 event the session receives, in-band detection is off; an event
// that follows an in-band report of the same digit within 1 s is the same
// key press and is not reported again.
//
// Session.Tap calls a function every 20 ms with 160 samples of received
// audio and of sent audio (for recording, answering-machine detection,
// streaming). The received audio is played out of a JitterBuffer: placed by
// RTP timestamp (reordering, duplicates), with an adaptive delay (40 ms,
// growing with the measured jitter to 200 ms, shrinking slowly) and
// concealment of lost frames (the previous frame at half, then a quarter
// level, then silence). The sent audio is what Play, in-band SendDTMF and
// a bridge sent, decoded. The clock goroutine runs only while a tap is
// installed.
//
// # RTCP and call quality
//
// Each session sends RTCP (RFC 3550) to the peer's RTP port + 1: an SR when
// it sent RTP since its previous report, else an RR, with a report block
// about the peer's stream and an SDES CNAME, every Options.RTCPInterval
// (5 s, randomised ±50%, the first after about 1 s), and a BYE on Close.
// It parses the peer's SRs and RRs, also when multiplexed on the RTP port,
// for the peer's view of our stream and the round-trip time. Session.Stats
// has the figures. When a session closes, its packet loss ratio, jitter and
// RTT go to the callcore_media_session_* histograms and to one INFO log
// line; callcore_media_send_lateness_seconds measures how late each paced
// packet left after its 20 ms slot.
//
// # Bridge
//
// Engine.Bridge relays RTP between two sessions as it arrives, transcoding
// PCMU<->PCMA when the legs differ and passing telephone-events through with
// the receiving leg's payload type. A Play (or SendDTMF) on a bridged
// session temporarily replaces what that leg hears; the relay resumes when
// it returns. Relaying as packets arrive is what a B2BUA normally does (the
// endpoints' jitter buffers absorb the jitter of both network legs); with
// Options.BridgeJitterBuffer each direction is instead played out through
// the receiving session's jitter buffer on its 20 ms clock.
//
// # Sources
//
// A Source reads 8 kHz mono 16-bit PCM. Silence, Tone, Concat, PCM,
// Ringback (connectPstn indications) and MOH (the hold classes ring,
// music1, music2 and music3, generated by callcore's own code) are built
// in; the engine makes the rest.
//
// Engine.TTS synthesizes prompts with a pluggable Synthesizer
// (TTSOptions.Engine): espeak-ng by default (Espeak: text through stdin, -m
// for SSML), or HTTPSynthesizer, which POSTs {"text", "ssml", "locale"} to
// a TTS service and plays its WAV or MP3 reply. Locales are checked
// against the table of Locales, which covers every locale and voice name
// of the Node SDK's TtsVoice type and maps them to espeak-ng voices
// (genders to the +f3 and +m3 variants); an unknown locale is
// ErrUnknownLocale, not a silent fallback. SSML is checked for
// well-formedness and wrapped in <speak> when it lacks one
// (NormalizeSSML); for espeak-ng a pre-pass keeps <break>, <prosody>,
// <emphasis>, <p> and <s>, spells <say-as> digits out digit by digit and
// characters letter by letter, replaces <sub> by its alias and drops every
// other element. The audio is resampled to 8 kHz with a Kaiser-windowed
// sinc low-pass interpolator and cached by (engine identity, locale, mode,
// text) in an LRU with a byte budget, with single-flight synthesis.
//
// Engine.File and Engine.Fetch play WAV (DecodeWAV) and MP3 (DecodeMP3:
// pure Go, decoded and resampled as a stream, bounded by the size limit)
// from the files directory or http(s), with a size limit and a timeout.
// Downloads are cached by URL following the server's Cache-Control (or
// Expires), 60 s by default, then revalidated with If-None-Match and
// If-Modified-Since: 304 keeps the decoded audio, and a server that fails
// leaves the stale copy playing (see Engine.Fetch).
//
// # Conference mixer
//
// Engine.NewMixer mixes a room: each Member (a Session added with
// Mixer.Add) hears the sum of the others (N−1), 8 kHz, computed once per
// 20 ms tick on the mixer's one clock goroutine from each member's jitter
// buffer, saturated to 16 bits; a frame goes to every member every tick
// (silence too, so peers' RTP timeouts never fire). Muted members are not
// heard; held members hear their music and are out of the mix both ways;
// detached members hear silence and are not heard; a member alone hears
// its Alone source. The mixer drives a mixed session's taps (rx is what the
// member said, tx what it heard), so recording a participant works as for
// any call. Steady-state ticks allocate nothing; metrics
// callcore_conference_mixer_* report tick durations and late ticks.
//
// # Timeout
//
// Session.Timeout is closed when no RTP arrived for Options.RTPTimeout
// (DefaultRTPTimeout, 60 s, in DefaultOptions) while the session had its
// remote description and was not on hold.
package media
