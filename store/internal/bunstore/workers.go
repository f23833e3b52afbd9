package bunstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// workerRow is a tasker_workers row; queues and handlers are JSON arrays.
type workerRow struct {
	ID          string     `bun:"id"`
	Queues      store.JSON `bun:"queues"`
	Handlers    store.JSON `bun:"handlers"`
	Version     string     `bun:"version"`
	Concurrency int        `bun:"concurrency"`
	StartedAt   time.Time  `bun:"started_at"`
	HeartbeatAt time.Time  `bun:"heartbeat_at"`
	ExpiresAt   time.Time  `bun:"expires_at"`
}

const workerColumns = "id, queues, handlers, version, concurrency, started_at, heartbeat_at, expires_at"

func (r *workerRow) worker() (*store.Worker, error) {
	w := &store.Worker{ID: r.ID, Version: r.Version, Concurrency: r.Concurrency,
		StartedAt: r.StartedAt.UTC(), HeartbeatAt: r.HeartbeatAt.UTC(), ExpiresAt: r.ExpiresAt.UTC()}
	if err := json.Unmarshal(r.Queues, &w.Queues); err != nil {
		return nil, fmt.Errorf("worker %q: decoding queues: %w", r.ID, err)
	}
	if err := json.Unmarshal(r.Handlers, &w.Handlers); err != nil {
		return nil, fmt.Errorf("worker %q: decoding handlers: %w", r.ID, err)
	}
	return w, nil
}

// nameList encodes names as a JSON array ([] for none).
func nameList(names []string) store.JSON {
	if names == nil {
		names = []string{}
	}
	doc, _ := json.Marshal(names) // strings always encode
	return doc
}

// RegisterWorker upserts the worker's row and deletes rows expired for
// longer than store.WorkerRetention (each process's id is new, so without
// this the rows of crashed processes would pile up).
func (s *Store) RegisterWorker(ctx context.Context, p *store.RegisterWorkerParams) (*store.Worker, error) {
	if p == nil { // the usual wrap names a field of p
		return nil, fmt.Errorf("registering worker: %w", p.Validate())
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("registering worker %q: %w", p.ID, err)
	}
	started := s.d.Time(p.Now, 0)
	if !p.StartedAt.IsZero() {
		started = p.StartedAt.UTC()
	}
	var rows []workerRow
	err := s.inTx(ctx, fmt.Sprintf("registering worker %q", p.ID), func(ctx context.Context, tx bun.IDB) error {
		if _, err := tx.NewRaw("DELETE FROM tasker_workers WHERE expires_at < ?", s.d.Time(p.Now, -store.WorkerRetention)).Exec(ctx); err != nil {
			return err
		}
		if !p.StartedAt.IsZero() {
			// A refresh: not of a live row another run of this ID
			// recorded (compared here, not in SQL: SQLite compares
			// times as the text they were stored in).
			var held []time.Time
			if err := tx.NewRaw("SELECT started_at FROM tasker_workers WHERE id = ? AND expires_at > ?", p.ID, s.d.Time(p.Now, 0)).Scan(ctx, &held); err != nil {
				return err
			}
			if len(held) == 1 && !held[0].Equal(p.StartedAt) {
				return fmt.Errorf("%w: a live worker registered under this ID since, started at %s (two processes with one WorkerID?)",
					store.ErrConflict, held[0].UTC().Format(time.RFC3339Nano))
			}
		}
		return tx.NewRaw(`INSERT INTO tasker_workers (`+workerColumns+`)
			VALUES (?0, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
			ON CONFLICT (id) DO UPDATE SET queues = excluded.queues, handlers = excluded.handlers,
				version = excluded.version, concurrency = excluded.concurrency, started_at = excluded.started_at,
				heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at
			RETURNING `+workerColumns,
			p.ID, s.d.JSON(nameList(p.Queues)), s.d.JSON(nameList(p.Handlers)), p.Version, p.Concurrency,
			started, s.d.Time(p.Now, 0), s.d.Time(p.Now, p.TTL)).Scan(ctx, &rows)
	})
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("registering worker %q: the upsert returned %d rows", p.ID, len(rows))
	}
	return rows[0].worker()
}

// DeregisterWorker deletes the worker's row.
func (s *Store) DeregisterWorker(ctx context.Context, p *store.DeregisterWorkerParams) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("deregistering worker: %w", err)
	}
	if p.StartedAt.IsZero() {
		_, err := s.rw.NewRaw("DELETE FROM tasker_workers WHERE id = ?", p.ID).Exec(ctx)
		return s.wrap(fmt.Sprintf("deregistering worker %q", p.ID), err)
	}
	return s.inTx(ctx, fmt.Sprintf("deregistering worker %q", p.ID), func(ctx context.Context, tx bun.IDB) error {
		// Compared here, not in SQL, as RegisterWorker does.
		var held []time.Time
		if err := tx.NewRaw("SELECT started_at FROM tasker_workers WHERE id = ?", p.ID).Scan(ctx, &held); err != nil {
			return err
		}
		if len(held) == 0 || !held[0].Equal(p.StartedAt) {
			return nil // another run's row, or none
		}
		_, err := tx.NewRaw("DELETE FROM tasker_workers WHERE id = ?", p.ID).Exec(ctx)
		return err
	})
}

// ListWorkers lists the registry by id.
func (s *Store) ListWorkers(ctx context.Context, p *store.ListWorkersParams) ([]*store.Worker, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("listing workers: %w", err)
	}
	// Expired rows are listed for WorkerRetention, as long as
	// RegisterWorker keeps them: with no registration since, older ones
	// linger, and were listed as recent.
	since := s.d.Time(p.Now, -store.WorkerRetention)
	if !p.IncludeExpired {
		since = s.d.Time(p.Now, 0)
	}
	var rows []workerRow
	if err := s.ro.NewRaw("SELECT "+workerColumns+" FROM tasker_workers WHERE expires_at > ? ORDER BY id", since).Scan(ctx, &rows); err != nil {
		return nil, s.wrap("listing workers", err)
	}
	out := make([]*store.Worker, 0, len(rows))
	for i := range rows {
		w, err := rows[i].worker()
		if err != nil {
			return nil, fmt.Errorf("listing workers: %w", err)
		}
		out = append(out, w)
	}
	return out, nil
}
