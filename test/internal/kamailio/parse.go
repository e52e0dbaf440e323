package kamailio

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"

	"github.com/callcore/callcore/test/internal/sipp"
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
type Stats = sipp.Stats
