package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/store/sqlite"
)

// raceSize is the claim race's workload: workers (engines, each with a
// store of its own on the one database) and one-step tasks.
func raceSize(kind string, quick bool) (workers, tasks int) {
	workers = 8
	if kind == "sqlite" {
		workers = 4
	}
	switch {
	case !quick:
		return workers, 100_000
	case kind == "sqlite":
		return workers, 500 // 4 pools queue on one writer: under -race 500 take ~3 s, 1,000 ~20 s
	}
	return workers, 5_000
}

// claimRace: every task is seeded (StartMany) before any worker runs; then
// all the workers start at once and race to claim. Each step must be
// claimed and completed exactly once: its handler ran once, it has one
// move to in_progress and one to complete in its history, and 1 attempt.
// A race that only one worker took part in proved nothing, and is run
// again on a fresh database, up to three times: on SQLite the worker whose
// commits come back to back keeps the one writer while the others' busy
// waits back off (of the quick race's 500 steps, one worker ran them all
// in about one run of five, before and after this session's changes).
func claimRace(ctx context.Context, tg opener, quick bool) (Row, error) {
	for try := 1; ; try++ {
		r, racing, err := claimRaceOnce(ctx, tg, quick)
		switch {
		case err != nil || racing >= 2:
			return r, err
		case try == 3:
			r.Problems = append(r.Problems, fmt.Sprintf("in each of %d races only %d worker ran steps: nothing was raced", try, racing))
			return r, nil
		}
	}
}

