package api

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/callcore/callcore/internal/store"
)

type callbackURLs struct {
	Primary  string `json:"primary"`
	Fallback string `json:"fallback,omitempty"`
}

type callbacksBody struct {
	URL *callbackURLs `json:"url"`
}

// pathApp checks that the {applicationkey} of the path is the signing
// application: an application reads and writes only its own callbacks.
func pathApp(c echo.Context) (string, error) {
	key, err := url.PathUnescape(c.Param("applicationkey"))
	if err != nil {
		return "", errorf(http.StatusBadRequest, "applicationkey: %v", err)
	}
	if me := appKey(c); key != me {
		return "", errorf(http.StatusForbidden, "application %q may not access the callbacks of application %q", me, key)
	}
	return key, nil
}

// getCallbacks answers {"url":{"primary":...,"fallback":...}}; fallback is
// omitted when none is configured. An application with no callback URL gets
// an empty primary rather than a 404, because SDKs read body.url unconditionally.
func (s *Server) getCallbacks(c echo.Context) error {
	app, err := pathApp(c)
	if err != nil {
		return err
	}
	cb, err := s.store.GetCallbacks(c.Request().Context(), app)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return storeError(err, "callbacks")
	}
	return c.JSON(http.StatusOK, callbacksBody{URL: &callbackURLs{Primary: cb.Primary, Fallback: cb.Fallback}})
}

// updateCallbacks replaces the application's callback URLs. primary is
// required; an empty or absent fallback removes the fallback. Answers 204.
func (s *Server) updateCallbacks(c echo.Context) error {
	app, err := pathApp(c)
	if err != nil {
		return err
	}
	var req callbacksBody
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.URL == nil {
		return errorf(http.StatusBadRequest, "url: required, e.g. {\"url\":{\"primary\":\"https://example.com/callbacks\"}}")
	}
	if err := checkCallbackURL("url.primary", req.URL.Primary, true); err != nil {
		return err
	}
	if err := checkCallbackURL("url.fallback", req.URL.Fallback, false); err != nil {
		return err
	}
	cb := store.Callbacks{Primary: req.URL.Primary, Fallback: req.URL.Fallback}
	if err := s.store.SetCallbacks(c.Request().Context(), app, cb); err != nil {
		return storeError(err, "callbacks")
	}
	logger(c).Info("callback urls updated", "app_key", app, "has_fallback", cb.Fallback != "")
	return c.NoContent(http.StatusNoContent)
}

func checkCallbackURL(field, raw string, required bool) error {
	if raw == "" {
		if required {
			return errorf(http.StatusBadRequest, "%s: required", field)
		}
		return nil
	}
	if len(raw) > 2048 {
		return errorf(http.StatusBadRequest, "%s: longer than 2048 characters", field)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errorf(http.StatusBadRequest, "%s: must be an absolute http or https URL, got %q", field, raw)
	}
	return nil
}
