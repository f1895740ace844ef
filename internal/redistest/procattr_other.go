//go:build !linux

package redistest

import "syscall"

// dieWithParent is nil where the kernel cannot kill the server with the
// test binary: a binary that dies leaves it running.
func dieWithParent() *syscall.SysProcAttr { return nil }
