// Package skew estimates the store's clock against this process's from
// the claims it makes.
//
// A claim writes its lease's expiry by the store's clock: that time less
// the lease TTL is the store's clock at the claim statement, and read
// against this process's clock some time after, it gives the store's clock
// minus ours less that delay — an underestimate, so a due time read
// through it is never early. The delay is the rest of the claim's
// transaction, its commit, the inputs read after it, and on a loaded
// machine the wait for a core: hundreds of milliseconds were seen under
// the race detector, and taken for skew they pushed a 2 ms retry past the
// engine's inline wait and suspended the workflow. The largest of the
// recent readings is the one with the least delay, still never early.
package skew

import (
	"sync"
	"time"
)

// Window is how long a reading counts: a clock that was stepped back is
// believed within two windows.
const Window = 10 * time.Second

// Estimate is safe for concurrent use. The zero value is ready.
type Estimate struct {
	mu        sync.Mutex
	start     time.Time     // when the current window began, by our clock
	cur, prev time.Duration // the largest reading of each window
	have      int           // windows with a reading: 0, 1 (cur) or 2
}

// Observe adds a reading taken at now (our clock) and returns the
// estimate: the largest reading of this window and the one before.
func (e *Estimate) Observe(now time.Time, reading time.Duration) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.have == 0:
		e.start, e.cur, e.have = now, reading, 1
	case now.Sub(e.start) >= 2*Window || now.Before(e.start):
		// Nothing recent (or our clock went back): start over.
		e.start, e.cur, e.have = now, reading, 1
	case now.Sub(e.start) >= Window:
		e.prev, e.cur, e.start, e.have = e.cur, reading, now, 2
	default:
		e.cur = max(e.cur, reading)
	}
	if e.have == 2 {
		return max(e.cur, e.prev)
	}
	return e.cur
}
