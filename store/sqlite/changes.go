package sqlite

import (
	"context"
	"time"
)

// changePoll is how often TaskDone looks for commits while someone waits.
const changePoll = 5 * time.Millisecond

// AnnounceDone does nothing: every commit, by any process, is seen by
// TaskDone through the file's data_version.
func (s *Store) AnnounceDone() {}

// TaskDone reports commits made through other connections to the file —
// other processes, and this process's writer — so that Wait in one process
// sees a task another process finished within a few milliseconds rather
// than at its poll interval. It polls PRAGMA data_version every 5 ms on one
// connection of the read pool, from the call until stop; the channel holds
// at most one signal. An in-memory store (no other process can share it)
// returns a channel that never fires.
func (s *Store) TaskDone() (<-chan struct{}, func()) {
	out := make(chan struct{}, 1)
	if s.ro == nil {
		return out, func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := s.ro.Conn(ctx)
		if err != nil {
			return // closed store: waiters fall back to their poll
		}
		defer conn.Close()
		var last int64 = -1
		t := time.NewTicker(changePoll)
		defer t.Stop()
		for {
			var v int64
			if err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
				return
			}
			if last >= 0 && v != last {
				select {
				case out <- struct{}{}:
				default:
				}
			}
			last = v
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return out, func() { cancel(); <-done }
}
