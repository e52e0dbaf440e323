// Package record implements SVAML startRecording and stopRecording: it
// records a call's audio into a WAV or MP3 file, stores the file at the
// destinationUrl (file:// or s3://) and serves file:// recordings back to
// the application that made them.
//
// It imports only the standard library, Prometheus and a pure-Go MP3
// encoder (github.com/braheezy/shine-mp3, a port of shine); no cgo and no
// external programs.
//
// # Recording
//
// Start(spec, log) creates a temporary file and a writer goroutine. The call
// core's media tap calls Recorder.Write every 20 ms with one frame of each
// side (caller, callee: 160 samples of 8 kHz 16-bit mono, aligned). Write
// copies into pooled frame buffers and hands them to the writer through a
// buffer of Backlog frames (5 s); it never blocks, does not allocate in
// steady state, and drops (and counts) frames only when the writer is that
// far behind. Stop flushes the queue, finalizes the file and returns a
// File (path, format, channels, duration, size, dropped frames).
//
// Channels: Mono mixes both sides (saturating sum); Split is stereo, caller
// left and callee right. Formats: WAV is PCM16 at 8 kHz, its RIFF sizes
// written by Stop. MP3 is MPEG-2 Layer III at 24 kHz (the 8 kHz audio
// upsampled ×3 by a polyphase windowed-sinc filter), 32 kbit/s per channel
// CBR: the lowest standard MPEG rate family that every player decodes
// (8 kHz would need the non-standard MPEG-2.5). The default format is MP3,
// as in Sinch. Spec.MaxDuration bounds a recording: when reached, Done is
// closed and further audio is ignored until Stop.
//
// # Destinations
//
// ParseDestination(destinationUrl, credentials, options) validates
// startRecording's options before anything is recorded, and Destination.Store
// copies the finished File and returns the location for the Notify events
// recording_finished and recording_available:
//
//   - file://[host]/[name]: stored in the node's recordings directory under
//     <dir>/<appKey>/<name>; the location is
//     <public base>/<name>, downloadable with GET
//     /calling/v1/recordings/<name> by the same application only (FileDir).
//     Disabled when the node has no recordings directory.
//   - s3://bucket/prefix/ or s3://bucket/key: a single PUT signed with AWS
//     Signature Version 4 (hand-written, checked against AWS's published
//     vectors) with credentials "ACCESSKEY:SECRET:REGION", to AWS or to an
//     S3-compatible endpoint, virtual-hosted or path style. 5xx, 429 and
//     network errors are retried with exponential backoff within the
//     context. The location is s3://bucket/key.
//   - azure://, gs:// and others: refused by ParseDestination
//     (ErrUnsupportedDestination).
//
// Names: Name(callID, seq, format) is "<callID>-<seq>.<ext>" with unsafe
// characters replaced.
//
// # Transcription
//
// Transcriber is the seam for speech-to-text; callcore ships none, and
// without one an enabled transcription is reported as not available
// (ErrTranscriptionUnavailable).
//
// # Metrics
//
// NewMetrics registers, on an injected registerer, callcore_recording_*:
// started_total{format}, finished_total{format,result}, bytes_written_total,
// frames_dropped_total, upload_duration_seconds{scheme} and
// upload_failures_total{scheme}.
package record
