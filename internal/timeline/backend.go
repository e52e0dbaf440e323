package timeline

import (
	"context"
	"time"
)

// Backend stores the timelines of a region's calls. Implementations are
// safe for concurrent use.
type Backend interface {
	// Append adds each batch's entries to its call's list, in order, under
	// the Limits the backend was created with, and reports what was kept.
	// A failed batch counts as Failed in the result; the error says why.
	// The entries' bytes are the caller's again once Append returns (it
	// reuses them): a backend that keeps them copies them.
	Append(ctx context.Context, batches []Batch) (AppendResult, error)
	// Read returns a call's stored entries in the order they were
	// appended; none (and no error) for an unknown or expired call.
	Read(ctx context.Context, callID string) ([][]byte, error)
}

// Batch is what one flush appends for one call.
type Batch struct {
	CallID string
	// Entries are stored entries (see encode), in order.
	Entries [][]byte
	// Ended: the call has ended; its list takes Limits.EndedTTL from now.
	Ended bool
	// Marker is the entry that replaces the first one beyond
	// Limits.MaxEntries-1.
	Marker []byte
}

// AppendResult counts what an Append did with the entries it was given.
type AppendResult struct {
	// Written entries were stored (the truncation marker not included).
	Written int
	// Truncated entries were dropped because their call was at
	// MaxEntries.
	Truncated int
	// Failed entries were not stored because the backend failed.
	Failed int
	// Bytes is the size of what was stored, markers included.
	Bytes int64
}

// Limits are the rules both backends apply.
type Limits struct {
	// MaxEntries per call: MaxEntries-1 entries, then the marker.
	// Default DefaultMaxEntries; at least 2.
	MaxEntries int
	// LiveTTL is how long a running call's list lives after each append;
	// it must be above EndedTTL (it is the call record's: the longest a
	// call may last plus EndedTTL). Default 4h + EndedTTL.
	LiveTTL time.Duration
	// EndedTTL is how long a list lives after its call ended. Default 24h.
	EndedTTL time.Duration
}

// Defaults of Limits and Options.
const (
	DefaultMaxEntries    = 500
	DefaultMaxBody       = 2048
	DefaultEndedTTL      = 24 * time.Hour
	DefaultFlushInterval = 100 * time.Millisecond
	DefaultBufferSize    = 16384
)

func (l Limits) withDefaults() Limits {
	if l.MaxEntries < 2 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.EndedTTL <= 0 {
		l.EndedTTL = DefaultEndedTTL
	}
	if l.LiveTTL <= l.EndedTTL {
		l.LiveTTL = l.EndedTTL + 4*time.Hour
	}
	return l
}
