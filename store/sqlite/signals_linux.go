//go:build linux

package sqlite

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// signalWatch tells, through inotify, when a store of another process
// signals a commit worth a look (presence.signal: a start, a finished
// task, told apart), so the pollers of changes.go look at once instead of
// at their next millisecond. One inotify instance per store, shared by its
// pollers; it watches the presence file (path + "-presence"), which every
// store on the database keeps open.
type signalWatch struct {
	path string
	f    *os.File // the inotify descriptor, non-blocking (read through the runtime's poller)

	mu    sync.Mutex
	subs  map[chan struct{}]signalKind
	dead  bool // the watch went (the file was removed): started again by live
	broke bool // reading failed: the pollers fall back to their poll for good
	close bool
	done  chan struct{}
}

// watchSignals watches the presence file of the database at path. It
// returns nil when it cannot (no presence file, no inotify instance left):
// the pollers then look every millisecond only, as they do where inotify
// does not exist.
func watchSignals(path string) *signalWatch {
	file := presencePath(path)
	if file == "" {
		return nil
	}
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		return nil
	}
	w := &signalWatch{path: file, f: os.NewFile(uintptr(fd), "inotify"), subs: map[chan struct{}]signalKind{}, done: make(chan struct{})}
	if !w.add() {
		_ = w.f.Close()
		return nil
	}
	go w.run()
	return w
}

// add (re)starts the watch of the file; false when it cannot.
func (w *signalWatch) add() bool {
	err := w.rawConn(func(fd uintptr) error {
		_, err := syscall.InotifyAddWatch(int(fd), w.path, syscall.IN_MODIFY|syscall.IN_ATTRIB|syscall.IN_DELETE_SELF|syscall.IN_MOVE_SELF)
		return err
	})
	if err != nil {
		return false
	}
	w.dead = false
	return true
}

func (w *signalWatch) rawConn(fn func(fd uintptr) error) error {
	rc, err := w.f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(fd) }); err != nil {
		return err
	}
	return ferr
}

// run reads events until the descriptor closes and signals the
// subscribers of each batch (coalesced: one signal per read and kind): a
// write is a start (signalWork), a change of the file's times a finished
// task (signalDone); a lost watch or an overflowed queue signals both.
func (w *signalWatch) run() {
	defer close(w.done)
	buf := make([]byte, 64*(syscall.SizeofInotifyEvent+syscall.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			w.mu.Lock()
			w.broke = true
			w.mu.Unlock()
			w.signal(signalWork | signalDone)
			return
		}
		gone, kinds := false, signalKind(0)
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			switch {
			case ev.Mask&(syscall.IN_IGNORED|syscall.IN_DELETE_SELF|syscall.IN_MOVE_SELF) != 0:
				gone, kinds = true, signalWork|signalDone
			case ev.Mask&syscall.IN_Q_OVERFLOW != 0:
				kinds = signalWork | signalDone
			case ev.Mask&syscall.IN_MODIFY != 0:
				kinds |= signalWork
			case ev.Mask&syscall.IN_ATTRIB != 0:
				kinds |= signalDone
			}
			off += syscall.SizeofInotifyEvent + int(ev.Len)
		}
		if gone {
			w.mu.Lock()
			w.dead = true
			w.mu.Unlock()
		}
		w.signal(kinds)
	}
}

func (w *signalWatch) signal(kinds signalKind) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch, k := range w.subs {
		if k&kinds == 0 {
			continue
		}
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// subscribe returns a channel that receives (coalesced) after each signal
// of the kinds given, until unsubscribe.
func (w *signalWatch) subscribe(kinds signalKind) <-chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	w.subs[ch] = kinds
	w.mu.Unlock()
	return ch
}

func (w *signalWatch) unsubscribe(ch <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for c := range w.subs {
		if c == ch {
			delete(w.subs, c)
		}
	}
}

// live reports whether the watch sees signals now; a watch that went (the
// file was removed and made again) is started again on the file there is
// now, if any.
func (w *signalWatch) live() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.close || w.broke {
		return false
	}
	if w.dead {
		return w.add()
	}
	return true
}

// stop closes the descriptor and waits for the reader.
func (w *signalWatch) stop() {
	w.mu.Lock()
	if w.close {
		w.mu.Unlock()
		return
	}
	w.close = true
	w.mu.Unlock()
	_ = w.f.Close()
	<-w.done
}
