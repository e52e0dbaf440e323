//go:build !unix

package kamailio

import (
	"os"
	"syscall"
)

// sysProcAttr is the default: kamailio runs on unix systems only.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// killGroup kills pid (one we started).
func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
