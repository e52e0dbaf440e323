package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/callcore/callcore/events"
)

func signCommands() []subcommand {
	return []subcommand{
		{args: "METHOD PATH [BODY|@FILE]", summary: "print the x-timestamp, content-type and authorization headers of a signed request",
			min: 2, max: 3, setup: setupSign},
	}
}

// signedHeaders is the --json output of sign.
type signedHeaders struct {
	XTimestamp    string `json:"x-timestamp"`
	ContentType   string `json:"content-type"`
	Authorization string `json:"authorization"`
	StringToSign  string `json:"stringToSign,omitempty"`
}

func setupSign(fs *flag.FlagSet) func(*cli, []string) error {
	var ts, contentType string
	var verbose bool
	fs.StringVar(&ts, "timestamp", "", "sign as of this RFC 3339 `time` (default now; verifiers accept 10 minutes either way)")
	fs.StringVar(&contentType, "content-type", events.CallbackContentType, "Content-Type `value` to sign, verbatim")
	fs.BoolVar(&verbose, "verbose", false, "also print the string to sign (to stderr; in the output with --json)")
	return func(c *cli, args []string) error {
		s, err := c.settings(false)
		if err != nil {
			return err
		}
		signer, err := events.NewSigner(s.Key, s.Secret)
		if err != nil {
			return usagef("%v", err)
		}
		now := c.now()
		if ts != "" {
			if now, err = time.Parse(time.RFC3339Nano, ts); err != nil {
				return usagef("--timestamp: %q is not an RFC 3339 time", ts)
			}
		}
		if contentType == "" {
			return usagef("--content-type: must not be empty (the node signs callbacks with %q)", events.CallbackContentType)
		}
		method, path := strings.ToUpper(args[0]), args[1]
		if !strings.HasPrefix(path, "/") {
			return usagef("PATH %q: must start with /, e.g. /calling/v1/callouts", path)
		}
		u, err := url.Parse(path)
		if err != nil {
			return usagef("PATH %q: %v", path, err)
		}
		var body []byte
		if len(args) == 3 {
			if body, err = c.readValue("BODY", args[2]); err != nil {
				return err
			}
		}
		req := &http.Request{Method: method, URL: u, Header: http.Header{}}
		req.Header.Set("Content-Type", contentType)
		signer.SignRequest(req, body, now)
		h := signedHeaders{
			XTimestamp:    req.Header.Get(events.HeaderTimestamp),
			ContentType:   req.Header.Get("Content-Type"),
			Authorization: req.Header.Get("Authorization"),
		}
		sts := events.StringToSign(method, body, h.ContentType, h.XTimestamp, orSlash(u.Path))
		if c.g.json {
			if verbose {
				h.StringToSign = sts
			}
			out, err := json.MarshalIndent(h, "", "  ")
			if err != nil {
				return fmt.Errorf("encode headers: %w", err)
			}
			fmt.Fprintf(c.stdout, "%s\n", out)
			return nil
		}
		fmt.Fprintf(c.stdout, "x-timestamp: %s\ncontent-type: %s\nauthorization: %s\n", h.XTimestamp, h.ContentType, h.Authorization)
		if verbose {
			fmt.Fprintf(c.stderr, "string to sign (%d lines; the path is signed without the query):\n", strings.Count(sts, "\n")+1)
			for _, line := range strings.Split(sts, "\n") {
				fmt.Fprintf(c.stderr, "  %q\n", line)
			}
		}
		return nil
	}
}

// orSlash returns p, or "/" when it is empty (as net/http sends it).
func orSlash(p string) string {
	if p == "" {
		return "/"
	}
	return p
}
