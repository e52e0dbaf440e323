// Package conformance runs the official Sinch Node SDK (@sinch/sdk-core,
// pinned in package.json) against a callcore node started in-process.
//
// The Node program conformance.mjs drives every application-management method
// of sinch.voice.applications and the authentication edge cases (wrong
// secret, stale and future x-timestamp, another app's key) and checks the
// answers strictly. It then places real calls: sinch.voice.callouts.tts and
// .custom ring the node's PSTN gateway, a sipp UAS (testdata/uas_echo.xml)
// that answers and echoes RTP; sinch.voice.calls.get, .update and
// .manageWithCallLeg read and control them. conformance.mjs also is the
// application's callback server: the node's callbacks reach a Go forwarder
// (the apps' callback URLs) that relays them verbatim to it, and every one
// must pass the SDK's validateAuthenticationHeader and parseEvent; ICE and
// ACE are answered with SVAML built by the SDK's builders and helpers, and
// the node's RTP counters (its /metrics) show that the prompts were played.
//
// The Go tests start a node backed by the in-memory store and one backed by
// a real Redis, each with its own sipp, and run the program against each;
// at the end sipp must report every call it took as successful.
//
// The Node dependencies and sipp must be installed first:
//
//	npm ci --prefix test/conformance
//	apt-get install sip-tester
package conformance
