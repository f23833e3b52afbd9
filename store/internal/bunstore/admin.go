package bunstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tasker-go/tasker/store"
)

// QueueLags counts ready, unclaimed steps per queue. It reads the rows of
// the claim's partial indexes (pending, no unfinished dependency) and
// their tasks' (by key), so its cost grows with the backlog, not with the
// table.
func (s *Store) QueueLags(ctx context.Context, now time.Time) ([]store.QueueLag, error) {
	var rows []struct {
		Queue  string    `bun:"queue"`
		N      int       `bun:"n"`
		Oldest time.Time `bun:"oldest"`
	}
	// Only steps a claim could take: not those of a finished task (a
	// fan-out in error keeps its other branches pending, never claimed).
	err := s.ro.NewRaw(`SELECT s.queue, count(*) AS n, min(s.next_attempt_at) AS oldest FROM tasker_steps s JOIN tasker_tasks t ON t.id = s.task_id
		WHERE s.state = 'pending' AND s.pending_deps = 0 AND s.next_attempt_at <= ?
			AND t.state NOT IN ('complete', 'error', 'cancelled', 'resolved_manually')
		GROUP BY s.queue ORDER BY s.queue`,
		s.d.Time(now, 0)).Scan(ctx, &rows)
	if err != nil {
		return nil, s.wrap("measuring queue lag", err)
	}
	out := make([]store.QueueLag, len(rows))
	for i, r := range rows {
		out[i] = store.QueueLag{Queue: r.Queue, Ready: r.N, OldestDueAt: r.Oldest.UTC()}
	}
	return out, nil
}

type tokenRow struct {
	ID        int64      `bun:"id"`
	Name      string     `bun:"name"`
	Role      string     `bun:"role"`
	Hash      string     `bun:"hash"`
	CreatedAt time.Time  `bun:"created_at"`
	RevokedAt *time.Time `bun:"revoked_at"`
}

const tokenColumns = "id, name, role, hash, created_at, revoked_at"

func (r *tokenRow) token() *store.AdminToken {
	t := &store.AdminToken{ID: r.ID, Name: r.Name, Role: r.Role, Hash: r.Hash, CreatedAt: r.CreatedAt.UTC()}
	if r.RevokedAt != nil {
		at := r.RevokedAt.UTC()
		t.RevokedAt = &at
	}
	return t
}

// CreateAdminToken records a token's hash, unless a token not revoked
// already has its name (ErrConflict naming it, nothing written). The check
// is part of the insert (INSERT … SELECT … WHERE NOT EXISTS) rather than
// a unique index, which would fail the migration of a database that
// already holds two tokens of one name. On SQLite the single writer makes
// it exact; on PostgreSQL (read committed) two creates of one name
// committing at the same moment do not see each other's row and can both
// succeed: the names are then duplicated, each token still works and is
// revoked by its ID.
func (s *Store) CreateAdminToken(ctx context.Context, p *store.CreateAdminTokenParams) (*store.AdminToken, error) {
	if p == nil { // the usual wrap names a field of p
		return nil, fmt.Errorf("creating admin token: %w", p.Validate())
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("creating admin token %q: %w", p.Name, err)
	}
	var rows []tokenRow
	err := s.rw.NewRaw(`INSERT INTO tasker_admin_tokens (name, role, hash, created_at)
		SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM tasker_admin_tokens WHERE name = ? AND revoked_at IS NULL)
		RETURNING `+tokenColumns,
		p.Name, p.Role, p.Hash, s.d.Time(p.Now, 0), p.Name).Scan(ctx, &rows)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, s.wrap(fmt.Sprintf("creating admin token %q", p.Name), err)
	}
	switch len(rows) {
	case 1:
		return rows[0].token(), nil
	case 0:
		return nil, fmt.Errorf("creating admin token %q: a token not revoked already has that name; revoke it or choose another: %w", p.Name, store.ErrConflict)
	}
	return nil, fmt.Errorf("creating admin token %q: the insert returned %d rows", p.Name, len(rows))
}

// FindAdminToken returns the token with the given hash.
func (s *Store) FindAdminToken(ctx context.Context, hash string) (*store.AdminToken, error) {
	if err := store.CheckTokenHash("hash", hash); err != nil {
		return nil, fmt.Errorf("looking up an admin token: %w", err)
	}
	var rows []tokenRow
	if err := s.ro.NewRaw("SELECT "+tokenColumns+" FROM tasker_admin_tokens WHERE hash = ?", hash).Scan(ctx, &rows); err != nil {
		return nil, s.wrap("looking up an admin token", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("looking up an admin token: %w", store.ErrNotFound)
	}
	return rows[0].token(), nil
}

// ListAdminTokens lists every token by id.
func (s *Store) ListAdminTokens(ctx context.Context) ([]*store.AdminToken, error) {
	var rows []tokenRow
	if err := s.ro.NewRaw("SELECT "+tokenColumns+" FROM tasker_admin_tokens ORDER BY id").Scan(ctx, &rows); err != nil {
		return nil, s.wrap("listing admin tokens", err)
	}
	out := make([]*store.AdminToken, len(rows))
	for i := range rows {
		out[i] = rows[i].token()
	}
	return out, nil
}

// RevokeAdminToken marks a token revoked (once: revoking again keeps the
// first time).
func (s *Store) RevokeAdminToken(ctx context.Context, id int64, now time.Time) error {
	if err := store.CheckTokenID("id", id); err != nil {
		return fmt.Errorf("revoking admin token %d: %w", id, err)
	}
	var ids []int64
	err := s.rw.NewRaw("UPDATE tasker_admin_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? RETURNING id", s.d.Time(now, 0), id).Scan(ctx, &ids)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s.wrap(fmt.Sprintf("revoking admin token %d", id), err)
	}
	if len(ids) == 0 {
		return fmt.Errorf("revoking admin token %d: %w", id, store.ErrNotFound)
	}
	return nil
}

// CountAdminTokens counts the tokens not revoked.
func (s *Store) CountAdminTokens(ctx context.Context) (int, error) {
	var n int
	if err := s.ro.NewRaw("SELECT count(*) FROM tasker_admin_tokens WHERE revoked_at IS NULL").Scan(ctx, &n); err != nil {
		return 0, s.wrap("counting admin tokens", err)
	}
	return n, nil
}
