package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/svaml"
)

// Conferences is the conference service (internal/conference via
// internal/app) as the REST API uses it. Rooms are scoped per application:
// every method gets the authenticated application key, and a room of
// another application is reported as call.ErrConferenceNotFound.
//
// Errors the API maps: call.ErrConferenceNotFound and
// call.ErrParticipantNotFound (404), call.ErrOwnerUnreachable (504),
// call.ErrUnavailable (503 with Retry-After); see conferenceError.
type Conferences interface {
	// Participants lists the room's participants; a room without any is
	// ErrConferenceNotFound or an empty list, as the service decides.
	Participants(ctx context.Context, appKey, conferenceID string) ([]ConferenceParticipant, error)
	// KickAll ends the calls of every participant of the room.
	KickAll(ctx context.Context, appKey, conferenceID string) error
	// Manage runs command on the participant callID. command is already
	// validated and lower-case: mute, unmute, onhold or resume. moh is the
	// lower-case hold music class (ring, music1, music2, music3) for
	// onhold, "" for silence; it is always "" for the other commands.
	Manage(ctx context.Context, appKey, conferenceID, callID, command, moh string) error
	// Kick ends the call of the participant callID.
	Kick(ctx context.Context, appKey, conferenceID, callID string) error
}

// ConferenceParticipant is ParticipantDetails of reference §2.6, with
// exactly these JSON keys (Python v1 builds its model from them and fails
// on any other key).
type ConferenceParticipant struct {
	// CLI is the participant's caller id: a PSTN number, or whatever was
	// passed as CLI for data calls.
	CLI string `json:"cli"`
	// ID is the participant's call id.
	ID string `json:"id"`
	// Duration is the time in the room in whole seconds.
	Duration int `json:"duration"`
	// Muted says the room does not hear the participant.
	Muted bool `json:"muted"`
	// OnHold says the participant is out of the mix both ways.
	OnHold bool `json:"onhold"`
}

// conferenceInfo is the body of GET /calling/v1/conferences/id/{id}.
// Participants is never nil: the key is always an array.
type conferenceInfo struct {
	Participants []ConferenceParticipant `json:"participants"`
}

// Participant commands of PATCH .../{conferenceId}/{callId}.
const (
	cmdMute   = "mute"
	cmdUnmute = "unmute"
	cmdOnHold = "onhold"
	cmdResume = "resume"
)

// conferencePath is the route of a room; conferenceParticipantPath is
// the route of one participant of it.
const (
	conferencePath            = "/calling/v1/conferences/id/:conferenceId"
	conferenceParticipantPath = conferencePath + "/:callId"
)

// conferenceRoutes mounts the four routes of reference §2.6. Without
// Conferences (a node that is not set up for conferences) they answer 501.
func (s *Server) conferenceRoutes(g authenticated) {
	if s.conferences == nil {
		g.GET(conferencePath, notImplemented("conference information"))
		g.DELETE(conferencePath, notImplemented("conference kick-all"))
		g.PATCH(conferenceParticipantPath, notImplemented("conference participant management"))
		g.DELETE(conferenceParticipantPath, notImplemented("conference participant kick"))
		return
	}
	g.GET(conferencePath, s.getConference)
	g.DELETE(conferencePath, s.kickAll)
	g.PATCH(conferenceParticipantPath, s.manageParticipant)
	g.DELETE(conferenceParticipantPath, s.kickParticipant)
}

// conferenceError maps conference-service errors to API errors; what the
// call core also returns (503, 504, ...) is mapped as for calls.
func conferenceError(err error) error {
	switch {
	case errors.Is(err, call.ErrConferenceNotFound):
		return errorf(http.StatusNotFound, "Conference not found")
	case errors.Is(err, call.ErrParticipantNotFound):
		return errorf(http.StatusNotFound, "Participant not found in the conference")
	}
	return callError(err)
}

// getConference answers GET /calling/v1/conferences/id/{conferenceId}:
// 200 {"participants":[...]}.
func (s *Server) getConference(c echo.Context) error {
	id, err := conferenceIDParam(c)
	if err != nil {
		return err
	}
	ps, err := s.conferences.Participants(c.Request().Context(), appKey(c), id)
	if err != nil {
		return conferenceError(err)
	}
	if ps == nil {
		ps = []ConferenceParticipant{}
	}
	return c.JSON(http.StatusOK, conferenceInfo{Participants: ps})
}

// kickAll answers DELETE /calling/v1/conferences/id/{conferenceId}: 204.
// A body, if any (the Node SDK sends Content-Type without one), is ignored.
func (s *Server) kickAll(c echo.Context) error {
	id, err := conferenceIDParam(c)
	if err != nil {
		return err
	}
	if err := s.conferences.KickAll(c.Request().Context(), appKey(c), id); err != nil {
		return conferenceError(err)
	}
	logger(c).Info("conference kick-all", "conference_id", id)
	return c.NoContent(http.StatusNoContent)
}

