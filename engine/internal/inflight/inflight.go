// Package inflight is the set of steps whose handlers run in this process:
// their leases (for the heartbeat and for a workflow driver that records
// under its own lease) and the cancel functions that stop them.
package inflight

import (
	"context"
	"sync"

	"github.com/tasker-go/tasker/store"
)

type entry struct {
	lease  store.Lease
	taskID int64
	cancel context.CancelCauseFunc
}

// Set is safe for concurrent use. The zero value is ready.
type Set struct {
	mu    sync.Mutex
	steps map[int64]entry // by step id
}

// Add records a running step. Pair with Remove. When this process was
// already running the step under an older lease — it lost that lease
// (expired and rescued) and claimed the step again — the older attempt's
// cancel function is returned: the caller cancels it, since its result can
// no longer be recorded, and two attempts of one step must not run side
// by side.
func (s *Set) Add(lease store.Lease, taskID int64, cancel context.CancelCauseFunc) (superseded context.CancelCauseFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.steps == nil {
		s.steps = map[int64]entry{}
	}
	if old, ok := s.steps[lease.StepID]; ok && old.lease != lease {
		superseded = old.cancel
	}
	s.steps[lease.StepID] = entry{lease: lease, taskID: taskID, cancel: cancel}
	return superseded
}

// Remove forgets a step's attempt under that lease (not a later attempt of
// the same step).
func (s *Set) Remove(lease store.Lease) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.steps[lease.StepID]; ok && e.lease == lease {
		delete(s.steps, lease.StepID)
	}
}

// Lease returns the lease a running step holds.
func (s *Set) Lease(stepID int64) (store.Lease, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.steps[stepID]
	return e.lease, ok
}

// Leases returns every lease held now.
func (s *Set) Leases() []store.Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Lease, 0, len(s.steps))
	for _, e := range s.steps {
		out = append(out, e.lease)
	}
	return out
}

// Len is the number of running steps.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.steps)
}

// CancelTask cancels every running step of a task with cause.
func (s *Set) CancelTask(taskID int64, cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.steps {
		if e.taskID == taskID {
			e.cancel(cause)
		}
	}
}

// CancelLost cancels the steps whose leases were lost (only if they still
// hold exactly that lease) with cause.
func (s *Set) CancelLost(lost []store.Lease, cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range lost {
		if e, ok := s.steps[l.StepID]; ok && e.lease == l {
			e.cancel(cause)
		}
	}
}
