package signaling

import (
	"log/slog"

	"github.com/callcore/callcore/internal/testutil/syncbuf"
)

func slogJSON(w *syncbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil))
}
