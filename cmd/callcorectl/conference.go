package main

import (
	"flag"
	"fmt"
	"net/http"
	"strconv"
)

// conferencesPrefix is the route prefix of one conference room.
const conferencesPrefix = "/calling/v1/conferences/id"

// participantJSON is one participant of GET /calling/v1/conferences/id/{id}.
type participantJSON struct {
	CLI      string `json:"cli"`
	ID       string `json:"id"`
	Duration int    `json:"duration"`
	Muted    bool   `json:"muted"`
	OnHold   bool   `json:"onhold"`
}

func conferenceCommands() []subcommand {
	return []subcommand{
		{name: "get", args: "ID", summary: "list the participants of a conference room",
			min: 1, max: 1, setup: noFlags(getConference)},
		{name: "mute", args: "ID CALLID", summary: "mute a participant (the room no longer hears it)",
			min: 2, max: 2, setup: manageParticipant("mute", "muted")},
		{name: "unmute", args: "ID CALLID", summary: "unmute a participant",
			min: 2, max: 2, setup: manageParticipant("unmute", "unmuted")},
		{name: "hold", args: "ID CALLID", summary: "put a participant on hold (--moh for music)",
			min: 2, max: 2, setup: manageParticipant("onhold", "on hold")},
		{name: "resume", args: "ID CALLID", summary: "take a participant off hold",
			min: 2, max: 2, setup: manageParticipant("resume", "resumed")},
		{name: "kick", args: "ID [CALLID]", summary: "remove one participant, or everyone without CALLID",
			min: 1, max: 2, setup: noFlags(kickConference)},
	}
}

// conferencePath is the route of room id, or of one participant of it.
func conferencePath(id string, callID ...string) string {
	return apiPath(conferencesPrefix, append([]string{id}, callID...)...)
}

func getConference(c *cli, args []string) error {
	api, err := c.client()
	if err != nil {
		return err
	}
	var info struct {
		Participants []participantJSON `json:"participants"`
	}
	raw, err := api.getJSON(c.ctx, conferencePath(args[0]), &info)
	if err != nil {
		return err
	}
	if c.g.json {
		printRaw(c.stdout, raw)
		return nil
	}
	if len(info.Participants) == 0 {
		fmt.Fprintf(c.stdout, "conference %s: no participants\n", clean(args[0]))
		return nil
	}
	t := newTable(c.stdout, "CALLID", "CLI", "DURATION", "MUTED", "ONHOLD")
	for _, p := range info.Participants {
		t.row(p.ID, orDash(p.CLI), strconv.Itoa(p.Duration)+"s", yesNo(p.Muted), yesNo(p.OnHold))
	}
	t.flush()
	return nil
}

// manageParticipant is the setup of mute, unmute, hold and resume: PATCH
// {"command": command} (with "moh" for onhold).
func manageParticipant(command, done string) func(*flag.FlagSet) func(*cli, []string) error {
	return func(fs *flag.FlagSet) func(*cli, []string) error {
		var moh string
		if command == "onhold" {
			fs.StringVar(&moh, "moh", "", "hold music `class`: ring, music1, music2 or music3 (default silence)")
		}
		return func(c *cli, args []string) error {
			body := struct {
				Command string `json:"command"`
				MOH     string `json:"moh,omitempty"`
			}{command, moh}
			api, err := c.client()
			if err != nil {
				return err
			}
			if _, err := api.sendJSON(c.ctx, http.MethodPatch, conferencePath(args[0], args[1]), body); err != nil {
				return err
			}
			c.done("conference %s: %s %s", clean(args[0]), clean(args[1]), done)
			return nil
		}
	}
}

func kickConference(c *cli, args []string) error {
	api, err := c.client()
	if err != nil {
		return err
	}
	if _, _, err := api.do(c.ctx, http.MethodDelete, conferencePath(args[0], args[1:]...), nil); err != nil {
		return err
	}
	if len(args) == 2 {
		c.done("conference %s: %s kicked", clean(args[0]), clean(args[1]))
	} else {
		c.done("conference %s: every participant kicked", clean(args[0]))
	}
	return nil
}
