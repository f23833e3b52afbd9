package bunstore

import (
	"context"
	"fmt"

	"github.com/tasker-go/tasker/store"
)

// StepSuccessRate samples the most recent steps of one name (the
// tasker_steps_history index), of one workflow when p names it, and
// counts, among those whose attempt p.Attempt has ended, the ones that
// completed at it. A step that made more attempts failed at p.Attempt;
// one that made exactly p.Attempt and is pending (its retry waits) or in
// error failed at it too.
func (s *Store) StepSuccessRate(ctx context.Context, p *store.StepSuccessRateParams) (*store.StepSuccessRate, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("reading step success rate: %w", err)
	}
	limit := p.Limit
	if limit == 0 {
		limit = store.DefaultSuccessRateLimit
	}
	// One workflow's: each step of the name is looked up in its task by
	// key (the name's history index still picks the rows).
	workflow := ""
	if p.Workflow != "" {
		workflow = `AND EXISTS (SELECT 1 FROM tasker_tasks t WHERE t.id = s.task_id AND t.namespace = ?4 AND t.name = ?5)`
	}
	var out store.StepSuccessRate
	err := s.ro.NewRaw(`SELECT COUNT(*) AS attempts,
			COALESCE(SUM(CASE WHEN h.state = 'complete' AND h.attempts = ?1 THEN 1 ELSE 0 END), 0) AS succeeded
		FROM (SELECT s.attempts, s.state FROM tasker_steps s
			WHERE s.name = ?0 AND s.created_at >= ?2
				AND (s.attempts > ?1 OR (s.attempts = ?1 AND s.state IN ('complete', 'pending', 'error')))
				`+workflow+`
			ORDER BY s.created_at DESC LIMIT ?3) h`,
		p.Name, p.Attempt, p.Since.UTC(), limit, p.Namespace, p.Workflow).Scan(ctx, &out.Attempts, &out.Succeeded)
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("reading success rate of step %q", p.Name), err)
	}
	return &out, nil
}
