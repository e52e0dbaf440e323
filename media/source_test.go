package media

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSilence(t *testing.T) {
	s := readAll(t, Silence(250*time.Millisecond), 1e6)
	require.Len(t, s, 2000)
	require.Zero(t, rms(s))
	require.Empty(t, readAll(t, Silence(0), 10))
}

func TestTone(t *testing.T) {
	s := readAll(t, Tone([]float64{440, 480}, time.Second), 1e6)
	require.Len(t, s, 8000)
	p440, p480, p600 := goertzel(s, 440, SampleRate), goertzel(s, 480, SampleRate), goertzel(s, 600, SampleRate)
	require.Greater(t, p440, 1000*p600)
	require.Greater(t, p480, 1000*p600)
	require.InDelta(t, 1000, dominantFreq(readAll(t, Tone([]float64{1000, 9000, -5}, 200*time.Millisecond), 1e6), 300, 3900, 5), 5,
		"out-of-band components are ignored")
}

func TestConcat(t *testing.T) {
	s := readAll(t, Concat(Silence(10*time.Millisecond), PCM([]int16{1, 2, 3}), Tone([]float64{1000}, 5*time.Millisecond)), 1e6)
	require.Len(t, s, 80+3+40)
	require.Equal(t, []int16{1, 2, 3}, s[80:83])
}

type failingSource struct{ n int }

func (f *failingSource) ReadSamples(p []int16) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk on fire")
	}
	f.n--
	return copy(p, make([]int16, 10)), nil
}

func TestConcatPropagatesErrors(t *testing.T) {
	c := Concat(&failingSource{n: 1})
	buf := make([]int16, 160)
	n, err := c.ReadSamples(buf)
	require.Equal(t, 10, n)
	require.EqualError(t, err, "disk on fire")
}

func TestRingbackCadence(t *testing.T) {
	tests := []struct {
		country string
		known   bool
		freq    float64
		on, off time.Duration
	}{
		{"us", true, 440, 2 * time.Second, 4 * time.Second},
		{"SE", true, 425, time.Second, 5 * time.Second},
		{"uk", true, 400, 400 * time.Millisecond, 200 * time.Millisecond},
		{"gb", true, 400, 400 * time.Millisecond, 200 * time.Millisecond},
		{"", false, 440, 2 * time.Second, 4 * time.Second},
		{"xx", false, 440, 2 * time.Second, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.country, func(t *testing.T) {
			src, known := Ringback(tt.country)
			require.Equal(t, tt.known, known)
			on, off := samplesFor(tt.on), samplesFor(tt.off)
			s := readAll(t, src, 2*(on+off)) // endless: two periods
			require.Len(t, s, 2*(on+off))
			require.Greater(t, rms(s[:on]), 3000.0)
			require.Zero(t, rms(s[on+40:on+off-40]))
			require.Greater(t, rms(s[on+off:2*on+off]), 3000.0, "the cadence repeats")
			require.Greater(t, goertzel(s[:on], tt.freq, SampleRate), 100*goertzel(s[:on], 1000, SampleRate))
		})
	}
	require.Len(t, RingbackCountries(), 39)
}

func TestPCMSource(t *testing.T) {
	src := PCM([]int16{1, 2, 3, 4, 5})
	buf := make([]int16, 3)
	n, err := src.ReadSamples(buf)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	n, err = src.ReadSamples(buf)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = src.ReadSamples(buf)
	require.ErrorIs(t, err, io.EOF)
	require.Zero(t, n)
}
