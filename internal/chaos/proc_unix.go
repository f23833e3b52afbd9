//go:build unix

package chaos

import (
	"os/signal"
	"syscall"
)

// The signals of the SIGSTOP scenario.
const sigStop, sigCont = syscall.SIGSTOP, syscall.SIGCONT

// limitFileSize makes writes past n bytes in any file fail with EFBIG
// (RLIMIT_FSIZE) instead of killing the process (SIGXFSZ ignored).
func limitFileSize(n uint64) error {
	signal.Ignore(syscall.SIGXFSZ)
	return syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: n, Max: n})
}
