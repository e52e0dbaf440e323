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
// Protocol behaviour follows RFC 3261 (dialogs §12, 2xx retransmission
// §13.3.1.4, CANCEL §9, registrar §10.3, digest §22), RFC 3311 (UPDATE),
// RFC 3581 (rport) and RFC 3323 (Privacy).
//
// Logs carry call_id: the SIP Call-ID until the call core replaces the
// logger of a call with SetLogger. Metrics live under
// callcore_sip_*.
package signaling
