package api

import (
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
)

// RecordingFiles is where the node keeps the call recordings that file://
// destinations stored, one set per application. media/record's FileDir
// implements it over the recordings directory.
type RecordingFiles interface {
	// Open opens appKey's recording name. A name that does not exist, or
	// could not be a recording name, gives an error matching fs.ErrNotExist.
	Open(appKey, name string) (io.ReadSeekCloser, fs.FileInfo, error)
	// Remove deletes appKey's recording name; errors as Open's.
	Remove(appKey, name string) error
}

// recordingPath is the download route of file:// recordings. It is a
// callcore extension: Sinch stores recordings in the customer's own bucket
// and has no such route.
const recordingPath = "/calling/v1/recordings/:name"

// recordingRoutes mounts GET, HEAD and DELETE of recordingPath, behind the
// same authentication as every route. An application only ever sees its
// own recordings: another application's recording is a 404, as a missing
// one. Without RecordingFiles (no recordings directory on this node) the
// routes answer 501, like the other features a node is not set up for.
func (s *Server) recordingRoutes(g authenticated) {
	if s.recordings == nil {
		h := func(echo.Context) error {
			return errorf(http.StatusNotImplemented, "recordings: this node keeps no recordings (no recordings directory is configured)")
		}
		g.GET(recordingPath, h)
		g.HEAD(recordingPath, h)
		g.DELETE(recordingPath, h)
		return
	}
	g.GET(recordingPath, s.getRecording)
	g.HEAD(recordingPath, s.getRecording)
	g.DELETE(recordingPath, s.deleteRecording)
}

// getRecording serves a recording with http.ServeContent: Range and
// conditional requests work, HEAD has no body. The file is offered as an
// attachment.
func (s *Server) getRecording(c echo.Context) error {
	name := c.Param("name")
	f, st, err := s.recordings.Open(appKey(c), name)
	if err != nil {
		return recordingError(err, name)
	}
	defer f.Close()
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, recordingContentType(name))
	h.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Cache-Control", "private, no-cache")
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	http.ServeContent(c.Response(), c.Request(), name, st.ModTime(), f)
	return nil
}

// deleteRecording removes a recording: 204, or 404 when there is none.
func (s *Server) deleteRecording(c echo.Context) error {
	name := c.Param("name")
	if err := s.recordings.Remove(appKey(c), name); err != nil {
		return recordingError(err, name)
	}
	return c.NoContent(http.StatusNoContent)
}

func recordingError(err error, name string) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errorf(http.StatusNotFound, "recording %q not found", name)
	}
	return err
}

// recordingContentType is audio/mpeg for .mp3, audio/wav for .wav and
// application/octet-stream for anything else.
func recordingContentType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".mp3":
		return "audio/mpeg"
	case ".wav":
		return "audio/wav"
	}
	return "application/octet-stream"
}
