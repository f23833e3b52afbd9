//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"errors"
	"io/fs"
	"syscall"
)

// notWritable is why this process may not write the file at path, nil
// when it may or the system cannot tell (as store/sqlite tells it).
func notWritable(path string) error {
	const wOK = 2 // W_OK
	err := syscall.Access(path, wOK)
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EROFS) {
		return &fs.PathError{Op: "access", Path: path, Err: err}
	}
	return nil
}
