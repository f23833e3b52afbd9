package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

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

func fanout(name string, width int) *engine.Template {
	t := &engine.Template{Namespace: "bench", Name: name, Version: "1"}
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
	// queues, when set, are the queues the engine serves; workflow i
	// starts on queues[i % len(queues)].
	queues []string
	// bulk: the up-front workloads start every workflow with one
	// Engine.StartMany call (as River's InsertMany), not 8 goroutines of
	// Start.
	bulk bool
}

// configure applies the workload's routing to an engine configuration.
func (d *benchDef) configure(c *engine.Config) {
	if len(d.queues) > 0 {
		c.Execution.Queues = d.queues
	}
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
	var opts []engine.StartOption
	if len(d.queues) > 0 {
		opts = append(opts, engine.WithQueue(d.queues[i%len(d.queues)]))
	}
	h, err := e.Start(ctx, d.workflow, benchInput{I: i}, opts...)
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

// flakyCodeDef is W4 as a code-first workflow: one durable step whose
// first attempt fails, retryably, for 30% of the workflows (i % 10 < 3).
func flakyCodeDef() *benchDef {
	const full = "bench/flaky-code"
	return &benchDef{workflow: full, codeFirst: true, steps: 1, register: func(e *engine.Engine) error {
		return engine.RegisterWorkflow(e, full, func(wctx *engine.WorkflowContext, in benchInput) (int, error) {
			_, err := engine.Step(wctx, "only", func(ctx context.Context) (map[string]any, error) {
				if info, _ := engine.StepInfoFrom(ctx); info.Attempt == 1 && in.I%10 < 3 {
					return nil, &engine.RetryableError{Err: fmt.Errorf("workflow %d: transient failure", in.I)}
				}
				return map[string]any{"ok": true}, nil
			}, engine.WithStepBackoff(benchBackoff))
			return 1, err
		})
	}}
}

// benchSpec is the definition of a workload.
func benchSpec(name string) (*benchDef, error) {
	noops := map[string]engine.HandlerFunc{"bench.noop": noop}
	switch name {
	case "W1":
		return dagDef(chain("single", 1), noops), nil
	case "W1R":
		// W1 routed: 200 registered handler names (the claim filters on
		// them) and 4 queues served, workflows spread over the queues.
		many := map[string]engine.HandlerFunc{}
		for i := range 200 {
			many[fmt.Sprintf("bench.h%03d", i)] = noop
		}
		t := chain("single", 1)
		t.Steps[0].Handler = "bench.h137"
		def := dagDef(t, many)
		def.queues = []string{"q0", "q1", "q2", "q3"}
		return def, nil
	case "W1M":
		def := dagDef(chain("single", 1), noops)
		def.bulk = true
		return def, nil
	case "W2":
		return dagDef(chain("chain10", 10), noops), nil
	case "W1C":
		return codeDef("code1", 1), nil
	case "W2C":
		return codeDef("code10", 10), nil
	case "W3":
		return dagDef(fanout("fanout", 50), noops), nil
	case "W3P": // W3 at the peers harness's width
		return dagDef(fanout("fanout20", 20), noops), nil
	case "W4":
		return dagDef(&engine.Template{Namespace: "bench", Name: "flaky", Version: "1", Steps: []engine.StepTemplate{
			{Name: "only", Handler: "bench.flaky", Backoff: benchBackoff},
		}}, map[string]engine.HandlerFunc{"bench.flaky": flakyFirst}), nil
	case "W4C":
		return flakyCodeDef(), nil
	case "W5", "W5X":
		return dagDef(chain("chain3", 3), noops), nil
	case "W5C":
		return codeDef("code3", 3), nil
	}
	return nil, fmt.Errorf("unknown workload %q (W1 to W5x)", name)
}

// upFront starts n workflows from 8 goroutines while the engine runs and
// measures from the first Start to the last completion; with worker
// processes (Postgres --procs), it starts them first and measures from
// spawning the workers.
func upFront(ctx context.Context, tg *benchTarget, name string, n, stepsPer int, unit string) (*benchResult, error) {
	def, err := benchSpec(strings.ToUpper(name))
	if err != nil {
		return nil, err
	}
	r, err := newRig(ctx, tg, def, nil)
	if err != nil {
		return nil, err
	}
	items := n
	if unit == "steps" {
		items = n * stepsPer
	}
	var res *benchResult
	if tg.multiProc() {
		// The workflows are started first, then the worker processes
		// spawned: WALL is the run alone.
		began := time.Now()
		if err := startAll(ctx, r, def, n); err != nil {
			_ = r.close(ctx, nil)
			return nil, err
		}
		startRate := float64(n) / time.Since(began).Seconds()
		res, err = upFrontProcs(ctx, tg, r, name, items, unit)
		if err != nil {
			_ = r.close(ctx, nil)
			return nil, err
		}
		res.note = fmt.Sprintf("started %d before the workers at %.0f/s (not in WALL)", n, startRate) + res.note
	} else {
		// As the peers harness does: the engine runs while 8 goroutines
		// start the workflows, and WALL runs from the first Start to the
		// last completion.
		runtime.GC()
		r.run(ctx)
		from := r.snapshot()
		if err := startAll(ctx, r, def, n); err != nil {
			_ = r.close(ctx, nil)
			return nil, err
		}
		started := time.Since(from.at)
		if err := r.waitAll(ctx); err != nil {
			_ = r.close(ctx, nil)
			return nil, err
		}
		res = r.result(from, items, unit)
		by := fmt.Sprintf("from %d goroutines", startGoroutines)
		if def.bulk {
			by = "by one StartMany"
		}
		res.note = fmt.Sprintf("started %d %s in %s (%.0f/s), in WALL; %d steps claimed by their start (eager)",
			n, by, started.Round(time.Millisecond), float64(n)/started.Seconds(), r.e.Stats().StepsClaimedAtStart) + res.note
	}
	if def.codeFirst {
		res.durable = int64(n * def.steps)
		res.note += fmt.Sprintf("; %d driver runs", res.attempts)
	}
	return res, r.close(ctx, res)
}

// startGoroutines start the workflows of the up-front workloads, as the
// peers harness does.
const startGoroutines = 8

// startAll starts workflows 0..n-1 from startGoroutines goroutines (with
// def.bulk, by one StartMany call) and tracks them.
func startAll(ctx context.Context, r *rig, def *benchDef, n int) error {
	if def.bulk {
		return startMany(ctx, r, def, n)
	}
	var next atomic.Int64
	var g errgroup.Group
	for range startGoroutines {
		g.Go(func() error {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return nil
				}
				id, err := def.start(ctx, r.e, i)
				if err != nil {
					return fmt.Errorf("starting workflow %d: %w", i, err)
				}
				r.tr.Add(id)
			}
		})
	}
	return g.Wait()
}

