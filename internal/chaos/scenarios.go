package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/faultstore"
	"github.com/tasker-go/tasker/store"
)

type scenario struct {
	name string
	run  func(ctx context.Context, tg opener, quick bool) (Row, error)
	only string // "sqlite" or "postgres": the scenario applies to that database alone
}

// lostReplies are the store calls a reply of which is lost in the
// "commit then error" scenarios. SendEvent runs inside the engine's own
// transaction, so its lost reply is simulated at the caller: it sends
// again.
var lostReplies = []string{"FinishSteps", "ClaimSteps", "CreateTasks", "SendEvent", "RecordStep", "RecordAttempts"}

func scenarios() []scenario {
	var out []scenario
	for _, m := range lostReplies {
		out = append(out, scenario{name: "commit then error: " + m, run: func(ctx context.Context, tg opener, quick bool) (Row, error) {
			return lostReply(ctx, tg, quick, m)
		}})
	}
	out = append(out,
		scenario{name: "heartbeats fail past the lease", run: heartbeatLoss},
		scenario{name: "retention while tasks finish", run: retention},
		scenario{name: "clock skew ±5 min", run: clockSkew},
		scenario{name: "no double claim under a race", run: claimRace},
		scenario{name: "template changed between start and execution", run: templateChange},
		scenario{name: "Redis flushed, then killed, mid-run", run: redisLoss},
	)
	return append(out, procScenarios()...)
}

// config: short leases, so a lost claim is rescued within seconds (not so
// short that a loaded machine's late heartbeats lose them).
func config(s store.Store, worker string) engine.Config {
	return engine.Config{Store: s, WorkerID: worker, Execution: engine.ExecutionConfig{
		LeaseTTL: 2 * time.Second, RescueInterval: 100 * time.Millisecond, PollInterval: 50 * time.Millisecond, MaxConcurrency: 8, BatchSize: 8}}
}

// run runs e in the background until the returned stop is called (once
// or more).
func run(ctx context.Context, e *engine.Engine) (stop func(), err error) {
	done, err := e.RunBackground(ctx)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { _ = e.Stop(ctx); <-done }) }, nil
}

func waitAll(ctx context.Context, e *engine.Engine, ids []int64) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, id := range ids {
		if _, err := e.Wait(ctx, id); err != nil {
			return fmt.Errorf("waiting for task %d: %w", id, err)
		}
	}
	return nil
}

// lostReply: calls of method commit and then report an error, at random
// (seeded), while the workload runs.
func lostReply(ctx context.Context, tg opener, quick bool, method string) (Row, error) {
	s, err := tg.open(ctx)
	if err != nil {
		return Row{}, err
	}
	defer s.Close()
	fs, err := faultstore.New(s, 13, faultstore.Rule{Method: method, Probability: 0.3, Times: 6, Action: faultstore.FailAfter})
	if err != nil {
		return Row{}, err
	}
	if method == "SendEvent" {
		fs.Clear()
	}
	e, err := engine.New(config(fs.Wrap(), "chaos"))
	if err != nil {
		return Row{}, err
	}
	l := NewLedger()
	if err := Register(e, l); err != nil {
		return Row{}, err
	}
	stop, err := run(ctx, e)
	if err != nil {
		return Row{}, err
	}
	dags, flows := 200, 100
	if quick {
		dags, flows = 8, 4
	}
	ids, err := Start(ctx, e, dags, flows, method == "SendEvent")
	if err == nil {
		err = waitAll(ctx, e, ids)
	}
	end := time.Now()
	stop()
	if err != nil {
		return Row{Workflows: len(ids)}, err
	}
	f, err := Check(ctx, s, l, ids)
	r := Row{Workflows: f.Workflows, Lost: f.Lost, DoubleCompletions: f.DoubleCompletions, StaleRefused: int(e.Stats().ResultsDiscarded), Problems: f.Problems}
	if inj := fs.Injected(); len(inj) > 0 {
		r.Recovery = end.Sub(inj[len(inj)-1].At)
	} else if method != "SendEvent" {
		r.Problems = append(r.Problems, "no fault was injected: the scenario tested nothing")
	}
	return r, err
}

