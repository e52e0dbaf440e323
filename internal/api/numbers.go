package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/callcore/callcore/internal/e164"
)

// numberJSON is one entry of GET /v1/configuration/numbers. applicationkey is
// omitted for unassigned numbers, as Sinch does.
type numberJSON struct {
	Number         string `json:"number"`
	ApplicationKey string `json:"applicationkey,omitempty"`
	Capability     string `json:"capability,omitempty"`
}

type numbersResponse struct {
	Numbers []numberJSON `json:"numbers"`
}

// listNumbers lists the numbers the calling application can see: its own and
// the unassigned ones of the node's inventory. Numbers of other applications
// are not shown: on a self-hosted node, applications are tenants.
func (s *Server) listNumbers(c echo.Context) error {
	all, err := s.store.ListNumbers(c.Request().Context())
	if err != nil {
		return storeError(err, "numbers")
	}
	me := appKey(c)
	out := numbersResponse{Numbers: make([]numberJSON, 0, len(all))}
	for _, n := range all {
		if n.AppKey != "" && n.AppKey != me {
			continue
		}
		out.Numbers = append(out.Numbers, numberJSON{Number: n.Number, ApplicationKey: n.AppKey, Capability: n.Capability})
	}
	return c.JSON(http.StatusOK, out)
}

type assignRequest struct {
	Numbers        []string `json:"numbers"`
	ApplicationKey string   `json:"applicationkey"`
	Capability     string   `json:"capability"`
}

type unassignRequest struct {
	Number         string `json:"number"`
	ApplicationKey string `json:"applicationkey"`
	Capability     string `json:"capability"`
}

// targetApp resolves the applicationkey of a management body: it defaults to
// the signing application, and an application may only manage itself.
func targetApp(c echo.Context, key string) (string, error) {
	me := appKey(c)
	if key == "" || key == me {
		return me, nil
	}
	return "", errorf(http.StatusForbidden, "application %q may not manage numbers of application %q", me, key)
}

func capability(v string) (string, error) {
	switch c := strings.ToLower(v); c {
	case "":
		return "voice", nil
	case "voice", "sms":
		return c, nil
	default:
		return "", errorf(http.StatusBadRequest, "capability: must be \"voice\" or \"sms\", not %q", v)
	}
}

// normalize parses a number given by a client into E.164.
func normalize(field, raw string) (string, error) {
	n, err := e164.Parse(raw)
	if err != nil {
		return "", errorf(http.StatusBadRequest, "%s: %v", field, err)
	}
	return n.E164, nil
}

// assignNumbers assigns numbers to the application, all or none. A number
// held by another application is a 409 and nothing changes. Answers 204.
func (s *Server) assignNumbers(c echo.Context) error {
	var req assignRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	app, err := targetApp(c, req.ApplicationKey)
	if err != nil {
		return err
	}
	capab, err := capability(req.Capability)
	if err != nil {
		return err
	}
	if len(req.Numbers) == 0 {
		return errorf(http.StatusBadRequest, "numbers: at least one number is required")
	}
	if len(req.Numbers) > 1000 {
		return errorf(http.StatusBadRequest, "numbers: at most 1000 numbers per request, got %d", len(req.Numbers))
	}
	nums := make([]string, len(req.Numbers))
	for i, raw := range req.Numbers {
		if nums[i], err = normalize("numbers["+strconv.Itoa(i)+"]", raw); err != nil {
			return err
		}
	}
	if err := s.store.AssignNumbers(c.Request().Context(), app, capab, nums); err != nil {
		return storeError(err, "numbers")
	}
	logger(c).Info("numbers assigned", "app_key", app, "count", len(nums), "capability", capab)
	return c.NoContent(http.StatusNoContent)
}

// unassignNumber removes a number from the application; the number stays in
// the inventory, unassigned. A number not assigned to the application is a 404.
func (s *Server) unassignNumber(c echo.Context) error {
	var req unassignRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	app, err := targetApp(c, req.ApplicationKey)
	if err != nil {
		return err
	}
	// No capability means any: the number is unassigned whatever it was
	// assigned for, as an SDK user omitting the field expects.
	capab := ""
	if req.Capability != "" {
		if capab, err = capability(req.Capability); err != nil {
			return err
		}
	}
	if req.Number == "" {
		return errorf(http.StatusBadRequest, "number: required")
	}
	num, err := normalize("number", req.Number)
	if err != nil {
		return err
	}
	if err := s.store.UnassignNumber(c.Request().Context(), app, capab, num); err != nil {
		return storeError(err, "number "+num+" assigned to this application")
	}
	logger(c).Info("number unassigned", "app_key", app, "capability", capab)
	return c.NoContent(http.StatusNoContent)
}
