package main

import (
	"flag"
	"net/http"
)

// callbacksPrefix is the application-management route of callback URLs.
const callbacksPrefix = "/v1/configuration/callbacks/applications"

// callbacksJSON is the body of GET and POST .../callbacks/applications/{key}.
type callbacksJSON struct {
	URL *struct {
		Primary  string `json:"primary"`
		Fallback string `json:"fallback,omitempty"`
	} `json:"url"`
}

func callbackCommands() []subcommand {
	return []subcommand{
		{name: "get", summary: "show the application's callback URLs",
			max: 0, setup: noFlags(getCallbacks)},
		{name: "set", summary: "replace the application's callback URLs (no --fallback removes the fallback)",
			max: 0, setup: setupSetCallbacks},
	}
}

func getCallbacks(c *cli, _ []string) error {
	api, err := c.client()
	if err != nil {
		return err
	}
	var cb callbacksJSON
	raw, err := api.getJSON(c.ctx, apiPath(callbacksPrefix, api.appKey()), &cb)
	if err != nil {
		return err
	}
	if c.g.json {
		printRaw(c.stdout, raw)
		return nil
	}
	var primary, fallback string
	if cb.URL != nil {
		primary, fallback = cb.URL.Primary, cb.URL.Fallback
	}
	t := newTable(c.stdout)
	t.row("primary", orDash(primary))
	t.row("fallback", orDash(fallback))
	t.flush()
	return nil
}

func setupSetCallbacks(fs *flag.FlagSet) func(*cli, []string) error {
	var body callbacksJSON
	body.URL = &struct {
		Primary  string `json:"primary"`
		Fallback string `json:"fallback,omitempty"`
	}{}
	fs.StringVar(&body.URL.Primary, "primary", "", "primary callback `URL` (required)")
	fs.StringVar(&body.URL.Fallback, "fallback", "", "fallback callback `URL`, tried once when the primary fails")
	return func(c *cli, _ []string) error {
		if body.URL.Primary == "" {
			return usagef("callbacks set: --primary is required")
		}
		api, err := c.client()
		if err != nil {
			return err
		}
		if _, err := api.sendJSON(c.ctx, http.MethodPost, apiPath(callbacksPrefix, api.appKey()), body); err != nil {
			return err
		}
		c.done("callback URLs of %s updated", api.appKey())
		return nil
	}
}
