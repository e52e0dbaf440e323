// Package wsstream is the WebSocket client of the connectStream SVAML
// action: it streams the caller's audio to a customer's WebSocket server
// and plays the server's audio back to the caller.
//
// Sinch's connectStream is in closed beta and its wire protocol is not
// public. The protocol below is callcore's; it follows the conventions of
// Vonage's WebSocket connect (a JSON text message first, then binary
// 16-bit linear PCM) and of Twilio Media Streams (clear and mark), so that
// an existing voice-bot server needs few changes. This comment is the
// specification servers are written against.
//
// # Connection
//
// callcore opens a WebSocket (RFC 6455) to connectStream's
// destination.endpoint, ws:// or wss://, with no subprotocol and no
// compression. Headers configured by the operator are added to the HTTP
// upgrade request. The TCP/TLS connection, the upgrade and the start
// message must complete within the handshake timeout (default 10 s);
// otherwise the action fails. A server that answers the upgrade with any
// HTTP status other than 101 fails it too (StatusError).
//
// # Start message
//
// The first message is a text message:
//
//	{"event":"start","version":2,"callId":"…","applicationKey":"…",
//	 "cli":"+4670…","to":"+4670…","custom":"…",
//	 "callHeaders":[{"key":"…","value":"…"}],
//	 "mediaFormat":{"encoding":"audio/l16","sampleRate":16000,"channels":1,
//	                "frameMs":20,"byteOrder":"little-endian"}}
//
// version is streamingOptions.version (1 when absent; every version gets
// this protocol), sampleRate is streamingOptions.sampleRate (8000 when
// absent; only 8000 and 16000 are accepted), callHeaders are
// connectStream.callHeaders in order (always an array, possibly empty).
// Every member is always present; strings may be empty.
//
// # Audio
//
// Both directions carry binary messages of signed 16-bit linear PCM, mono,
// little-endian, at mediaFormat.sampleRate.
//
// callcore sends one message per 20 ms of the caller's audio (320 bytes at
// 8 kHz, 640 bytes at 16 kHz), in real time. The call's audio is 8 kHz
// (G.711); at 16 kHz it is upsampled with a half-band interpolation filter,
// so it carries nothing above 4 kHz. When the server reads too slowly,
// callcore keeps the last second and drops older messages; a single message
// that cannot be written for 10 s ends the stream.
//
// The server sends audio in binary messages of any size (an even number of
// bytes, at most 1 MiB; a larger message ends the stream with close status
// 1009). They are queued and played in order, so a server may send audio
// faster than real time, for example a whole synthesized sentence at once.
// The queue holds up to 30 s by default (operator setting); beyond that
// the oldest audio is dropped. While the queue is empty the caller hears
// silence. At 16 kHz the audio is low-pass filtered and decimated to the
// call's 8 kHz.
//
// # Text messages from the server
//
//	{"event":"clear"}            drop all queued audio (barge-in)
//	{"event":"mark","name":"x"}  name a point in the queued audio
//	{"event":"hangup"}           end the call
//
// A mark is echoed back, {"event":"mark","name":"x"}, when the caller has
// heard all the audio queued before it: at once when nothing is queued,
// and also at once for every pending mark when a clear drops the audio
// before it. Names are 1 to 256 bytes; at most 256 marks may be pending
// (beyond that the oldest is echoed early). hangup ends the call, which
// then ends the stream as below. Other members of these objects are
// ignored; a text message that is not one of them is logged and ignored.
//
// # Text messages from callcore
//
//	{"event":"dtmf","callId":"…","digit":"5"}  a DTMF digit from the caller
//	{"event":"mark","name":"x"}                a mark echo (see above)
//	{"event":"stop","callId":"…"}              the stream ends
//
// Digits are 0-9, *, # and A-D.
//
// # End of the stream
//
// When the call ends (the caller hangs up, connectStream's maxDuration
// expires, the server asked to hang up...), callcore sends the stop message
// and closes the WebSocket with status 1000 (normal closure). When the
// server closes the WebSocket, with any status, or the connection breaks,
// the stream ends (Done, Err) and the call core continues the call as
// configured (in callcore: the call ends).
//
// # Go API
//
// Dial connects and sends the start message; Stream.WriteFrame takes the
// caller's 20 ms frames from the media tap without ever blocking (a writer
// goroutine sends them); Stream.Source is what the caller hears;
// Stream.SendDigit, Stream.HangupRequested, Stream.Done, Stream.Err and
// Stream.Close complete the set. Metrics (namespace callcore, subsystem
// wsstream): streams_active, frames_total{direction=sent|received},
// dropped_frames_total{queue=send|play} (20 ms units) and
// connect_failures_total{reason}, with reason one of invalid_options, dns,
// refused, timeout, tls, http_status, canceled and network.
package wsstream
