package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// defaultURL is the API of `make run`'s demo node.
const defaultURL = "http://127.0.0.1:8080"

// maxProfileFile bounds the profile file read.
const maxProfileFile = 1 << 20

// profile is one entry of the profile file.
type profile struct {
	URL    string `yaml:"url"`
	Key    string `yaml:"key"`
	Secret string `yaml:"secret"`
}

// settings are the resolved connection settings of a command.
type settings struct {
	URL, Key, Secret string
}

// parseProfiles parses a profile file: a YAML map of profile names to
// {url, key, secret}. Unknown keys are errors (a typo must not silently
// drop a setting); an empty document has no profiles. Errors never
// contain a secret.
func parseProfiles(data []byte) (map[string]profile, error) {
	out := map[string]profile{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&out); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]profile{}, nil
		}
		return nil, redactYAMLError(err)
	}
	if out == nil { // "~" or "null"
		out = map[string]profile{}
	}
	for name := range out {
		if name == "" {
			return nil, errors.New("a profile has an empty name")
		}
	}
	return out, nil
}

// redactYAMLError keeps yaml's line numbers and reasons but drops the
// quoted values a type error may contain (they could be a secret).
func redactYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	lines := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		if i := strings.Index(e, "`"); i >= 0 {
			e = e[:i] + "<value>" + e[strings.LastIndex(e, "`")+1:]
		}
		lines = append(lines, e)
	}
	return errors.New(strings.Join(lines, "; "))
}

// profilePath returns the profile file to read: --config, else
// $XDG_CONFIG_HOME/callcore/profiles.yaml, else
// $HOME/.config/callcore/profiles.yaml ("" when none can be named).
func (c *cli) profilePath() string {
	if c.g.config != "" {
		return c.g.config
	}
	if x := c.env("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "callcore", "profiles.yaml")
	}
	if h := c.env("HOME"); h != "" {
		return filepath.Join(h, ".config", "callcore", "profiles.yaml")
	}
	return ""
}

// settings resolves url, key and secret: each from its flag, else its
// environment variable, else the selected profile. The profile is
// --profile, else CALLCORE_PROFILE, else "default" if the file has one; a
// named profile that does not exist is an error, an absent "default" is
// not. The file is read only when a profile is named or a setting is still
// missing. needURL says whether the command talks to a node.
func (c *cli) settings(needURL bool) (settings, error) {
	s := settings{
		URL:    firstOf(c.g.url, c.env("CALLCORE_URL")),
		Key:    firstOf(c.g.key, c.env("CALLCORE_KEY")),
		Secret: firstOf(c.g.secret, c.env("CALLCORE_SECRET")),
	}
	name := firstOf(c.g.profile, c.env("CALLCORE_PROFILE"))
	if name != "" || s.Key == "" || s.Secret == "" || (needURL && s.URL == "") {
		p, err := c.loadProfile(name)
		if err != nil {
			return s, err
		}
		s.URL, s.Key, s.Secret = firstOf(s.URL, p.URL), firstOf(s.Key, p.Key), firstOf(s.Secret, p.Secret)
	}
	if s.URL == "" {
		s.URL = defaultURL
	}
	switch {
	case s.Key == "":
		return s, usagef("no application key: set --key, CALLCORE_KEY or a profile (see 'callcorectl help')")
	case s.Secret == "":
		return s, usagef("no application secret: set --secret, CALLCORE_SECRET or a profile (see 'callcorectl help')")
	}
	if needURL {
		u, err := url.Parse(s.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return s, usagef("invalid node URL %q: want http(s)://host[:port][/prefix]", s.URL)
		}
	}
	return s, nil
}

// loadProfile returns the profile name ("" = "default", optional) of the
// profile file.
func (c *cli) loadProfile(name string) (profile, error) {
	explicit := name != ""
	if !explicit {
		name = "default"
	}
	path := c.profilePath()
	if path == "" {
		if explicit {
			return profile{}, usagef("profile %q: no profile file (set --config, or HOME)", name)
		}
		return profile{}, nil
	}
	data, err := readLimited(path, maxProfileFile)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit && c.g.config == "":
		return profile{}, nil
	case err != nil:
		return profile{}, usagef("profile file: %v", err)
	}
	c.warnPermissions(path)
	profiles, err := parseProfiles(data)
	if err != nil {
		return profile{}, usagef("profile file %s: %v", path, err)
	}
	p, ok := profiles[name]
	if !ok {
		if !explicit {
			return profile{}, nil
		}
		names := make([]string, 0, len(profiles))
		for n := range profiles {
			names = append(names, n)
		}
		slices.Sort(names)
		return profile{}, usagef("profile %q not in %s (it has: %s)", name, path, strings.Join(names, ", "))
	}
	return p, nil
}

// warnPermissions warns on stderr when the profile file, which holds
// secrets, is readable by group or others.
func (c *cli) warnPermissions(path string) {
	st, err := os.Stat(path)
	if err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(c.stderr, "callcorectl: warning: %s is readable by others (mode %v); it holds secrets: chmod 600 it\n", path, st.Mode().Perm())
	}
}

// readLimited reads a file of at most max bytes.
func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return data, nil
}

// firstOf returns the first non-empty string.
func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
