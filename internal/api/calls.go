package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/internal/e164"
	"github.com/callcore/callcore/svaml"
)

// Calls is the call core as the API uses it; *call.Manager implements it.
type Calls interface {
	Callout(ctx context.Context, o call.Callout) (string, error)
	Get(ctx context.Context, id string) (*call.Snapshot, error)
	UpdateCall(ctx context.Context, s *call.Snapshot, leg string, doc []byte) error
}

var _ Calls = (*call.Manager)(nil)

// callError maps call-core errors to API errors.
func callError(err error) error {
	var ve *svaml.ValidationError
	var ves svaml.ValidationErrors
	switch {
	case errors.As(err, &ves), errors.As(err, &ve):
		return errorf(http.StatusBadRequest, "invalid SVAML: %v", err)
	case errors.Is(err, call.ErrCallNotFound):
		return errorf(http.StatusNotFound, "Call not found")
	case errors.Is(err, call.ErrCallEnded):
		return errorf(http.StatusConflict, "the call has ended")
	case errors.Is(err, call.ErrInvalidCommand):
		return errorf(http.StatusConflict, "%v", err)
	case errors.Is(err, call.ErrDraining):
		e := errorf(http.StatusServiceUnavailable, "this node is draining; retry on another node")
		e.RetryAfter = 1
		return e
	case errors.Is(err, call.ErrUnavailable):
		e := errorf(http.StatusServiceUnavailable, "the region's store is unreachable; no new calls until it is back")
		e.RetryAfter = 5
		return e
	case errors.Is(err, call.ErrOwnerUnreachable):
		// The message names the node and the wait (see app's peers).
		return errorf(http.StatusGatewayTimeout, "%v", err)
	}
	var wr *call.WrongRegionError
	if errors.As(err, &wr) {
		return errorf(http.StatusMisdirectedRequest, "%v", wr)
	}
	return err
}

// ownCall loads a call of the signing application. Another application's
// call is reported as not found, so call ids leak nothing across apps.
func (s *Server) ownCall(c echo.Context) (*call.Snapshot, error) {
	id, err := url.PathUnescape(c.Param("callId"))
	if err != nil || id == "" {
		return nil, errorf(http.StatusBadRequest, "callId: not a valid path segment")
	}
	snap, err := s.calls.Get(c.Request().Context(), id)
	if err != nil {
		return nil, callError(err)
	}
	if snap.AppKey != appKey(c) {
		return nil, errorf(http.StatusNotFound, "Call not found")
	}
	return snap, nil
}

// getCall answers GET /calling/v1/calls/id/{callId} (reference §2.3).
func (s *Server) getCall(c echo.Context) error {
	snap, err := s.ownCall(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, snap.Info(time.Now()))
}

