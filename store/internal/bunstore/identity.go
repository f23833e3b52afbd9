package bunstore

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// RetireIdentity renames a finished task's identity key so that a new run
// can take it (compare and set on the key and the state).
func (s *Store) RetireIdentity(ctx context.Context, p *store.RetireIdentityParams) (bool, error) {
	if p == nil { // the usual wrap names a field of p
		return false, fmt.Errorf("retiring the identity of a task: %w", p.Validate())
	}
	if err := p.Validate(); err != nil {
		return false, fmt.Errorf("retiring the identity of task %d: %w", p.TaskID, err)
	}
	res, err := s.rw.NewRaw(`UPDATE tasker_tasks SET identity_key = ?, updated_at = ?
		WHERE id = ? AND identity_key = ? AND state IN (?)`,
		p.Retired, now(p.Now), p.TaskID, p.IdentityKey, bun.List(p.States)).Exec(ctx)
	if err != nil {
		return false, s.wrap(fmt.Sprintf("retiring the identity of task %d", p.TaskID), err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
