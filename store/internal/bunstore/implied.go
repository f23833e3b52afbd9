package bunstore

import (
	"slices"
	"time"

	"github.com/tasker-go/tasker/store"
)

// Implied transitions. The audit trail has one row per state change, but
// a start's changes are recorded by the rows it creates as well, so no
// transition row is written for them (each would cost an insert and its
// index entries on the hot path, where a one-step workflow otherwise
// writes four transition rows):
//
//   - a task's creation (sort key 1, from nowhere to the state it started
//     in, at its created_at);
//   - a step claimed by the start that creates it (sort key 1, pending →
//     in_progress at its created_at, the task's).
//
// Every other change writes its row. History puts the implied rows back
// (ID 0: not stored), so readers see the whole trail: the rows'
// transition_seq counts every change, and sort key 1 missing from the
// table is one of these.

// historyTask is what History reads of a task to imply its creation.
type historyTask struct {
	State         string    `bun:"state"`
	TransitionSeq int       `bun:"transition_seq"`
	CreatedAt     time.Time `bun:"created_at"`
}

// historyStep is what History reads of a step to imply its rows.
type historyStep struct {
	ID            int64     `bun:"id"`
	TransitionSeq int       `bun:"transition_seq"`
	CreatedAt     time.Time `bun:"created_at"`
}

// withImpliedTask adds a task's creation to its rows when it is not
// stored: from nowhere to the state the next row leaves (or the task's
// state, when nothing follows). rows are in sort key order, and so is the
// answer.
func withImpliedTask(taskID int64, t historyTask, rows []*store.TaskTransition) []*store.TaskTransition {
	if t.TransitionSeq < 1 || (len(rows) > 0 && rows[0].SortKey == 1) {
		return rows
	}
	first := t.State
	if len(rows) > 0 && rows[0].FromState != nil {
		first = *rows[0].FromState
	}
	created := &store.TaskTransition{TaskID: taskID, ToState: first, SortKey: 1, CreatedAt: t.CreatedAt}
	return append([]*store.TaskTransition{created}, rows...)
}

// withImpliedSteps adds the steps' implied claims to rows (in write
// order), each before the rows written at or after its instant: a step
// claimed by its start was created, and claimed, with its task, before
// anything else happened to the task.
func withImpliedSteps(taskID int64, steps []historyStep, rows []*store.StepTransition) []*store.StepTransition {
	stored := make(map[int64]bool, len(rows))
	for _, r := range rows {
		if r.SortKey == 1 {
			stored[r.StepID] = true
		}
	}
	var implied []*store.StepTransition
	for _, st := range steps { // in id order
		if st.TransitionSeq >= 1 && !stored[st.ID] {
			from := string(store.StepPending)
			implied = append(implied, &store.StepTransition{StepID: st.ID, TaskID: taskID, FromState: &from,
				ToState: string(store.StepInProgress), SortKey: 1, CreatedAt: st.CreatedAt})
		}
	}
	if len(implied) == 0 {
		return rows
	}
	slices.SortStableFunc(implied, func(a, b *store.StepTransition) int { return a.CreatedAt.Compare(b.CreatedAt) })
	out := make([]*store.StepTransition, 0, len(rows)+len(implied))
	for _, r := range rows {
		for len(implied) > 0 && !r.CreatedAt.Before(implied[0].CreatedAt) {
			out, implied = append(out, implied[0]), implied[1:]
		}
		out = append(out, r)
	}
	return append(out, implied...)
}
