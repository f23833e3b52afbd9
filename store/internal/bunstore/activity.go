package bunstore

import (
	"context"
	"fmt"
	"time"

	"github.com/tasker-go/tasker/store"
)

// TaskActivity counts tasks started, completed and failed per interval.
// Starts are the tasks created in each (tasker_tasks_created); the rest are
// task transitions. Those have no index on their time (one would cost
// every write), but they are append-only, so their ids grow with their
// times: a binary search over the primary key finds the window's first
// row, and one grouped statement counts the rows from there, by interval
// (Dialect.TimeBucket). (Postgres transactions that commit out of id order
// can leave a row written at the window's very start out of it.)
func (s *Store) TaskActivity(ctx context.Context, p *store.TaskActivityParams) ([]store.ActivityBucket, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("reading task activity: %w", err)
	}
	since := p.Since.UTC()
	out := make([]store.ActivityBucket, p.Buckets)
	for i := range out {
		out[i].Start = since.Add(time.Duration(i) * p.Width)
	}
	origin := float64(since.UnixNano()) / 1e9
	from, until := s.d.BindTime(since), s.d.BindTime(since.Add(time.Duration(p.Buckets)*p.Width))
	type count struct {
		Bucket int    `bun:"bucket"`
		Kind   string `bun:"kind"`
		N      int    `bun:"n"`
	}
	var rows, moves []count
	// A task's creation is implied by its row (see withImpliedTask): the
	// tasks are counted, not their first transitions.
	err := s.ro.NewRaw(`SELECT `+s.d.TimeBucket("created_at")+` AS bucket, 'started' AS kind, count(*) AS n
		FROM tasker_tasks WHERE created_at >= ? AND created_at < ? GROUP BY 1`, origin, p.Width.Seconds(), from, until).Scan(ctx, &rows)
	if err != nil {
		return nil, s.wrap("reading task activity", err)
	}
	first, err := s.firstTransitionAt(ctx, since)
	if err != nil {
		return nil, s.wrap("reading task activity", err)
	}
	if first >= 0 {
		err = s.ro.NewRaw(`SELECT `+s.d.TimeBucket("created_at")+` AS bucket, to_state AS kind, count(*) AS n
			FROM tasker_task_transitions
			WHERE id >= ? AND created_at >= ? AND created_at < ? AND to_state IN ('complete', 'error')
			GROUP BY 1, 2`, origin, p.Width.Seconds(), first, from, until).Scan(ctx, &moves)
		if err != nil {
			return nil, s.wrap("reading task activity", err)
		}
	}
	for _, r := range append(rows, moves...) {
		// The WHERE keeps the window; rounding at its edges is clamped.
		r.Bucket = min(max(r.Bucket, 0), len(out)-1)
		b := &out[r.Bucket]
		switch r.Kind {
		case "started":
			b.Started += r.N
		case "complete":
			b.Completed += r.N
		case "error":
			b.Failed += r.N
		}
	}
	return out, nil
}

// firstTransitionAt is the lowest task transition id whose row is not
// older than at (-1: none is), by binary search over the primary key.
func (s *Store) firstTransitionAt(ctx context.Context, at time.Time) (int64, error) {
	var span []struct {
		Lo *int64 `bun:"lo"`
		Hi *int64 `bun:"hi"`
	}
	// Two subqueries: SQLite reads a lone min() or max() off the primary
	// key, but scans the table for both in one SELECT.
	if err := s.ro.NewRaw(`SELECT (SELECT min(id) FROM tasker_task_transitions) AS lo,
		(SELECT max(id) FROM tasker_task_transitions) AS hi`).Scan(ctx, &span); err != nil {
		return 0, err
	}
	if len(span) == 0 || span[0].Lo == nil {
		return -1, nil
	}
	lo, hi := *span[0].Lo, *span[0].Hi+1 // the answer is in [lo, hi]; hi: none
	for lo < hi {
		mid := lo + (hi-lo)/2
		var row []struct {
			ID        int64     `bun:"id"`
			CreatedAt time.Time `bun:"created_at"`
		}
		if err := s.ro.NewRaw("SELECT id, created_at FROM tasker_task_transitions WHERE id >= ? ORDER BY id LIMIT 1", mid).Scan(ctx, &row); err != nil {
			return 0, err
		}
		switch {
		case len(row) == 0:
			hi = mid
		case !row[0].CreatedAt.Before(at):
			hi = mid // no row between mid and row[0]
		default:
			lo = row[0].ID + 1
		}
	}
	if lo > *span[0].Hi {
		return -1, nil
	}
	return lo, nil
}
