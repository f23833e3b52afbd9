// Package waiters wakes the callers waiting for a task to change (Wait,
// Result) when this process commits a change to it (Set), and when
// another process finishes it (Far). A handle this process holds keeps the
// task as the commit that finished it left it (Slot), so a Wait after the
// finish reads nothing.
package waiters

import (
	"runtime"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/tasker-go/tasker/store"
)

// Waiter is one caller's registration for a task.
type Waiter struct {
	// C is closed at the task's next Notify or NotifyDone.
	C chan struct{}
	// Detail is the finished task's outcome, when NotifyDone had it (read
	// it once C is closed; it is shared by the task's waiters: copy before
	// changing it).
	Detail *store.TaskOutcome
}

// Set is safe for concurrent use. The zero value is ready.
type Set struct {
	mu   sync.Mutex
	byID map[int64][]*Waiter
	kept map[string]weak.Pointer[Slot] // by identity key: the slots handles hold, while they do
}

// Slot holds a task, once a commit of this process left it in a terminal
// state, for the handles that share the slot. A terminal task does not
// change again unless an operator forces it (store.TaskState.Terminal).
// Slots are by identity key, known before the task is created (so a
// step that runs and finishes before Start returns still fills it); a
// key reused by a later run shares the slot: check the task's id.
type Slot struct {
	d atomic.Pointer[store.TaskOutcome]
}

// Load returns the finished task, or nil before it finished here. It is
// shared: copy before changing it.
func (s *Slot) Load() *store.TaskOutcome { return s.d.Load() }

// Keep returns the slot of the task with this identity key, shared by all
// who hold it. The set forgets the slot once nothing holds it.
func (s *Set) Keep(identity string) *Slot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl := s.kept[identity].Value(); sl != nil {
		return sl
	}
	if s.kept == nil {
		s.kept = map[string]weak.Pointer[Slot]{}
	}
	sl := &Slot{}
	wp := weak.Make(sl)
	s.kept[identity] = wp
	runtime.AddCleanup(sl, s.forget, kept{identity, wp})
	return sl
}

type kept struct {
	identity string
	slot     weak.Pointer[Slot]
}

// forget drops a collected slot (unless the key has a newer one).
func (s *Set) forget(k kept) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kept[k.identity] == k.slot {
		delete(s.kept, k.identity)
	}
}

// Add registers a waiter of the task. Pair with Drop when giving up
// before its channel closes.
func (s *Set) Add(taskID int64) *Waiter {
	w := &Waiter{C: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID == nil {
		s.byID = map[int64][]*Waiter{}
	}
	s.byID[taskID] = append(s.byID[taskID], w)
	return w
}

// Drop forgets a waiter Add returned.
func (s *Set) Drop(taskID int64, w *Waiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.byID[taskID]
	for i, c := range list {
		if c == w {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.byID, taskID)
	} else {
		s.byID[taskID] = list
	}
}

// Notify wakes every waiter of the task.
func (s *Set) Notify(taskID int64) { s.NotifyDone(taskID, nil) }

// NotifyDone wakes every waiter of the task with the task as it finished
// (d, when not nil), so they need not read it, and keeps d in the task's
// slot when it is terminal.
func (s *Set) NotifyDone(taskID int64, d *store.TaskOutcome) {
	s.mu.Lock()
	list := s.byID[taskID]
	delete(s.byID, taskID)
	if d != nil && d.State.Terminal() {
		if sl := s.kept[d.IdentityKey].Value(); sl != nil {
			sl.d.Store(d)
		}
	}
	s.mu.Unlock()
	for _, w := range list {
		w.Detail = d
		close(w.C)
	}
}

// Has tells whether anyone waits for the task.
func (s *Set) Has(taskID int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID[taskID]) > 0
}

// Wanted tells whether a handle may wait for the task with this identity
// key: its slot is held and holds no task of the key.
func (s *Set) Wanted(identity string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.kept[identity].Value()
	return sl != nil && sl.d.Load() == nil
}

// IDs returns the tasks waited for, in no order.
func (s *Set) IDs() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]int64, 0, len(s.byID))
	for id := range s.byID {
		ids = append(ids, id)
	}
	return ids
}

// Len is the number of tasks waited for.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}
