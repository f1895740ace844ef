// Package reliability holds tokengate's fault matrix: tests that drive both
// middleware stacks, with both backends behind the cache, against an
// authorization server that fails in every way we know of, and check that
// each failure is a bounded, uncached 503 with Retry-After that leaves no
// goroutine behind. It has no API; its tests are the point.
//
// Setting TOKENGATE_RELIABILITY_REPORT to the path of RELIABILITY.md makes
// the matrix rewrite the generated table there:
//
//	TOKENGATE_RELIABILITY_REPORT=$PWD/RELIABILITY.md go test -run TestFaultMatrix -count=1 ./reliability
package reliability
