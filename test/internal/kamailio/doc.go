// Package kamailio runs the SIP load balancer of deploy/kamailio (Kamailio's
// dispatcher in front of callcore nodes) for real in tests.
//
// Start launches /usr/sbin/kamailio in the foreground with
// deploy/kamailio/kamailio.cfg, a dispatcher list of the given nodes, its
// own control socket and a free UDP+TCP port on 127.0.0.1, and stops it when
// the test ends. Destinations and WaitActive read the dispatcher state over
// the control socket (kamcmd dispatcher.list); Ping sends an OPTIONS to the
// proxy itself. StartCalls runs sipp as a UAC through the proxy with a
// scenario that follows the Record-Route (ACK and BYE go through the proxy)
// and returns sipp's final counters.
//
// Kamailio (apt-get install kamailio) and sipp (apt-get install sip-tester)
// are required: a missing kamailio fails the test, or skips it when
// CALLCORE_SKIP_KAMAILIO=1.
package kamailio
