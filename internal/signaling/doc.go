// Package signaling is callcore's SIP adapter, built on
// github.com/emiago/sipgo: a UDP and TCP listener with inbound calls
// (*Inbound), outbound calls to the PSTN gateway, to SIP URIs and to
// registered in-app users (*Outbound, with digest authentication and
// transport udp, tcp or tls), and a registrar with digest authentication.
//
// It has its own small types so that the call core can wrap it without
// importing sipgo: SDP bodies are opaque []byte, in-dialog requests the
// call must act on (re-INVITE/UPDATE offers, INFO DTMF) arrive as Events,
// and every way a call can fail or end is mapped once, by Classify, to the
// call result and DiCE reason of package events.
//
// # Ownership and concurrency
//
// Every method is safe for concurrent use. Handler.OnInvite runs on its
// own goroutine per call, which owns the *Inbound; it may return at once
// and drive the call from elsewhere. Done is closed when a dialog ends for
// any reason and End then tells who ended it and why. Events and Progress
// channels are buffered and never closed: select on Done as well. An
// offer Event that nobody Responds to within Options.OfferTimeout gets 500;
// a DTMF event that finds the channel full is dropped (logged).
//
// # Behaviour worth knowing
//
//   - 100 Trying is sent at once; a 200 OK is retransmitted over UDP until
//     the ACK (RFC 3261 §13.3.1.4), and a missing ACK ends the call with a
//     BYE after Options.AckTimeout.
//   - An offer-less INVITE is accepted: Offer is empty, the SDP given to
//     Answer is our offer and the caller's answer is AckSDP. An offer-less
//     re-INVITE gives an EventOffer with no SDP and, later, an EventAnswer.
//   - Requests we do not implement get 501 in a dialog, 405 outside; any
//     request for an unknown dialog gets 481. A Require header gets 420
//     (we support no extension: no 100rel, no session timers).
//   - In-dialog requests to a peer that reached us over TCP reuse its
//     connection; calls to a registered user are sent to the address the
//     REGISTER came from (NAT, connection reuse), with the registered
//     Contact as Request-URI.
//   - We listen on UDP and TCP only. Outbound TLS is supported: our Via and
//     Contact then name the local port of the TLS connection and the peer
//     must send its in-dialog requests over that connection (connection
//     reuse). A transport is never silently downgraded.
//   - DialRequest.Headers are sent as given, without any prefix.
//   - TrunkACL applies to INVITEs only; REGISTER is protected by digest.
//   - MaxCalls counts the dialogs of both directions but only refuses new
//     INVITEs (503 with Retry-After); SetDraining does the same for all.
//   - An outbound dial with several registered contacts forks in parallel;
//     the first 2xx wins and the other forks are CANCELed (a late second
//     2xx is ACKed and BYEd). Requests from the callee before its 2xx
//     (early-dialog UPDATE, PRACK) get 481.
//   - The registrar keys bindings by the To user and Contact URI; it does
//     not enforce Call-ID/CSeq ordering between REGISTERs (RFC 3261 §10.3
//     step 7) and its stateless nonces (5 minutes) are not single-use.
//
// Protocol behaviour follows RFC 3261 (dialogs §12, 2xx retransmission
// §13.3.1.4, CANCEL §9, registrar §10.3, digest §22), RFC 3311 (UPDATE),
// RFC 3581 (rport), RFC 3323 (Privacy), RFC 6337 (offer/answer timing)
// and RFC 5806 (Diversion, for RedirectingNumber).
//
// Logs carry call_id: the SIP Call-ID until the call core replaces the
// logger of a call with SetLogger (the SIP Call-ID then stays as
// sip_call_id). Metrics live under callcore_sip_*.
package signaling
