package redistest

import "syscall"

// sysProcAttr makes the kernel kill redis-server if the test process dies
// without running its cleanups (e.g. a test timeout panic).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
