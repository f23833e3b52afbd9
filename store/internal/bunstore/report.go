package bunstore

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// ReportData reads exact counts per workflow and state, then the most
// recent tasks of the window with their steps and edges, on the read pool.
func (s *Store) ReportData(ctx context.Context, p *store.ReportParams) (*store.ReportData, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("reading report data: %w", err)
	}
	sample := p.Sample
	if sample == 0 {
		sample = store.DefaultReportSample
	}
	where, args := "created_at >= ? AND created_at < ?", []any{p.From.UTC(), p.To.UTC()}
	if p.Namespace != "" {
		where, args = where+" AND namespace = ?", append(args, p.Namespace)
	}
	if p.Name != "" {
		where, args = where+" AND name = ?", append(args, p.Name)
	}
	out := &store.ReportData{}
	if err := s.ro.NewRaw(`SELECT namespace, name, state, COUNT(*) AS n FROM tasker_tasks WHERE `+where+`
		GROUP BY namespace, name, state ORDER BY namespace, name, state`, args...).Scan(ctx, &out.Counts); err != nil {
		return nil, s.wrap("reading report counts", err)
	}
	if err := s.ro.NewRaw(`SELECT id, namespace, name, state, kind, created_at, completed_at FROM tasker_tasks WHERE `+where+`
		ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, sample)...).Scan(ctx, &out.Tasks); err != nil {
		return nil, s.wrap("reading report tasks", err)
	}
	if len(out.Tasks) == 0 {
		return out, nil
	}
	ids := make([]int64, len(out.Tasks))
	for i, t := range out.Tasks {
		ids[i] = t.ID
	}
	if err := s.ro.NewRaw(`SELECT id, task_id, name, handler, state, attempts, created_at, started_at, completed_at FROM tasker_steps
		WHERE task_id IN (?) ORDER BY task_id, id`, bun.List(ids)).Scan(ctx, &out.Steps); err != nil {
		return nil, s.wrap("reading report steps", err)
	}
	if err := s.ro.NewRaw(`SELECT task_id, from_step_id, to_step_id FROM tasker_step_edges WHERE task_id IN (?)`, bun.List(ids)).Scan(ctx, &out.Edges); err != nil {
		return nil, s.wrap("reading report edges", err)
	}
	return out, nil
}
