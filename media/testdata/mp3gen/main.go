// Command mp3gen writes the MP3 fixtures of media/testdata: sine tones made
// here, encoded with the pure-Go shine encoder (github.com/braheezy/shine-mp3,
// 128 kbit/s). The encoder is a tool of this generator only; no package of
// callcore imports it. Run from the repository root:
//
//	go run ./media/testdata/mp3gen
package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/braheezy/shine-mp3/pkg/mp3"
)

// fixture is one file: a tone per channel for seconds at rate Hz.
type fixture struct {
	name    string
	rate    int
	freqs   []float64 // one per channel
	seconds float64
}

var fixtures = []fixture{
	{"tone1k_mono_44k.mp3", 44100, []float64{1000}, 1},
	{"tone1k_mono_22k.mp3", 22050, []float64{1000}, 1},
	{"tones_600_1500_stereo_48k.mp3", 48000, []float64{600, 1500}, 1},
}

func main() {
	dir := filepath.Join("media", "testdata")
	for _, f := range fixtures {
		data := encode(f)
		if err := os.WriteFile(filepath.Join(dir, f.name), data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%s: %d bytes\n", f.name, len(data))
	}
}

// encode renders the tones at half scale and encodes them. shine's Write
// advances by two frames' worth of samples per pass and reads one frame
// per channel with the channel count as stride, so a mono signal is laid
// out frame by frame with a frame of padding after each, and every input
// is padded to whole passes so that the encoder never reads past the end.
func encode(f fixture) []byte {
	const frame = 1152 // samples per channel per MPEG-1 frame
	spp := frame
	if f.rate < 32000 {
		spp = frame / 2 // MPEG-2: one granule per frame
	}
	ch := len(f.freqs)
	n := int(f.seconds * float64(f.rate))
	frames := (n + spp - 1) / spp
	buf := make([]int16, frames*2*spp)
	for i := range n {
		for c, freq := range f.freqs {
			v := int16(math.Round(16384 * math.Sin(2*math.Pi*freq*float64(i)/float64(f.rate))))
			if ch == 1 {
				buf[(i/spp)*2*spp+i%spp] = v
			} else {
				buf[i*2+c] = v
			}
		}
	}
	var out bytes.Buffer
	if err := mp3.NewEncoder(f.rate, ch).Write(&out, buf); err != nil {
		panic(err)
	}
	return out.Bytes()
}
