// Package clock lets the engine's notion of time be replaced in tests: the
// fake clock moves only when told, and fires timers as it passes them.
//
// A clock also carries the choice between the database's time and the
// process's time (River's NowOrNil is the model): StoreNow returns the zero
// time when writes should use the database's clock — the wall clock's
// choice, so that every process sharing a Postgres database agrees on one
// clock — and the clock's own reading otherwise (a fake clock in tests).
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells time, makes timers, and says which clock the store uses.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
	// StoreNow is the time handed to the store with a write: the zero time
	// means "the database's own clock".
	StoreNow() time.Time
}

// Real is the wall clock; the store uses the database's clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// After is time.After.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// StoreNow returns the zero time: the database's clock decides.
func (Real) StoreNow() time.Time { return time.Time{} }

// Fake is a clock that moves only through Advance and Set. The store is
// told its time with every write.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// StoreNow returns the fake time: the store must not read its own clock.
func (f *Fake) StoreNow() time.Time { return f.Now() }

// After fires when the fake time reaches now+d.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, waiter{at: f.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock forward by d and fires due timers.
func (f *Fake) Advance(d time.Duration) { f.Set(f.Now().Add(d)) }

// Set moves the clock to t (never backwards) and fires due timers.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.After(f.now) {
		f.now = t
	}
	sort.Slice(f.waiters, func(i, j int) bool { return f.waiters[i].at.Before(f.waiters[j].at) })
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if !w.at.After(f.now) {
			w.ch <- f.now
		} else {
			kept = append(kept, w)
		}
	}
	f.waiters = kept
}

// Next returns the earliest time a timer waits for.
func (f *Fake) Next() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var next time.Time
	for _, w := range f.waiters {
		if next.IsZero() || w.at.Before(next) {
			next = w.at
		}
	}
	return next, !next.IsZero()
}
