package bunstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// stepMove is a step state change already applied to its row (compare and
// set succeeded); what remains is its audit row and its consequences.
type stepMove struct {
	id, taskID int64
	from, to   store.StepState
	seq        int // the row's new transition_seq: the transition's sort key
	meta       store.JSON
	written    bool // its transition is written already (by the statement that moved it)
	// counted: outs is how many steps depend on it (the statement that
	// moved it counted them; else unknown). countedDown: those steps were
	// counted down already (countDownClaiming).
	counted     bool
	outs        int
	countedDown bool
}

type taskMove struct {
	id       int64
	from, to store.TaskState
	seq      int
	meta     store.JSON
	written  bool // its transition is written already
}

// writeStepTransitions appends one transition per move, in one bound
// statement per chunk of the batch (transitions are append-only: the
// latest by sort key is the current one).
func (s *Store) writeStepTransitions(ctx context.Context, tx bun.IDB, moves []stepMove, at time.Time) error {
	return chunked(s.d, moves, 7, func(moves []stepMove) error {
		b := params{s: s}
		rows := make([][]any, len(moves))
		for i, m := range moves {
			rows[i] = []any{m.id, m.taskID, string(m.from), string(m.to), m.seq, nullJSON(m.meta), s.d.BindTime(at)}
		}
		return s.exec(ctx, tx, `INSERT INTO tasker_step_transitions (step_id, task_id, from_state, to_state, sort_key, metadata, created_at) `+
			b.rows([]string{"bigint", "bigint", "text", "text", "int", "jsonb", "timestamptz"}, rows), b.args)
	})
}

// writeTaskTransitions appends one transition per task move, in one bound
// statement per chunk.
func (s *Store) writeTaskTransitions(ctx context.Context, tx bun.IDB, moves []taskMove, at time.Time) error {
	return chunked(s.d, moves, 6, func(moves []taskMove) error {
		b := params{s: s}
		rows := make([][]any, len(moves))
		for i, m := range moves {
			var from any // a task's first transition comes from nowhere
			if m.from != "" {
				from = string(m.from)
			}
			rows[i] = []any{m.id, from, string(m.to), m.seq, nullJSON(m.meta), s.d.BindTime(at)}
		}
		return s.exec(ctx, tx, `INSERT INTO tasker_task_transitions (task_id, from_state, to_state, sort_key, metadata, created_at) `+
			b.rows([]string{"bigint", "text", "text", "int", "jsonb", "timestamptz"}, rows), b.args)
	})
}

