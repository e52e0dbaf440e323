package deploy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSelectors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []selector
	}{
		{`up`, []selector{{name: "up"}}},
		{`callcore_store_up == 0`, []selector{{name: "callcore_store_up"}}},
		{
			`histogram_quantile(0.99, sum by (region, event, le) (rate(callcore_callback_duration_seconds_bucket{target="primary", region=~"$region"}[$__rate_interval])))`,
			[]selector{{name: "callcore_callback_duration_seconds_bucket", labels: []string{"target", "region"}}},
		},
		{
			`sum without (instance) (rate(a_total{x!="y,}"}[5m] offset 1h)) / on (region) group_left (node) b`,
			[]selector{{name: "a_total", labels: []string{"x"}}, {name: "b"}},
		},
		{
			`(sum by (region) (up{job="callcore"} * callcore_store_up) or sum by(region)(up{job="callcore"}) * 0) == 0 or absent(up{job="callcore"})`,
			[]selector{
				{name: "up", labels: []string{"job"}}, {name: "callcore_store_up"},
				{name: "up", labels: []string{"job"}}, {name: "up", labels: []string{"job"}},
			},
		},
		{`max_over_time(x[1h:5m]) > bool 1e-3 unless y offset 5m`, []selector{{name: "x"}, {name: "y"}}},
		{`{__name__="callcore_calls_active", direction="inbound"}`, []selector{{name: "callcore_calls_active", labels: []string{"direction"}}}},
		{`{__name__=~"callcore_.*"}`, nil},
		{`topk(5, sum by (node) (rate(m_total{node=~"${node:regex}"}[$__range])))`, []selector{{name: "m_total", labels: []string{"node"}}}},
		{`label_replace(m, "dst", "$1", "src", "(.*)")`, []selector{{name: "m"}}},
		{"# a comment naming not_a_metric\nm", []selector{{name: "m"}}},
		{`count_values("v", m) + Inf - NaN`, []selector{{name: "m"}}},
	} {
		got, err := selectors(tc.expr)
		require.NoError(t, err, tc.expr)
		require.Equal(t, tc.want, got, tc.expr)
	}
}

func TestSelectorsErrors(t *testing.T) {
	for _, expr := range []string{
		`m{a="x"`, `m{a="x}`, `m{a}`, `m{a=x}`, `rate(m[5m)`, `sum by (a`, `m{1="x"}`,
	} {
		_, err := selectors(expr)
		require.Error(t, err, expr)
	}
}

// FuzzSelectors: any input either fails cleanly or yields selectors whose
// names are metric names (or quoted names from {"..."} / __name__) and
// whose labels are label names.
func FuzzSelectors(f *testing.F) {
	for _, s := range []string{
		`up`, `sum by (le) (rate(m_bucket{a="b"}[5m]))`, `{__name__="x"}`, `m{a=~"\"}"}`,
		`x[1h:5m] offset 1m`, `$var + ${v:regex} * m{n=~"$n"}`, "m # c\n+ n", `{"quoted"}`,
		`a and on (x) group_right (y) b`, `1e+3 > bool .5`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		sels, err := selectors(expr)
		if err != nil {
			return
		}
		for _, s := range sels {
			if s.name == "" {
				t.Fatalf("empty selector name from %q", expr)
			}
			for _, l := range s.labels {
				if l == "" || strings.ContainsAny(l, ":{}\"") {
					t.Fatalf("bad label %q from %q", l, expr)
				}
			}
		}
	})
}

func TestParseExposition(t *testing.T) {
	in := `# HELP m_total A counter.
# TYPE m_total counter
m_total{a="x",b="with \"quote\", comma } and \\ \n"} 3
m_total{a="y"} 4 1700000000000
plain 1.5e3

h_bucket{le="+Inf"} 2
`
	e, err := parseExposition(strings.NewReader(in))
	require.NoError(t, err)
	require.Equal(t, []string{"h_bucket", "m_total", "plain"}, e.names())
	require.Equal(t, 7.0, e.value("m_total", nil))
	require.Equal(t, 3.0, e.value("m_total", map[string]string{"b": "with \"quote\", comma } and \\ \n"}))
	require.True(t, e.hasLabel("m_total", "b"))
	require.False(t, e.hasLabel("plain", "a"))
	require.True(t, e.has("h_bucket"))

	for _, bad := range []string{`m{a="x} 1`, `m{a=x} 1`, `{a="x"} 1`, `m`, `m 1 2 3`, `m one`, `m{a="\q"} 1`} {
		_, err := parseExposition(strings.NewReader(bad))
		require.Error(t, err, bad)
	}
}

// FuzzParseExposition: no panic; what parses has names made of name
// characters.
func FuzzParseExposition(f *testing.F) {
	for _, s := range []string{
		"m 1\n", "# TYPE m counter\nm_total{a=\"b\"} 2 3\n", "m{a=\"\\\"\\n\\\\\"} 1\n", "m{} NaN\n", "m{a=\"x\",} +Inf\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		e, err := parseExposition(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, n := range e.names() {
			for i := range len(n) {
				if !isNameChar(n[i], i == 0) {
					t.Fatalf("bad name %q", n)
				}
			}
		}
	})
}
