//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package sqlite

// presence is not kept here (no POSIX record locks to ask): a store is
// never taken to be alone, and looks for other processes' commits every
// millisecond.
type presence struct{}

func openPresence(string) *presence { return nil }

func (p *presence) close() {}

func (p *presence) alone() bool { return false }

func (p *presence) signal(signalKind) {}
