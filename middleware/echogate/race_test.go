//go:build race

package echogate_test

// raceAllocs is how many more allocations Echo makes per request when built
// with the race detector.
const raceAllocs = 1
