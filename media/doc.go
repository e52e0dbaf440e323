// Package media is callcore's media plane: RTP sessions with SDP
// offer/answer, G.711 (PCMU and PCMA), RFC 4733 DTMF, prompt playback from
// espeak-ng text-to-speech and WAV files, a two-leg bridge and RTP
// inactivity detection.
//
// It imports only the standard library, github.com/pion/rtp and Prometheus;
// it knows nothing of SIP or of the call state machine.
//
// # Engine and sessions
//
// NewEngine takes Options (start from DefaultOptions): the RTP port range,
// the bind and advertised addresses, the inactivity timeout, TTS, download
// and cache settings, a logger and a Prometheus registerer. An inbound call
// gets its session from Engine.Answer(ctx, offer), which returns the SDP
// answer; an outbound leg from Engine.Offer(ctx) followed by
// Session.SetRemote(answer). A re-INVITE or UPDATE goes to Session.Reoffer.
// Each Session owns one UDP socket (an even port of the range; the odd one
// above is left for RTCP, which is not implemented) and one read goroutine.
// Close is idempotent and returns the port to the allocator, which
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
// # Bridge
//
// Engine.Bridge relays RTP between two sessions as it arrives, transcoding
// PCMU<->PCMA when the legs differ and passing telephone-events through with
// the receiving leg's payload type. A Play (or SendDTMF) on a bridged
// session temporarily replaces what that leg hears; the relay resumes when
// it returns.
//
// # Sources
//
// A Source reads 8 kHz mono 16-bit PCM. Engine.TTS runs espeak-ng (text
// through stdin, -m for SSML), resamples its 22.05 kHz output to 8 kHz with
// a Kaiser-windowed sinc low-pass interpolator and caches the result by
// (text, voice, SSML) in an LRU with a byte budget, with single-flight
// synthesis. EspeakVoice maps Sinch locales (en-US, en-US/female, sv-SE...)
// and voice names (Joanna, Matthew...) to espeak-ng voices. Engine.File and
// Engine.Fetch decode WAV files from the files directory or http(s) (size
// limit and timeout, cached by URL) with DecodeWAV. Silence, Tone, Concat,
// PCM and Ringback (connectPstn indications) complete the set.
//
// # Timeout
//
// Session.Timeout is closed when no RTP arrived for Options.RTPTimeout while
// the session had its remote description and was not on hold.
package media
