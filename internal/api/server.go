package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/store"
)

// DefaultBodyLimit is the request body limit when Options.BodyLimit is 0.
const DefaultBodyLimit = 1 << 20

// Options are the dependencies and knobs of a Server.
type Options struct {
	// Store persists numbers and callback URLs. Required.
	Store store.Store
	// Verifier authenticates every request (Basic or Application). Required.
	Verifier *events.Verifier
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// Registerer receives the API metrics; nil uses a private registry.
	Registerer prometheus.Registerer
	// BodyLimit caps request bodies in bytes (413 above it); 0 means DefaultBodyLimit.
	BodyLimit int64
	// Currency is the currencyId of the zero rates callcore reports, e.g. "USD".
	Currency string
	// Calls is the call core. Nil keeps the call routes at 501 (a node
	// without SIP and media cannot run calls, and must not pretend to).
	Calls Calls
	// MaxTTSChars limits TTS text in callouts; 0 means 600.
	MaxTTSChars int
	// Recordings serves file:// call recordings (GET, HEAD and DELETE
	// /calling/v1/recordings/:name). Nil answers those routes with 501.
	Recordings RecordingFiles
	// Conferences serves the conference routes of reference §2.6. Nil
	// answers them with 501.
	Conferences Conferences
	// Timelines serves GET /calling/v1/calls/id/{callId}/timeline (a
	// callcore extension). Nil answers it with 404 "timeline disabled".
	Timelines Timelines
}

// Server is the REST API. It is an http.Handler.
type Server struct {
	e           *echo.Echo
	store       store.Store
	verifier    *events.Verifier
	log         *slog.Logger
	metrics     *Metrics
	bodyLimit   int64
	currency    string
	calls       Calls
	maxTTSChars int
	recordings  RecordingFiles
	conferences Conferences
	timelines   Timelines
}

// New builds the API server and mounts every route of the reference's §10.
func New(o Options) (*Server, error) {
	if o.Store == nil || o.Verifier == nil {
		return nil, errors.New("api: Store and Verifier are required")
	}
	s := &Server{
		store:       o.Store,
		verifier:    o.Verifier,
		log:         o.Logger,
		bodyLimit:   o.BodyLimit,
		currency:    o.Currency,
		calls:       o.Calls,
		maxTTSChars: o.MaxTTSChars,
		recordings:  o.Recordings,
		conferences: o.Conferences,
		timelines:   o.Timelines,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.bodyLimit <= 0 {
		s.bodyLimit = DefaultBodyLimit
	}
	if s.currency == "" {
		s.currency = "USD"
	}
	reg := o.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s.metrics = NewMetrics(reg)

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	// The access log's remote address is the TCP peer: forwarded headers are
	// client-controlled and trusting them needs a configured proxy list.
	e.IPExtractor = echo.ExtractIPDirect()
	e.Logger.SetOutput(discard{})
	// observe renders every error itself; this only catches what escapes it.
	e.HTTPErrorHandler = func(err error, c echo.Context) { s.renderError(c, err) }
	e.Use(s.observe)
	s.e = e
	s.routes()
	return s, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.e.ServeHTTP(w, r) }

func (s *Server) routes() {
	// Route-level middleware, not a Group: an echo v4 group with middleware
	// catches every unknown path under it, and unknown paths must be a plain
	// 404 whatever the credentials.
	g := authenticated{s.e, []echo.MiddlewareFunc{s.readBody, s.authenticate}}

	// Calling host (reference §2.2–2.5): live when the node has a call core.
	if s.calls != nil {
		g.POST("/calling/v1/callouts", s.callout)
		g.GET("/calling/v1/calls/id/:callId", s.getCall)
		g.GET("/calling/v1/calls/id/:callId/timeline", s.getTimeline)
		g.PATCH("/calling/v1/calls/id/:callId", s.updateCall)
		g.PATCH("/calling/v1/calls/id/:callId/leg/:callLeg", s.updateCall)
	} else {
		g.POST("/calling/v1/callouts", notImplemented("callouts"))
		g.GET("/calling/v1/calls/id/:callId", notImplemented("call information"))
		g.PATCH("/calling/v1/calls/id/:callId", notImplemented("call updates"))
		g.PATCH("/calling/v1/calls/id/:callId/leg/:callLeg", notImplemented("call leg management"))
	}
	// Conferences (reference §2.6, conferences.go): live when the node has
	// a conference service.
	s.conferenceRoutes(g)

	// Application-management host (reference §2.7).
	g.GET("/v1/configuration/numbers", s.listNumbers)
	g.POST("/v1/configuration/numbers", s.assignNumbers)
	g.DELETE("/v1/configuration/numbers", s.unassignNumber)
	g.GET("/v1/configuration/callbacks/applications/:applicationkey", s.getCallbacks)
	g.POST("/v1/configuration/callbacks/applications/:applicationkey", s.updateCallbacks)
	g.GET("/v1/calling/query/number/:number", s.queryNumber)

	// Call recordings stored by file:// destinations (recordings.go).
	s.recordingRoutes(g)
}

// authenticated mounts routes behind the body reader and authentication.
type authenticated struct {
	e  *echo.Echo
	mw []echo.MiddlewareFunc
}

func (a authenticated) GET(p string, h echo.HandlerFunc)    { a.e.GET(p, h, a.mw...) }
func (a authenticated) POST(p string, h echo.HandlerFunc)   { a.e.POST(p, h, a.mw...) }
func (a authenticated) PATCH(p string, h echo.HandlerFunc)  { a.e.PATCH(p, h, a.mw...) }
func (a authenticated) DELETE(p string, h echo.HandlerFunc) { a.e.DELETE(p, h, a.mw...) }
func (a authenticated) HEAD(p string, h echo.HandlerFunc)   { a.e.HEAD(p, h, a.mw...) }

// notImplemented answers 501 for routes whose call-core side does not exist
// yet. Authentication and the body limit still apply.
func notImplemented(what string) echo.HandlerFunc {
	return func(echo.Context) error {
		return errorf(http.StatusNotImplemented, "%s: not implemented on this node yet (the call core is not wired)", what)
	}
}

// decodeJSON decodes the raw body into v. Unknown fields are ignored, as the
// SDKs may send more than callcore knows; malformed JSON is a 400 naming the
// offset of the problem.
func decodeJSON(c echo.Context, v any) error {
	body := rawBody(c)
	if len(body) == 0 {
		return errorf(http.StatusBadRequest, "request body is empty; a JSON object is required")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return errorf(http.StatusBadRequest, "malformed JSON at byte %d: %v", se.Offset, se)
		case errors.As(err, &te):
			return errorf(http.StatusBadRequest, "field %q: expected %s, got JSON %s", te.Field, te.Type, te.Value)
		default:
			return errorf(http.StatusBadRequest, "malformed JSON: %v", err)
		}
	}
	return nil
}

// storeError maps store errors to API errors for what.
func storeError(err error, what string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "%s not found", what)
	case errors.Is(err, store.ErrNumberTaken):
		return errorf(http.StatusConflict, "%v", err)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}
