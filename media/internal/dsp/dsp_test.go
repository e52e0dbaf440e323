package dsp

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBesselI0(t *testing.T) {
	// Reference values: the series summed in extended precision.
	for _, tc := range []struct{ x, want float64 }{{0, 1}, {1, 1.2660658777520082}, {2, 2.2795853023360673}, {5, 27.239871823604442}, {8.6, 750.4611595631661}} {
		require.InEpsilon(t, tc.want, BesselI0(tc.x), 1e-10, "I0(%v)", tc.x)
	}
}

func TestKaiser(t *testing.T) {
	require.InDelta(t, 1, Kaiser(0, 7), 1e-12)
	require.InDelta(t, 1/BesselI0(7), Kaiser(1, 7), 1e-12)
	require.Equal(t, Kaiser(0.3, 7), Kaiser(-0.3, 7), "symmetric")
	require.Zero(t, Kaiser(1.01, 7))
	require.InDelta(t, 1, Kaiser(0.9, 0), 1e-12, "beta 0 is the rectangular window")
	require.False(t, math.IsNaN(Kaiser(1, 8.6)))
}
