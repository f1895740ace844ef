package redis_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: the
// Cache's listener and the shared calls must all end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
