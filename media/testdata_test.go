package media

import (
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

var regenerate = flag.Bool("regenerate", false, "rewrite the generated fixtures in testdata/")

// TestGenerateTestdata keeps the small WAV fixtures in testdata/ in sync
// with the code that describes them. Run with -regenerate to rewrite them.
func TestGenerateTestdata(t *testing.T) {
	fixtures := map[string][]byte{
		"testdata/tone1k_pcm16_stereo_44k.wav": toneWAV(WAVFormatPCM, 2, 44100, 16, 50),
		"testdata/tone1k_ulaw_8k.wav":          toneWAV(WAVFormatMuLaw, 1, 8000, 8, 100),
		"testdata/tone1k_float32_22k.wav":      toneWAV(WAVFormatIEEEFloat, 1, 22050, 32, 50),
	}
	for name, data := range fixtures {
		if *regenerate {
			require.NoError(t, os.WriteFile(name, data, 0o644))
			continue
		}
		got, err := os.ReadFile(name)
		require.NoError(t, err, "run go test -run TestGenerateTestdata -regenerate")
		require.Equal(t, data, got, "%s is stale: run go test -run TestGenerateTestdata -regenerate", name)
	}
}
