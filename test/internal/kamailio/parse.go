package kamailio

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// parseDispatcherList reads the output of `kamcmd dispatcher.list`:
//
//	SET: {
//		ID: 1
//		TARGETS: {
//			DEST: {
//				URI: sip:127.0.0.1:5071
//				FLAGS: AP
//				...
//			}
//
// and returns URI -> FLAGS for the destinations of set. A FLAGS line must
// follow a URI line of the same DEST block.
func parseDispatcherList(out string, set int) (map[string]string, error) {
	dests := map[string]string{}
	var uri string
	inSet := false
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "SET":
			if uri != "" {
				return nil, fmt.Errorf("dispatcher.list: no FLAGS for %s", uri)
			}
			inSet = false
		case "ID":
			id, err := strconv.Atoi(val)
			if err != nil {
				return nil, fmt.Errorf("dispatcher.list: bad set ID %q", val)
			}
			inSet = id == set
		case "DEST":
			if uri != "" {
				return nil, fmt.Errorf("dispatcher.list: no FLAGS for %s", uri)
			}
		case "URI":
			if val == "" || strings.ContainsAny(val, " \t{}") {
				return nil, fmt.Errorf("dispatcher.list: bad URI %q", val)
			}
			if uri != "" {
				return nil, fmt.Errorf("dispatcher.list: no FLAGS for %s", uri)
			}
			uri = val
		case "FLAGS":
			if uri == "" {
				return nil, fmt.Errorf("dispatcher.list: FLAGS %q without a URI", val)
			}
			if val == "" || strings.ContainsAny(val, " \t{}") {
				return nil, fmt.Errorf("dispatcher.list: bad FLAGS %q for %s", val, uri)
			}
			if inSet {
				dests[uri] = val
			}
			uri = ""
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dispatcher.list: %w", err)
	}
	if uri != "" {
		return nil, fmt.Errorf("dispatcher.list: no FLAGS for %s", uri)
	}
	return dests, nil
}

// Stats are sipp's final counters of a run.
type Stats struct {
	Created    int // calls started
	Successful int // calls that ended the scenario
	Failed     int // calls that did not (unexpected reply, timeout...)
}

// parseSippStats reads the -trace_stat CSV sipp writes (a header line of
// ';'-separated counter names, then one line per period, the last one
// final) and returns the cumulative counters of the last line.
func parseSippStats(csv string) (Stats, error) {
	var lines []string
	for l := range strings.SplitSeq(csv, "\n") {
		if l = strings.TrimRight(l, "\r"); strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) < 2 {
		return Stats{}, fmt.Errorf("sipp stats: %d lines, want a header and a value line", len(lines))
	}
	header := strings.Split(lines[0], ";")
	values := strings.Split(lines[len(lines)-1], ";")
	if len(values) != len(header) {
		return Stats{}, fmt.Errorf("sipp stats: %d values for %d columns", len(values), len(header))
	}
	field := func(name string) (int, error) {
		for i, h := range header {
			if h == name {
				n, err := strconv.Atoi(strings.TrimSpace(values[i]))
				if err != nil || n < 0 {
					return 0, fmt.Errorf("sipp stats: %s = %q is not a count", name, values[i])
				}
				return n, nil
			}
		}
		return 0, fmt.Errorf("sipp stats: no %s column", name)
	}
	var s Stats
	var err error
	if s.Created, err = field("TotalCallCreated"); err != nil {
		return Stats{}, err
	}
	if s.Successful, err = field("SuccessfulCall(C)"); err != nil {
		return Stats{}, err
	}
	if s.Failed, err = field("FailedCall(C)"); err != nil {
		return Stats{}, err
	}
	return s, nil
}
