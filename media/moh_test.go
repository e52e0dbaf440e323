package media

import (
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMOHClasses(t *testing.T) {
	for _, class := range MOHClasses() {
		src, ok := MOH(class)
		require.True(t, ok, class)
		require.NotNil(t, src)
		// Endless: far more than one loop comes out.
		got := readAll(t, src, 40*SampleRate)
		require.Len(t, got, 40*SampleRate, class)
	}
	for _, class := range []string{"", "jazz", "music4"} {
		src, ok := MOH(class)
		require.False(t, ok, class)
		ring, _ := Ringback(DefaultIndication)
		require.Equal(t, readAll(t, ring, 3*SampleRate), readAll(t, src, 3*SampleRate), "unknown class %q plays ring", class)
	}
	src, ok := MOH(" Music2 ")
	require.True(t, ok)
	require.Equal(t, mohPCM(1)[:1000], readAll(t, src, 1000))
	// ring is the ring-back tone of the default country.
	ring, _ := MOH("ring")
	us, _ := Ringback(DefaultIndication)
	require.Equal(t, readAll(t, us, 7*SampleRate), readAll(t, ring, 7*SampleRate))
}

func TestMOHMusic(t *testing.T) {
	spectra := make([][]float64, 3)
	for i := range 3 {
		pcm := mohPCM(i)
		name := MOHClasses()[i+1]
		sec := float64(len(pcm)) / SampleRate
		require.GreaterOrEqual(t, sec, 15.0, name)
		require.LessOrEqual(t, sec, 30.0, name)

		// Loud enough, below clipping: peak at -6 dBFS.
		peak := 0
		for _, s := range pcm {
			peak = max(peak, abs(int(s)))
		}
		require.InDelta(t, 16384, peak, 100, name)
		require.Greater(t, rms(pcm), 2000.0, name)
		// Never silent for long: every half second has sound.
		for off := 0; off+SampleRate/2 <= len(pcm); off += SampleRate / 2 {
			require.Greater(t, rms(pcm[off:off+SampleRate/2]), 300.0, "%s at %.1f s", name, float64(off)/SampleRate)
		}

		// Seamless: the loop played twice is the music played on. Mixed
		// into a buffer of two loops, with every note also a loop later,
		// the second loop (where the first loop's tails have rung out into
		// it) equals the circular mix.
		c := mohSong[i]()
		circ := make([]float64, c.n)
		c.mix(circ)
		two := &composition{n: 2 * c.n}
		for _, nt := range c.notes {
			require.Less(t, nt.dur, c.n)
			two.notes = append(two.notes, nt)
			nt.start += c.n
			two.notes = append(two.notes, nt)
		}
		linear := make([]float64, 3*c.n) // long enough never to wrap
		two.mix(linear)
		for k := range c.n {
			if math.Abs(linear[c.n+k]-circ[k]) > 1e-9 {
				t.Fatalf("%s: sample %d of the loop is %v, the music played on %v", name, k, circ[k], linear[c.n+k])
			}
		}
		// No click where the loop restarts: the step across the seam is no
		// larger than the largest step inside.
		maxStep := 0
		for k := 1; k < len(pcm); k++ {
			maxStep = max(maxStep, abs(int(pcm[k])-int(pcm[k-1])))
		}
		seam := abs(int(pcm[0]) - int(pcm[len(pcm)-1]))
		require.LessOrEqual(t, seam, maxStep, name)
		// And no burst of high frequencies around it: the energy above
		// 2.5 kHz in 20 ms across the seam is like that anywhere else.
		across := append(slices.Clone(pcm[len(pcm)-80:]), pcm[:80]...)
		require.Less(t, highBand(across), 4*highBand(pcm[len(pcm)/2:len(pcm)/2+160])+1e3, name)

		// Energy in the telephone band.
		spectra[i] = semitoneSpectrum(pcm)
	}
	for i := range 3 {
		for j := i + 1; j < 3; j++ {
			sim := cosine(spectra[i], spectra[j])
			t.Logf("spectral similarity music%d/music%d: %.2f", i+1, j+1, sim)
			require.Less(t, sim, 0.8, "music%d and music%d sound alike", i+1, j+1)
		}
	}
}

// A Source is a cursor over the shared samples, not a copy.
func TestMOHSharesSamples(t *testing.T) {
	a, _ := MOH(MOHMusic1)
	b, _ := MOH(MOHMusic1)
	la, lb := a.(*loopSource), b.(*loopSource)
	require.Same(t, &la.pcm[0], &lb.pcm[0])
	allocs := testing.AllocsPerRun(100, func() { _, _ = MOH(MOHMusic3) })
	require.LessOrEqual(t, allocs, 1.0)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// highBand is the energy above 2.5 kHz (first difference, a crude
// high-pass).
func highBand(x []int16) float64 {
	var e float64
	for k := 2; k < len(x); k++ {
		d := float64(x[k]) - 2*float64(x[k-1]) + float64(x[k-2])
		e += d * d
	}
	return e / float64(len(x))
}

// semitoneSpectrum is the Goertzel power at every semitone from C3 to C7,
// over the whole signal in one-second blocks.
func semitoneSpectrum(pcm []int16) []float64 {
	var out []float64
	for m := 48; m <= 96; m++ {
		f := 440 * math.Pow(2, float64(m-69)/12)
		var p float64
		for off := 0; off+SampleRate <= len(pcm); off += SampleRate {
			p += goertzel(pcm[off:off+SampleRate], f, SampleRate)
		}
		out = append(out, p)
	}
	return out
}

func cosine(a, b []float64) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += a[i] * b[i]
		aa += a[i] * a[i]
		bb += b[i] * b[i]
	}
	return ab / math.Sqrt(aa*bb)
}

func BenchmarkMOHRead(b *testing.B) {
	src, _ := MOH(MOHMusic2)
	buf := make([]int16, FrameSamples)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.ReadSamples(buf); err != nil {
			b.Fatal(err)
		}
	}
}
