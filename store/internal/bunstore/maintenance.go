package bunstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// DefaultDeleteLimit is how many tasks one DeleteFinished call removes when
// the caller does not say.
const DefaultDeleteLimit = 500

// DeleteFinished deletes one bounded batch of finished tasks, oldest first
// within each retention: those with the default retention (retention_ms
// NULL) that finished before p.Before, then those of each retention of
// their own that finished longer ago than it. Their transitions, edges and
// steps are deleted by task id first (on Postgres no foreign key ties them
// to their task: see migrations 014 and 016); events and workflow values
// follow by ON DELETE CASCADE. A finished child whose parent is pending,
// in progress or in error is kept until the parent finishes, and a
// finished parent until its children have (ListOrphans finds them by
// their parent_id, which deleting the parent would set to NULL).
func (s *Store) DeleteFinished(ctx context.Context, p *store.DeleteFinishedParams) (int, error) {
	if err := p.Validate(); err != nil {
		return 0, fmt.Errorf("deleting finished tasks: %w", err)
	}
	limit := p.Limit
	if limit == 0 {
		limit = DefaultDeleteLimit
	}
	n := 0
	err := s.inTx(ctx, "deleting finished tasks", func(ctx context.Context, tx bun.IDB) error {
		// The retentions of their own that finished tasks carry, by a
		// loose index scan of tasker_tasks_expiring (one probe per
		// distinct value: a handful, however many tasks).
		var own []int64
		if err := tx.NewRaw(`WITH RECURSIVE r (v) AS (
				SELECT MIN(retention_ms) FROM tasker_tasks WHERE retention_ms > 0 AND completed_at IS NOT NULL
				UNION ALL
				SELECT (SELECT MIN(retention_ms) FROM tasker_tasks WHERE retention_ms > r.v AND completed_at IS NOT NULL) FROM r WHERE r.v IS NOT NULL)
			SELECT v FROM r WHERE v IS NOT NULL`).Scan(ctx, &own); err != nil {
			return fmt.Errorf("listing retentions: %w", err)
		}
		type class struct {
			cond   string // an integer formatted in: no user text
			before time.Time
		}
		var classes []class
		if !p.Before.IsZero() {
			classes = append(classes, class{"retention_ms IS NULL", p.Before})
		}
		for _, ms := range own {
			classes = append(classes, class{fmt.Sprintf("retention_ms = %d", ms), p.Now.Add(-time.Duration(ms) * time.Millisecond)})
		}
		for _, c := range classes {
			if n >= limit {
				break
			}
			// The batch is picked and locked first: two cleaners running
			// at once split the work instead of queueing behind each
			// other's row locks (where the backend can skip them).
			// A child whose parent may still run (unfinished, or in error
			// and so retried by an operator) is kept: the parent reads
			// its outcome when it resumes, and would start it again under
			// the same identity were it gone. A parent whose child runs is
			// kept too (a probe of tasker_tasks_parent): deleted, it would
			// set the child's parent_id to NULL, out of ListOrphans' reach,
			// and the child would run on unread.
			var ids []int64
			if err := tx.NewRaw(`SELECT id FROM tasker_tasks
					WHERE `+c.cond+` AND completed_at IS NOT NULL AND completed_at < ?1 AND state IN (?0)
						AND (parent_id IS NULL OR NOT EXISTS (SELECT 1 FROM tasker_tasks p
							WHERE p.id = tasker_tasks.parent_id AND p.state IN (?3)))
						AND NOT EXISTS (SELECT 1 FROM tasker_tasks c
							WHERE c.parent_id = tasker_tasks.id AND c.state IN ('pending', 'in_progress'))
					ORDER BY completed_at, id LIMIT ?2 `+strings.ReplaceAll(s.d.SkipLocked(), "OF s ", ""),
				bun.List([]store.TaskState{store.TaskComplete, store.TaskCancelled, store.TaskResolvedManually}),
				c.before.UTC(), limit-n, bun.List([]store.TaskState{store.TaskPending, store.TaskInProgress, store.TaskError})).Scan(ctx, &ids); err != nil {
				return err
			}
			if len(ids) == 0 {
				continue
			}
			// Step transitions go through their steps (they have no index
			// by task), before the steps.
			for _, table := range []string{"tasker_step_transitions", "tasker_task_transitions", "tasker_step_edges", "tasker_steps", "tasker_tasks"} {
				where := "task_id IN (?)"
				switch table {
				case "tasker_step_transitions":
					where = "step_id IN (SELECT id FROM tasker_steps WHERE task_id IN (?))"
				case "tasker_tasks":
					where = "id IN (?)"
				}
				if _, err := tx.NewRaw("DELETE FROM "+table+" WHERE "+where, bun.List(ids)).Exec(ctx); err != nil {
					return fmt.Errorf("deleting from %s: %w", table, err)
				}
			}
			n += len(ids)
		}
		return nil
	})
	return n, err
}

