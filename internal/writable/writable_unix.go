//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package writable

import (
	"errors"
	"io/fs"
	"syscall"
)

// Check is why this process may not write path, a file or a directory
// (access(2) says so: no permission, a read-only file system), nil when it
// may or the system cannot tell. It opens no descriptor: one closed on an
// SQLite database file would drop every POSIX lock this process holds on
// it, SQLite's for another store of the process among them.
func Check(path string) error {
	const wOK = 2 // W_OK
	err := syscall.Access(path, wOK)
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EROFS) {
		return &fs.PathError{Op: "access", Path: path, Err: err}
	}
	return nil
}
