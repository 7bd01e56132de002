package pinned

import "syscall"

// procAttr puts a component in its own process group and, on Linux, kills
// it if the test process dies first.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
