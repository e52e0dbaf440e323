// Package phone is the test phone of callcore's end-to-end tests: a SIP user
// agent (github.com/emiago/sipgo) with its own RTP (github.com/pion/rtp),
// G.711 codecs, SDP and DTMF, used to call a callcore node and to be called
// by it.
//
// The phone is an independent peer. It imports no callcore package and
// shares no code with callcore's signalling or media, so a bug there shows
// up as a failing test instead of being mirrored here. Its G.711 is written
// from ITU-T G.711 and checked against an independent reference for every
// input; its SDP handling is a small RFC 3264 subset (one audio stream,
// PCMU/PCMA, telephone-event).
//
// A typical test:
//
//	alice := phone.New(t, phone.Options{User: "alice"})
//	call, err := alice.Dial(ctx, "sip:+15550100@"+nodeAddr, phone.DialOptions{})
//	require.NoError(t, err)
//	require.NoError(t, call.WaitAudio(ctx, 500*time.Millisecond, 300))
//	require.True(t, phone.SpeechLike(call.Recording()))
//	require.NoError(t, call.Hangup(ctx))
//
// Behaviour worth knowing:
//
//   - Everything listens on 127.0.0.1 on ports chosen by the kernel: SIP on
//     UDP (or TCP with Options.Transport), RTP on one UDP port per call. No
//     RTCP is sent and RTCP is not expected.
//   - Once a call is answered the phone sends one RTP packet every 20 ms:
//     queued audio (Play, PlayTone), RFC 4733 events (SendDTMF) or silence.
//     While the peer holds the call (a=sendonly or inactive) it sends nothing.
//   - Received audio is decoded into a recording; gaps in RTP timestamps
//     become silence. Packets with a payload type that was not negotiated are
//     counted in Stats.Unexpected and not decoded, so a peer that sends the
//     wrong codec fails the audio checks visibly.
//   - A caller records early media from a 183 with SDP but sends nothing
//     before the answer.
//   - sipgo hands each SIP message to its own goroutine, so provisional
//     responses that arrive together with the 200 may be reordered or not
//     seen at all (Call.Provisional).
//   - Every operation that waits takes a context; t.Cleanup hangs up calls
//     still up (BYE, 2 s bound) and stops the phone.
package phone
