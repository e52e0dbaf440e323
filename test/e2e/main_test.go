package e2e

import (
	"flag"
	"os"
	"testing"
)

// e2eParallel is how many scenarios run at once unless -test.parallel is
// given. The scenarios mostly wait for audio played in real time, so they
// overlap well even on two cores; the default (GOMAXPROCS) would run them
// nearly one by one.
const e2eParallel = "8"

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if err := flag.Set("test.parallel", e2eParallel); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