// claimRaceOnce runs the race once, and says how many workers ran steps.
func claimRaceOnce(ctx context.Context, tg opener, quick bool) (Row, int, error) {
	workers, n := raceSize(tg.tg.kind, quick)
	open := tg.shared()
	seed, err := open(ctx)
	if err != nil {
		return Row{}, 0, err
	}
	defer seed.Close()
	var mu sync.Mutex
	runs := make(map[int64]int, n) // task id -> handler runs
	ran := make([]int, workers)    // worker -> steps it ran
	tpl := &engine.Template{Namespace: "chaos", Name: "race", Steps: []engine.StepTemplate{{Name: "s", Handler: "h"}}}
	var engines []*engine.Engine
	for w := range workers {
		st := seed
		if w > 0 {
			// A store (a pool) per worker, as in separate processes.
			if st, err = open(ctx); err != nil {
				return Row{}, 0, err
			}
			defer st.Close()
		}
		cfg := config(st, fmt.Sprint("racer-", w))
		// A rescue would be a second claim, legitimately: not what is
		// raced here. 30 s expired under a loaded machine (the quick race
		// took 42 s on SQLite, 3.5 s alone, and 31 steps ran twice).
		cfg.Execution.LeaseTTL = 10 * time.Minute
		cfg.Execution.MaxConcurrency, cfg.Execution.BatchSize = 32, 50
		e, err := engine.New(cfg)
		if err != nil {
			return Row{}, 0, err
		}
		if err := e.HandleFunc("h", func(sc *engine.StepContext) (any, error) {
			mu.Lock()
			runs[sc.TaskID]++
			ran[w]++
			mu.Unlock()
			return nil, nil
		}); err != nil {
			return Row{}, 0, err
		}
		if err := e.Register(tpl); err != nil {
			return Row{}, 0, err
		}
		engines = append(engines, e)
	}
	reqs := make([]engine.StartRequest, n)
	for i := range reqs {
		reqs[i] = engine.StartRequest{Workflow: "chaos/race", Input: map[string]int{"n": i}}
	}
	ids := make([]int64, 0, n)
	for len(reqs) > 0 {
		chunk := reqs[:min(len(reqs), 5000)]
		reqs = reqs[len(chunk):]
		res, err := engines[0].StartMany(ctx, chunk)
		if err != nil {
			return Row{}, 0, fmt.Errorf("seeding: %w", err)
		}
		for i, r := range res {
			if r.Err != nil {
				return Row{}, 0, fmt.Errorf("seeding item %d: %w", i, r.Err)
			}
			ids = append(ids, r.Handle.TaskID)
		}
	}
	began := time.Now()
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	for _, e := range engines {
		stop, err := run(ctx, e)
		if err != nil {
			return Row{}, 0, err
		}
		stops = append(stops, stop)
	}
	r := Row{Workflows: n}
	limit := 2 * time.Minute
	if !quick {
		limit = time.Hour
	}
	deadline := time.Now().Add(limit)
	for {
		var done int
		if err := seed.DB().NewRaw(`SELECT count(*) FROM tasker_tasks WHERE state = ?`, string(store.TaskComplete)).Scan(ctx, &done); err != nil {
			return r, 0, err
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			r.Problems = append(r.Problems, fmt.Sprintf("%d of %d tasks complete after %s", done, n, limit))
			break
		}
		select {
		case <-ctx.Done():
			return r, 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	r.Recovery = time.Since(began)
	for _, stop := range stops {
		stop()
	}
	stops = nil
	racing := 0
	for _, k := range ran {
		if k > 0 {
			racing++
		}
	}
	return r, racing, raceFigures(ctx, seed, &r, ids, runs)
}

// raceFigures checks the histories in a few aggregate queries (a query per
// task would take longer than the race) and the handlers' run counts.
func raceFigures(ctx context.Context, s store.Store, r *Row, ids []int64, runs map[int64]int) error {
	bad := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }
	var counts struct {
		Steps, Complete, OneAttempt int
	}
	if err := s.DB().NewRaw(`SELECT count(*) AS steps,
		coalesce(sum(CASE WHEN state = 'complete' THEN 1 ELSE 0 END), 0) AS complete,
		coalesce(sum(CASE WHEN attempts = 1 THEN 1 ELSE 0 END), 0) AS one_attempt FROM tasker_steps`).Scan(ctx, &counts.Steps, &counts.Complete, &counts.OneAttempt); err != nil {
		return err
	}
	r.Lost = counts.Steps - counts.Complete
	if counts.Steps != len(ids) || counts.OneAttempt != len(ids) {
		bad("%d steps, %d with one attempt; want %d and %d", counts.Steps, counts.OneAttempt, len(ids), len(ids))
	}
	var twice []struct {
		StepID int64  `bun:"step_id"`
		To     string `bun:"to_state"`
		N      int    `bun:"n"`
	}
	if err := s.DB().NewRaw(`SELECT step_id, to_state, count(*) AS n FROM tasker_step_transitions
		WHERE to_state IN ('in_progress', 'complete') GROUP BY step_id, to_state HAVING count(*) <> 1`).Scan(ctx, &twice); err != nil {
		return err
	}
	for _, t := range twice {
		if t.To == string(store.StepComplete) {
			r.DoubleCompletions++
		}
		if len(r.Problems) < 10 {
			bad("step %d has %d moves to %s in its history", t.StepID, t.N, t.To)
		}
	}
	// The moves in the history: the rows written, and the claims implied
	// by a step created claimed (sort key 1 not written; see
	// store.History).
	var moves int
	if err := s.DB().NewRaw(`SELECT (SELECT count(*) FROM tasker_step_transitions WHERE to_state IN ('in_progress', 'complete'))
		+ (SELECT count(*) FROM tasker_steps s WHERE s.transition_seq >= 1
			AND NOT EXISTS (SELECT 1 FROM tasker_step_transitions t WHERE t.step_id = s.id AND t.sort_key = 1))`).Scan(ctx, &moves); err != nil {
		return err
	}
	if moves != 2*len(ids) {
		bad("%d moves to in_progress or complete in the history, want %d (two per step)", moves, 2*len(ids))
	}
	twiceRun := 0
	for _, id := range ids {
		if runs[id] != 1 {
			twiceRun++
			if twiceRun <= 5 {
				bad("task %d: its handler ran %d times", id, runs[id])
			}
		}
	}
	if twiceRun > 5 {
		bad("... %d tasks in all whose handler did not run exactly once", twiceRun)
	}
	return nil
}

// shared returns a function opening one fresh database (an SQLite file, a
// PostgreSQL schema) as often as called: a store each, as processes do.
func (o opener) shared() func(ctx context.Context) (store.Store, error) {
	tg := o.tg
	tg.mu.Lock()
	tg.n++
	file := filepath.Join(tg.dir, fmt.Sprintf("chaos-%d.db", tg.n))
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "tasker_chaos_" + hex.EncodeToString(b)
	if tg.kind == "postgres" {
		tg.drops = append(tg.drops, schema)
		o.use(place{Postgres: tg.dsn, Schema: schema})
	} else {
		o.use(place{SQLite: file})
	}
	tg.mu.Unlock()
	return func(ctx context.Context) (store.Store, error) {
		if tg.kind == "sqlite" {
			return sqlite.Open(ctx, file, nil)
		}
		return postgres.Open(ctx, tg.dsn, &postgres.Options{Schema: schema})
	}
}
