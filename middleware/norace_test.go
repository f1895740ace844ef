//go:build !race

package middleware_test

// allocSlack is how far apart two counts of the same path's allocations
// may be: without the race detector, not at all.
const allocSlack = 0
