//go:build race

package middleware_test

// allocSlack is how far apart two counts of the same path's allocations
// may be: the race detector makes sync.Pool drop items at random, so a
// pooled buffer is sometimes allocated anew.
const allocSlack = 1
