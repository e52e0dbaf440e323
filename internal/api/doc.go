// Package api serves callcore's REST API over echo/v4: the Sinch Calling API v1
// routes (/calling/v1/...) and the application-management routes
// (/v1/configuration/..., /v1/calling/query/...), all mounted at the root of
// one listener so that every Sinch SDK's request signature matches (see
// shared/reference/sinch-voice-api.md §4.3 and §10).
//
// Every route is authenticated with Basic or Application (HMAC-SHA256) auth,
// reads its body under a size limit, and answers errors with the Sinch error
// body {errorCode, message, reference}, where reference is the request id that
// also appears in the node's logs. This is the only package importing echo.
//
// One route is callcore's own: GET (and HEAD, DELETE)
// /calling/v1/recordings/{name} serves the call recordings that
// startRecording stored with a file:// destination, to the application that
// made them only (another application's recording is a 404, like a missing
// one), with Range support and Content-Disposition: attachment. Without
// Options.Recordings (no recordings directory) it answers 501.
package api
