//go:build race

package gingate_test

// raceAllocs is how many more allocations TestHitAllocations allows when
// built with the race detector, under which sync.Pool drops items at
// random: gin then makes a new context for some requests, and the two
// routes' averages, rounded down by testing.AllocsPerRun, differ by one
// more or not, from run to run.
const raceAllocs = 1
