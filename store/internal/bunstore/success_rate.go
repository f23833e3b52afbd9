package bunstore

import (
	"context"
	"fmt"

	"github.com/tasker-go/tasker/store"
)

// StepSuccessRate samples the most recent steps of one name (the
// tasker_steps_history index) and counts, among those whose attempt
// p.Attempt has ended, the ones that completed at it. A step that made
// more attempts failed at p.Attempt; one that made exactly p.Attempt and
// is pending (its retry waits) or in error failed at it too.
func (s *Store) StepSuccessRate(ctx context.Context, p *store.StepSuccessRateParams) (*store.StepSuccessRate, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("reading step success rate: %w", err)
	}
	limit := p.Limit
	if limit == 0 {
		limit = store.DefaultSuccessRateLimit
	}
	var out store.StepSuccessRate
	err := s.ro.NewRaw(`SELECT COUNT(*) AS attempts,
			COALESCE(SUM(CASE WHEN h.state = 'complete' AND h.attempts = ?1 THEN 1 ELSE 0 END), 0) AS succeeded
		FROM (SELECT attempts, state FROM tasker_steps
			WHERE name = ?0 AND created_at >= ?2
				AND (attempts > ?1 OR (attempts = ?1 AND state IN ('complete', 'pending', 'error')))
			ORDER BY created_at DESC LIMIT ?3) h`,
		p.Name, p.Attempt, p.Since.UTC(), limit).Scan(ctx, &out.Attempts, &out.Succeeded)
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("reading success rate of step %q", p.Name), err)
	}
	return &out, nil
}
