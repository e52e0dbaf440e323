// Package conference runs the region's conference rooms (connectConf,
// conferenceCallout and the /calling/v1/conferences routes).
//
// A room is named by (application key, conferenceId): two applications
// using the same conferenceId never meet. Its record (package rooms: in
// Redis for a region, in memory for a single node) names the node hosting
// its mixer — the first joiner's node, holding a lease it renews every
// third of the lease — and lists the participants with the node running
// each call, cli, muted, onhold and the join time.
//
// The host mixes everyone (media.Mixer: N−1 mixes on one 20 ms clock). A
// participant whose call runs on another node reaches the host over an
// internal SIP leg that its own node places to the host's SIP address with
// a signed header (Token): the host answers it and mixes the leg like a
// local participant, while the participant's node bridges the caller's
// RTP session to the leg. Nothing outside the region can place such a
// leg: the token is an HMAC over the room, the call and the target node
// with the region's secret, valid for a minute.
//
// Control: mute, unmute, onhold and resume act on the host's mixer (from
// any node: the command is forwarded to the host over the bus); kicking a
// participant hangs its call up through the call core (forwarded to the
// call's node), which ends it with DiCE reason MANAGERHANGUP and takes it
// out of the room.
//
// Failures: when the host node dies its lease expires (or the membership
// declares it dead first) and the participants on the surviving nodes
// notice within a third of the lease: the first to claim the room hosts it
// again, the others dial the new host. Participants whose calls ran on the
// dead node are ended by the node-failure path (DiCE GENERALERROR) and
// removed from the room records by the survivor that handles the death.
// A participant that cannot reach any host for rejoinFor gives up: its
// call ends with GENERALERROR.
package conference
