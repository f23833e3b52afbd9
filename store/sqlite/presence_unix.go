//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sqlite

import (
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// presence tells whether a store is alone on its database file: no other
// store of this process and no other process has it open for writing.
// Each such store holds a POSIX read lock on a file next to the database
// (its path + "-presence"), and a process asks whether another process
// holds one (F_GETLK: a process's own locks never conflict with it). The
// stores of one process on one file share a descriptor and count
// themselves: closing any descriptor of a file drops every lock the
// process has on it.
type presence struct {
	pf     *presenceFile
	closed bool // guarded by presenceFiles' lock: Close may come twice
}

type presenceFile struct {
	key  string
	f    *os.File
	refs int // stores of this process sharing it
}

var presenceFiles = struct {
	sync.Mutex
	m map[string]*presenceFile
}{m: map[string]*presenceFile{}}

// openPresence takes the presence lock of the database at dbPath (which
// exists). It returns nil when it cannot: then the store is never taken
// to be alone.
func openPresence(dbPath string) *presence {
	key := presencePath(dbPath)
	if key == "" {
		return nil
	}
	presenceFiles.Lock()
	defer presenceFiles.Unlock()
	if pf := presenceFiles.m[key]; pf != nil {
		pf.refs++
		return &presence{pf: pf}
	}
	f, err := os.OpenFile(key, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil
	}
	lk := syscall.Flock_t{Type: syscall.F_RDLCK, Whence: io.SeekStart, Start: 0, Len: 1}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		_ = f.Close()
		return nil
	}
	pf := &presenceFile{key: key, f: f, refs: 1}
	presenceFiles.m[key] = pf
	return &presence{pf: pf}
}

// presencePath is the presence file of the database at dbPath (which
// exists), by its absolute path: "" when it cannot say.
func presencePath(dbPath string) string {
	abs, err := filepath.Abs(dbPath)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return ""
	}
	return abs + "-presence"
}

// signal tells the stores of other processes watching the presence file
// (signalWatch) to look for a change at once: a start writes a byte to it,
// a finished task sets its times (two kinds of event, so workers and
// waiters each wake only for theirs).
func (p *presence) signal(kind signalKind) {
	p.whileOpen(func() {
		if kind&signalWork != 0 {
			_, _ = p.pf.f.WriteAt([]byte{1}, 0)
		}
		if kind&signalDone != 0 {
			now := syscall.NsecToTimeval(time.Now().UnixNano())
			_ = syscall.Futimes(int(p.pf.f.Fd()), []syscall.Timeval{now, now})
		}
	})
}

// close gives the lock back (the last store of the process to close it
// closes the file).
func (p *presence) close() {
	p.whileOpen(func() {
		p.closed = true
		if p.pf.refs--; p.pf.refs == 0 {
			delete(presenceFiles.m, p.pf.key)
			_ = p.pf.f.Close()
		}
	})
}

// whileOpen runs f under the files' lock, if p is there and not closed.
func (p *presence) whileOpen(f func()) {
	if p == nil {
		return
	}
	presenceFiles.Lock()
	defer presenceFiles.Unlock()
	if !p.closed {
		f()
	}
}

// alone reports that no other store, of this process or another, has the
// database open (false when it cannot tell).
func (p *presence) alone() bool {
	if p == nil {
		return false
	}
	presenceFiles.Lock()
	defer presenceFiles.Unlock()
	if p.closed || p.pf.refs > 1 {
		return false
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart, Start: 0, Len: 1}
	if err := syscall.FcntlFlock(p.pf.f.Fd(), syscall.F_GETLK, &lk); err != nil {
		return false
	}
	return lk.Type == syscall.F_UNLCK
}
