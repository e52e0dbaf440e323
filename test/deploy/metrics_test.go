package deploy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// syntheticMetrics are series Prometheus makes itself for every target; they
// are not on a node's /metrics.
var syntheticMetrics = map[string]bool{"up": true}

// targetLabels are added by the scrape configuration (deploy/compose/
// prometheus/prometheus.yml, deploy/kubernetes/prometheus-scrape.yml), not
// by the node.
var targetLabels = map[string]bool{"job": true, "instance": true, "region": true, "node": true, "namespace": true, "pod": true}

// dashboard is the part of a Grafana dashboard JSON model the checks read.
type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Panels     []panel
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Multi      bool            `json:"multi"`
			IncludeAll bool            `json:"includeAll"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title      string      `json:"title"`
	Type       string      `json:"type"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	require.NoError(t, json.Unmarshal(readRepo(t, "deploy", "grafana", "callcore.json"), &d))
	return d
}

// use is one PromQL expression of a deployment file and where it is.
type use struct {
	where, expr string
}

// dashboardExprs lists the dashboard's panel queries and the selectors of
// its template variable queries.
func dashboardExprs(t *testing.T, d dashboard) []use {
	t.Helper()
	var out []use
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for i, tg := range p.Targets {
				if tg.Expr != "" {
					out = append(out, use{fmt.Sprintf("dashboard panel %q target %d", p.Title, i), tg.Expr})
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := v.Definition
		var obj struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(v.Query, &obj) == nil && obj.Query != "" {
			q = obj.Query
		} else {
			var s string
			if json.Unmarshal(v.Query, &s) == nil && s != "" {
				q = s
			}
		}
		expr, err := variableExpr(q)
		require.NoError(t, err, "dashboard variable %s", v.Name)
		out = append(out, use{"dashboard variable " + v.Name, expr})
	}
	return out
}

var (
	labelValuesRe = regexp.MustCompile(`^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)
	queryResultRe = regexp.MustCompile(`^\s*query_result\((.*)\)\s*$`)
)

// variableExpr returns the PromQL inside a Grafana Prometheus variable
// query: label_values(SELECTOR, label) or query_result(EXPR).
func variableExpr(q string) (string, error) {
	if m := labelValuesRe.FindStringSubmatch(q); m != nil {
		return m[1], nil
	}
	if m := queryResultRe.FindStringSubmatch(q); m != nil {
		return m[1], nil
	}
	return "", fmt.Errorf("unsupported variable query %q (want label_values(selector, label) or query_result(expr))", q)
}

// ruleExprs lists the expressions of rules.yml.
func ruleExprs(t *testing.T) []use {
	t.Helper()
	var out []use
	for _, r := range loadRules(t) {
		out = append(out, use{"rule " + r.Alert + r.Record, r.Expr})
	}
	return out
}

// kubernetesExprs lists the metrics the autoscaling set-up reads: the HPA's
// pods metric and the Prometheus adapter's series query.
func kubernetesExprs(t *testing.T) []use {
	t.Helper()
	var out []use
	for _, o := range kubeObjects(t) {
		if o.Kind != "HorizontalPodAutoscaler" {
			continue
		}
		var hpa hpaSpec
		require.NoError(t, o.node.Decode(&hpa))
		for _, m := range hpa.Spec.Metrics {
			if m.Pods != nil {
				out = append(out, use{"HPA " + o.Metadata.Name, m.Pods.Metric.Name})
			}
		}
	}
	var adapter struct {
		Rules struct {
			Custom []struct {
				SeriesQuery string `yaml:"seriesQuery"`
			} `yaml:"custom"`
		} `yaml:"rules"`
	}
	decodeYAML(t, &adapter, "deploy", "kubernetes", "prometheus-adapter-values.yaml")
	for _, r := range adapter.Rules.Custom {
		out = append(out, use{"prometheus-adapter seriesQuery", r.SeriesQuery})
	}
	require.NotEmpty(t, out)
	return out
}

// Every metric (and every label in a matcher) that the dashboard, the
// alerts and the autoscaler use exists on a real node's /metrics.
func TestDeployedQueriesUseRealMetrics(t *testing.T) {
	uses := append(dashboardExprs(t, loadDashboard(t)), ruleExprs(t)...)
	uses = append(uses, kubernetesExprs(t)...)
	exp := nodeMetrics(t)

	used := map[string]bool{}
	for _, u := range uses {
		sels, err := selectors(u.expr)
		require.NoError(t, err, "%s: %s", u.where, u.expr)
		require.NotEmpty(t, sels, "%s uses no metric: %s", u.where, u.expr)
		for _, s := range sels {
			used[s.name] = true
			if syntheticMetrics[s.name] {
				continue
			}
			if !exp.has(s.name) {
				t.Errorf("%s uses %s, which a node does not expose; similar: %v", u.where, s.name, similar(exp.names(), s.name))
				continue
			}
			for _, l := range s.labels {
				if !targetLabels[l] && !exp.hasLabel(s.name, l) {
					t.Errorf("%s matches label %q of %s, which the node's series do not have", u.where, l, s.name)
				}
			}
		}
	}
	t.Logf("%d queries use %d metrics, all on the node's /metrics (%d series names)", len(uses), len(used), len(exp.names()))
}

// similar lists up to three names sharing the longest prefix or suffix
// with name (a hint for typos).
func similar(names []string, name string) []string {
	common := func(a, b string) int {
		p := 0
		for p < len(a) && p < len(b) && a[p] == b[p] {
			p++
		}
		s := 0
		for s < len(a) && s < len(b) && a[len(a)-1-s] == b[len(b)-1-s] {
			s++
		}
		return max(p, s)
	}
	scored := slices.Clone(names)
	slices.SortStableFunc(scored, func(a, b string) int { return common(b, name) - common(a, name) })
	return scored[:min(3, len(scored))]
}

// The dashboard is usable per node and per region: every query goes through
// the datasource variable and filters on the region and node variables.
func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	require.Equal(t, "callcore-overview", d.UID)
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Name == "region" || v.Name == "node" {
			require.True(t, v.Multi && v.IncludeAll, "variable %s must allow several values and All", v.Name)
		}
	}
	for _, v := range []string{"datasource", "region", "node"} {
		require.True(t, vars[v], "dashboard variable %s missing", v)
	}

	titles := map[string]bool{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			titles[p.Title] = true
			if p.Type != "row" {
				require.NotNil(t, p.Datasource, "panel %q has no datasource", p.Title)
				require.Equal(t, "${datasource}", p.Datasource.UID, "panel %q", p.Title)
				require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				require.NotNil(t, tg.Datasource, "panel %q: target without datasource", p.Title)
				require.Equal(t, "${datasource}", tg.Datasource.UID, "panel %q", p.Title)
				sels, err := selectors(tg.Expr)
				require.NoError(t, err, "panel %q: %s", p.Title, tg.Expr)
				for _, s := range sels {
					require.True(t, slices.Contains(s.labels, "region") && slices.Contains(s.labels, "node"),
						"panel %q: %s is not filtered by $region and $node: %s", p.Title, s.name, tg.Expr)
				}
				require.Contains(t, tg.Expr, `region=~"$region"`, "panel %q", p.Title)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)

	// What the issue asks the dashboard to show.
	for _, want := range []string{
		"Calls active by node", "Call rate by result", "Post-dial delay", "Callback latency p50 / p99 by event",
		"Callback failures by reason", "SVAML errors", "RTP packet loss (mean over closed sessions)", "RTP jitter",
		"Rooms and participants", "Mixer late ticks", "Mixer tick p99", "Redis errors", "Redis round trips per second",
		"Store up", "Outbox backlog", "Oldest undelivered event", "Drain: new calls turned away",
	} {
		require.True(t, titles[want], "dashboard panel %q missing", want)
	}
}

func TestVariableExpr(t *testing.T) {
	e, err := variableExpr(`label_values(callcore_calls_active{region=~"$region"}, node)`)
	require.NoError(t, err)
	require.Equal(t, `callcore_calls_active{region=~"$region"}`, e)
	e, err = variableExpr(`query_result(sum by (node) (x))`)
	require.NoError(t, err)
	require.Equal(t, `sum by (node) (x)`, e)
	_, err = variableExpr(`metrics(callcore_.*)`)
	require.Error(t, err)
}

func TestMarkdownAnchors(t *testing.T) {
	a := markdownAnchors("# Operations\n## `CallcoreNoReadyNodes`\n```\n# not a heading\n```\n### NAT and public_host, TLS!\n## Operations\n")
	require.Equal(t, map[string]bool{
		"operations": true, "callcorenoreadynodes": true, "nat-and-public_host-tls": true, "operations-1": true,
	}, a)
}
