package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Exit codes; `callcorectl help` documents them.
const (
	// exitOK: the command did what it was asked.
	exitOK = 0
	// exitInvalid: invalid input (SVAML, JSON, files) or a 4xx answer.
	exitInvalid = 1
	// exitUsage: unknown command or flag, missing argument or configuration.
	exitUsage = 2
	// exitUnreachable: the node could not be reached or answered 5xx.
	exitUnreachable = 3
)

// globals are the flags every command accepts, before or after its name.
type globals struct {
	url, key, secret string
	profile, config  string
	json             bool
	timeout          time.Duration
}

// globalFlagNames are the names registered by register, hidden from the
// per-command help.
var globalFlagNames = map[string]bool{"url": true, "key": true, "secret": true, "profile": true, "config": true, "json": true, "timeout": true}

// register adds the global flags to fs, bound to g with g's current values
// as defaults, so a later flag set keeps what an earlier one parsed.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.url, "url", g.url, "node API base `URL` (env CALLCORE_URL; default http://127.0.0.1:8080)")
	fs.StringVar(&g.key, "key", g.key, "application `key` (env CALLCORE_KEY)")
	fs.StringVar(&g.secret, "secret", g.secret, "application `secret`, base64 (env CALLCORE_SECRET)")
	fs.StringVar(&g.profile, "profile", g.profile, "profile `name` in the profile file (env CALLCORE_PROFILE; default \"default\" when it exists)")
	fs.StringVar(&g.config, "config", g.config, "profile `file` (default ~/.config/callcore/profiles.yaml)")
	fs.BoolVar(&g.json, "json", g.json, "print raw JSON instead of tables")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "HTTP request timeout (default 30s)")
}

// flagSet returns a flag set named name with the global flags. Parse
// errors are reported by the caller, not printed by the flag package.
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	c.g.register(fs)
	return fs
}

// usageError is a command line that cannot run: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef returns a *usageError with a formatted message.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelp says help was printed as asked: exit 0.
var errHelp = errors.New("help printed")

// silentError has had its details printed already; it only sets the exit
// code (and prints msg, if any, as the one-line summary).
type silentError struct {
	code int
	msg  string
}

func (e *silentError) Error() string { return e.msg }

// exitCode maps an error of a command to the process exit code.
func exitCode(err error) int {
	var ue *usageError
	var ae *apiError
	var ne *unreachableError
	var se *silentError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ae):
		if ae.Status >= 500 {
			return exitUnreachable
		}
		return exitInvalid
	case errors.As(err, &ne):
		return exitUnreachable
	case errors.As(err, &se):
		return se.code
	default:
		return exitInvalid
	}
}

// exit prints err (one line, "callcorectl: ..." on stderr) and returns its
// exit code.
func (c *cli) exit(err error) int {
	code := exitCode(err)
	if code != exitOK && err.Error() != "" {
		fmt.Fprintf(c.stderr, "callcorectl: %s\n", err)
	}
	return code
}

// flagError turns a flag parse error into a usage error (or errHelp after
// printing help for -h).
func (c *cli) flagError(fs *flag.FlagSet, usage string, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		if usage == "" {
			c.usage(c.stdout)
		} else {
			fmt.Fprintln(c.stdout, usage)
			printFlags(c.stdout, fs)
		}
		return errHelp
	}
	return usagef("%s: %v (run '%s -h')", strings.TrimPrefix(fs.Name(), "callcorectl "), err, fs.Name())
}

