//go:build unix && !linux

package kamailio

import "syscall"

// sysProcAttr puts kamailio in its own process group so a stuck shutdown
// can be killed with its children.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// killGroup sends SIGKILL to the process group led by pid (one we started).
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