// Elect takes the named leadership for the owner when it is free, expired
// or already the owner's, pushing its expiry to TTL from now. It reports
// whether the owner leads after the call.
func (s *Store) Elect(ctx context.Context, p *store.ElectParams) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, fmt.Errorf("electing leader: %w", err)
	}
	var owners []string
	err := s.inTx(ctx, fmt.Sprintf("electing leader of %q", p.Name), func(ctx context.Context, tx bun.IDB) error {
		// The upsert either inserts, renews the owner's own lease, takes
		// over an expired one, or (another owner's live lease) changes
		// nothing and returns no row.
		return tx.NewRaw(`INSERT INTO tasker_leaders (name, owner, expires_at) VALUES (?0, ?1, ?2)
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
			WHERE tasker_leaders.owner = excluded.owner OR tasker_leaders.expires_at < ?3
			RETURNING owner`, p.Name, p.Owner, s.d.Time(p.Now, p.TTL), s.d.Time(p.Now, 0)).Scan(ctx, &owners)
	})
	if err != nil {
		return false, err
	}
	return len(owners) == 1 && owners[0] == p.Owner, nil
}

// Resign deletes the owner's leadership row so another owner may lead at
// once; another owner's lease is left alone.
func (s *Store) Resign(ctx context.Context, name, owner string) error {
	// No leadership has a name or owner Elect refuses (and bun quotes a
	// NUL byte or invalid UTF-8 into SQL neither database parses).
	if err := errors.Join(store.CheckName("name", name), store.CheckName("owner", owner)); err != nil {
		return fmt.Errorf("resigning leadership: %w", err)
	}
	_, err := s.rw.NewRaw("DELETE FROM tasker_leaders WHERE name = ? AND owner = ?", name, owner).Exec(ctx)
	return s.wrap(fmt.Sprintf("resigning leadership of %q", name), err)
}

// ListOrphans lists unfinished tasks whose parent has ended for good (see
// store.Store). It reads from the writer: a replica's lag would show a
// child cancelled a moment ago as still running. The query walks the
// partial index tasker_tasks_unfinished_children (unfinished children
// only: their number is the work in hand among children, not the history
// nor the other tasks) and looks each parent up by its primary key.
func (s *Store) ListOrphans(ctx context.Context, p *store.ListOrphansParams) ([]store.Orphan, error) {
	switch {
	case p == nil:
		return nil, fmt.Errorf("listing orphaned tasks: %w", &store.ValidationError{Field: "params", Problem: "is nil"})
	case p.Limit < 1:
		return nil, fmt.Errorf("listing orphaned tasks: %w", &store.ValidationError{Field: "limit", Problem: fmt.Sprintf("must be at least 1, got %d", p.Limit)})
	case p.After < 0:
		return nil, fmt.Errorf("listing orphaned tasks: %w", &store.ValidationError{Field: "after", Problem: fmt.Sprintf("must be 0 or a task id, got %d", p.After)})
	}
	var rows []struct {
		ID       int64  `bun:"id"`
		ParentID int64  `bun:"parent_id"`
		State    string `bun:"state"`
	}
	// The WHERE clause on c repeats the predicate of the partial index
	// tasker_tasks_unfinished_children word for word, so both databases
	// may use it (SQLite is told to: Dialect.IndexedBy): the sweep reads
	// unfinished children in id order, not every unfinished task.
	if err := s.rw.NewRaw(`SELECT c.id, c.parent_id, p.state FROM tasker_tasks c`+s.d.IndexedBy("tasker_tasks_unfinished_children")+`
			JOIN tasker_tasks p ON p.id = c.parent_id
			WHERE c.parent_id IS NOT NULL AND c.state IN ('pending', 'in_progress') AND c.id > ?1 AND p.state IN (?0)
			ORDER BY c.id LIMIT ?2`,
		bun.List([]store.TaskState{store.TaskComplete, store.TaskCancelled, store.TaskResolvedManually}), p.After, p.Limit).Scan(ctx, &rows); err != nil {
		return nil, s.wrap("listing orphaned tasks", err)
	}
	out := make([]store.Orphan, len(rows))
	for i, r := range rows {
		out[i] = store.Orphan{ID: r.ID, ParentID: r.ParentID, ParentState: store.TaskState(r.State)}
	}
	return out, nil
}
