package phone

import (
	"bytes"
	"context"
	"encoding/binary"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var speechCache sync.Map // text → []int16

// speech synthesises text with espeak-ng and converts it with sox to 8 kHz
// signed 16-bit mono PCM.
func speech(t testing.TB, text string) []int16 {
	t.Helper()
	if v, ok := speechCache.Load(text); ok {
		return v.([]int16) //nolint:forcetypeassert // only []int16 is stored
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wav, err := exec.CommandContext(ctx, "espeak-ng", "--stdout", text).Output()
	require.NoError(t, err, "espeak-ng")
	cmd := exec.CommandContext(ctx, "sox", "-t", "wav", "-", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", "-")
	cmd.Stdin = bytes.NewReader(wav)
	raw, err := cmd.Output()
	require.NoError(t, err, "sox")
	require.Greater(t, len(raw), 8000, "speech too short")
	pcm := make([]int16, len(raw)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	speechCache.Store(text, pcm)
	return pcm
}

// timeout returns a context bounded by d and the test's deadline.
func timeout(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
