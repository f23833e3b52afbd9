package bunstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// CreateSchedule inserts a schedule at revision 1; an existing ID is a
// conflict and changes nothing.
func (s *Store) CreateSchedule(ctx context.Context, sc *store.Schedule) error {
	if sc == nil { // the usual wrap names a field of sc
		return fmt.Errorf("creating schedule: %w", sc.Validate())
	}
	if err := sc.Validate(); err != nil {
		return fmt.Errorf("creating schedule %q: %w", sc.ID, err)
	}
	row := *sc
	row.Revision = 1
	row.CreatedAt = now(sc.CreatedAt)
	row.UpdatedAt = row.CreatedAt
	normalize(&row)
	var ids []string
	err := s.rw.NewInsert().Model(&row).On("CONFLICT (id) DO NOTHING").Returning("id").Scan(ctx, &ids)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s.wrap(fmt.Sprintf("creating schedule %q", sc.ID), err)
	}
	if len(ids) == 0 {
		return fmt.Errorf("creating schedule %q: a schedule of that id exists: %w", sc.ID, store.ErrConflict)
	}
	*sc = row
	return nil
}

// UpdateSchedule writes the schedule's fields when its revision is
// unchanged (compare and set), bumping the revision.
func (s *Store) UpdateSchedule(ctx context.Context, sc *store.Schedule) (bool, error) {
	if sc == nil { // the usual wrap names a field of sc
		return false, fmt.Errorf("updating schedule: %w", sc.Validate())
	}
	err := sc.Validate()
	if sc.Revision < 1 { // no stored schedule has one: the caller did not read it
		err = errors.Join(err, &store.ValidationError{Field: "revision", Problem: fmt.Sprintf("must be the stored revision (1 or more), got %d", sc.Revision)})
	}
	if err != nil {
		return false, fmt.Errorf("updating schedule %q: %w", sc.ID, err)
	}
	row := *sc
	row.Revision = sc.Revision + 1
	row.UpdatedAt = now(sc.UpdatedAt)
	normalize(&row)
	action := fmt.Sprintf("updating schedule %q", sc.ID)
	var ok bool
	err = s.inTx(ctx, action, func(ctx context.Context, tx bun.IDB) error {
		res, err := tx.NewUpdate().Model(&row).
			ExcludeColumn("id", "created_at").
			WherePK().Where("revision = ?", sc.Revision).Exec(ctx)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if ok = n == 1; ok {
			return nil
		}
		// Lost the compare and set, or no such schedule: say which.
		exists, err := tx.NewSelect().Model((*store.Schedule)(nil)).Where("id = ?", sc.ID).Exists(ctx)
		if err == nil && !exists {
			return fmt.Errorf("schedule %q: %w", sc.ID, store.ErrNotFound)
		}
		return err
	})
	if err != nil || !ok {
		return false, err
	}
	sc.Revision, sc.UpdatedAt = row.Revision, row.UpdatedAt
	return true, nil
}

// GetSchedule reads one schedule.
func (s *Store) GetSchedule(ctx context.Context, id string) (*store.Schedule, error) {
	if err := store.CheckName("id", id); err != nil {
		return nil, fmt.Errorf("schedule %q: %w", id, err)
	}
	sc := new(store.Schedule)
	err := s.ro.NewSelect().Model(sc).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("schedule %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("reading schedule %q", id), err)
	}
	return sc, nil
}

// ListSchedules returns every schedule by ID.
func (s *Store) ListSchedules(ctx context.Context) ([]*store.Schedule, error) {
	var out []*store.Schedule
	if err := s.ro.NewSelect().Model(&out).Order("id").Scan(ctx); err != nil {
		return nil, s.wrap("listing schedules", err)
	}
	return out, nil
}

// DeleteSchedule deletes one schedule.
func (s *Store) DeleteSchedule(ctx context.Context, id string) error {
	if err := store.CheckName("id", id); err != nil {
		return fmt.Errorf("deleting schedule %q: %w", id, err)
	}
	res, err := s.rw.NewDelete().Model((*store.Schedule)(nil)).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return s.wrap(fmt.Sprintf("deleting schedule %q", id), err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("deleting schedule %q: %w", id, store.ErrNotFound)
	}
	return nil
}

// normalize stores every time in UTC, so both databases read back the
// same instants.
func normalize(sc *store.Schedule) {
	sc.NextFireAt = sc.NextFireAt.UTC()
	for _, t := range []**time.Time{&sc.BufferedAt, &sc.TriggerAt, &sc.LastFireAt} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
}