// startMany starts workflows 0..n-1 of a DAG workload by one
// Engine.StartMany call and tracks them; any item refused fails the run.
func startMany(ctx context.Context, r *rig, def *benchDef, n int) error {
	reqs := make([]engine.StartRequest, n)
	for i := range reqs {
		reqs[i] = engine.StartRequest{Workflow: def.workflow, Input: benchInput{I: i}}
	}
	got, err := r.e.StartMany(ctx, reqs)
	if err != nil {
		return fmt.Errorf("StartMany of %d workflows: %w", n, err)
	}
	for i, g := range got {
		if g.Err != nil {
			return fmt.Errorf("StartMany item %d: %w", i, g.Err)
		}
		r.tr.Add(g.Handle.TaskID)
	}
	return nil
}

func benchW1(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	return upFront(ctx, tg, "W1", tg.size(10000, 2000, scale), 1, "workflows")
}

func benchW1c(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	return upFront(ctx, tg, "W1c", tg.size(10000, 2000, scale), 1, "workflows")
}

func benchW1r(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	return upFront(ctx, tg, "W1r", tg.size(10000, 2000, scale), 1, "workflows")
}

func benchW1m(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	return upFront(ctx, tg, "W1m", tg.size(10000, 2000, scale), 1, "workflows")
}

func benchW2(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	return upFront(ctx, tg, "W2", tg.size(1000, 200, scale), 10, "steps")
}

func benchW2c(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	return upFront(ctx, tg, "W2c", tg.size(1000, 200, scale), 10, "steps")
}

func benchW3(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	if tg.peers {
		return upFront(ctx, tg, "W3P", tg.size(100, 50, scale), 22, "steps")
	}
	return upFront(ctx, tg, "W3", scaled(100, scale), 52, "steps")
}

