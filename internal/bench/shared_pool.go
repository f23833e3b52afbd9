package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
)

// E2's shape: three engines share one store, so one pool of sharedPool
// connections (a stand-in for three processes behind one PgBouncer pool:
// each engine reads the pool they all use). Each step waits 10 ms as on a
// remote call, then holds a pool connection for a 10 ms query; a query
// that cannot get a connection within acquireTimeout counts as an acquire
// timeout and the step retries.
const (
	sharedPool     = 6
	sharedEngines  = 3
	acquireTimeout = 250 * time.Millisecond
)

type sharedResult struct {
	rate     float64
	timeouts int64
	waits    int64
	limits   []int
}

func sharedPoolRun(ctx context.Context, dsn string, n int, dynamic bool) (res sharedResult, err error) {
	schema := benchSchemaName()
	defer func() { err = errors.Join(err, dropSchema(ctx, dsn, schema)) }()
	st, err := postgres.Open(ctx, dsn, &postgres.Options{Schema: schema, MaxConns: sharedPool})
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	var timeouts atomic.Int64
	step := func(sc *engine.StepContext) (any, error) {
		select {
		case <-time.After(10 * time.Millisecond):
		case <-sc.Done():
			return nil, sc.Err()
		}
		qctx, cancel := context.WithTimeout(sc, acquireTimeout)
		defer cancel()
		if _, err := st.DB().ExecContext(qctx, "SELECT pg_sleep(0.01)"); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				timeouts.Add(1)
			}
			return nil, &engine.RetryableError{Err: err}
		}
		return nil, nil
	}
	tpl := &engine.Template{Namespace: "bench", Name: "shared", Version: "1",
		Steps: []engine.StepTemplate{{Name: "call", Handler: "bench.shared", Backoff: benchBackoff, RetryLimit: 1000}}}
	var engines []*engine.Engine
	for i := range sharedEngines {
		x := engine.ExecutionConfig{MinConcurrency: 32, MaxConcurrency: 32, BatchSize: 32, PollInterval: 50 * time.Millisecond}
		if dynamic {
			x.MinConcurrency = 1
		}
		e, err := engine.New(engine.Config{Store: st, WorkerID: fmt.Sprintf("e2-%d", i), Retry: benchBackoff, Execution: x})
		if err == nil {
			err = errors.Join(e.HandleFunc("bench.shared", step), e.Register(tpl))
		}
		if err == nil && dynamic {
			err = e.SetToggle(ctx, cachex.ToggleDynamicConcurrency, true)
		}
		if err != nil {
			return res, err
		}
		engines = append(engines, e)
	}
	for i := range n {
		if _, err := engines[0].Start(ctx, "bench/shared", benchInput{I: i}); err != nil {
			return res, fmt.Errorf("starting workflow %d: %w", i, err)
		}
	}
	w0 := st.DB().Stats().WaitCount
	began := time.Now()
	var wg sync.WaitGroup
	runErrs := make([]error, len(engines))
	for i, e := range engines {
		wg.Go(func() { runErrs[i] = e.Run(context.WithoutCancel(ctx)) })
	}
	// Done when every task is finished (read every 100 ms).
	for {
		counts, err := st.CountByState(ctx)
		if err != nil {
			return res, err
		}
		if counts.Tasks[store.TaskComplete]+counts.Tasks[store.TaskError] >= n {
			break
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	res.rate = float64(n) / time.Since(began).Seconds()
	for _, e := range engines {
		res.limits = append(res.limits, e.Status().Concurrency.Limit)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err = errors.Join(err, e.Stop(sctx))
		cancel()
	}
	wg.Wait()
	res.timeouts, res.waits = timeouts.Load(), st.DB().Stats().WaitCount-w0
	return res, errors.Join(append(runErrs, err)...)
}

// experimentE2: fixed 32 a engine vs dynamic (1..32), three engines on one
// pool of 6.
func experimentE2(ctx context.Context, scale float64, dsn string) ([]expRow, error) {
	n := scaled(1500, scale)
	fixed, err := sharedPoolRun(ctx, dsn, n, false)
	if err != nil {
		return nil, err
	}
	dyn, err := sharedPoolRun(ctx, dsn, n, true)
	if err != nil {
		return nil, err
	}
	return []expRow{{"E2", "postgres",
		fmt.Sprintf("3 engines sharing one pool of %d, %d steps (10 ms wait + 10 ms query): dynamic (1..32) vs fixed 32", sharedPool, n),
		"dynamic: 0 acquire timeouts; fixed high: some",
		fmt.Sprintf("acquire timeouts (> %s) %d vs %d; pool waits %d vs %d; %.0f vs %.0f steps/s; final limits %v", acquireTimeout, dyn.timeouts, fixed.timeouts, dyn.waits, fixed.waits, dyn.rate, fixed.rate, dyn.limits),
		holds(dyn.timeouts == 0 && fixed.timeouts > 0)}}, nil
}
