package main

import (
	"flag"
	"fmt"
	"net/http"
)

// numbersPath is the application-management route of numbers.
const numbersPath = "/v1/configuration/numbers"

func numberCommands() []subcommand {
	return []subcommand{
		{name: "list", summary: "list the application's numbers and the unassigned ones",
			max: 0, setup: noFlags(listNumbers)},
		{name: "assign", args: "NUMBER...", summary: "assign numbers to the application (all or none)",
			min: 1, max: -1, setup: setupAssign},
		{name: "unassign", args: "NUMBER", summary: "unassign a number from the application",
			min: 1, max: 1, setup: setupUnassign},
	}
}

func listNumbers(c *cli, _ []string) error {
	api, err := c.client()
	if err != nil {
		return err
	}
	var out struct {
		Numbers []struct {
			Number         string `json:"number"`
			ApplicationKey string `json:"applicationkey"`
			Capability     string `json:"capability"`
		} `json:"numbers"`
	}
	raw, err := api.getJSON(c.ctx, numbersPath, &out)
	if err != nil {
		return err
	}
	if c.g.json {
		printRaw(c.stdout, raw)
		return nil
	}
	if len(out.Numbers) == 0 {
		fmt.Fprintln(c.stdout, "no numbers")
		return nil
	}
	t := newTable(c.stdout, "NUMBER", "APPLICATION", "CAPABILITY")
	for _, n := range out.Numbers {
		t.row(n.Number, orDash(n.ApplicationKey), orDash(n.Capability))
	}
	t.flush()
	return nil
}

func setupAssign(fs *flag.FlagSet) func(*cli, []string) error {
	var capability string
	fs.StringVar(&capability, "capability", "voice", "`capability`: voice or sms")
	return func(c *cli, args []string) error {
		api, err := c.client()
		if err != nil {
			return err
		}
		body := struct {
			Numbers        []string `json:"numbers"`
			ApplicationKey string   `json:"applicationkey"`
			Capability     string   `json:"capability,omitempty"`
		}{args, api.appKey(), capability}
		if _, err := api.sendJSON(c.ctx, http.MethodPost, numbersPath, body); err != nil {
			return err
		}
		c.done("%d number%s assigned to %s", len(args), plural(len(args)), api.appKey())
		return nil
	}
}

func setupUnassign(fs *flag.FlagSet) func(*cli, []string) error {
	var capability string
	fs.StringVar(&capability, "capability", "", "only if assigned for this `capability` (voice or sms; default any)")
	return func(c *cli, args []string) error {
		api, err := c.client()
		if err != nil {
			return err
		}
		body := struct {
			Number         string `json:"number"`
			ApplicationKey string `json:"applicationkey"`
			Capability     string `json:"capability,omitempty"`
		}{args[0], api.appKey(), capability}
		if _, err := api.sendJSON(c.ctx, http.MethodDelete, numbersPath, body); err != nil {
			return err
		}
		c.done("%s unassigned from %s", clean(args[0]), api.appKey())
		return nil
	}
}
