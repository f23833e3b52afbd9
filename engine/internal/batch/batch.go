// Package batch coalesces concurrent calls into one (group commit): while
// one batch runs, the calls that arrive queue up, and the next batch takes
// them all (up to a bound) in one run. A lone call runs at once, alone, so
// batching costs nothing when there is nothing to batch.
package batch

import (
	"context"
	"runtime"
	"slices"
	"sync"
)

// Batcher is safe for concurrent use.
type Batcher[Q, R any] struct {
	run func(ctx context.Context, reqs []Q) []Result[R]
	max int

	mu    sync.Mutex
	busy  bool // a batch runs, or leadership is being handed over
	queue []*call[Q, R]
}

// Result is the outcome of one request.
type Result[R any] struct {
	Value R
	Err   error
}

type call[Q, R any] struct {
	req  Q
	res  Result[R]
	done chan struct{} // closed when res is set
	lead chan struct{} // closed when this call is to run the next batch
}

// New returns a Batcher whose batches run(ctx, reqs) with at most limit
// requests (at least 1). run returns one Result per request, in order. It
// runs on the goroutine of one of the callers, with that caller's context
// values but without its cancellation: a batch under way finishes for all.
func New[Q, R any](limit int, run func(ctx context.Context, reqs []Q) []Result[R]) *Batcher[Q, R] {
	return &Batcher[Q, R]{run: run, max: max(limit, 1)}
}

// Do runs req in the next batch and returns its result. When ctx ends
// before req was taken into a batch, Do returns ctx's error and req was
// not run; once it was taken, Do waits for the batch.
func (b *Batcher[Q, R]) Do(ctx context.Context, req Q) (R, error) {
	if err := ctx.Err(); err != nil {
		var zero R
		return zero, err
	}
	c := &call[Q, R]{req: req, done: make(chan struct{}), lead: make(chan struct{})}
	b.mu.Lock()
	if !b.busy {
		b.busy = true
		b.mu.Unlock()
		return b.leadWith(ctx, c)
	}
	b.queue = append(b.queue, c)
	b.mu.Unlock()
	select {
	case <-c.done:
		return c.res.Value, c.res.Err
	case <-c.lead:
		return b.leadWith(ctx, c)
	case <-ctx.Done():
	}
	b.mu.Lock()
	if i := slices.Index(b.queue, c); i >= 0 {
		b.queue = slices.Delete(b.queue, i, i+1)
		b.mu.Unlock()
		var zero R
		return zero, ctx.Err()
	}
	b.mu.Unlock()
	select { // taken: into a batch, or to lead one
	case <-c.done:
		return c.res.Value, c.res.Err
	case <-c.lead:
		return b.leadWith(ctx, c)
	}
}

// leadWith runs a batch of c and the calls queued behind it, then hands
// leadership to the first call queued meanwhile.
func (b *Batcher[Q, R]) leadWith(ctx context.Context, c *call[Q, R]) (R, error) {
	// Let callers that are about to queue do so first: with 8 goroutines
	// starting on 2 cores, batches grew from 1.9 calls to 6.5 and W1 from
	// about 2,200 to 2,650 workflows/s; a lone call pays one yield.
	runtime.Gosched()
	b.mu.Lock()
	n := min(len(b.queue), b.max-1)
	calls := append([]*call[Q, R]{c}, b.queue[:n]...)
	b.queue = slices.Delete(b.queue, 0, n)
	b.mu.Unlock()

	reqs := make([]Q, len(calls))
	for i, c := range calls {
		reqs[i] = c.req
	}
	res := b.run(context.WithoutCancel(ctx), reqs)
	for i, c := range calls {
		c.res = res[i]
		close(c.done)
	}

	b.mu.Lock()
	if len(b.queue) > 0 {
		next := b.queue[0]
		b.queue = b.queue[1:]
		close(next.lead)
	} else {
		b.busy = false
	}
	b.mu.Unlock()
	return c.res.Value, c.res.Err
}

// Queued returns the number of calls waiting for a batch.
func (b *Batcher[Q, R]) Queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}
