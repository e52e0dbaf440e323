// Package tlsteps reads a call's timeline as GET
// /calling/v1/calls/id/{id}/timeline serves it, decoded independently of
// the node's own types, and matches it against the steps a test expects.
// The e2e and region tests share it.
package tlsteps

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Entry is one entry of the route's reply.
type Entry struct {
	T       string         `json:"t"`
	Node    string         `json:"node"`
	Kind    string         `json:"kind"`
	Summary string         `json:"summary"`
	Data    map[string]any `json:"data"`
}

func (e Entry) String() string { return e.Node + " " + e.Kind + ": " + e.Summary }

// Step is an expected entry: its kind and the start of its summary.
type Step struct{ Kind, Summary string }

// Decode parses the route's reply body and checks that it is the timeline
// of call id.
func Decode(body []byte, id string) ([]Entry, error) {
	var reply struct {
		CallID  string  `json:"callId"`
		Entries []Entry `json:"entries"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return nil, fmt.Errorf("timeline reply: %w: %s", err, body)
	}
	if reply.CallID != id {
		return nil, fmt.Errorf("timeline reply for call %q, want %q", reply.CallID, id)
	}
	return reply.Entries, nil
}

// InOrder returns the entries matching want, one per step, in order, or
// the first step it could not find.
func InOrder(entries []Entry, want []Step) ([]Entry, *Step) {
	var found []Entry
	i := 0
	for _, w := range want {
		for i < len(entries) && (entries[i].Kind != w.Kind || !strings.HasPrefix(entries[i].Summary, w.Summary)) {
			i++
		}
		if i == len(entries) {
			return found, &w
		}
		found = append(found, entries[i])
		i++
	}
	return found, nil
}

// Wait reads a timeline every 50 ms until it holds want in order and
// returns the matching entries; when ctx ends first, the error names the
// missing step and lists what there was.
func Wait(ctx context.Context, read func() ([]Entry, error), want []Step) ([]Entry, error) {
	for {
		entries, err := read()
		if err != nil {
			return nil, err
		}
		found, missing := InOrder(entries, want)
		if missing == nil {
			return found, nil
		}
		select {
		case <-ctx.Done():
			lines := make([]string, len(entries))
			for i, e := range entries {
				lines[i] = e.String()
			}
			return nil, fmt.Errorf("timeline lacks %q after %d matching steps:\n%s", *missing, len(found), strings.Join(lines, "\n"))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
