//go:build !linux

package pinned

import "syscall"

// procAttr puts a component in its own process group (no parent-death
// signal outside Linux: the test's cleanup stops it).
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
