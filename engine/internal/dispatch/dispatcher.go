// Package dispatch holds the concurrency budget: it starts a goroutine per
// claimed step and never lets more than the limit run at once.
//
// Two places claim — the claim loop, and the completer, which claims the
// steps its commit released in that same transaction. Both Reserve room
// first and Settle what they claimed, so together they never exceed the
// limit.
package dispatch

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/tasker-go/tasker/store"
)

// Dispatcher runs Start for each claimed step within the limit.
type Dispatcher struct {
	start   func(*store.ClaimedStep) (then func())
	max     atomic.Int64 // the concurrency limit now (see SetMax)
	running atomic.Int64
	freed   chan struct{} // a slot was freed (buffered 1)

	// Handler time, for the tuner: the nanoseconds (since epoch) that
	// finished handlers ran, and the count and sum of start times of the
	// handlers running now, so HandlerTime integrates without a lock.
	epoch     time.Time
	doneNs    atomic.Int64
	handlers  atomic.Int64
	startedNs atomic.Int64

	// The gate orders shutdown: once closed, no new claim starts, and
	// Close waits for every handler and every claim already under way.
	mu     sync.Mutex
	closed bool
	work   sync.WaitGroup
}

// New returns a dispatcher that runs start (in a goroutine of its own) for
// every claimed step, at most limit at once. The function start returns,
// if not nil, runs once the step's slot is free again: a worker hands its
// outcome on there, so that the commit recording it finds the slot free
// (to claim the step's successor in the same transaction) and a caller
// woken by that commit finds it free too.
func New(limit int, start func(*store.ClaimedStep) (then func())) *Dispatcher {
	d := &Dispatcher{start: start, freed: make(chan struct{}, 1), epoch: time.Now()}
	d.max.Store(int64(limit))
	return d
}

// Max is the concurrency limit now.
func (d *Dispatcher) Max() int { return int(d.max.Load()) }

// SetMax changes the limit; a raise frees room at once.
func (d *Dispatcher) SetMax(n int) {
	d.max.Store(int64(n))
	d.signal()
}

// Running is the number of slots taken (handlers running plus claims
// reserved).
func (d *Dispatcher) Running() int { return int(d.running.Load()) }

// Free is the room left.
func (d *Dispatcher) Free() int { return int(d.max.Load() - d.running.Load()) }

// HandlerTime is the wall time handlers have spent running since the
// dispatcher was made, counting the handlers running now up to now. The
// difference of two readings is the handler-seconds of the interval
// between them (the tuner compares it with the process's CPU time).
func (d *Dispatcher) HandlerTime() time.Duration {
	now := int64(time.Since(d.epoch))
	n, started := d.handlers.Load(), d.startedNs.Load()
	return time.Duration(d.doneNs.Load() + max(0, n*now-started))
}

// Freed receives when a slot is freed.
func (d *Dispatcher) Freed() <-chan struct{} { return d.freed }

// Reserve takes up to n free slots and a claim token; it returns 0 (and no
// token) when there is no room or the dispatcher is closed. Pair with
// Settle.
func (d *Dispatcher) Reserve(n int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0
	}
	for {
		cur := d.running.Load()
		got := min(int64(n), d.max.Load()-cur)
		if got <= 0 {
			return 0
		}
		if d.running.CompareAndSwap(cur, cur+got) {
			d.work.Add(1) // the claim's token
			return int(got)
		}
	}
}

// Settle starts handlers for what a reservation of n slots claimed, gives
// back the unused slots, and returns the token.
func (d *Dispatcher) Settle(n int, claimed []*store.ClaimedStep) {
	for _, c := range claimed {
		d.work.Add(1)
		go func() {
			defer d.work.Done()
			if then := d.run(c); then != nil {
				then() // the slot is free
			}
		}()
	}
	if unused := n - len(claimed); unused > 0 {
		d.running.Add(-int64(unused))
		d.signal()
	}
	d.work.Done()
}

// run runs start for c, timed for HandlerTime, and frees its slot.
func (d *Dispatcher) run(c *store.ClaimedStep) (then func()) {
	defer d.release()
	t0 := int64(time.Since(d.epoch))
	d.startedNs.Add(t0)
	d.handlers.Add(1)
	defer func() {
		d.doneNs.Add(int64(time.Since(d.epoch)) - t0)
		d.handlers.Add(-1)
		d.startedNs.Add(-t0)
	}()
	return d.start(c)
}

func (d *Dispatcher) release() {
	d.running.Add(-1)
	d.signal()
}

func (d *Dispatcher) signal() {
	select {
	case d.freed <- struct{}{}:
	default:
	}
}

// Close stops new claims; Wait then waits for running handlers and claims.
func (d *Dispatcher) Close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
}

// Wait returns once every handler and claim under way has finished: call
// it after Close.
func (d *Dispatcher) Wait() { d.work.Wait() }
