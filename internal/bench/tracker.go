package bench

import (
	"context"
	"sync"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// Tracker follows the lifecycle events of a set of tasks: the bench and
// `tasker demo` wait on it for their workflows to finish.

type Tracker struct {
	mu       sync.Mutex
	mine     map[int64]bool
	finished map[int64]string // by task id: the last task event seen
	complete int              // of mine
	failed   int              // of mine
	changed  chan struct{}
}

// NewTracker returns a Tracker following no task yet.
func NewTracker() *Tracker {
	return &Tracker{mine: map[int64]bool{}, finished: map[int64]string{}, changed: make(chan struct{}, 1)}
}

// Add follows task id (whose events may have been seen already).
func (t *Tracker) Add(id int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mine[id] = true
	t.count(id, t.finished[id], +1)
}

func (t *Tracker) count(id int64, ev string, sign int) {
	switch ev {
	case engine.EventTaskCompleted:
		t.complete += sign
	case engine.EventTaskFailed:
		t.failed += sign
	}
}

// Consume reads events until the channel closes.
func (t *Tracker) Consume(events <-chan engine.Event) {
	for ev := range events {
		if ev.Name != engine.EventTaskCompleted && ev.Name != engine.EventTaskFailed {
			continue
		}
		t.set(ev.TaskID, ev.Name)
	}
}

func (t *Tracker) set(id int64, ev string) {
	t.mu.Lock()
	if t.mine[id] {
		t.count(id, t.finished[id], -1)
		t.count(id, ev, +1)
	}
	t.finished[id] = ev
	t.mu.Unlock()
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// Counts are the followed tasks that completed, that failed, and all of them.
func (t *Tracker) Counts() (complete, failed, total int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.complete, t.failed, len(t.mine)
}

// Resync reads the state of every unfinished task of mine from the store:
// the fallback for events the subscription dropped.
func (t *Tracker) Resync(ctx context.Context, st store.Store) error {
	t.mu.Lock()
	var open []int64
	for id := range t.mine {
		if t.finished[id] == "" {
			open = append(open, id)
		}
	}
	t.mu.Unlock()
	for _, id := range open {
		d, err := st.GetTask(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case d.Task.State == store.TaskComplete:
			t.set(id, engine.EventTaskCompleted)
		case d.Task.State.Done():
			t.set(id, engine.EventTaskFailed)
		}
	}
	return nil
}

// Changed receives (coalesced) when a task finished.
func (t *Tracker) Changed() <-chan struct{} { return t.changed }
