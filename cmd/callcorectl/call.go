package main

import (
	"encoding/json"
	"flag"
	"net/http"
	"strconv"
	"strings"

	"github.com/callcore/callcore/svaml"
)

// callsPrefix is the route prefix of one call.
const callsPrefix = "/calling/v1/calls/id"

// hangupSVAML is the PATCH body of `call hangup`.
const hangupSVAML = `{"action":{"name":"hangup"}}`

// callInfo is the answer of GET /calling/v1/calls/id/{id} (reference §2.3).
type callInfo struct {
	From      destinationJSON `json:"from"`
	To        destinationJSON `json:"to"`
	Domain    string          `json:"domain"`
	CallID    string          `json:"callId"`
	Duration  int             `json:"duration"`
	Status    string          `json:"status"`
	Result    string          `json:"result"`
	Reason    string          `json:"reason"`
	Timestamp string          `json:"timestamp"`
	Custom    string          `json:"custom"`
	Cookies   []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"cookies"`
}

// UnmarshalJSON accepts "from" as an object or, as in some answers, a
// plain string.
func (d *destinationJSON) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*d = destinationJSON{Endpoint: s}
		return nil
	}
	type plain destinationJSON
	return json.Unmarshal(b, (*plain)(d))
}

// String renders a destination as "number +4670..." or "-".
func (d destinationJSON) String() string {
	switch {
	case d.Endpoint == "":
		return "-"
	case d.Type == "":
		return d.Endpoint
	}
	return d.Type + " " + d.Endpoint
}

func callCommands() []subcommand {
	return []subcommand{
		{name: "get", args: "ID", summary: "show a call's status, result and parties",
			min: 1, max: 1, setup: noFlags(getCall)},
		{name: "update", args: "ID SVAML|@FILE", summary: "send SVAML (hangup, continue or park with instructions) to a running call",
			min: 2, max: 2, setup: setupUpdateCall},
		{name: "hangup", args: "ID", summary: "hang up a running call",
			min: 1, max: 1, setup: noFlags(hangupCall)},
		{name: "timeline", args: "ID", summary: "show what happened in a call, step by step (--follow while it runs)",
			min: 1, max: 1, setup: setupTimeline},
	}
}

// noFlags is the setup of a command without flags of its own.
func noFlags(fn func(*cli, []string) error) func(*flag.FlagSet) func(*cli, []string) error {
	return func(*flag.FlagSet) func(*cli, []string) error { return fn }
}

// callPath is the route of call id.
func callPath(id string) string { return apiPath(callsPrefix, id) }

func getCall(c *cli, args []string) error {
	api, err := c.client()
	if err != nil {
		return err
	}
	var info callInfo
	raw, err := api.getJSON(c.ctx, callPath(args[0]), &info)
	if err != nil {
		return err
	}
	if c.g.json {
		printRaw(c.stdout, raw)
		return nil
	}
	t := newTable(c.stdout)
	t.row("callId", info.CallID)
	t.row("status", info.Status)
	t.row("result", orDash(info.Result))
	t.row("reason", orDash(info.Reason))
	t.row("from", info.From.String())
	t.row("to", info.To.String())
	t.row("domain", orDash(info.Domain))
	t.row("started", orDash(info.Timestamp))
	t.row("duration", strconv.Itoa(info.Duration)+"s")
	if info.Custom != "" {
		t.row("custom", info.Custom)
	}
	if len(info.Cookies) > 0 {
		kv := make([]string, len(info.Cookies))
		for i, ck := range info.Cookies {
			kv[i] = ck.Key + "=" + ck.Value
		}
		t.row("cookies", strings.Join(kv, ", "))
	}
	t.flush()
	return nil
}

func setupUpdateCall(fs *flag.FlagSet) func(*cli, []string) error {
	var leg string
	fs.StringVar(&leg, "leg", "", "update one `leg` only: caller, callee or both (PATCH .../leg/{leg})")
	return func(c *cli, args []string) error {
		doc, err := c.readValue("SVAML", args[1])
		if err != nil {
			return err
		}
		return c.patchCall(args[0], leg, doc, "update accepted")
	}
}

func hangupCall(c *cli, args []string) error {
	return c.patchCall(args[0], "", []byte(hangupSVAML), "hangup accepted")
}

// patchCall checks doc as a call update and PATCHes it to the call (or
// one leg of it).
func (c *cli) patchCall(id, leg string, doc []byte, what string) error {
	switch leg {
	case "", "caller", "callee", "both":
	default:
		return usagef("--leg: %q is not caller, callee or both", leg)
	}
	if err := c.checkSVAML("SVAML", svaml.ContextPatchCall, doc); err != nil {
		return err
	}
	api, err := c.client()
	if err != nil {
		return err
	}
	path := callPath(id)
	if leg != "" {
		path = apiPath(path+"/leg", leg)
	}
	if _, _, err := api.do(c.ctx, http.MethodPatch, path, doc); err != nil {
		return err
	}
	c.done("call %s: %s", clean(id), what)
	return nil
}
