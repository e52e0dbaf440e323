package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"strings"

	"github.com/callcore/callcore/svaml"
)

// calloutPath is the route of every callout method.
const calloutPath = "/calling/v1/callouts"

// destinationJSON is a callout's destination.
type destinationJSON struct {
	Type     string `json:"type"`
	Endpoint string `json:"endpoint"`
}

// calloutCommon are the flags every callout method has.
type calloutCommon struct {
	destination, destType string
	cli, dtmf, custom     string
}

func (o *calloutCommon) register(fs *flag.FlagSet, destUsage string) {
	fs.StringVar(&o.destination, "destination", "", destUsage)
	fs.StringVar(&o.destination, "to", "", "short for --destination")
	fs.StringVar(&o.destType, "dest-type", "", "destination `type`: number, username or sip (default: sip when it has an @, else number)")
	fs.StringVar(&o.cli, "cli", "", "caller id shown to the callee: a `number` or \"private\"")
	fs.StringVar(&o.dtmf, "dtmf", "", "`digits` sent once the callee answers (0-9, *, #, w)")
	fs.StringVar(&o.custom, "custom", "", "custom `data` echoed in the call's events")
}

// dest returns the destination object, nil when none was given.
func (o *calloutCommon) dest() *destinationJSON {
	if o.destination == "" {
		return nil
	}
	t := o.destType
	if t == "" {
		t = "number"
		if strings.Contains(o.destination, "@") {
			t = "sip"
		}
	}
	return &destinationJSON{Type: t, Endpoint: o.destination}
}

// ttsCalloutJSON is the ttsCallout object of reference §2.2.
type ttsCalloutJSON struct {
	Destination *destinationJSON `json:"destination"`
	CLI         string           `json:"cli,omitempty"`
	DTMF        string           `json:"dtmf,omitempty"`
	Domain      string           `json:"domain,omitempty"`
	Custom      string           `json:"custom,omitempty"`
	Locale      string           `json:"locale,omitempty"`
	Text        string           `json:"text,omitempty"`
	Prompts     string           `json:"prompts,omitempty"`
	EnableACE   bool             `json:"enableAce,omitempty"`
	EnableDiCE  bool             `json:"enableDice,omitempty"`
	EnablePIE   bool             `json:"enablePie,omitempty"`
}

// customCalloutJSON is the customCallout object of reference §2.2; ice,
// ace and pie are inline SVAML (as a string) or a URL.
type customCalloutJSON struct {
	Destination *destinationJSON `json:"destination,omitempty"`
	CLI         string           `json:"cli,omitempty"`
	DTMF        string           `json:"dtmf,omitempty"`
	Custom      string           `json:"custom,omitempty"`
	MaxDuration int              `json:"maxDuration,omitempty"`
	ICE         string           `json:"ice,omitempty"`
	ACE         string           `json:"ace,omitempty"`
	PIE         string           `json:"pie,omitempty"`
}

// conferenceCalloutJSON is the conferenceCallout object of reference §2.2.
type conferenceCalloutJSON struct {
	Destination  *destinationJSON `json:"destination"`
	ConferenceID string           `json:"conferenceId"`
	CLI          string           `json:"cli,omitempty"`
	DTMF         string           `json:"dtmf,omitempty"`
	Domain       string           `json:"domain,omitempty"`
	Custom       string           `json:"custom,omitempty"`
	Locale       string           `json:"locale,omitempty"`
	Greeting     string           `json:"greeting,omitempty"`
	MaxDuration  int              `json:"maxDuration,omitempty"`
	DTMFOptions  json.RawMessage  `json:"conferenceDtmfOptions,omitempty"`
	MOHClass     string           `json:"mohClass,omitempty"`
	EnableACE    bool             `json:"enableAce,omitempty"`
	EnableDiCE   bool             `json:"enableDice,omitempty"`
	EnablePIE    bool             `json:"enablePie,omitempty"`
}

// eventFlags are the enable-ace/dice/pie flags of tts and conference
// callouts.
type eventFlags struct{ ace, dice, pie bool }

func (e *eventFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&e.ace, "enable-ace", false, "send an ACE when the callee answers")
	fs.BoolVar(&e.dice, "enable-dice", false, "send a DiCE when the call ends")
	fs.BoolVar(&e.pie, "enable-pie", false, "send PIEs")
}

func calloutCommands() []subcommand {
	return []subcommand{
		{name: "tts", summary: "call a destination and speak a text (or play prompts), then hang up; prints the call id",
			max: 0, setup: setupTTSCallout},
		{name: "custom", summary: "start a call scripted by ICE/ACE/PIE SVAML (JSON, @file or URL); prints the call id",
			max: 0, setup: setupCustomCallout},
		{name: "conference", summary: "call a destination into a conference room; prints the call id",
			max: 0, setup: setupConferenceCallout},
	}
}

