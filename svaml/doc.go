// Package svaml parses and validates SVAML, the JSON call-control documents a
// Sinch-compatible application returns for ICE, ACE and PIE callbacks and sends
// in PATCH /calling/v1/calls requests (reference sinch-voice-api.md §5).
//
// A document is one action plus optional instructions that run first, in
// order:
//
//	{"instructions":[{"name":"say","text":"Hi"}],"action":{"name":"hangup"}}
//
// Parse returns a *Response whose Action and Instructions hold pointers to the
// concrete types of this package (*ConnectPSTN, *RunMenu, *Say, ...), with the
// defaults of reference §6.2 applied. Response.MarshalJSON writes the canonical
// form back, so the platform can log or re-emit a reply; parsing that output
// again yields an equal Response.
//
// # Compatibility rules
//
// SDKs and hand-written backends disagree on details, so Parse is lenient
// where the reference says Sinch is, and strict everywhere else:
//
//   - Action and instruction names and all object keys match without regard
//     to ASCII case: "RunMenu", "setcookie" and Java's "callheaders" work.
//     Non-ASCII letters are not folded.
//   - Unknown keys are ignored (the old .NET server SDK sends reference,
//     altLocale, hangupCause, amd: null and more). A null value counts as an
//     absent key everywhere.
//   - A document has exactly one action: a missing, null, duplicate or
//     non-object "action" is an error. "instructions" may be absent, null or
//     empty (Response.Instructions is then nil). Other duplicate keys: the last
//     one wins, except for "name" in an action or instruction, which must be
//     unique.
//   - Unknown action or instruction names are errors (ErrUnknownName), and so
//     is the legacy SDK's "ReportCallStatus" instruction.
//   - Menu option "dtmf" may be a JSON string or number ("1" or 1).
//   - Enumerations (transport, moh, conferenceDtmfOptions.mode, indications,
//     destination type) match any case and are stored lower-case.
//
// # Where actions and instructions are allowed
//
// The Context selects the matrix of reference §5.2:
//
//	action          ICE ACE PIE DiCE PATCH
//	hangup           x   x   x   x    x
//	continue             x   x        x
//	connectPstn      x       x
//	connectMxp       x
//	connectConf      x   x   x
//	connectSip       x       x
//	connectStream    x
//	runMenu          x   x   x
//	park             x                x
//
//	instruction     ICE ACE PIE DiCE PATCH
//	playFiles        x   x   x        x
//	say              x   x   x        x
//	sendDtmf         x       x        x
//	setCookie        x   x   x        x
//	answer           x                x
//	startRecording   x   x   x        x
//	stopRecording    x   x   x        x
//
// connectPstn is allowed in PIE (docs, SKILL and the Node helper agree; only
// Node's PieSvamlAction type omits it). stopRecording is a conflict in the
// sources (the docs table allows it only in PIE, SKILL everywhere, the Node
// helpers in ICE and PIE); Parse accepts it wherever startRecording is
// accepted, because stopping a recording that was started in an earlier reply
// is what users expect to work, and a stop without a running recording is
// harmless. A DiCE reply may only hang up and carry no instructions (an empty
// array is accepted). PATCH bodies accept any instruction. ContextUnknown
// skips the matrix.
//
// # Defaults
//
// Applied to the parsed values: runMenu barge true (when absent; an explicit
// false is kept) and mainMenu "main"; menu timeoutMills 5000; connectPstn
// locale "en-US"; connectSip transport "udp"; connectConf
// conferenceDtmfOptions mode "ignore", maxDigits 1, timeoutMills 3000 (also
// when the object is absent); startRecording options format "mp3" and
// notificationEvents true. For the numeric defaults a zero counts as absent:
// a zero timeout or digit count is never useful. maxDuration and dialTimeout
// have no default; 0 means "not set".
//
// # Limits and checks
//
//   - maxDuration (connectPstn, connectSip, connectStream, park) is 0..14400
//     seconds; dialTimeout, repeats, maxDigits, timeoutMills and
//     maxTimeoutMills must not be negative. Numbers must be integral; 3.0 and
//     4e2 are accepted.
//   - connectConf needs a conferenceId of 1..64 characters. The docs' typo
//     "timoutMills" and the callout spelling "mohClass" are read too.
//   - Destinations: connectSip needs type "sip", connectStream type
//     "websocket" with a ws:// or wss:// endpoint (both required), connectMxp
//     type "username" (optional: the dialled user is used when absent). An
//     endpoint must not be empty.
//   - DTMF strings (connectPstn dtmf, sendDtmf value) use 0-9 # * and w.
//   - setCookie needs a non-empty key; say needs a non-empty text; playFiles
//     needs at least one non-empty id; startRecording options, when present,
//     need destinationUrl. runMenu with enableVoice needs a locale.
//   - runMenu needs at least one menu; menu ids are non-empty and unique. When
//     mainMenu is given it must name a menu; otherwise a menu "main" must
//     exist. Option actions are menu(<existing id>) or return(<value>) with a
//     non-empty argument; the keyword matches any case. Option dtmf is a single
//     key 0-9, * or # ("A DTMF digit the user can press", Node/Java docs;
//     multi-digit input is collected with maxDigits instead), unique within
//     its menu.
//   - Prompt strings (menu mainPrompt and repeatPrompt, park introPrompt and
//     holdPrompt, every playFiles id) must parse with ParsePrompts. say.text
//     and the content of each #tts[...] and #ssml[...] prompt may hold at most
//     Limits.MaxTTSChars characters (default 600, reference §6.2).
//
// # Errors
//
// Every problem is a *ValidationError naming the JSON path (with canonical
// key names) and the reason, e.g.
//
//	action.menus[1].options[0].action: unknown menu "confrm"
//
// and wrapping one of ErrSyntax, ErrUnknownName, ErrNotAllowed or ErrInvalid.
// Parse reports all problems of a document (up to 20) as ValidationErrors;
// a single problem is returned as a bare *ValidationError. Malformed JSON
// stops parsing and yields one ErrSyntax error with the byte offset.
//
// # JSON dialect
//
// Parse uses a small hand-written scanner (encoding/json with case-insensitive
// matching and a name-dispatch pass is several times slower; see
// BenchmarkParse). It accepts exactly RFC 8259 JSON, as FuzzScanner checks
// against encoding/json, with three differences: a leading UTF-8 byte order
// mark is skipped, strings must be valid UTF-8 (lone surrogate escapes become
// U+FFFD, as in encoding/json), and nesting is limited to 64 levels.
//
// The Context of an event kind is chosen by the caller; this package does not
// import package events yet.
package svaml
