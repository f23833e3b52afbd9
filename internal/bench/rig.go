package bench

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/uptrace/bun"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
)

// queryCounter counts the statements a store runs (a bun query hook).
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}
func (c *queryCounter) AfterQuery(context.Context, *bun.QueryEvent) { c.n.Add(1) }

// benchTarget is where one run of a workload happens: a fresh SQLite file,
// or a fresh schema on PostgreSQL run by procs worker processes (0 or 1:
// the bench process itself).
type benchTarget struct {
	sqlitePath string
	pgURL      string // without ?schema=
	schema     string
	procs      int
	// split runs the engine in one worker process while the bench process
	// only starts and waits (W5x), on either database.
	split    bool
	peers    bool // --peers-sizes: the side-by-side harness's sizes
	metrics  bool // the bench process's engine records Prometheus metrics
	maxConns int  // Postgres pool size (0: the store's default)
	tracing  bool // the bench process's engine traces (SDK, spans dropped)
	// toggles are set on the bench process's engine before it runs.
	toggles map[string]bool
}

// size is n, or the peers harness's size for the workload when the target
// runs with --peers-sizes, times scale.
func (tg *benchTarget) size(n, peers int, scale float64) int {
	if tg.peers {
		n = peers
	}
	return scaled(n, scale)
}

// open opens the target's store with hooks run around every statement.
func (tg *benchTarget) open(ctx context.Context, hooks ...bun.QueryHook) (store.Store, error) {
	if tg.pgURL != "" {
		return postgres.Open(ctx, tg.pgURL, &postgres.Options{Schema: tg.schema, QueryHooks: hooks, MaxConns: tg.maxConns})
	}
	return freshStore(ctx, tg.sqlitePath, hooks...)
}

// multiProc reports whether worker processes run the engine.
func (tg *benchTarget) multiProc() bool { return tg.split || (tg.pgURL != "" && tg.procs > 1) }

// workers is the number of worker processes of a multi-process run.
func (tg *benchTarget) workers() int {
	if tg.split {
		return 1
	}
	return tg.procs
}

// benchEngineConfig is the engine configuration of every bench engine, in
// the bench process and in bench-worker processes alike.
func benchEngineConfig(st store.Store) engine.Config {
	return engine.Config{
		Store: st, Retry: benchBackoff,
		Execution: engine.ExecutionConfig{MaxConcurrency: 256, BatchSize: 256},
	}
}

// rig is one workload's engine on a fresh file or schema.
type rig struct {
	st      store.Store
	e       *engine.Engine
	queries *queryCounter
	tr      *Tracker
	pool    *poolSampler // nil on SQLite
	unsub   func()
	runDone chan error
	running bool
	tp      *sdktrace.TracerProvider // --tracing
}

// dropSpans is the no-op exporter of --tracing: the spans are made,
// sampled and batched, then dropped.
type dropSpans struct{}

func (dropSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (dropSpans) Shutdown(context.Context) error                             { return nil }

func newRig(ctx context.Context, tg *benchTarget, def *benchDef, tune func(*engine.Config)) (*rig, error) {
	queries := &queryCounter{}
	st, err := tg.open(ctx, queries)
	if err != nil {
		return nil, err
	}
	r := &rig{st: st, queries: queries, tr: NewTracker()}
	cfg := benchEngineConfig(st)
	def.configure(&cfg)
	if tune != nil {
		tune(&cfg)
	}
	if tg.metrics {
		cfg.Metrics = engine.NewMetrics()
	}
	if tg.tracing {
		r.tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(dropSpans{}))
		cfg.TracerProvider = r.tp
	}
	r.e, err = engine.New(cfg)
	if err == nil {
		err = def.register(r.e)
	}
	for name, on := range tg.toggles {
		if err == nil {
			err = r.e.SetToggle(ctx, name, on)
		}
	}
	if err != nil {
		if r.tp != nil {
			_ = r.tp.Shutdown(ctx)
		}
		st.Close()
		return nil, err
	}
	if ps, ok := st.(*postgres.Store); ok {
		r.pool = newPoolSampler(ps)
	}
	return r, nil
}

// run starts the engine and follows task events from now on.
func (r *rig) run(ctx context.Context) {
	var events <-chan engine.Event
	events, r.unsub = r.e.Subscribe(1 << 16)
	consumed := make(chan struct{})
	go func() { defer close(consumed); r.tr.Consume(events) }()
	unsub := r.unsub
	r.unsub = func() { unsub(); <-consumed }
	r.runDone = make(chan error, 1)
	r.running = true
	go func() { r.runDone <- r.e.Run(context.WithoutCancel(ctx)) }()
}

// waitAll waits until every tracked task has finished.
func (r *rig) waitAll(ctx context.Context) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		c, f, n := r.tr.Counts()
		if c+f == n {
			return nil
		}
		select {
		case <-r.tr.Changed():
		case <-tick.C:
			if r.e.Stats().EventsDropped > 0 {
				if err := r.tr.Resync(ctx, r.st); err != nil {
					return err
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// close stops the engine, verifies the final states and closes the store.
func (r *rig) close(ctx context.Context, res *benchResult) error {
	var err error
	if r.running {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err = r.e.Stop(sctx)
		cancel()
		err = errors.Join(err, <-r.runDone)
		r.unsub()
	}
	if r.pool != nil {
		peak := r.pool.stop()
		if res != nil && res.procs == 0 {
			res.peakConn = peak.Open
		}
	}
	if res != nil && err == nil {
		counts, cerr := r.st.CountByState(context.WithoutCancel(ctx))
		if cerr != nil {
			err = cerr
		} else {
			res.complete = counts.Tasks[store.TaskComplete]
		}
	}
	if r.tp != nil {
		err = errors.Join(err, r.tp.Shutdown(context.WithoutCancel(ctx)))
	}
	return errors.Join(err, r.st.Close())
}

// measure snapshots the counters a workload reports.
type measure struct {
	stats   engine.Stats
	sql     int64
	mallocs uint64
	cpu     time.Duration // the process's user and system time
	at      time.Time
}

// processCPU is the user and system time this process has used (0 where
// getrusage fails).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (r *rig) snapshot() measure {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return measure{stats: r.e.Stats(), sql: r.queries.n.Load(), mallocs: ms.Mallocs, cpu: processCPU(), at: time.Now()}
}

func (r *rig) result(from measure, items int, unit string) *benchResult {
	to := r.snapshot()
	_, _, n := r.tr.Counts()
	return &benchResult{
		items: items, unit: unit, wall: to.at.Sub(from.at), tasks: n,
		attempts: to.stats.StepsClaimed - from.stats.StepsClaimed,
		retried:  to.stats.StepsRetried - from.stats.StepsRetried,
		claimTx:  to.stats.ClaimTransactions - from.stats.ClaimTransactions,
		finishTx: to.stats.FinishTransactions - from.stats.FinishTransactions,
		sql:      to.sql - from.sql, mallocs: to.mallocs - from.mallocs, cpu: to.cpu - from.cpu,
	}
}
