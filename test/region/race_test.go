//go:build race

package region_test

// raceEnabled builds the nodes with the race detector too when the tests
// run with it: the region's code paths race-checked across processes.
const raceEnabled = true
