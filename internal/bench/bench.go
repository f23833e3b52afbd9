package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/bench/ceiling"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/store/sqlite"
)

// benchBackoff is the tiny backoff every bench step retries with.
var benchBackoff = retry.Policy{Base: time.Millisecond, Max: 2 * time.Millisecond}

// Options are `tasker bench`'s flags.
type Options struct {
	// DB is an SQLite file path (each workload uses PATH with -w1, -w2…
	// before the extension; empty: a temporary directory, removed
	// afterwards) or a postgres:// URL (each run in a fresh schema).
	DB string
	// Workloads to run, comma-separated (DefaultWorkloads: all).
	Workloads string
	// Scale multiplies every workload's size.
	Scale float64
	// Procs lists, comma-separated, the numbers of engine processes each
	// workload runs with on PostgreSQL (ignored on SQLite).
	Procs string
}

// benchResult is one workload's measurements.
type benchResult struct {
	items    int
	unit     string // "workflows" or "steps"
	procs    int    // worker processes (0: the bench process itself)
	wall     time.Duration
	tasks    int
	complete int
	attempts int64 // step attempts (claims), the per-step denominator of DAG workloads
	// durable is the number of durable steps code-first workflows ran, the
	// per-step denominator of code-first workloads (attempts counts their
	// drivers' claims there).
	durable  int64
	p50, p99 float64 // W5/W5c latency, ms
	claimTx  int64
	finishTx int64
	sql      int64
	mallocs  uint64
	peakConn int32 // peak open pool connections in one process (Postgres)
	note     string
}

// perStep is the denominator of the per-step columns.
func (r *benchResult) perStep() int64 {
	if r.durable > 0 {
		return r.durable
	}
	return r.attempts
}

// per formats n per step.
func (r *benchResult) per(n float64) string {
	if r.perStep() == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", n/float64(r.perStep()))
}

type workload struct {
	name, what string
	run        func(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error)
}

var workloads = []workload{
	{"W1", "one-step workflows started up front", benchW1},
	{"W2", "10-step chains", benchW2},
	{"W2c", "code-first, 10 durable steps", benchW2c},
	{"W3", "fan-out 1->50->1", benchW3},
	{"W4", "one step, 30% fail once", benchW4},
	{"W5", "3-step chains one at a time", benchW5},
	{"W5c", "code-first 3 steps one at a time", benchW5c},
}

// DefaultWorkloads is --workloads' default: every workload.
var DefaultWorkloads = func() string {
	var names []string
	for _, w := range workloads {
		names = append(names, w.name)
	}
	return strings.Join(names, ",")
}()

func scaled(n int, scale float64) int { return max(1, int(math.Round(float64(n)*scale))) }

// Run runs the chosen workloads and prints the table to out. It fails when
// a workload fails or does not complete every workflow.
func Run(ctx context.Context, out io.Writer, o Options) error {
	if o.Scale <= 0 {
		return fmt.Errorf("--scale must be positive, got %g", o.Scale)
	}
	chosen, err := chooseWorkloads(o.Workloads)
	if err != nil {
		return err
	}
	if strings.HasPrefix(o.DB, "postgres://") || strings.HasPrefix(o.DB, "postgresql://") {
		return runPostgresBench(ctx, out, o, chosen)
	}
	return runSQLiteBench(ctx, out, o, chosen)
}

// chooseWorkloads parses --workloads.
func chooseWorkloads(list string) ([]workload, error) {
	var chosen []workload
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		i := slices.IndexFunc(workloads, func(w workload) bool { return strings.EqualFold(w.name, name) })
		if i < 0 {
			return nil, fmt.Errorf("unknown workload %q (one of %s)", strings.ToUpper(name), DefaultWorkloads)
		}
		chosen = append(chosen, workloads[i])
	}
	if len(chosen) == 0 {
		return nil, errors.New("--workloads names no workload")
	}
	return chosen, nil
}

