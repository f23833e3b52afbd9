//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package sqlite

// notWritable cannot tell here: SQLite's own errors remain.
func notWritable(string) error { return nil }