// chunked calls write for consecutive chunks of rows, each small enough
// that its perRow parameters per row stay within the dialect's
// Dialect.MaxParams.
func chunked[T any](d Dialect, rows []T, perRow int, write func([]T) error) error {
	per := max(1, d.MaxParams()/perRow)
	for len(rows) > 0 {
		n := min(len(rows), per)
		if err := write(rows[:n]); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// consequences applies what step moves imply for other rows, in the same
// transaction: dependants of newly satisfied steps count down; tasks whose
// last unfinished step was satisfied complete; tasks with a step newly in
// error fail. It returns the task moves and the number of dependants that
// became ready. The tasks keyed in rows (may be nil) get their rows as the
// countdown leaves them, where it counts them down.
func (s *Store) consequences(ctx context.Context, tx bun.IDB, moves []stepMove, at time.Time, rows map[int64]*store.Task) ([]taskMove, int, error) {
	var satisfied []int64
	doneByTask := map[int64]int{}
	failed := map[int64]store.JSON{}
	for _, m := range moves {
		switch {
		case m.to.Satisfied() && !m.from.Satisfied():
			if !m.countedDown && (!m.counted || m.outs > 0) { // a leaf has no dependants to count down
				satisfied = append(satisfied, m.id)
			}
			doneByTask[m.taskID]++
		case m.to == store.StepError:
			if _, ok := failed[m.taskID]; !ok {
				failed[m.taskID] = m.meta
			}
		}
	}
	unblocked := 0
	var tmoves []taskMove
	var childOf []int64 // finished tasks that may have a parent to wake
	var counted []countedTask
	// On Postgres one statement counts down the dependants and the tasks
	// and writes the completed tasks' transitions (a group of the common
	// size: the task countdown fits one statement), locking the dependants
	// before the tasks (see finishCTE).
	merged := s.d.WritableCTE() && len(satisfied) > 0 && len(doneByTask) <= s.d.MaxParams()/2
	if len(satisfied) > 0 && !merged {
		var left []struct {
			N int `bun:"pending_deps"`
		}
		b := params{s: s}
		from := b.in("e.from_step_id", satisfied)
		if err := s.scan(ctx, tx, dependantsSQL(from), b.args, &left); err != nil {
			return nil, 0, err
		}
		for _, n := range left {
			if n.N == 0 {
				unblocked++
			}
		}
	}
	if len(doneByTask) > 0 {
		// One statement counts down every task (ids in order, so
		// concurrent commits meet task rows in the same order) and
		// completes those with nothing left.
		const last = "tasker_tasks.unfinished = v.n AND tasker_tasks.state = 'in_progress'"
		// The claimed steps' tasks come back whole (SQLite: see
		// finishInTx), the others with what the moves need.
		whole := len(rows) > 0 && !merged
		returning := "tasker_tasks.id, tasker_tasks.state, tasker_tasks.unfinished, tasker_tasks.transition_seq, tasker_tasks.parent_id"
		if whole {
			returning = "*"
		}
		err := chunked(s.d, sortedKeys(doneByTask), 2, func(ids []int64) error {
			b := params{s: s}
			counts := make([][]any, len(ids))
			for k, id := range ids {
				counts[k] = []any{id, int64(doneByTask[id])}
			}
			v := b.rows([]string{"bigint", "bigint"}, counts)
			stamp := b.arg(s.d.BindTime(at))
			countdown := `UPDATE tasker_tasks SET
					unfinished = tasker_tasks.unfinished - v.n,
					state = CASE WHEN ` + last + ` THEN 'complete' ELSE tasker_tasks.state END,
					completed_at = CASE WHEN ` + last + ` THEN ` + stamp + ` ELSE tasker_tasks.completed_at END,
					transition_seq = tasker_tasks.transition_seq + CASE WHEN ` + last + ` THEN 1 ELSE 0 END,
					updated_at = ` + stamp + `
				FROM v WHERE tasker_tasks.id = v.id
				RETURNING ` + returning
			query := `WITH v (id, n) AS (` + v + `)
				` + countdown
			if merged {
				query = `WITH v (id, n) AS (` + v + `),
				dep AS (` + dependantsSQL(b.in("e.from_step_id", satisfied)) + `),
				cnt AS (` + strings.Replace(countdown, "FROM v WHERE tasker_tasks.id = v.id", "FROM v WHERE tasker_tasks.id = v.id AND (SELECT count(*) FROM dep) >= 0", 1) + `),
				tr AS (INSERT INTO tasker_task_transitions (task_id, from_state, to_state, sort_key, metadata, created_at)
					SELECT id, 'in_progress', 'complete', transition_seq, NULL, ` + stamp + ` FROM cnt WHERE unfinished = 0 AND state = 'complete')
				SELECT cnt.*, (SELECT count(*) FROM dep WHERE pending_deps = 0) AS unblocked FROM cnt`
			}
			if whole {
				var tasks []*store.Task
				if err := s.scan(ctx, tx, query, b.args, &tasks); err != nil {
					return err
				}
				for _, t := range tasks {
					counted = append(counted, countedTask{ID: t.ID, State: t.State, Unfinished: t.Unfinished, TransitionSeq: t.TransitionSeq, ParentID: t.ParentID})
					if _, ok := rows[t.ID]; ok {
						rows[t.ID] = t
					}
				}
				return nil
			}
			var got []countedTask
			err := s.scan(ctx, tx, query, b.args, &got)
			counted = append(counted, got...)
			return err
		})
		if err != nil {
			return nil, 0, err
		}
		slices.SortFunc(counted, func(a, b countedTask) int { return int(a.ID - b.ID) })
		for _, r := range counted {
			if merged {
				unblocked = r.Unblocked
			}
			if r.Unfinished == 0 && r.State == store.TaskComplete {
				tmoves = append(tmoves, taskMove{id: r.ID, from: store.TaskInProgress, to: store.TaskComplete, seq: r.TransitionSeq, written: merged})
				if r.ParentID != nil {
					childOf = append(childOf, r.ID)
				}
			}
		}
	}
	for _, id := range sortedKeys(failed) {
		m, err := failTask(ctx, tx, id, failed[id], at)
		if err != nil {
			return nil, 0, err
		}
		if m != nil {
			tmoves = append(tmoves, *m)
			childOf = append(childOf, m.id) // failures are rare: let wakeParents look
		}
	}
	var unwritten []taskMove
	for _, m := range tmoves {
		if !m.written {
			unwritten = append(unwritten, m)
		}
	}
	if err := s.writeTaskTransitions(ctx, tx, unwritten, at); err != nil {
		return nil, 0, err
	}
	return tmoves, unblocked, wakeParents(ctx, tx, childOf, at)
}

// dependantsSQL counts down the pending dependencies of the steps that
// depend on the satisfied ones (from: their "e.from_step_id IN" test).
func dependantsSQL(from string) string {
	return `UPDATE tasker_steps SET pending_deps = pending_deps - (
				SELECT count(*) FROM tasker_step_edges e
				WHERE e.to_step_id = tasker_steps.id AND ` + from + `)
			WHERE id IN (SELECT e.to_step_id FROM tasker_step_edges e WHERE ` + from + `)
			RETURNING pending_deps`
}

// wakeParents makes the waiting steps of the parents of tasks that just
// finished ready now: a code-first parent waiting for a child resumes at
// once, in whichever process, instead of at its next re-check.
func wakeParents(ctx context.Context, tx bun.IDB, finished []int64, at time.Time) error {
	if len(finished) == 0 {
		return nil
	}
	_, err := tx.NewRaw(`UPDATE tasker_steps SET next_attempt_at = ?0
		WHERE task_id IN (SELECT parent_id FROM tasker_tasks WHERE id IN (?1) AND parent_id IS NOT NULL)
			AND state = 'pending' AND pending_deps = 0 AND next_attempt_at > ?0`, at, bun.List(finished)).Exec(ctx)
	return err
}

// countedTask is a task row after its countdown.
type countedTask struct {
	ID            int64           `bun:"id"`
	State         store.TaskState `bun:"state"`
	Unfinished    int             `bun:"unfinished"`
	TransitionSeq int             `bun:"transition_seq"`
	ParentID      *int64          `bun:"parent_id"`
	Unblocked     int             `bun:"unblocked"` // (the merged statement: dependants now ready)
}

// failTask moves a running or pending task to error. It returns nil when the
// task had already left those states (cancelled, failed by another step).
func failTask(ctx context.Context, tx bun.IDB, id int64, cause store.JSON, at time.Time) (*taskMove, error) {
	for _, from := range []store.TaskState{store.TaskInProgress, store.TaskPending} {
		var seqs []int
		err := tx.NewRaw(`UPDATE tasker_tasks SET state = 'error', last_error = ?, updated_at = ?,
				transition_seq = transition_seq + 1
			WHERE id = ? AND state = ? RETURNING transition_seq`, cause, at, id, from).Scan(ctx, &seqs)
		if err != nil {
			return nil, err
		}
		if len(seqs) == 1 {
			return &taskMove{id: id, from: from, to: store.TaskError, seq: seqs[0], meta: cause}, nil
		}
	}
	return nil, nil
}

func sortedKeys[V any](m map[int64]V) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
