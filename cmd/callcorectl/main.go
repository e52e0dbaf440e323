// Command callcorectl is a command-line client of a callcore node's REST
// API. Every request is signed with the Sinch Application scheme (package
// events), exactly as the official SDKs sign theirs. Run `callcorectl help`
// for the commands, the configuration and the exit codes.
//
//	callcorectl numbers list
//	callcorectl callout tts --destination +46701234567 --text "Hello"
//	callcorectl call timeline CALLID --follow
//	callcorectl svaml check reply.json --event ice
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := newCLI(ctx, os.Stdin, os.Stdout, os.Stderr, os.Getenv).main(os.Args[1:])
	stop()
	os.Exit(code)
}

// run runs callcorectl with args (without the program name) and returns
// its exit code. Data goes to stdout, errors to stderr; env looks up
// environment variables (CALLCORE_URL, CALLCORE_KEY, CALLCORE_SECRET,
// CALLCORE_PROFILE, HOME, XDG_CONFIG_HOME) and may be nil. Standard input
// is empty.
func run(args []string, stdout, stderr io.Writer, env func(string) string) int {
	return newCLI(context.Background(), strings.NewReader(""), stdout, stderr, env).main(args)
}

// cli is one invocation: its streams, environment and global flags.
type cli struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	env    func(string) string
	now    func() time.Time
	g      globals
	// clients are the API clients made, whose idle connections are closed
	// when the command is done.
	clients []*apiClient
}

func newCLI(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) *cli {
	if env == nil {
		env = func(string) string { return "" }
	}
	return &cli{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, env: env, now: time.Now}
}

// main parses the global flags and the command and runs it.
func (c *cli) main(args []string) int {
	fs := c.flagSet("callcorectl")
	if err := fs.Parse(args); err != nil {
		return c.exit(c.flagError(fs, "", err))
	}
	rest := fs.Args()
	if len(rest) == 0 {
		c.usage(c.stderr)
		return exitUsage
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		if len(rest) > 0 {
			if g, ok := groupByName(rest[0]); ok {
				g.help(c.stdout)
				return exitOK
			}
		}
		c.usage(c.stdout)
		return exitOK
	}
	g, ok := groupByName(name)
	if !ok {
		return c.exit(usagef("unknown command %q; run 'callcorectl help'", name))
	}
	err := g.run(c, rest)
	for _, a := range c.clients {
		a.http.CloseIdleConnections()
	}
	return c.exit(err)
}
