package engine

import (
	"cmp"
	"slices"

	"github.com/tasker-go/tasker/engine/internal/batch"
	"github.com/tasker-go/tasker/engine/internal/claimer"
	"github.com/tasker-go/tasker/engine/internal/dispatch"
	"github.com/tasker-go/tasker/store"
)

// Eager dispatch: a Start made in a process whose worker loop runs with
// free slots claims the new task's first ready steps in the transaction
// that creates it (store.StartLease), and this process runs them at once —
// no claim transaction, no wait for the claim loop to wake. The claim is
// an ordinary lease (attempt counted, expiry, rescue), so a crash after
// the commit is recovered like any other.
//
// It holds back while the claim loop reports a backlog (ready work it had
// no room for, or took a full batch of), so new tasks do not overtake
// older ready ones, and for starts in the caller's transaction (nothing
// may run before that commits) and StartMany (bulk loads go through the
// claim loop's batches and ordering).

// eagerRun is what eager dispatch needs of the running worker loop.
type eagerRun struct {
	d    *dispatch.Dispatcher
	loop *claimer.Loop
}

// leaseStarts gives the starts of one group commit a Lease on their ready
// steps, for as much room as the dispatcher has, and returns the run and
// the slots reserved (0: no lease; else settle them with settleStarts).
func (e *Engine) leaseStarts(ps []*store.CreateTaskParams) (*eagerRun, int) {
	for _, p := range ps {
		p.Lease = nil
	}
	run := e.eager.Load()
	if run == nil || run.loop.Backlog() {
		return nil, 0
	}
	handlers := e.reg.Names()
	x := e.cfg.Execution
	want := 0
	for _, p := range ps {
		if len(x.Queues) > 0 && !slices.Contains(x.Queues, cmp.Or(p.Queue, store.DefaultQueue)) {
			continue
		}
		p.Lease = &store.StartLease{Owner: e.cfg.WorkerID, TTL: x.LeaseTTL, Limit: len(p.Steps), Handlers: handlers}
		p.Lease.Limit = len(p.Leased())
		want += p.Lease.Limit
	}
	got := 0
	if want > 0 {
		got = run.d.Reserve(want)
	}
	left := got
	for _, p := range ps { // the room, in start order
		if p.Lease == nil {
			continue
		}
		p.Lease.Limit = min(p.Lease.Limit, left)
		left -= p.Lease.Limit
		if p.Lease.Limit == 0 {
			p.Lease = nil
		}
	}
	if got == 0 {
		return nil, 0
	}
	return run, got
}

// settleStarts starts the steps the group's starts claimed and gives back
// the rest of the reservation.
func (e *Engine) settleStarts(run *eagerRun, reserved int, out []batch.Result[*store.CreateTaskResult]) {
	if run == nil {
		return
	}
	var claimed []*store.ClaimedStep
	for _, r := range out {
		if r.Err == nil && r.Value != nil {
			claimed = append(claimed, r.Value.Claimed...)
		}
	}
	if n := int64(len(claimed)); n > 0 {
		e.stat.claimed.Add(n)
		e.stat.claimedAtStart.Add(n)
	}
	run.d.Settle(reserved, claimed)
}

// readyAtStart counts the steps of p a claim could take as soon as it
// commits.
func readyAtStart(p *store.CreateTaskParams) int {
	n := 0
	for _, s := range p.Steps {
		if len(s.DependsOn) == 0 && s.NotBefore.IsZero() {
			n++
		}
	}
	return n
}