func benchW4(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	return flakyWorkload(ctx, tg, "W4", scale)
}

func benchW4c(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	return flakyWorkload(ctx, tg, "W4c", scale)
}

// flakyWorkload runs W4 or W4c and checks that every workflow completed
// after exactly the retries asked for.
func flakyWorkload(ctx context.Context, tg *benchTarget, name string, scale float64) (*benchResult, error) {
	n := tg.size(10000, 500, scale)
	res, err := upFront(ctx, tg, name, n, 1, "workflows")
	if err != nil {
		return nil, err
	}
	wantRetries := 0
	for i := range n {
		if i%10 < 3 {
			wantRetries++
		}
	}
	res.note += fmt.Sprintf("; %d retries (want %d)", res.retried, wantRetries)
	if res.complete != n {
		return res, fmt.Errorf("only %d of %d workflows complete", res.complete, n)
	}
	if res.retried != int64(wantRetries) {
		return res, fmt.Errorf("%d retries, want %d", res.retried, wantRetries)
	}
	return res, nil
}

func benchW5(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	return oneAtATime(ctx, tg, "W5", scale)
}

func benchW5c(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	return oneAtATime(ctx, tg, "W5c", scale)
}

// benchW5x is W5 as an API process and a worker deploy it: this process
// starts and waits, one worker process (the same database file or
// schema) runs the engine; what wakes the Wait is the worker's commit
// (Postgres NOTIFY, SQLite's data_version).
func benchW5x(ctx context.Context, tg *benchTarget, scale float64) (*benchResult, error) {
	x := *tg
	x.split = true
	return oneAtATime(ctx, &x, "W5x", scale)
}

// oneAtATime starts and waits for one workflow at a time and reports the
// start → done latency.
func oneAtATime(ctx context.Context, tg *benchTarget, name string, scale float64) (*benchResult, error) {
	def, err := benchSpec(strings.ToUpper(name))
	if err != nil {
		return nil, err
	}
	// With worker processes, the bench process only starts and waits, at
	// the default poll interval: what wakes its Wait is the workers'
	// commit (Postgres NOTIFY), as in an API process waiting on workers.
	r, err := newRig(ctx, tg, def, nil)
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
	n := tg.size(1000, 200, scale)
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
			res.note = fmt.Sprintf("; bench process: %d statements in Start (counted), %d in Wait (not counted)",
				startSQL, parentSQL-startSQL)
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
// inverse ratio of their rates) and SQL statements per step, W1c/W1 and
// W4c/W4 wall time per workflow, W5c/W5 p50 and p99 latency (both run 3 steps). suffix tells the runs apart on Postgres.
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
	if c, d := done["W1c"+suffix], done["W1"+suffix]; c != nil && d != nil && c.items > 0 && d.items > 0 {
		perC := c.wall.Seconds() / float64(c.items)
		perD := d.wall.Seconds() / float64(d.items)
		parts = append(parts, "W1c/W1: "+ratio("wall per workflow", perC, perD)+fmt.Sprintf(" (%.0f vs %.0f workflows/s)", 1/perC, 1/perD))
	}
	if c, d := done["W2c"+suffix], done["W2"+suffix]; c != nil && d != nil && c.items > 0 && d.items > 0 {
		perC := c.wall.Seconds() / float64(c.items)
		perD := d.wall.Seconds() / float64(d.items)
		parts = append(parts, "W2c/W2: "+ratio("wall per step", perC, perD)+
			fmt.Sprintf(" (%.0f vs %.0f steps/s), SQL per step %.2fx", 1/perC, 1/perD,
				(float64(c.sql)/float64(max(c.perStep(), 1)))/(float64(d.sql)/float64(max(d.perStep(), 1)))))
	}
	if c, d := done["W4c"+suffix], done["W4"+suffix]; c != nil && d != nil && c.items > 0 && d.items > 0 {
		perC := c.wall.Seconds() / float64(c.items)
		perD := d.wall.Seconds() / float64(d.items)
		parts = append(parts, "W4c/W4: "+ratio("wall per workflow", perC, perD)+fmt.Sprintf(" (%.0f vs %.0f workflows/s)", 1/perC, 1/perD))
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
