package kamailio

import "syscall"

// sysProcAttr puts kamailio in its own process group (so a stuck shutdown
// can be killed with its children) and sends it SIGTERM if the test binary
// dies: its main process then stops its children (SIGKILL would leave them
// running, holding the ports).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// killGroup sends SIGKILL to the process group led by pid (one we started).
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