// updateCall answers PATCH /calling/v1/calls/id/{callId} and
// PATCH .../leg/{callLeg}: a SVAML document with hangup, continue or park.
// 204 on success.
func (s *Server) updateCall(c echo.Context) error {
	snap, err := s.ownCall(c)
	if err != nil {
		return err
	}
	legSel := strings.ToLower(c.Param("callLeg"))
	if err := s.calls.UpdateCall(c.Request().Context(), snap, legSel, rawBody(c)); err != nil {
		return callError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// calloutRequest is the envelope of POST /calling/v1/callouts.
type calloutRequest struct {
	Method            string          `json:"method"`
	TTSCallout        json.RawMessage `json:"ttsCallout"`
	CustomCallout     json.RawMessage `json:"customCallout"`
	ConferenceCallout json.RawMessage `json:"conferenceCallout"`
}

type destinationJSON struct {
	Type     string `json:"type"`
	Endpoint string `json:"endpoint"`
	Number   string `json:"number"` // old docs examples
}

// calloutBase holds the fields every callout method has.
type calloutBase struct {
	Destination *destinationJSON `json:"destination"`
	CLI         string           `json:"cli"`
	DTMF        string           `json:"dtmf"`
	Custom      string           `json:"custom"`
}

// decodeMethod decodes the object of a callout method p (required).
func decodeMethod(p string, raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return errorf(http.StatusBadRequest, "%s: required for method %s", p, p)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return errorf(http.StatusBadRequest, "%s: %v", p, err)
	}
	return nil
}

// apply validates the shared fields of method p into o.
func (b calloutBase) apply(p string, o *call.Callout, destRequired bool) error {
	var err error
	if o.Destination, err = destination(p+".destination", b.Destination, destRequired); err != nil {
		return err
	}
	if o.CLI, err = cli(p+".cli", b.CLI); err != nil {
		return err
	}
	if o.DTMF, err = dtmf(p+".dtmf", b.DTMF); err != nil {
		return err
	}
	o.Custom = b.Custom
	return nil
}

// maxDuration validates a callout's maxDuration in seconds.
func maxDuration(p string, n int) (time.Duration, error) {
	if n < 0 || n > svaml.MaxDuration {
		return 0, errorf(http.StatusBadRequest, "%s.maxDuration: must be 0..%d seconds", p, svaml.MaxDuration)
	}
	return time.Duration(n) * time.Second, nil
}

type ttsCalloutJSON struct {
	calloutBase
	Domain     string `json:"domain"`
	Locale     string `json:"locale"`
	Text       string `json:"text"`
	Prompts    string `json:"prompts"`
	EnableACE  bool   `json:"enableAce"`
	EnableDiCE bool   `json:"enableDice"`
	EnablePIE  bool   `json:"enablePie"`
}

type customCalloutJSON struct {
	calloutBase
	MaxDuration int    `json:"maxDuration"`
	ICE         string `json:"ice"`
	ACE         string `json:"ace"`
	PIE         string `json:"pie"`
}

// callout answers POST /calling/v1/callouts with {"callId": ...}.
func (s *Server) callout(c echo.Context) error {
	var req calloutRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	o := call.Callout{AppKey: appKey(c)}
	var err error
	switch strings.ToLower(req.Method) {
	case "ttscallout":
		o, err = s.ttsCallout(o, req.TTSCallout)
	case "customcallout":
		o, err = s.customCallout(o, req.CustomCallout)
	case "conferencecallout":
		o, err = s.conferenceCallout(o, req.ConferenceCallout)
	case "":
		return errorf(http.StatusBadRequest, "method: required (ttsCallout, customCallout or conferenceCallout)")
	default:
		return errorf(http.StatusBadRequest, "method: unknown callout method %q", req.Method)
	}
	if err != nil {
		return err
	}
	id, err := s.calls.Callout(c.Request().Context(), o)
	if err != nil {
		return callError(err)
	}
	logger(c).Info("callout started", "call_id", id, "method", o.Method)
	return c.JSON(http.StatusOK, map[string]string{"callId": id})
}

func (s *Server) ttsCallout(o call.Callout, raw json.RawMessage) (call.Callout, error) {
	const p = "ttsCallout"
	var in ttsCalloutJSON
	if err := decodeMethod(p, raw, &in); err != nil {
		return o, err
	}
	o.Method = call.MethodTTS
	if err := in.apply(p, &o, true); err != nil {
		return o, err
	}
	var err error
	if o.Domain, err = domain(p+".domain", in.Domain); err != nil {
		return o, err
	}
	o.Locale = in.Locale
	o.EnableACE, o.EnableDiCE, o.EnablePIE = in.EnableACE, in.EnableDiCE, in.EnablePIE
	maxTTS := s.maxTTS()
	if n := len([]rune(in.Text)); n > maxTTS {
		return o, errorf(http.StatusBadRequest, "%s.text: %d characters, over the limit of %d", p, n, maxTTS)
	}
	o.Text = in.Text
	if in.Prompts != "" {
		prompts, err := svaml.ParsePrompts(in.Prompts)
		if err != nil {
			return o, errorf(http.StatusBadRequest, "%s.prompts: %v", p, err)
		}
		for _, pr := range prompts {
			if (pr.Kind == svaml.PromptTTS || pr.Kind == svaml.PromptSSML) && len([]rune(pr.Value)) > maxTTS {
				return o, errorf(http.StatusBadRequest, "%s.prompts: a %s prompt is over the limit of %d characters", p, pr.Kind, maxTTS)
			}
		}
		o.Prompts = prompts
	}
	if o.Text == "" && len(o.Prompts) == 0 {
		return o, errorf(http.StatusBadRequest, "%s: text or prompts is required", p)
	}
	return o, nil
}

func (s *Server) customCallout(o call.Callout, raw json.RawMessage) (call.Callout, error) {
	const p = "customCallout"
	var in customCalloutJSON
	if err := decodeMethod(p, raw, &in); err != nil {
		return o, err
	}
	o.Method = call.MethodCustom
	if err := in.apply(p, &o, false); err != nil {
		return o, err
	}
	var err error
	if o.MaxDuration, err = maxDuration(p, in.MaxDuration); err != nil {
		return o, err
	}
	if o.ICE, err = s.script(p+".ice", in.ICE, svaml.ContextICE); err != nil {
		return o, err
	}
	if o.ACE, err = s.script(p+".ace", in.ACE, svaml.ContextACE); err != nil {
		return o, err
	}
	if o.PIE, err = s.script(p+".pie", in.PIE, svaml.ContextPIE); err != nil {
		return o, err
	}
	if o.Destination == nil && !(o.ICE.Doc != nil || o.ICE.URL != "") {
		return o, errorf(http.StatusBadRequest, "%s: destination is required unless ice is given", p)
	}
	return o, nil
}

// script reads a customCallout ice/ace/pie: inline SVAML (a JSON object in
// a string) validated for its event, or an http(s) URL.
func (s *Server) script(field, v string, ctx svaml.Context) (call.Script, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return call.Script{}, nil
	}
	if strings.HasPrefix(v, "{") {
		doc, err := svaml.Limits{MaxTTSChars: s.maxTTS()}.Parse(ctx, []byte(v))
		if err != nil {
			return call.Script{}, errorf(http.StatusBadRequest, "%s: invalid SVAML: %v", field, err)
		}
		return call.Script{Doc: doc}, nil
	}
	if err := checkCallbackURL(field, v, true); err != nil {
		return call.Script{}, errorf(http.StatusBadRequest, "%s: must be inline SVAML or an http(s) URL, got %q", field, truncate(v, 64))
	}
	return call.Script{URL: v}, nil
}