func setupTTSCallout(fs *flag.FlagSet) func(*cli, []string) error {
	var common calloutCommon
	var ev eventFlags
	var in ttsCalloutJSON
	common.register(fs, "`destination` to call: a number, a username or a SIP address (required)")
	ev.register(fs)
	fs.StringVar(&in.Text, "text", "", "`text` to speak")
	fs.StringVar(&in.Prompts, "prompts", "", "`prompts` to play instead, e.g. \"#tts[Hello];https://x/a.wav\"")
	fs.StringVar(&in.Locale, "locale", "", "TTS `locale`, e.g. en-US")
	fs.StringVar(&in.Domain, "domain", "", "`domain`: pstn or mxp")
	return func(c *cli, _ []string) error {
		if common.destination == "" {
			return usagef("callout tts: --destination is required")
		}
		if in.Text == "" && in.Prompts == "" {
			return usagef("callout tts: --text or --prompts is required")
		}
		in.Destination, in.CLI, in.DTMF, in.Custom = common.dest(), common.cli, common.dtmf, common.custom
		in.EnableACE, in.EnableDiCE, in.EnablePIE = ev.ace, ev.dice, ev.pie
		return c.callout(map[string]any{"method": "ttsCallout", "ttsCallout": in})
	}
}

func setupCustomCallout(fs *flag.FlagSet) func(*cli, []string) error {
	var common calloutCommon
	var in customCalloutJSON
	var ice, ace, pie string
	common.register(fs, "`destination` to call (optional when the ICE connects the call)")
	fs.StringVar(&ice, "ice", "", "the ICE reply: SVAML `JSON`, @file or an http(s) URL")
	fs.StringVar(&ace, "ace", "", "the ACE reply: SVAML `JSON`, @file or an http(s) URL")
	fs.StringVar(&pie, "pie", "", "the PIE reply: SVAML `JSON`, @file or an http(s) URL")
	fs.IntVar(&in.MaxDuration, "max-duration", 0, "maximum call duration in `seconds`")
	return func(c *cli, _ []string) error {
		if common.destination == "" && ice == "" {
			return usagef("callout custom: --destination or --ice is required")
		}
		in.Destination, in.CLI, in.DTMF, in.Custom = common.dest(), common.cli, common.dtmf, common.custom
		var err error
		if in.ICE, err = c.script("--ice", ice, svaml.ContextICE); err != nil {
			return err
		}
		if in.ACE, err = c.script("--ace", ace, svaml.ContextACE); err != nil {
			return err
		}
		if in.PIE, err = c.script("--pie", pie, svaml.ContextPIE); err != nil {
			return err
		}
		return c.callout(map[string]any{"method": "customCallout", "customCallout": in})
	}
}

// script reads a customCallout ice/ace/pie value: inline SVAML (checked
// with the node's parser for ctx) or a URL, from the flag or @file.
func (c *cli) script(what, v string, ctx svaml.Context) (string, error) {
	if v == "" {
		return "", nil
	}
	data, err := c.readValue(what, v)
	if err != nil {
		return "", err
	}
	doc := bytes.TrimSpace(data)
	if len(doc) > 0 && doc[0] == '{' {
		if err := c.checkSVAML(what, ctx, doc); err != nil {
			return "", err
		}
		var compact bytes.Buffer
		if json.Compact(&compact, doc) == nil {
			doc = compact.Bytes()
		}
	}
	return string(doc), nil
}

func setupConferenceCallout(fs *flag.FlagSet) func(*cli, []string) error {
	var common calloutCommon
	var ev eventFlags
	var in conferenceCalloutJSON
	var opts string
	common.register(fs, "`destination` to call: a number, a username or a SIP address (required)")
	ev.register(fs)
	fs.StringVar(&in.ConferenceID, "conference", "", "conference room `id` (required)")
	fs.StringVar(&in.Greeting, "greeting", "", "`text` spoken to the callee before joining")
	fs.StringVar(&in.Locale, "locale", "", "greeting `locale`, e.g. en-US")
	fs.StringVar(&in.Domain, "domain", "", "`domain`: pstn or mxp")
	fs.StringVar(&in.MOHClass, "moh", "", "hold music `class` while alone: ring, music1, music2 or music3")
	fs.IntVar(&in.MaxDuration, "max-duration", 0, "maximum call duration in `seconds`")
	fs.StringVar(&opts, "dtmf-options", "", "conferenceDtmfOptions `JSON` or @file, e.g. '{\"mode\":\"forward\"}'")
	return func(c *cli, _ []string) error {
		switch {
		case common.destination == "":
			return usagef("callout conference: --destination is required")
		case in.ConferenceID == "":
			return usagef("callout conference: --conference is required")
		}
		in.Destination, in.CLI, in.DTMF, in.Custom = common.dest(), common.cli, common.dtmf, common.custom
		in.EnableACE, in.EnableDiCE, in.EnablePIE = ev.ace, ev.dice, ev.pie
		if opts != "" {
			data, err := c.readValue("--dtmf-options", opts)
			if err != nil {
				return err
			}
			data = bytes.TrimSpace(data)
			if !json.Valid(data) || len(data) == 0 || data[0] != '{' {
				return inputf("--dtmf-options: not a JSON object")
			}
			in.DTMFOptions = data
		}
		return c.callout(map[string]any{"method": "conferenceCallout", "conferenceCallout": in})
	}
}

// callout posts a callout request and prints the call id (or the raw
// answer with --json).
func (c *cli) callout(req any) error {
	api, err := c.client()
	if err != nil {
		return err
	}
	raw, err := api.sendJSON(c.ctx, http.MethodPost, calloutPath, req)
	if err != nil {
		return err
	}
	if c.g.json {
		printRaw(c.stdout, raw)
		return nil
	}
	var out struct {
		CallID string `json:"callId"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.CallID == "" {
		return fmt.Errorf("callout: the answer has no callId: %q", truncate(string(raw), 200))
	}
	fmt.Fprintln(c.stdout, clean(out.CallID))
	return nil
}

// truncate shortens s to n bytes with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