// parseInterspersed parses fs from args, allowing flags after positional
// arguments ("call get ID --json"). A "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// printFlags prints the flags of fs other than the global ones.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	printed := false
	fs.VisitAll(func(f *flag.Flag) {
		if globalFlagNames[f.Name] {
			return
		}
		if !printed {
			fmt.Fprintln(w, "flags:")
			printed = true
		}
		name, usage := flag.UnquoteUsage(f)
		dashes := "--"
		if len(f.Name) == 1 {
			dashes = "-"
		}
		line := "  " + dashes + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%-28s %s", line, usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
	fmt.Fprintln(w, "global flags (--url, --key, --secret, --profile, --config, --json, --timeout): see 'callcorectl help'")
}

// subcommand is one leaf command, e.g. "call get".
type subcommand struct {
	// name is the word after the group ("" for a group without subcommands).
	name string
	// args describes the positional arguments, e.g. "ID [CALLID]".
	args string
	// summary is the one-line description of the help.
	summary string
	// min and max bound the number of positional arguments; max < 0 is
	// unbounded.
	min, max int
	// setup registers the command's own flags on fs and returns the
	// function that runs it with the positional arguments.
	setup func(fs *flag.FlagSet) func(c *cli, args []string) error
}

// group is a top-level command, e.g. "call", with its subcommands.
type group struct {
	name    string
	summary string
	subs    []subcommand
}

// groups lists the commands in help order.
func groups() []group {
	return []group{
		{"callout", "start a call (POST /calling/v1/callouts)", calloutCommands()},
		{"call", "inspect and control a call", callCommands()},
		{"conference", "inspect and control a conference room", conferenceCommands()},
		{"numbers", "list, assign and unassign numbers", numberCommands()},
		{"callbacks", "read and set the application's callback URLs", callbackCommands()},
		{"svaml", "check SVAML documents with the node's parser", svamlCommands()},
		{"sign", "print the signed headers of a request", signCommands()},
	}
}

// groupByName returns the group called name.
func groupByName(name string) (group, bool) {
	for _, g := range groups() {
		if g.name == name {
			return g, true
		}
	}
	return group{}, false
}

// usageLine is "callcorectl <group> <sub> <args> [flags]".
func (g group) usageLine(s subcommand) string {
	parts := []string{"callcorectl", g.name}
	if s.name != "" {
		parts = append(parts, s.name)
	}
	if s.args != "" {
		parts = append(parts, s.args)
	}
	return strings.Join(parts, " ") + " [flags]"
}

// run finds the subcommand named by args[0] (or the only one of a group
// without names), parses its flags and arguments and runs it.
func (g group) run(c *cli, args []string) error {
	var sc subcommand
	if len(g.subs) == 1 && g.subs[0].name == "" {
		sc = g.subs[0]
	} else {
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			if len(args) > 0 {
				g.help(c.stdout)
				return errHelp
			}
			return usagef("%s: missing subcommand (%s); run 'callcorectl help %s'", g.name, g.subNames(), g.name)
		}
		found := false
		for _, s := range g.subs {
			if s.name == args[0] {
				sc, found = s, true
				break
			}
		}
		if !found {
			return usagef("%s: unknown subcommand %q (%s)", g.name, args[0], g.subNames())
		}
		args = args[1:]
	}
	name := strings.TrimSpace("callcorectl " + g.name + " " + sc.name)
	fs := c.flagSet(name)
	action := sc.setup(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return c.flagError(fs, "usage: "+g.usageLine(sc)+"\n"+sc.summary, err)
	}
	short := strings.TrimPrefix(name, "callcorectl ")
	switch {
	case len(pos) < sc.min:
		return usagef("%s: missing arguments; usage: %s", short, g.usageLine(sc))
	case sc.max >= 0 && len(pos) > sc.max:
		return usagef("%s: too many arguments (%q); usage: %s", short, pos[sc.max:], g.usageLine(sc))
	}
	return action(c, pos)
}

// subNames is "get|update|hangup".
func (g group) subNames() string {
	names := make([]string, len(g.subs))
	for i, s := range g.subs {
		names[i] = s.name
	}
	return strings.Join(names, "|")
}

// help prints the group's subcommands and their flags.
func (g group) help(w io.Writer) {
	fmt.Fprintf(w, "callcorectl %s: %s\n", g.name, g.summary)
	var discard cli
	for _, s := range g.subs {
		fmt.Fprintf(w, "\n%s\n  %s\n", g.usageLine(s), s.summary)
		fs := discard.flagSet("")
		s.setup(fs)
		var b strings.Builder
		printFlags(&b, fs)
		for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
			if strings.HasPrefix(line, "global flags") {
				continue
			}
			fmt.Fprintln(w, "  "+line)
		}
	}
	fmt.Fprintln(w, "\nglobal flags, configuration and exit codes: 'callcorectl help'")
}

// usage prints the top-level help.
func (c *cli) usage(w io.Writer) {
	fmt.Fprint(w, `callcorectl: a client of the callcore REST API, signing every request with
the Sinch Application scheme.

usage: callcorectl [global flags] <command> <subcommand> [arguments] [flags]

commands:
`)
	t := newTable(w)
	for _, g := range groups() {
		for _, s := range g.subs {
			line := strings.TrimSuffix(strings.TrimPrefix(g.usageLine(s), "callcorectl "), " [flags]")
			t.row("  "+line, s.summary)
		}
	}
	t.flush()
	fmt.Fprint(w, `
'callcorectl help <command>' lists a command's flags. Flags may come before or
after the arguments; "--" ends them.

global flags:
  --url URL          node API base URL (env CALLCORE_URL; default http://127.0.0.1:8080)
  --key KEY          application key (env CALLCORE_KEY)
  --secret SECRET    application secret, base64 (env CALLCORE_SECRET)
  --profile NAME     profile to use (env CALLCORE_PROFILE; default "default" when present)
  --config FILE      profile file (default $XDG_CONFIG_HOME/callcore/profiles.yaml,
                     else ~/.config/callcore/profiles.yaml)
  --json             print the API's raw JSON instead of tables
  --timeout D        HTTP request timeout (default 30s)

configuration: each of url, key and secret comes from its flag, else its
environment variable, else the profile. The profile file is YAML, a map of
profile names to {url, key, secret}:

  default: {url: "http://127.0.0.1:8080", key: "669E...", secret: "BeIu...=="}
  prod:    {url: "https://voice.example.com", key: "...", secret: "..."}

Keep it private (chmod 600): callcorectl warns when others can read it.

output: data goes to stdout (tables, or the raw JSON with --json); errors go
to stderr as one line "callcorectl: <message>"; for API errors the message is
"HTTP <status>: <message of the API's JSON error> (reference <request id>)".

exit codes:
  0  success
  1  invalid input (SVAML, JSON, files) or the API answered 4xx
  2  usage error: unknown command or flag, missing argument or configuration
  3  the node could not be reached, or it answered 5xx
`)
}
