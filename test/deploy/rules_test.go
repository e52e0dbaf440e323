package deploy

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// rulesFile is deploy/prometheus/rules.yml.
type rulesFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T) []rule {
	t.Helper()
	var f rulesFile
	decodeYAML(t, &f, "deploy", "prometheus", "rules.yml")
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	require.NotEmpty(t, out)
	return out
}

// The alerts the issue asks for, by what they watch.
var wantAlerts = []string{
	"CallcoreCallbackFailureRatioHigh", // callback failure ratio
	"CallcoreCallbackLatencyHigh",      // p99 callback latency
	"CallcoreRTPPacketLossHigh",        // RTP loss
	"CallcoreNoReadyNodes",             // no ready nodes
	"CallcoreRedisUnreachable",         // Redis unreachable
	"CallcoreOutboxBacklogOld",         // outbox backlog age
	"CallcoreConferenceMixerLateTicks", // conference mixer late ticks
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := requireTool(t, "promtool", "apt-get install prometheus")
	out := run(t, repoPath(t, "deploy", "prometheus"), promtool, "check", "rules", "rules.yml")
	require.Contains(t, out, "SUCCESS")
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := requireTool(t, "promtool", "apt-get install prometheus")
	out := run(t, repoPath(t, "deploy", "prometheus"), promtool, "test", "rules", "rules_test.yml")
	require.Contains(t, out, "SUCCESS")
}

// The compose Prometheus configuration loads, with the rules next to it as
// compose mounts them.
func TestPromtoolCheckComposeConfig(t *testing.T) {
	promtool := requireTool(t, "promtool", "apt-get install prometheus")
	dir := t.TempDir()
	copyFile(t, filepath.Join(dir, "prometheus.yml"), "deploy", "compose", "prometheus", "prometheus.yml")
	copyFile(t, filepath.Join(dir, "rules.yml"), "deploy", "prometheus", "rules.yml")
	out := run(t, dir, promtool, "check", "config", "prometheus.yml")
	require.Contains(t, out, "SUCCESS")
}

// Every alert the issue lists exists, has a severity, a summary and a
// runbook_url whose anchor is a heading of OPERATIONS.md.
func TestAlertsHaveRunbooks(t *testing.T) {
	anchors := markdownAnchors(string(readRepo(t, "OPERATIONS.md")))
	seen := map[string]bool{}
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			continue
		}
		seen[r.Alert] = true
		require.Contains(t, []string{"critical", "warning"}, r.Labels["severity"], r.Alert)
		require.NotEmpty(t, r.Annotations["summary"], r.Alert)
		require.NotEmpty(t, r.Annotations["description"], r.Alert)
		url := r.Annotations["runbook_url"]
		prefix := "https://github.com/callcore/callcore/blob/main/OPERATIONS.md#"
		require.True(t, strings.HasPrefix(url, prefix), "%s: runbook_url %q does not point into OPERATIONS.md", r.Alert, url)
		anchor := strings.TrimPrefix(url, prefix)
		require.True(t, anchors[anchor], "%s: OPERATIONS.md has no heading with anchor #%s", r.Alert, anchor)
		require.NotEmpty(t, r.For, "%s: no for: a single bad scrape would page", r.Alert)
	}
	for _, a := range wantAlerts {
		require.True(t, seen[a], "alert %s missing from rules.yml", a)
	}
}

// rules_test.yml shows every alert firing and, somewhere, quiet.
func TestRuleUnitTestsCoverEveryAlert(t *testing.T) {
	var f struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			Name  string `yaml:"name"`
			Cases []struct {
				Alert     string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	decodeYAML(t, &f, "deploy", "prometheus", "rules_test.yml")
	require.Equal(t, []string{"rules.yml"}, f.RuleFiles)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range f.Tests {
		for _, c := range tc.Cases {
			if len(c.ExpAlerts) > 0 {
				fires[c.Alert] = true
			} else {
				quiet[c.Alert] = true
			}
		}
	}
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			continue
		}
		require.True(t, fires[r.Alert], "no unit test shows %s firing", r.Alert)
		require.True(t, quiet[r.Alert], "no unit test shows %s not firing", r.Alert)
	}
}

// markdownAnchors returns the GitHub anchors of a Markdown document's
// headings: lower case, punctuation other than "-" and "_" removed, spaces
// to "-"; repeated headings get -1, -2...
func markdownAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	count := map[string]int{}
	strip := regexp.MustCompile(`[^\p{L}\p{N}\- _]`)
	inFence := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		h = strings.ReplaceAll(h, "`", "")
		a := strings.ReplaceAll(strip.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		if n := count[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		count[a]++
	}
	return out
}
