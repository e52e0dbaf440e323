package svaml

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkParse parses a realistic ICE reply (testdata/bench_ice.json):
// answer, say, setCookie and a runMenu with two menus, five options, TTS and
// SSML prompts. "compact" is the ~1.1 KB form SDKs send (JSON.stringify,
// Jackson, System.Text.Json); "indented" is the 1.5 KB file as written.
func BenchmarkParse(b *testing.B) {
	indented, err := os.ReadFile("testdata/bench_ice.json")
	require.NoError(b, err)
	var buf bytes.Buffer
	require.NoError(b, json.Compact(&buf, indented))
	for _, bc := range []struct {
		name string
		data []byte
	}{
		{"compact", buf.Bytes()},
		{"indented", indented},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r, err := Parse(ContextICE, bc.data)
			require.NoError(b, err)
			require.Len(b, r.Instructions, 3)
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(ContextICE, bc.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