// manageParticipant answers PATCH .../{conferenceId}/{callId} with
// {"command": "mute"|"unmute"|"onhold"|"resume", "moh": ...}: 204.
func (s *Server) manageParticipant(c echo.Context) error {
	id, callID, err := participantParams(c)
	if err != nil {
		return err
	}
	var req manageParticipantJSON
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	cmd, moh, err := req.validate()
	if err != nil {
		return err
	}
	if err := s.conferences.Manage(c.Request().Context(), appKey(c), id, callID, cmd, moh); err != nil {
		return conferenceError(err)
	}
	logger(c).Info("conference participant managed", "conference_id", id, "call_id", callID, "command", cmd)
	return c.NoContent(http.StatusNoContent)
}

// participantParams returns the conferenceId and callId of a participant
// route.
func participantParams(c echo.Context) (id, callID string, err error) {
	if id, err = conferenceIDParam(c); err != nil {
		return "", "", err
	}
	if callID, err = callIDParam(c); err != nil {
		return "", "", err
	}
	return id, callID, nil
}

// kickParticipant answers DELETE .../{conferenceId}/{callId}: 204.
func (s *Server) kickParticipant(c echo.Context) error {
	id, callID, err := participantParams(c)
	if err != nil {
		return err
	}
	if err := s.conferences.Kick(c.Request().Context(), appKey(c), id, callID); err != nil {
		return conferenceError(err)
	}
	logger(c).Info("conference participant kicked", "conference_id", id, "call_id", callID)
	return c.NoContent(http.StatusNoContent)
}

// manageParticipantJSON is the body of PATCH .../{conferenceId}/{callId}.
type manageParticipantJSON struct {
	Command string `json:"command"`
	MOH     string `json:"moh"`
}

// validate returns the lower-case command and the hold music class. moh is
// checked whatever the command (a typo is an error), but only onhold
// passes it on: with the other commands it is accepted and ignored.
func (m manageParticipantJSON) validate() (cmd, moh string, err error) {
	switch cmd = strings.ToLower(m.Command); cmd {
	case cmdMute, cmdUnmute, cmdOnHold, cmdResume:
	case "":
		return "", "", errorf(http.StatusBadRequest, "command: required (mute, unmute, onhold or resume)")
	default:
		return "", "", errorf(http.StatusBadRequest, "command: unknown value %q, want mute, unmute, onhold or resume", truncate(m.Command, 64))
	}
	switch moh = strings.ToLower(m.MOH); svaml.MusicOnHold(moh) {
	case "", svaml.MOHRing, svaml.MOHMusic1, svaml.MOHMusic2, svaml.MOHMusic3:
	default:
		return "", "", errorf(http.StatusBadRequest, "moh: unknown value %q, want ring, music1, music2 or music3", truncate(m.MOH, 64))
	}
	if cmd != cmdOnHold {
		moh = ""
	}
	return cmd, moh, nil
}

// pathParam returns the URL-decoded path parameter name. echo matches
// routes on the escaped path only when the request's path has escapes
// that decoding would lose (RawPath is set, e.g. %2F); then its params are
// still escaped, otherwise they are decoded already. ok is false for a
// malformed escape.
func pathParam(c echo.Context, name string) (string, bool) {
	v := c.Param(name)
	if c.Request().URL.RawPath == "" {
		return v, true
	}
	d, err := url.PathUnescape(v)
	return d, err == nil
}

// conferenceIDParam returns the conferenceId path parameter: decoded,
// valid UTF-8, 1..svaml.MaxConferenceIDLen characters (as connectConf).
func conferenceIDParam(c echo.Context) (string, error) {
	v, ok := pathParam(c, "conferenceId")
	if !ok {
		return "", errorf(http.StatusBadRequest, "conferenceId: not a valid path segment")
	}
	if err := checkConferenceID("conferenceId", v); err != nil {
		return "", err
	}
	return v, nil
}

// checkConferenceID validates a conference id as connectConf does.
func checkConferenceID(field, v string) error {
	switch n := utf8.RuneCountInString(v); {
	case n == 0:
		return errorf(http.StatusBadRequest, "%s: required, 1 to %d characters", field, svaml.MaxConferenceIDLen)
	case !utf8.ValidString(v):
		return errorf(http.StatusBadRequest, "%s: not valid UTF-8", field)
	case n > svaml.MaxConferenceIDLen:
		return errorf(http.StatusBadRequest, "%s: %d characters, over the limit of %d", field, n, svaml.MaxConferenceIDLen)
	}
	return nil
}

