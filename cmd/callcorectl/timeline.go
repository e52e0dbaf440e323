package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// timelineEntry is one step of a call's timeline, as
// GET /calling/v1/calls/id/{id}/timeline answers it.
type timelineEntry struct {
	// T is the entry's time, RFC 3339 with milliseconds.
	T string `json:"t"`
	// Node is the id of the node that recorded the entry.
	Node string `json:"node"`
	// Kind says what happened, e.g. "sip.in", "callback", "svaml".
	Kind string `json:"kind"`
	// Summary is one human-readable line.
	Summary string `json:"summary"`
	// Data holds the details; shown with --wide.
	Data json.RawMessage `json:"data,omitempty"`

	// raw is the entry's compact JSON: what --follow --json prints and
	// the identity used to print each entry once.
	raw string
}

// timeline is a decoded timeline answer.
type timeline struct {
	CallID  string
	Entries []timelineEntry
}

// decodeTimeline parses a timeline answer: {"callId", "entries": [...]}.
// Entries must be objects; unknown keys are ignored.
func decodeTimeline(body []byte) (timeline, error) {
	var doc struct {
		CallID  string            `json:"callId"`
		Entries []json.RawMessage `json:"entries"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return timeline{}, fmt.Errorf("timeline: not the expected JSON: %w", err)
	}
	tl := timeline{CallID: doc.CallID, Entries: make([]timelineEntry, 0, len(doc.Entries))}
	for i, raw := range doc.Entries {
		var e timelineEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return timeline{}, fmt.Errorf("timeline: entries[%d]: %w", i, err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			return timeline{}, fmt.Errorf("timeline: entries[%d]: %w", i, err)
		}
		e.raw = compact.String()
		tl.Entries = append(tl.Entries, e)
	}
	return tl, nil
}

// timelineRenderer prints timeline entries as a table (or JSON lines),
// each entry once, across the polls of --follow.
type timelineRenderer struct {
	w         io.Writer
	wide      bool
	jsonLines bool

	started bool
	origin  time.Time // time of the first entry; zero if it did not parse
	nodeW   int
	kindW   int
	// printed counts the entries printed per identity, so that entries
	// repeated in a later poll are skipped and identical entries are not
	// collapsed.
	printed map[string]int
}

func newTimelineRenderer(w io.Writer, wide, jsonLines bool) *timelineRenderer {
	return &timelineRenderer{w: w, wide: wide, jsonLines: jsonLines, nodeW: len("NODE"), kindW: minKindWidth, printed: map[string]int{}}
}

// minKindWidth fits every kind the node records ("callback" is the
// longest), so that the columns of --follow stay aligned when a longer
// kind shows up after the header.
const minKindWidth = len("callback")

// add prints the entries of tl not printed before, in order, and returns
// how many it printed.
func (r *timelineRenderer) add(tl timeline) int {
	seen := map[string]int{}
	var fresh []timelineEntry
	for _, e := range tl.Entries {
		seen[e.raw]++
		if seen[e.raw] > r.printed[e.raw] {
			r.printed[e.raw]++
			fresh = append(fresh, e)
		}
	}
	if len(fresh) == 0 {
		return 0
	}
	if r.jsonLines {
		for _, e := range fresh {
			fmt.Fprintln(r.w, e.raw)
		}
		return len(fresh)
	}
	if !r.started {
		// The first batch sets the column widths; later ones keep them
		// (a longer value only shifts its own row).
		for _, e := range fresh {
			r.nodeW = max(r.nodeW, utf8.RuneCountInString(clean(e.Node)))
			r.kindW = max(r.kindW, utf8.RuneCountInString(clean(e.Kind)))
		}
		r.started = true
		first := fresh[0]
		if t, err := time.Parse(time.RFC3339Nano, first.T); err == nil {
			r.origin = t
		}
		fmt.Fprintf(r.w, "call %s, first entry at %s (TIME is milliseconds after it)\n", orDash(clean(tl.CallID)), clean(first.T))
		r.line("TIME", "NODE", "KIND", "SUMMARY")
	}
	for _, e := range fresh {
		summary := clean(e.Summary)
		if r.wide {
			if d := bytes.TrimSpace(e.Data); len(d) > 0 && string(d) != "null" && string(d) != "{}" {
				var compact bytes.Buffer
				if json.Compact(&compact, d) == nil {
					summary += "  " + clean(compact.String())
				}
			}
		}
		r.line(r.relative(e.T), clean(e.Node), clean(e.Kind), summary)
	}
	return len(fresh)
}

// relative renders t as "+123ms" after the first entry; an unparsable
// time is shown as it is, marked with "?".
func (r *timelineRenderer) relative(ts string) string {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || r.origin.IsZero() {
		return "?" + clean(ts)
	}
	return fmt.Sprintf("%+dms", t.Sub(r.origin).Milliseconds())
}

func (r *timelineRenderer) line(t, node, kind, summary string) {
	fmt.Fprintf(r.w, "%9s  %s  %s  %s\n", t, pad(node, r.nodeW), pad(kind, r.kindW), summary)
}

// pad right-pads s with spaces to n characters (runes, not bytes).
func pad(s string, n int) string {
	if k := utf8.RuneCountInString(s); k < n {
		return s + strings.Repeat(" ", n-k)
	}
	return s
}

func setupTimeline(fs *flag.FlagSet) func(*cli, []string) error {
	var follow, wide bool
	var interval time.Duration
	fs.BoolVar(&follow, "follow", false, "keep polling while the call runs and print only new entries; stops one interval after the call is FINAL")
	fs.BoolVar(&follow, "f", false, "short for --follow")
	fs.DurationVar(&interval, "interval", time.Second, "poll `interval` of --follow")
	fs.BoolVar(&wide, "wide", false, "append each entry's data as JSON")
	return func(c *cli, args []string) error {
		if interval <= 0 {
			return usagef("--interval: must be positive")
		}
		api, err := c.client()
		if err != nil {
			return err
		}
		tp := &timelinePoller{api: api, id: args[0]}
		if !follow {
			raw, tl, err := tp.fetch(c.ctx)
			if err != nil {
				return err
			}
			if c.g.json {
				printRaw(c.stdout, raw)
				return nil
			}
			if newTimelineRenderer(c.stdout, wide, false).add(tl) == 0 {
				fmt.Fprintf(c.stdout, "call %s: no timeline entries\n", clean(args[0]))
			}
			return nil
		}
		return tp.follow(c.ctx, newTimelineRenderer(c.stdout, wide, c.g.json), interval)
	}
}

// timelinePoller reads the timeline and the status of one call.
type timelinePoller struct {
	api *apiClient
	id  string
}

// fetch GETs the call's timeline.
func (p *timelinePoller) fetch(ctx context.Context) ([]byte, timeline, error) {
	_, raw, err := p.api.do(ctx, http.MethodGet, callPath(p.id)+"/timeline", nil)
	if err != nil {
		return nil, timeline{}, err
	}
	tl, err := decodeTimeline(raw)
	return raw, tl, err
}

// final reports whether the call is over: status FINAL, or no longer
// known to the node (404).
func (p *timelinePoller) final(ctx context.Context) (bool, error) {
	var info callInfo
	_, err := p.api.getJSON(ctx, callPath(p.id), &info)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		return true, nil
	case err != nil:
		return false, err
	}
	return info.Status == "FINAL", nil
}

// follow prints new entries every interval while the call runs. Once the
// call is FINAL it polls once more after one interval (entries written
// after the end, such as the DiCE callback, are still printed) and
// returns nil. A cancelled ctx (Ctrl-C) ends it without an error.
func (p *timelinePoller) follow(ctx context.Context, r *timelineRenderer, interval time.Duration) error {
	ended := false
	for {
		_, tl, err := p.fetch(ctx)
		var ae *apiError
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil
		case ended && errors.As(err, &ae) && ae.Status == http.StatusNotFound:
			return nil // the call and its timeline expired meanwhile
		default:
			return err
		}
		r.add(tl)
		if ended {
			return nil
		}
		if ended, err = p.final(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