// heartbeatLoss: a worker is cut off from the database after it claimed
// (its lease extensions fail from the start; its claims and completions
// too, once it holds steps); its handlers are cancelled once their leases
// must have expired, and a second worker on the same database takes the
// steps over. What the first worker's attempts produce is refused.
func heartbeatLoss(ctx context.Context, tg opener, quick bool) (Row, error) {
	s, err := tg.open(ctx)
	if err != nil {
		return Row{}, err
	}
	defer s.Close()
	cut, err := faultstore.New(s, 1, faultstore.Rule{Method: "ExtendLeases", Action: faultstore.FailBefore})
	if err != nil {
		return Row{}, err
	}
	n := 20
	if quick {
		n = 3
	}
	handlers := map[string]func(sc *engine.StepContext) (any, error){
		"cut": func(sc *engine.StepContext) (any, error) {
			<-sc.Context.Done() // cancelled once the lease is surely lost
			return "late", nil
		},
		"healthy": func(sc *engine.StepContext) (any, error) { return "real", nil },
	}
	var engines []*engine.Engine
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	for _, w := range []string{"cut", "healthy"} {
		st := store.Store(s)
		if w == "cut" {
			st = cut.Wrap()
		}
		e, err := engine.New(config(st, w))
		if err != nil {
			return Row{}, err
		}
		if err := e.HandleFunc("h", handlers[w]); err != nil {
			return Row{}, err
		}
		if err := e.Register(&engine.Template{Namespace: "chaos", Name: "hb", Steps: []engine.StepTemplate{{Name: "s", Handler: "h", RetryLimit: 10, Timeout: time.Minute}}}); err != nil {
			return Row{}, err
		}
		engines = append(engines, e)
	}
	var ids []int64
	for i := range n {
		h, err := engines[0].Start(ctx, "chaos/hb", map[string]int{"n": i})
		if err != nil {
			return Row{}, err
		}
		ids = append(ids, h.TaskID)
	}
	// The first worker claims first; then it is cut off, and the healthy
	// one joins.
	stop, err := run(ctx, engines[0])
	if err != nil {
		return Row{}, err
	}
	stops = append(stops, stop)
	began := time.Now()
	for engines[0].Stats().StepsClaimed == 0 {
		select {
		case <-ctx.Done():
			return Row{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := cut.Add(faultstore.Rule{Method: "ClaimSteps", Action: faultstore.FailBefore},
		faultstore.Rule{Method: "FinishSteps", Action: faultstore.FailBefore}); err != nil {
		return Row{}, err
	}
	claimed := int(engines[0].Stats().StepsClaimed)
	stop, err = run(ctx, engines[1])
	if err != nil {
		return Row{}, err
	}
	stops = append([]func(){stop}, stops...)
	err = waitAll(ctx, engines[1], ids)
	r := Row{Workflows: n, Recovery: time.Since(began)}
	if err != nil {
		return r, err
	}
	for _, id := range ids {
		d, err := s.GetTask(ctx, id)
		if err != nil {
			return r, err
		}
		switch {
		case d.Task.State != store.TaskComplete:
			r.Lost++
		case string(d.Steps[0].Results) != `"real"`:
			r.Problems = append(r.Problems, fmt.Sprintf("task %d recorded the late result %s", id, d.Steps[0].Results))
		}
	}
	for _, stop := range stops {
		stop()
	}
	for _, e := range engines {
		r.StaleRefused += int(e.Stats().ResultsDiscarded)
	}
	if r.StaleRefused < claimed {
		r.Problems = append(r.Problems, fmt.Sprintf("%d stale results refused, want one per attempt the cut-off worker claimed (%d)", r.StaleRefused, claimed))
	}
	return r, nil
}

// retention: the cleaner deletes finished tasks every pass while others
// start, run and finish. None is deleted unfinished; deletions are whole.
func retention(ctx context.Context, tg opener, quick bool) (Row, error) {
	s, err := tg.open(ctx)
	if err != nil {
		return Row{}, err
	}
	defer s.Close()
	n := 1000
	if quick {
		n = 30
	}
	cfg := config(s, "cleaner")
	cfg.Execution.Retention = time.Millisecond
	cfg.Execution.RescueInterval = 10 * time.Millisecond
	e, err := engine.New(cfg)
	if err != nil {
		return Row{}, err
	}
	if err := e.HandleFunc("h", func(sc *engine.StepContext) (any, error) { return sc.Step, nil }); err != nil {
		return Row{}, err
	}
	if err := e.Register(&engine.Template{Namespace: "chaos", Name: "ret", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "h", RetryLimit: 10}, {Name: "b", Handler: "h", DependsOn: []string{"a"}, RetryLimit: 10},
		{Name: "c", Handler: "h", DependsOn: []string{"b"}, RetryLimit: 10}}}); err != nil {
		return Row{}, err
	}
	events, unsubscribe := e.Subscribe(n * 20)
	defer unsubscribe()
	stop, err := run(ctx, e)
	if err != nil {
		return Row{}, err
	}
	defer stop()
	began := time.Now()
	ids := map[int64]bool{}
	for i := range n {
		h, err := e.Start(ctx, "chaos/ret", map[string]int{"n": i})
		if err != nil {
			return Row{}, err
		}
		ids[h.TaskID] = true
	}
	r := Row{Workflows: n}
	completed := map[int64]bool{}
	timeout := time.After(2 * time.Minute)
	for len(completed) < n {
		select {
		case ev := <-events:
			switch ev.Name {
			case engine.EventTaskCompleted:
				completed[ev.TaskID] = true
			case engine.EventTaskFailed, engine.EventTaskCancelled:
				why := ""
				if d, err := s.GetTask(ctx, ev.TaskID); err == nil {
					why = string(d.Task.LastError)
				}
				r.Problems = append(r.Problems, fmt.Sprintf("task %d: %s %s", ev.TaskID, ev.Name, why))
				completed[ev.TaskID] = true
			}
		case <-timeout:
			r.Lost = n - len(completed)
			return r, fmt.Errorf("%d of %d tasks completed in 2 minutes", len(completed), n)
		}
	}
	r.Recovery = time.Since(began)
	stop()
	deleted := 0
	for id := range ids {
		d, err := s.GetTask(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			deleted++
		case err != nil:
			return r, err
		case d.Task.State != store.TaskComplete:
			r.Lost++
		}
	}
	var orphans int
	if err := s.DB().NewRaw(`SELECT count(*) FROM tasker_steps WHERE task_id NOT IN (SELECT id FROM tasker_tasks)`).Scan(ctx, &orphans); err != nil {
		return r, err
	}
	if orphans > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d steps outlived their deleted tasks", orphans))
	}
	if deleted == 0 {
		r.Problems = append(r.Problems, "the cleaner deleted nothing: the scenario raced nothing")
	}
	return r, nil
}
