package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/callcore/callcore/svaml"
)

// maxInput bounds a document read from a file or standard input.
const maxInput = 4 << 20

// inputError is input that cannot be read or is invalid: exit code 1.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

// inputf returns an *inputError with a formatted message.
func inputf(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

// readValue returns a flag's or argument's value: "@-" reads standard
// input, "@PATH" the file PATH, anything else is the value itself.
func (c *cli) readValue(what, v string) ([]byte, error) {
	if !strings.HasPrefix(v, "@") {
		return []byte(v), nil
	}
	return c.readFile(what, v[1:])
}

// readFile reads path ("-" is standard input), at most maxInput bytes.
func (c *cli) readFile(what, path string) ([]byte, error) {
	if path == "-" {
		data, err := io.ReadAll(io.LimitReader(c.stdin, maxInput+1))
		switch {
		case err != nil:
			return nil, inputf("%s: read standard input: %v", what, err)
		case len(data) > maxInput:
			return nil, inputf("%s: standard input is larger than %d bytes", what, maxInput)
		}
		return data, nil
	}
	data, err := readLimited(path, maxInput)
	if err != nil {
		return nil, inputf("%s: %v", what, err)
	}
	return data, nil
}

// svamlProblems returns the problems of a SVAML parse error, each with its
// JSON path, in document order.
func svamlProblems(err error) []*svaml.ValidationError {
	var ves svaml.ValidationErrors
	if errors.As(err, &ves) {
		return ves
	}
	var ve *svaml.ValidationError
	if errors.As(err, &ve) {
		return []*svaml.ValidationError{ve}
	}
	return []*svaml.ValidationError{{Reason: err.Error(), Offset: -1, Err: svaml.ErrInvalid}}
}

// checkSVAML validates doc for ctx with the node's parser before it is
// sent. Problems are printed to stderr, one per line "what: path: reason",
// and reported as a silent exit-1 error. The TTS length is left to the
// node, whose limit is configurable.
func (c *cli) checkSVAML(what string, ctx svaml.Context, doc []byte) error {
	_, err := svaml.Limits{MaxTTSChars: -1}.Parse(ctx, doc)
	if err == nil {
		return nil
	}
	ps := svamlProblems(err)
	for _, p := range ps {
		fmt.Fprintf(c.stderr, "%s: %s\n", what, clean(p.Error()))
	}
	return &silentError{code: exitInvalid, msg: fmt.Sprintf("%s: invalid SVAML for %s (%d problem%s); nothing sent", what, ctx, len(ps), plural(len(ps)))}
}

// plural returns "s" unless n is 1.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
