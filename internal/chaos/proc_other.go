//go:build !unix

package chaos

import (
	"errors"
	"syscall"
)

// No SIGSTOP here: sending these fails, and the scenario with it.
const sigStop, sigCont = syscall.Signal(-1), syscall.Signal(-1)

func limitFileSize(uint64) error {
	return errors.New("the disk-full scenario needs RLIMIT_FSIZE (a Unix system)")
}
