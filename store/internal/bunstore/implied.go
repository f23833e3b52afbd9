package bunstore

import (
	"slices"
	"time"

	"github.com/tasker-go/tasker/store"
)

// Implied transitions. The audit trail has one row per state change, but
// some changes are recorded by other rows as well, so no transition row is
// written for them (each would cost an insert and its index entries on the
// hot path, where a one-step workflow otherwise writes four transition
// rows):
//
//   - a task's creation (sort key 1, from nowhere to the state it started
//     in, at its created_at);
//   - a step claimed by the start that creates it (sort key 1, pending →
//     in_progress at its created_at, the task's);
//   - a task's first move from pending to in_progress (sort key 2), made by
//     the claim of one of its steps, whose row is written: at that claim's
//     time;
//   - a durable step (a code-first workflow's, with a sequence) recorded
//     complete on its first attempt: its claim and its completion (sort
//     keys 1 and 2, pending → in_progress → complete, at its created_at,
//     the record's time). Its row says all of it, and it cannot change
//     again (no move leaves complete but an operator's forced one, which
//     writes its row). A first attempt that failed, or waits to be
//     retried, writes both rows, its error in the second.
//
// Every other change writes its row. History puts the implied rows back
// (ID 0: not stored), so readers see the whole trail: the rows'
// transition_seq counts every change, and a task's sort key 1 or 2, or a
// step's sort key 1 (and a durable step's 2), missing from the table is
// one of these.

// startKey is the sort key of a task's first start (pending →
// in_progress, its move after its creation): the claim paths do not write
// it, and withImpliedTask puts it back.
const startKey = 2

// historyTask is what History reads of a task to imply its creation.
type historyTask struct {
	State         string    `bun:"state"`
	TransitionSeq int       `bun:"transition_seq"`
	CreatedAt     time.Time `bun:"created_at"`
}

// historyStep is what History reads of a step to imply its rows.
type historyStep struct {
	ID            int64     `bun:"id"`
	Sequence      *int      `bun:"sequence"` // durable steps'
	TransitionSeq int       `bun:"transition_seq"`
	CreatedAt     time.Time `bun:"created_at"`
}

// withImpliedTask adds a task's implied rows to its stored ones (rows, in
// sort key order, and so is the answer): its start, pending → in_progress
// at sort key 2, when missing, at the first claim of one of its steps
// (steps: the steps' rows, stored and implied, in write order); then its
// creation, from
// nowhere to the state the next row leaves (or the task's state, when
// nothing follows).
func withImpliedTask(taskID int64, t historyTask, rows []*store.TaskTransition, steps []*store.StepTransition) []*store.TaskTransition {
	has := func(key int) bool {
		return slices.ContainsFunc(rows, func(r *store.TaskTransition) bool { return r.SortKey == key })
	}
	if t.TransitionSeq >= startKey && !has(startKey) {
		// The first claim written (steps are in write order), in whose
		// transaction the task started: not the earliest by time, which
		// another process's slower clock could stamp on a later claim.
		at := t.CreatedAt
		for _, st := range steps {
			if st.SortKey == 1 && st.ToState == string(store.StepInProgress) {
				at = st.CreatedAt
				break
			}
		}
		from := string(store.TaskPending)
		started := &store.TaskTransition{TaskID: taskID, FromState: &from, ToState: string(store.TaskInProgress), SortKey: startKey, CreatedAt: at}
		i, _ := slices.BinarySearchFunc(rows, startKey, func(r *store.TaskTransition, key int) int { return r.SortKey - key })
		rows = slices.Insert(rows, i, started)
	}
	if t.TransitionSeq < 1 || has(1) {
		return rows
	}
	first := t.State
	if len(rows) > 0 && rows[0].FromState != nil {
		first = *rows[0].FromState
	}
	created := &store.TaskTransition{TaskID: taskID, ToState: first, SortKey: 1, CreatedAt: t.CreatedAt}
	return append([]*store.TaskTransition{created}, rows...)
}

// withImpliedSteps puts the steps' implied rows among rows (the stored
// ones, in write order). A step claimed by its start was created, and
// claimed, in the start's transaction, before any other row of the task's
// steps was written: its claim goes first, in step order. (Not by time:
// rows carry the clock of the engine that wrote them, and another
// process's may be behind the starter's.) A durable step recorded complete
// at once gets its claim and completion where its record was written:
// before the first stored row later than its created_at, or as late but
// not a durable step's recorded before it in the same group (a record
// held until its driver's completion is written at that commit's time,
// before the completion). The rows around a record are its driver's and
// its siblings', written by the process that ran the driver, on the same
// clock as the record.
func withImpliedSteps(taskID int64, steps []historyStep, rows []*store.StepTransition) []*store.StepTransition {
	stored := make(map[int64][2]bool, len(rows)) // by step: sort keys 1 and 2 written
	for _, r := range rows {
		if r.SortKey == 1 || r.SortKey == 2 {
			k := stored[r.StepID]
			k[r.SortKey-1] = true
			stored[r.StepID] = k
		}
	}
	pending, inProgress, complete := string(store.StepPending), string(store.StepInProgress), string(store.StepComplete)
	var first []*store.StepTransition
	for _, st := range steps { // in id order
		if st.Sequence == nil && st.TransitionSeq >= 1 && !stored[st.ID][0] {
			first = append(first, &store.StepTransition{StepID: st.ID, TaskID: taskID, FromState: &pending,
				ToState: inProgress, SortKey: 1, CreatedAt: st.CreatedAt})
		}
	}
	out := append(first, rows...)
	durable := make(map[int64]bool, len(steps))
	for _, st := range steps {
		durable[st.ID] = st.Sequence != nil
	}
	from := len(first)         // the next record goes after the last one placed
	for _, st := range steps { // in id order: records in write order
		if st.Sequence == nil || st.TransitionSeq < 2 || stored[st.ID] != [2]bool{} {
			continue
		}
		// Before the first later row; at the same time (a group of
		// records, a record held until its driver's finish), after the
		// rows of durable steps recorded before it in the group, before
		// the others (its driver's completion).
		at := from
		for at < len(out) {
			r := out[at]
			if r.CreatedAt.After(st.CreatedAt) || r.CreatedAt.Equal(st.CreatedAt) && !(durable[r.StepID] && r.StepID < st.ID) {
				break
			}
			at++
		}
		out = slices.Insert(out, at,
			&store.StepTransition{StepID: st.ID, TaskID: taskID, FromState: &pending, ToState: inProgress, SortKey: 1, CreatedAt: st.CreatedAt},
			&store.StepTransition{StepID: st.ID, TaskID: taskID, FromState: &inProgress, ToState: complete, SortKey: 2, CreatedAt: st.CreatedAt})
		from = at + 2
	}
	return out
}
