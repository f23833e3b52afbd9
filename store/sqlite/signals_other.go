//go:build !linux

package sqlite

// signalWatch is not kept here (no inotify): the pollers of changes.go
// look every millisecond.
type signalWatch struct{}

func watchSignals(string) *signalWatch { return nil }

func (w *signalWatch) subscribe(signalKind) <-chan struct{} { return nil }

func (w *signalWatch) unsubscribe(<-chan struct{}) {}

func (w *signalWatch) live() bool { return false }

func (w *signalWatch) stop() {}