func (s *Server) maxTTS() int {
	if s.maxTTSChars > 0 {
		return s.maxTTSChars
	}
	return svaml.DefaultMaxTTSChars
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func destination(field string, d *destinationJSON, required bool) (*events.Destination, error) {
	if d == nil {
		if required {
			return nil, errorf(http.StatusBadRequest, "%s: required", field)
		}
		return nil, nil
	}
	endpoint := d.Endpoint
	if endpoint == "" {
		endpoint = d.Number
	}
	if endpoint == "" {
		return nil, errorf(http.StatusBadRequest, "%s.endpoint: required", field)
	}
	switch strings.ToLower(d.Type) {
	case "number", "":
		n, err := e164.Parse(endpoint)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "%s.endpoint: %v", field, err)
		}
		return &events.Destination{Type: "number", Endpoint: n.E164}, nil
	case "username":
		if strings.ContainsAny(endpoint, " @:;<>") {
			return nil, errorf(http.StatusBadRequest, "%s.endpoint: %q is not a username", field, endpoint)
		}
		return &events.Destination{Type: "username", Endpoint: endpoint}, nil
	case "sip":
		ep := strings.TrimPrefix(strings.TrimPrefix(endpoint, "sip:"), "sips:")
		user, host, ok := strings.Cut(ep, "@")
		if !ok || user == "" || host == "" || strings.ContainsAny(ep, " <>") {
			return nil, errorf(http.StatusBadRequest, "%s.endpoint: %q is not a SIP address user@host", field, endpoint)
		}
		return &events.Destination{Type: "sip", Endpoint: ep}, nil
	default:
		return nil, errorf(http.StatusBadRequest, "%s.type: %q is not number, username or sip", field, d.Type)
	}
}

// cli accepts "", "private" or a phone number (normalized to E.164).
func cli(field, v string) (string, error) {
	if v == "" || strings.EqualFold(v, "private") {
		return strings.ToLower(v), nil
	}
	n, err := e164.Parse(v)
	if err != nil {
		return "", errorf(http.StatusBadRequest, "%s: %v", field, err)
	}
	return n.E164, nil
}

func dtmf(field, v string) (string, error) {
	for _, r := range v {
		if !strings.ContainsRune("0123456789*#wW", r) {
			return "", errorf(http.StatusBadRequest, "%s: %q may hold only 0-9, *, # and w", field, v)
		}
	}
	if len(v) > 64 {
		return "", errorf(http.StatusBadRequest, "%s: at most 64 characters", field)
	}
	return strings.ToLower(v), nil
}

func domain(field, v string) (string, error) {
	switch d := strings.ToLower(v); d {
	case "", "pstn", "mxp":
		return d, nil
	}
	return "", errorf(http.StatusBadRequest, "%s: must be pstn or mxp", field)
}