func runSQLiteBench(ctx context.Context, out io.Writer, o Options, chosen []workload) error {
	base := o.DB
	if base == "" {
		dir, err := os.MkdirTemp("", "tasker-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		base = filepath.Join(dir, "bench.db")
	}
	fileFor := func(suffix string) string {
		ext := filepath.Ext(base)
		return strings.TrimSuffix(base, ext) + "-" + suffix + ext
	}
	fmt.Fprintf(out, "tasker bench: scale %g, %s %s/%s, GOMAXPROCS %d, files %s\n",
		o.Scale, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), fileFor("*"))
	fmt.Fprintln(out, "engine: MaxConcurrency 256, BatchSize 256, retry backoff 1-2 ms; SQLite WAL, synchronous NORMAL")

	ceil, err := rawCommitRate(ctx, fileFor("raw"), scaled(5000, o.Scale))
	if err != nil {
		return fmt.Errorf("raw commit rate: %w", err)
	}

	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nWORKLOAD\tWHAT\tITEMS\tWALL\tRATE\tCOMPLETE\tCLAIM TX/STEP\tFINISH TX/STEP\tSQL/STEP\tALLOCS/STEP\tNOTES")
	var failed []string
	done := map[string]*benchResult{}
	for _, wl := range chosen {
		r, err := wl.run(ctx, &benchTarget{sqlitePath: fileFor(strings.ToLower(wl.name))}, o.Scale)
		if err != nil {
			fmt.Fprintf(w, "%s\t%s\tFAILED: %v\n", wl.name, wl.what, err)
			failed = append(failed, fmt.Sprintf("%s: %v", wl.name, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		done[wl.name] = r
		fmt.Fprintf(w, "%s\t%s\t%d %s\t%s\t%.0f %s/s\t%d/%d\t%s\t%s\t%s\t%.0f\t%s\n",
			wl.name, wl.what, r.items, r.unit, r.wall.Round(time.Millisecond), float64(r.items)/r.wall.Seconds(), r.unit,
			r.complete, r.tasks, r.per(float64(r.claimTx)), r.per(float64(r.finishTx)), r.per(float64(r.sql)),
			float64(r.mallocs)/float64(max(r.perStep(), 1)), r.note)
		if r.complete != r.tasks {
			failed = append(failed, fmt.Sprintf("%s: only %d of %d workflows complete", wl.name, r.complete, r.tasks))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nceiling: %.0f commits/s (%d one-row INSERT transactions, BEGIN IMMEDIATE/COMMIT through store.DB(), same kind of file)\n", ceil.PerSecond, ceil.Commits)
	fmt.Fprintln(out, "per step = per step attempt (claims), per durable step for code-first rows; SQL counts the writer connection's statements only")
	printCodeFirstRatios(out, "", done)
	if len(failed) > 0 {
		return fmt.Errorf("bench failed: %s", strings.Join(failed, "; "))
	}
	fmt.Fprintln(out, "every workload complete")
	return nil
}

// freshStore deletes path (and its WAL files) and opens a new store there.
func freshStore(ctx context.Context, path string) (*sqlite.Store, error) {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return sqlite.Open(ctx, path, nil)
}

// rawCommitRate is the ceiling on SQLite: n one-row INSERT commits, one
// at a time, through the store's writer on a fresh file.
func rawCommitRate(ctx context.Context, path string, n int) (ceiling.Rate, error) {
	st, err := freshStore(ctx, path)
	if err != nil {
		return ceiling.Rate{}, err
	}
	defer st.Close()
	if err := ceiling.CreateTable(ctx, st.DB()); err != nil {
		return ceiling.Rate{}, err
	}
	return ceiling.Measure(ctx, st.DB(), n, 1)
}

// queryCounter counts the statements bun runs on one database.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}
func (c *queryCounter) AfterQuery(context.Context, *bun.QueryEvent) { c.n.Add(1) }

// benchStore is a store the bench can count statements on.
type benchStore interface {
	store.Store
	DB() *bun.DB
}

// benchTarget is where one run of a workload happens: a fresh SQLite file,
// or a fresh schema on PostgreSQL run by procs worker processes (0 or 1:
// the bench process itself).
type benchTarget struct {
	sqlitePath string
	pgURL      string // without ?schema=
	schema     string
	procs      int
}

func (tg *benchTarget) open(ctx context.Context) (benchStore, error) {
	if tg.pgURL != "" {
		return postgres.Open(ctx, tg.pgURL, &postgres.Options{Schema: tg.schema})
	}
	return freshStore(ctx, tg.sqlitePath)
}

// multiProc reports whether worker processes run the engine.
func (tg *benchTarget) multiProc() bool { return tg.pgURL != "" && tg.procs > 1 }

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
	st      benchStore
	e       *engine.Engine
	queries *queryCounter
	tr      *Tracker
	pool    *poolSampler // nil on SQLite
	events  <-chan engine.Event
	unsub   func()
	runDone chan error
	running bool
}

func newRig(ctx context.Context, tg *benchTarget, def *benchDef, tune func(*engine.Config)) (*rig, error) {
	st, err := tg.open(ctx)
	if err != nil {
		return nil, err
	}
	r := &rig{st: st, queries: &queryCounter{}, tr: NewTracker()}
	st.DB().AddQueryHook(r.queries)
	cfg := benchEngineConfig(st)
	if tune != nil {
		tune(&cfg)
	}
	r.e, err = engine.New(cfg)
	if err == nil {
		err = def.register(r.e)
	}
	if err != nil {
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
	return errors.Join(err, r.st.Close())
}

// measure snapshots the counters a workload reports.
type measure struct {
	stats   engine.Stats
	sql     int64
	mallocs uint64
	at      time.Time
}

func (r *rig) snapshot() measure {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return measure{stats: r.e.Stats(), sql: r.queries.n.Load(), mallocs: ms.Mallocs, at: time.Now()}
}

func (r *rig) result(from measure, items int, unit string) *benchResult {
	to := r.snapshot()
	_, _, n := r.tr.Counts()
	return &benchResult{
		items: items, unit: unit, wall: to.at.Sub(from.at), tasks: n,
		attempts: to.stats.StepsClaimed - from.stats.StepsClaimed,
		claimTx:  to.stats.ClaimTransactions - from.stats.ClaimTransactions,
		finishTx: to.stats.FinishTransactions - from.stats.FinishTransactions,
		sql:      to.sql - from.sql, mallocs: to.mallocs - from.mallocs,
	}
}

type benchInput struct {
	I int `json:"i"`
}

func noop(sc *engine.StepContext) (any, error) {
	return map[string]any{"ok": true, "step": sc.Step}, nil
}

// flakyFirst fails the first attempt of 30% of the workflows (i % 10 < 3).
func flakyFirst(sc *engine.StepContext) (any, error) {
	var in benchInput
	if err := sc.Input(&in); err != nil {
		return nil, err
	}
	if sc.Attempt == 1 && in.I%10 < 3 {
		return nil, &engine.RetryableError{Err: fmt.Errorf("workflow %d: transient failure", in.I)}
	}
	return map[string]any{"ok": true}, nil
}

func chain(name string, n int) *engine.Template {
	t := &engine.Template{Namespace: "bench", Name: name, Version: "1"}
	for i := 1; i <= n; i++ {
		s := engine.StepTemplate{Name: fmt.Sprintf("s%02d", i), Handler: "bench.noop", Backoff: benchBackoff}
		if i > 1 {
			s.DependsOn = []string{fmt.Sprintf("s%02d", i-1)}
		}
		t.Steps = append(t.Steps, s)
	}
	return t
}

func fanout(width int) *engine.Template {
	t := &engine.Template{Namespace: "bench", Name: "fanout", Version: "1"}
	t.Steps = append(t.Steps, engine.StepTemplate{Name: "root", Handler: "bench.noop", Backoff: benchBackoff})
	var mids []string
	for i := 1; i <= width; i++ {
		name := fmt.Sprintf("p%02d", i)
		mids = append(mids, name)
		t.Steps = append(t.Steps, engine.StepTemplate{Name: name, Handler: "bench.noop", DependsOn: []string{"root"}, Backoff: benchBackoff})
	}
	t.Steps = append(t.Steps, engine.StepTemplate{Name: "join", Handler: "bench.noop", DependsOn: mids, Backoff: benchBackoff})
	return t
}

// benchDef is what a workload runs: a DAG template and its handlers, or a
// code-first workflow. The bench process and its bench-worker processes
// register the same ones.
type benchDef struct {
	workflow  string // "namespace/name"
	codeFirst bool
	steps     int // steps per workflow (durable steps when code-first)
	register  func(e *engine.Engine) error
}

// start starts workflow i and returns its task id.
func (d *benchDef) start(ctx context.Context, e *engine.Engine, i int) (int64, error) {
	if d.codeFirst {
		h, err := engine.StartWorkflow[benchInput, int](ctx, e, d.workflow, benchInput{I: i})
		if err != nil {
			return 0, err
		}
		return h.TaskID, nil
	}
	h, err := e.Start(ctx, d.workflow, benchInput{I: i})
	if err != nil {
		return 0, err
	}
	return h.TaskID, nil
}

func dagDef(t *engine.Template, handlers map[string]engine.HandlerFunc) *benchDef {
	return &benchDef{workflow: t.FullName(), steps: len(t.Steps), register: func(e *engine.Engine) error {
		var err error
		for name, h := range handlers {
			err = errors.Join(err, e.Handle(name, h))
		}
		if err == nil {
			err = e.Register(t)
		}
		return err
	}}
}

// codeDef is a code-first workflow of n durable steps in sequence, each a
// no-op with the same result and backoff as the DAG chains' steps.
func codeDef(name string, n int) *benchDef {
	full := "bench/" + name
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("s%02d", i+1)
	}
	return &benchDef{workflow: full, codeFirst: true, steps: n, register: func(e *engine.Engine) error {
		return engine.RegisterWorkflow(e, full, func(wctx *engine.WorkflowContext, in benchInput) (int, error) {
			for _, step := range names {
				_, err := engine.Step(wctx, step, func(context.Context) (map[string]any, error) {
					return map[string]any{"ok": true, "step": step}, nil
				}, engine.WithStepBackoff(benchBackoff))
				if err != nil {
					return 0, err
				}
			}
			return n, nil
		})
	}}
}

// benchSpec is the definition of a workload.
func benchSpec(name string) (*benchDef, error) {
	noops := map[string]engine.HandlerFunc{"bench.noop": noop}
	switch name {
	case "W1":
		return dagDef(chain("single", 1), noops), nil
	case "W2":
		return dagDef(chain("chain10", 10), noops), nil
	case "W2C":
		return codeDef("code10", 10), nil
	case "W3":
		return dagDef(fanout(50), noops), nil
	case "W4":
		return dagDef(&engine.Template{Namespace: "bench", Name: "flaky", Version: "1", Steps: []engine.StepTemplate{
			{Name: "only", Handler: "bench.flaky", Backoff: benchBackoff},
		}}, map[string]engine.HandlerFunc{"bench.flaky": flakyFirst}), nil
	case "W5":
		return dagDef(chain("chain3", 3), noops), nil
	case "W5C":
		return codeDef("code3", 3), nil
	}
	return nil, fmt.Errorf("unknown workload %q (W1 to W5c)", name)
}

// upFront starts n workflows before Run, then measures from Run (or from
// spawning the worker processes) until every one has finished.
func upFront(ctx context.Context, tg *benchTarget, name string, n, stepsPer int, unit string) (*benchResult, error) {
	def, err := benchSpec(strings.ToUpper(name))
	if err != nil {
		return nil, err
	}
	r, err := newRig(ctx, tg, def, nil)
	if err != nil {
		return nil, err
	}
	began := time.Now()
	for i := range n {
		id, err := def.start(ctx, r.e, i)
		if err != nil {
			_ = r.close(ctx, nil)
			return nil, fmt.Errorf("starting workflow %d: %w", i, err)
		}
		r.tr.Add(id)
	}
	startRate := float64(n) / time.Since(began).Seconds()
	items := n
	if unit == "steps" {
		items = n * stepsPer
	}
	var res *benchResult
	if tg.multiProc() {
		res, err = upFrontProcs(ctx, tg, r, name, items, unit)
		if err != nil {
			_ = r.close(ctx, nil)
			return nil, err
		}
	} else {
		runtime.GC()
		from := r.snapshot()
		r.run(ctx)
		if err := r.waitAll(ctx); err != nil {
			_ = r.close(ctx, nil)
			return nil, err
		}
		res = r.result(from, items, unit)
	}
	res.note = fmt.Sprintf("started %d before Run at %.0f/s", n, startRate) + res.note
	if def.codeFirst {
		res.durable = int64(n * def.steps)
		res.note += fmt.Sprintf("; %d driver runs", res.attempts)
	}
	return res, r.close(ctx, res)
}

func benchW1(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	return upFront(ctx, tg, "W1", scaled(10000, scale), 1, "workflows")
}

func benchW2(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	return upFront(ctx, tg, "W2", scaled(1000, scale), 10, "steps")
}

func benchW2c(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	return upFront(ctx, tg, "W2c", scaled(1000, scale), 10, "steps")
}

func benchW3(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	return upFront(ctx, tg, "W3", scaled(100, scale), 52, "steps")
}

func benchW4(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	n := scaled(10000, scale)
	res, err := upFront(ctx, tg, "W4", n, 1, "workflows")
	if err != nil {
		return nil, err
	}
	wantRetries := 0
	for i := range n {
		if i%10 < 3 {
			wantRetries++
		}
	}
	res.note += fmt.Sprintf("; %d retries (want %d)", res.attempts-int64(n), wantRetries)
	if res.complete != n {
		return res, fmt.Errorf("only %d of %d workflows complete", res.complete, n)
	}
	if res.attempts != int64(n+wantRetries) {
		return res, fmt.Errorf("%d step attempts, want %d", res.attempts, n+wantRetries)
	}
	return res, nil
}

// waitPoll is how often the bench process polls a task's state in W5 when
// worker processes run it: completion in another process wakes no one here.
const waitPoll = time.Millisecond

func benchW5(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	return oneAtATime(ctx, tg, "W5", scale)
}

func benchW5c(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	return oneAtATime(ctx, tg, "W5c", scale)
}

// oneAtATime starts and waits for one workflow at a time and reports the
// start → done latency.
func oneAtATime(ctx context.Context, tg *benchTarget, name string, scale float64) (*benchResult, error) {
	def, err := benchSpec(strings.ToUpper(name))
	if err != nil {
		return nil, err
	}
	var tune func(*engine.Config)
	if tg.multiProc() {
		tune = func(c *engine.Config) { c.Execution.PollInterval = waitPoll }
	}
	r, err := newRig(ctx, tg, def, tune)
	if err != nil {
		return nil, err
	}
	var ws *benchWorkers
	if tg.multiProc() {
		if ws, err = spawnWorkers(ctx, tg, name); err == nil {
			err = ws.ready(ctx)
		}
		if err != nil {
			if ws != nil {
				_, _ = ws.stop()
			}
			_ = r.close(ctx, nil)
			return nil, err
		}
	} else {
		r.run(ctx)
	}
	n := scaled(1000, scale)
	lat := make([]time.Duration, 0, n)
	runtime.GC()
	from := r.snapshot()
	var runErr error
	var startSQL int64 // the bench process's statements in Start (multi-process)
	for i := range n {
		began := time.Now()
		q0 := r.queries.n.Load()
		id, err := def.start(ctx, r.e, i)
		startSQL += r.queries.n.Load() - q0
		if err != nil {
			runErr = fmt.Errorf("starting workflow %d: %w", i, err)
			break
		}
		r.tr.Add(id)
		out, err := r.e.Wait(ctx, id)
		if err != nil {
			runErr = err
			break
		}
		lat = append(lat, time.Since(began))
		if out.State != store.TaskComplete {
			runErr = fmt.Errorf("workflow %d ended %s: %s", i, out.State, out.Error)
			break
		}
	}
	res := r.result(from, n, "workflows")
	if ws != nil {
		stats, err := ws.stop()
		if runErr == nil {
			runErr = err
		}
		if runErr == nil {
			parentSQL := res.sql
			res.addWorkers(stats)
			res.sql += startSQL
			res.note = fmt.Sprintf("; bench process: %d statements in Start (counted), %d polling Wait every %s (not counted)",
				startSQL, parentSQL-startSQL, waitPoll)
		}
	}
	if runErr != nil {
		_ = r.close(ctx, nil)
		return nil, runErr
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)
		return float64(lat[max(i, 0)].Microseconds()) / 1000
	}
	res.p50, res.p99 = pct(0.50), pct(0.99)
	res.note = fmt.Sprintf("latency p50 %.2f ms, p99 %.2f ms, max %.2f ms", res.p50, res.p99, float64(lat[len(lat)-1].Microseconds())/1000) + res.note
	if def.codeFirst {
		res.durable = int64(n * def.steps)
		res.note += fmt.Sprintf("; %d driver runs", res.attempts)
	}
	return res, r.close(ctx, res)
}

// codeFirstTarget is the bound on a code-first step's cost relative
// to a DAG step's.
const codeFirstTarget = 1.5

// printCodeFirstRatios prints, when both rows of a pair ran, the cost of a
// code-first step relative to a DAG step: W2c/W2 wall time per step (the
// inverse ratio of their rates) and SQL statements per step, W5c/W5 p50 and
// p99 latency (both run 3 steps). suffix tells the runs apart on Postgres.
func printCodeFirstRatios(out io.Writer, suffix string, done map[string]*benchResult) {
	var parts []string
	over := false
	ratio := func(label string, code, dag float64) string {
		if dag <= 0 {
			return label + " -"
		}
		q := code / dag
		if q > codeFirstTarget {
			over = true
		}
		return fmt.Sprintf("%s %.2fx", label, q)
	}
	if c, d := done["W2c"+suffix], done["W2"+suffix]; c != nil && d != nil && c.items > 0 && d.items > 0 {
		perC := c.wall.Seconds() / float64(c.items)
		perD := d.wall.Seconds() / float64(d.items)
		parts = append(parts, "W2c/W2: "+ratio("wall per step", perC, perD)+
			fmt.Sprintf(" (%.0f vs %.0f steps/s), SQL per step %.2fx", 1/perC, 1/perD,
				(float64(c.sql)/float64(max(c.perStep(), 1)))/(float64(d.sql)/float64(max(d.perStep(), 1)))))
	}
	if c, d := done["W5c"+suffix], done["W5"+suffix]; c != nil && d != nil {
		parts = append(parts, "W5c/W5: "+ratio("p50", c.p50, d.p50)+", "+ratio("p99", c.p99, d.p99))
	}
	if len(parts) == 0 {
		return
	}
	verdict := fmt.Sprintf("within the %.1fx target", codeFirstTarget)
	if over {
		verdict = fmt.Sprintf("OVER the %.1fx target", codeFirstTarget)
	}
	label := "code-first/DAG step cost"
	if suffix != "" {
		label += " (" + strings.TrimPrefix(suffix, "@") + " process(es))"
	}
	fmt.Fprintf(out, "%s: %s; %s\n", label, strings.Join(parts, "; "), verdict)
}
