// Package dsp holds the signal-processing helpers that media and its
// subpackages share: the Kaiser window used to design their windowed-sinc
// FIR filters.
package dsp

import "math"

// BesselI0 is the zeroth-order modified Bessel function of the first kind
// (power series, relative precision 1e-12).
func BesselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1; k < 64; k++ {
		term *= q / float64(k*k)
		sum += term
		if term < sum*1e-12 {
			break
		}
	}
	return sum
}

// Kaiser returns the Kaiser window of shape beta at r, the position from
// the window's centre (0) to its edges (±1); 0 outside.
func Kaiser(r, beta float64) float64 {
	if r < -1 || r > 1 {
		return 0
	}
	return BesselI0(beta*math.Sqrt(1-r*r)) / BesselI0(beta)
}