// callIDParam returns the callId path parameter, decoded and not empty,
// as the call routes take it.
func callIDParam(c echo.Context) (string, error) {
	v, ok := pathParam(c, "callId")
	if !ok || v == "" {
		return "", errorf(http.StatusBadRequest, "callId: not a valid path segment")
	}
	return v, nil
}

// conferenceCalloutJSON is the conferenceCallout object of reference §2.2.
// The room's fields stay raw: connectConf's parser in svaml validates them
// (and reads the docs' misspelling "timoutMills"). Unknown fields, such as
// Python v1's stray "conference", are ignored.
type conferenceCalloutJSON struct {
	calloutBase
	Domain      string `json:"domain"`
	Locale      string `json:"locale"`
	Greeting    string `json:"greeting"`
	MaxDuration int    `json:"maxDuration"`
	EnableACE   bool   `json:"enableAce"`
	EnableDiCE  bool   `json:"enableDice"`
	EnablePIE   bool   `json:"enablePie"`

	ConferenceID json.RawMessage `json:"conferenceId"`
	DTMFOptions  json.RawMessage `json:"conferenceDtmfOptions"`
	MOHClass     json.RawMessage `json:"mohClass"`
}

// conferenceCallout parses the conferenceCallout of a callout request into
// o: the callee is dialled and, once it answers, hears Greeting (in
// Locale) and joins the room Conference.
func (s *Server) conferenceCallout(o call.Callout, raw json.RawMessage) (call.Callout, error) {
	const p = "conferenceCallout"
	var in conferenceCalloutJSON
	if err := decodeMethod(p, raw, &in); err != nil {
		return o, err
	}
	o.Method = call.MethodConf
	if err := in.apply(p, &o, true); err != nil {
		return o, err
	}
	var err error
	if o.Domain, err = domain(p+".domain", in.Domain); err != nil {
		return o, err
	}
	if o.MaxDuration, err = maxDuration(p, in.MaxDuration); err != nil {
		return o, err
	}
	if n, maxTTS := utf8.RuneCountInString(in.Greeting), s.maxTTS(); n > maxTTS {
		return o, errorf(http.StatusBadRequest, "%s.greeting: %d characters, over the limit of %d", p, n, maxTTS)
	}
	o.Greeting, o.Locale = in.Greeting, in.Locale
	o.EnableACE, o.EnableDiCE, o.EnablePIE = in.EnableACE, in.EnableDiCE, in.EnablePIE
	if o.Conference, err = conferenceRoom(p, in.ConferenceID, in.DTMFOptions, in.MOHClass); err != nil {
		return o, err
	}
	return o, nil
}

// conferenceRoom validates a conferenceCallout's room (conferenceId,
// conferenceDtmfOptions, mohClass) with svaml's connectConf parser, so that
// a callout and a connectConf action accept exactly the same values and get
// the same defaults (mode ignore, maxDigits 1, timeoutMills 3000). Problems
// are reported under prefix with the callout's field names.
func conferenceRoom(prefix string, id, opts, moh json.RawMessage) (*svaml.ConnectConf, error) {
	if len(id) == 0 || string(id) == "null" {
		return nil, errorf(http.StatusBadRequest, "%s.conferenceId: required, 1 to %d characters", prefix, svaml.MaxConferenceIDLen)
	}
	var b bytes.Buffer
	b.WriteString(`{"action":{"name":"connectConf","conferenceId":`)
	b.Write(id)
	if len(opts) > 0 {
		b.WriteString(`,"conferenceDtmfOptions":`)
		b.Write(opts)
	}
	if len(moh) > 0 {
		b.WriteString(`,"moh":`)
		b.Write(moh)
	}
	b.WriteString(`}}`)
	doc, err := svaml.Parse(svaml.ContextACE, b.Bytes())
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "%s", renameConfProblems(prefix, err))
	}
	cc, ok := doc.Action.(*svaml.ConnectConf)
	if !ok { // cannot happen: the document names connectConf
		return nil, errorf(http.StatusBadRequest, "%s: not a conference", prefix)
	}
	return cc, nil
}

// renameConfProblems rewrites the problems svaml found in the synthetic
// connectConf document to the callout's paths: "action.x" becomes
// "<prefix>.x" and "action.moh" "<prefix>.mohClass".
func renameConfProblems(prefix string, err error) string {
	var ves svaml.ValidationErrors
	var ve *svaml.ValidationError
	switch {
	case errors.As(err, &ves):
	case errors.As(err, &ve):
		ves = svaml.ValidationErrors{ve}
	default:
		return prefix + ": " + err.Error()
	}
	parts := make([]string, 0, len(ves))
	for _, e := range ves {
		path := strings.TrimPrefix(e.Path, "action")
		if path == ".moh" {
			path = ".mohClass"
		}
		parts = append(parts, prefix+path+": "+e.Reason)
	}
	return strings.Join(parts, "; ")
}
