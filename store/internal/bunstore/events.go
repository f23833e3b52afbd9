package bunstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// SendEvent records an event; a repeated (task, name, key) returns the
// first one with created false. It holds the task's events until the
// caller's transaction ends (lockTask).
func (s *Store) SendEvent(ctx context.Context, p *store.SendEventParams) (*store.Event, bool, error) {
	if err := p.Validate(); err != nil {
		return nil, false, fmt.Errorf("sending event: %w", err)
	}
	ev := &store.Event{TaskID: p.TaskID, Name: p.Name, Key: p.Key, Payload: p.Payload, CreatedAt: now(p.Now)}
	if ev.Key == "" {
		ev.Key = "auto:" + strconv.FormatInt(newLeaseToken(), 36)
	}
	created := false
	err := s.inTx(ctx, "sending event", func(ctx context.Context, tx bun.IDB) error {
		if err := lockTask(ctx, tx, s.d, p.TaskID); err != nil {
			return err
		}
		var ids []int64
		if err := tx.NewInsert().Model(ev).On("CONFLICT (task_id, name, key) DO NOTHING").Returning("id").Scan(ctx, &ids); err != nil {
			return err
		}
		if len(ids) == 1 {
			ev.ID, created = ids[0], true
			return nil
		}
		return tx.NewSelect().Model(ev).Where("task_id = ? AND name = ? AND key = ?", p.TaskID, p.Name, ev.Key).Scan(ctx)
	})
	if err != nil {
		return nil, false, err
	}
	return ev, created, nil
}

// ConsumeEvent takes the oldest unconsumed event of a name.
func (s *Store) ConsumeEvent(ctx context.Context, p *store.ConsumeEventParams) (*store.Event, error) {
	if p == nil { // the usual wrap names a field of p
		return nil, fmt.Errorf("consuming event: %w", p.Validate())
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("consuming event of task %d: %w", p.TaskID, err)
	}
	var evs []*store.Event
	err := s.inTx(ctx, "consuming event", func(ctx context.Context, tx bun.IDB) error {
		// Concurrent consumers each take a different event: the pick skips
		// rows another consumer has locked, and the outer test on
		// consumed_at refuses a row consumed since it was picked.
		return tx.NewRaw(`UPDATE tasker_events SET consumed_at = ? WHERE consumed_at IS NULL AND id = (
				SELECT id FROM tasker_events WHERE task_id = ? AND name = ? AND consumed_at IS NULL ORDER BY id LIMIT 1 `+
			strings.ReplaceAll(s.d.SkipLocked(), "OF s ", "")+`)
			RETURNING *`, now(p.Now), p.TaskID, p.Name).Scan(ctx, &evs)
	})
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("consuming event %q of task %d: %w", p.Name, p.TaskID, store.ErrNotFound)
	}
	return evs[0], nil
}

// HasEvent reports whether task taskID holds the event (name, key).
func (s *Store) HasEvent(ctx context.Context, taskID int64, name, key string) (bool, error) {
	errs := []error{store.CheckTaskID("task_id", taskID), store.CheckName("name", name), store.CheckName("key", key)}
	if err := errors.Join(errs...); err != nil {
		return false, fmt.Errorf("reading event %q of task %d: %w", name, taskID, err)
	}
	var ids []int64
	if err := s.ro.NewRaw("SELECT id FROM tasker_events WHERE task_id = ? AND name = ? AND key = ?", taskID, name, key).Scan(ctx, &ids); err != nil {
		return false, s.wrap(fmt.Sprintf("reading event %q of task %d", name, taskID), err)
	}
	return len(ids) > 0, nil
}

// MoveEvents gives p.From's unconsumed events to p.To, but for those whose
// name and key p.To holds already (the same event, sent to both runs). It
// holds p.From's events first (lockTask), then moves, in a statement of
// its own: that one sees an event whose send held them, committed since.
func (s *Store) MoveEvents(ctx context.Context, p *store.MoveEventsParams) (int, error) {
	if err := p.Validate(); err != nil {
		return 0, fmt.Errorf("moving events: %w", err)
	}
	var n int64
	err := s.inTx(ctx, fmt.Sprintf("moving the events of task %d to task %d", p.From, p.To), func(ctx context.Context, tx bun.IDB) error {
		if err := lockTask(ctx, tx, s.d, p.From); err != nil {
			return err
		}
		// No task To was a foreign key's error (SQLite's no sentinel),
		// and only with events to move: with none, nothing was said.
		var ids []int64
		if err := tx.NewRaw("SELECT id FROM tasker_tasks WHERE id = ?", p.To).Scan(ctx, &ids); err != nil {
			return err
		}
		if len(ids) == 0 {
			return fmt.Errorf("task %d: %w", p.To, store.ErrNotFound)
		}
		res, err := tx.NewRaw(`UPDATE tasker_events SET task_id = ?1
			WHERE task_id = ?0 AND consumed_at IS NULL
				AND NOT EXISTS (SELECT 1 FROM tasker_events e WHERE e.task_id = ?1 AND e.name = tasker_events.name AND e.key = tasker_events.key)`,
			p.From, p.To).Exec(ctx)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// lockTask holds task id's events until tx ends (ErrNotFound: no such
// task; Dialect.LockTask). A send and a move of the task's events take it
// both, as their first lock, so on Postgres, whose transactions commit side
// by side, one runs after the other: an event sent while its run continues
// as new is moved (the send committed first), or its send's later reads
// see the next run its mover created before (ContinueAsNew: the engine then
// refuses the event). Without it, a send that began before the next run
// existed and committed after the move stayed on a run no wait reads.
func lockTask(ctx context.Context, tx bun.IDB, d Dialect, id int64) error {
	var ids []int64
	if err := tx.NewRaw(d.LockTask(), id).Scan(ctx, &ids); err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("task %d: %w", id, store.ErrNotFound)
	}
	return nil
}
