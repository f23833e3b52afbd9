package bunstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// SendEvent records an event; a repeated (task, name, key) returns the
// first one with created false.
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
		exists, err := tx.NewSelect().Model((*store.Task)(nil)).Where("id = ?", p.TaskID).Exists(ctx)
		if err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("task %d: %w", p.TaskID, store.ErrNotFound)
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

// MoveEvents gives p.From's unconsumed events to p.To, but for those whose
// name and key p.To holds already (the same event, sent to both runs).
func (s *Store) MoveEvents(ctx context.Context, p *store.MoveEventsParams) (int, error) {
	if err := p.Validate(); err != nil {
		return 0, fmt.Errorf("moving events: %w", err)
	}
	res, err := s.rw.NewRaw(`UPDATE tasker_events SET task_id = ?1
		WHERE task_id = ?0 AND consumed_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM tasker_events e WHERE e.task_id = ?1 AND e.name = tasker_events.name AND e.key = tasker_events.key)`,
		p.From, p.To).Exec(ctx)
	if err != nil {
		return 0, s.wrap(fmt.Sprintf("moving the events of task %d to task %d", p.From, p.To), err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
