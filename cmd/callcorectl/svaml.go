package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/callcore/callcore/svaml"
)

// svamlContexts maps --event values to parser contexts.
var svamlContexts = map[string]svaml.Context{
	"ice":   svaml.ContextICE,
	"ace":   svaml.ContextACE,
	"pie":   svaml.ContextPIE,
	"dice":  svaml.ContextDiCE,
	"patch": svaml.ContextPatchCall,
	"any":   svaml.ContextUnknown,
}

func svamlCommands() []subcommand {
	return []subcommand{
		{name: "check", args: "FILE...", summary: "validate SVAML files (- for stdin) for an event with the node's parser; prints each problem with its JSON path",
			min: 1, max: -1, setup: setupSVAMLCheck},
	}
}

// svamlProblemJSON is one problem in the --json output of svaml check.
type svamlProblemJSON struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
	// Offset is the byte offset of a JSON syntax error, else omitted.
	Offset *int `json:"offset,omitempty"`
}

// svamlResultJSON is one file in the --json output of svaml check.
type svamlResultJSON struct {
	File      string             `json:"file"`
	Event     string             `json:"event"`
	Valid     bool               `json:"valid"`
	Problems  []svamlProblemJSON `json:"problems,omitempty"`
	Canonical json.RawMessage    `json:"canonical,omitempty"`
	Error     string             `json:"error,omitempty"`
}

func setupSVAMLCheck(fs *flag.FlagSet) func(*cli, []string) error {
	var event string
	var maxTTS int
	var canonical bool
	fs.StringVar(&event, "event", "", "the `event` the document answers: ice, ace, pie, dice, patch (a call update) or any (required)")
	fs.IntVar(&maxTTS, "max-tts-chars", 0, "TTS length limit in `characters`, as the node's calls.max_tts_chars (0: the default 600)")
	fs.BoolVar(&canonical, "canonical", false, "print the canonical form of valid documents (defaults filled in)")
	return func(c *cli, files []string) error {
		event = strings.ToLower(event)
		ctx, ok := svamlContexts[event]
		if !ok {
			if event == "" {
				return usagef("svaml check: --event is required (ice, ace, pie, dice, patch or any)")
			}
			return usagef("svaml check: --event %q is not ice, ace, pie, dice, patch or any", event)
		}
		limits := svaml.Limits{MaxTTSChars: maxTTS}
		results := make([]svamlResultJSON, 0, len(files))
		invalid := 0
		for _, f := range files {
			r := c.checkFile(limits, ctx, event, f, canonical || c.g.json)
			if !r.Valid {
				invalid++
			}
			results = append(results, r)
		}
		if c.g.json {
			out, err := json.MarshalIndent(results, "", "  ")
			if err != nil {
				return fmt.Errorf("encode results: %w", err)
			}
			fmt.Fprintf(c.stdout, "%s\n", out)
		}
		if invalid > 0 {
			return &silentError{code: exitInvalid, msg: fmt.Sprintf("svaml check: %d of %d file%s invalid for %s", invalid, len(files), plural(len(files)), event)}
		}
		return nil
	}
}

// checkFile parses one file for ctx (named event). In human mode it prints "FILE: ok
// (...)" or one line "FILE: path: reason" per problem; with --json it only
// returns the result.
func (c *cli) checkFile(limits svaml.Limits, ctx svaml.Context, event, file string, withCanonical bool) svamlResultJSON {
	r := svamlResultJSON{File: file, Event: event}
	name := file
	if name == "-" {
		name = "<stdin>"
	}
	data, err := c.readFile(name, file)
	if err != nil {
		r.Error = err.Error()
		if !c.g.json {
			fmt.Fprintln(c.stdout, clean(r.Error))
		}
		return r
	}
	resp, err := limits.Parse(ctx, data)
	if err != nil {
		for _, p := range svamlProblems(err) {
			pj := svamlProblemJSON{Path: p.Path, Reason: p.Reason}
			if p.Offset >= 0 {
				off := p.Offset
				pj.Offset = &off
			}
			r.Problems = append(r.Problems, pj)
			if !c.g.json {
				fmt.Fprintf(c.stdout, "%s: %s\n", clean(name), clean(p.Error()))
			}
		}
		return r
	}
	r.Valid = true
	if withCanonical {
		if out, err := json.Marshal(resp); err == nil {
			r.Canonical = out
		}
	}
	if !c.g.json {
		fmt.Fprintf(c.stdout, "%s: ok (%s): %s\n", clean(name), event, describe(resp))
		if r.Canonical != nil {
			out, _ := json.MarshalIndent(resp, "", "  ")
			fmt.Fprintf(c.stdout, "%s\n", out)
		}
	}
	return r
}

// describe summarizes a parsed document: "say, setCookie → connectPstn".
func describe(r *svaml.Response) string {
	names := make([]string, 0, len(r.Instructions))
	for _, in := range r.Instructions {
		names = append(names, in.InstructionName())
	}
	if len(names) == 0 {
		return "action " + r.Action.ActionName()
	}
	return strings.Join(names, ", ") + " then action " + r.Action.ActionName()
}
