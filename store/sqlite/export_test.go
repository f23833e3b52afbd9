package sqlite

import "time"

// Alone reports whether the store takes itself to be the only one on its
// file (presence).
func Alone(s *Store) bool { return s.pres.alone() }

// SetPoll makes the pollers the store starts from now on look every d
// while not alone, instead of every millisecond.
func SetPoll(s *Store, d time.Duration) { s.poll = d }

// Looks is how many looks the store's TaskDone pollers (done) or its
// Wakeups poller (!done) have taken in their loops.
func Looks(s *Store, done bool) int64 {
	if done {
		return s.looks[0].Load()
	}
	return s.looks[1].Load()
}
