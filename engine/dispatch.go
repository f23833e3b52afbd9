package engine

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/tasker-go/tasker/store"
)

// dispatcher starts handlers for claimed steps. Two places claim: the claim
// loop, and the completer, which claims the steps its commit released in
// that same transaction. Both reserve room first, so together they never
// run more than MaxConcurrency handlers.
type dispatcher struct {
	e       *Engine
	base    context.Context // handlers' parent context
	out     chan<- outcome
	max     atomic.Int64 // the concurrency limit now (see tune)
	running atomic.Int64
	freed   chan struct{} // a handler finished (buffered 1)

	// The gate orders shutdown: once closed, no new claim starts, and
	// close waits for every handler and every claim already under way.
	mu     sync.Mutex
	closed bool
	work   sync.WaitGroup
}

func newDispatcher(e *Engine, base context.Context, out chan<- outcome) *dispatcher {
	d := &dispatcher{e: e, base: base, out: out, freed: make(chan struct{}, 1)}
	d.max.Store(int64(e.cfg.Execution.MaxConcurrency))
	return d
}

// reserve takes up to n free slots and a claim token; it returns 0 (and no
// token) when there is no room or the gate is closed. Pair with settle.
func (d *dispatcher) reserve(n int) int {
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

// settle starts handlers for what a reservation of n slots claimed, gives
// back the unused slots, and returns the token.
func (d *dispatcher) settle(n int, claimed []*store.ClaimedStep) {
	for _, c := range claimed {
		d.work.Add(1)
		go func() {
			defer d.work.Done()
			defer d.done()
			d.e.execute(d.base, c, d.out)
		}()
	}
	if unused := n - len(claimed); unused > 0 {
		d.running.Add(-int64(unused))
		d.signal()
	}
	d.work.Done()
}

func (d *dispatcher) done() {
	d.running.Add(-1)
	d.signal()
}

func (d *dispatcher) signal() {
	select {
	case d.freed <- struct{}{}:
	default:
	}
}

// close stops new claims and waits for running handlers and claims.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.work.Wait()
}
