//go:build !race

package gingate_test

// raceAllocs is how many more allocations TestHitAllocations allows when
// built with the race detector.
const raceAllocs = 0
