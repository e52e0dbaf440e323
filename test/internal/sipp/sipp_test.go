package sipp

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSippStats(t *testing.T) {
	// Real -trace_stat file of a sipp 3.6 run: 20 calls, all failed.
	csv, err := os.ReadFile("testdata/sipp_stats.csv")
	require.NoError(t, err)
	got, err := ParseStats(string(csv))
	require.NoError(t, err)
	require.Equal(t, Stats{Created: 20, Failed: 20}, got)

	header := "TotalCallCreated;SuccessfulCall(C);FailedCall(C);\n"
	got, err = ParseStats(header + "1;1;0;\n" + "60;59;1;\r\n\n")
	require.NoError(t, err)
	require.Equal(t, Stats{Created: 60, Successful: 59, Failed: 1}, got, "the last line counts")

	for name, bad := range map[string]string{
		"header only":    header,
		"empty":          "",
		"missing column": "TotalCallCreated;SuccessfulCall(C);\n1;1\n",
		"short line":     header + "1;1\n",
		"not a number":   header + "1;x;0;\n",
		"negative":       header + "1;-1;0;\n",
	} {
		_, err := ParseStats(bad)
		require.Error(t, err, name)
	}
}

func FuzzParseSippStats(f *testing.F) {
	csv, err := os.ReadFile("testdata/sipp_stats.csv")
	require.NoError(f, err)
	f.Add(string(csv))
	f.Add("TotalCallCreated;SuccessfulCall(C);FailedCall(C)\n3;2;1\n")
	f.Add("TotalCallCreated\n")
	f.Fuzz(func(t *testing.T, csv string) {
		got, err := ParseStats(csv)
		if err != nil {
			return
		}
		if got.Created < 0 || got.Successful < 0 || got.Failed < 0 {
			t.Fatalf("negative counters %+v", got)
		}
	})
}
