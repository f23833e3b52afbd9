package chaos

import (
	"os/exec"
	"syscall"
)

// dieWithParent: a child is killed when the process that started it dies
// (an interrupted `tasker chaos` leaves no workers behind).
func dieWithParent(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
