package testkit

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/internal/faultstore"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// CrashTest is a workflow to crash at every persistence boundary (see
// CrashEach).
type CrashTest struct {
	// Setup registers handlers, templates and workflows on an engine. It
	// runs for every engine CrashEach makes — the one that crashes and the
	// one that recovers — as a program does each time it starts. Handlers
	// log their side effects in fx with their idempotency key.
	//
	// A few runs go at once (each on its own database file), so Setup and
	// Start are called concurrently: what they and the handlers keep
	// outside fx (a fake provider, a counter) is shared by runs that crash
	// at different boundaries. Record the outside world's state in fx,
	// which is each run's own and survives its crash; what Setup makes is
	// its engine's, lost in the crash as a process's memory is.
	Setup func(e *engine.Engine, fx *Effects) error
	// Start starts the workflow and returns its task id. It runs again in
	// the recovering engine, as a restarted program does, so it must name
	// the task's identity (engine.WithIdempotencyKey, or the default
	// identity of the template and input): a second task for the same
	// start is reported as a failure.
	Start func(ctx context.Context, e *engine.Engine) (int64, error)
	// Config is the engines' configuration; Store, Clock and WorkerID are
	// supplied (setting any of them is refused).
	Config engine.Config
}

// Effects is the side-effect log a crash test's handlers write to: one
// entry per run of a side effect, under its idempotency key
// (StepContext.IdempotencyKey, or engine.StepInfoFrom(ctx) in a durable
// step). It survives the simulated crash, as the outside world does.
type Effects struct {
	mu   sync.Mutex
	runs map[string]int
}

// Record logs one run of the side effect with that idempotency key. An
// empty key is a mistake (engine.StepInfoFrom of a context that is not a
// durable step's gives none), and CrashEach fails the test on it: every
// side effect logged under "" would count as one, and a crash that lost
// one of them would go unseen.
func (fx *Effects) Record(key string) {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	if fx.runs == nil {
		fx.runs = map[string]int{}
	}
	fx.runs[key]++
}

// Runs returns how often each key's side effect ran.
func (fx *Effects) Runs() map[string]int {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	out := make(map[string]int, len(fx.runs))
	for k, v := range fx.runs {
		out[k] = v
	}
	return out
}

// Boundary is one persistence boundary CrashEach crashed at.
type Boundary struct {
	Write  int    // the write's number in the run (1-based)
	Method string // the store call ("CreateTask", "FinishSteps", …)
	// Committed: the crash came after the write committed (its reply
	// lost); otherwise before it reached the database.
	Committed bool
	// Repeated counts side effects that ran more than once in this run
	// (at-least-once: their idempotency key lets the callee drop the
	// repeat).
	Repeated int
	// Attempts is the total attempts of the task's steps in this run
	// (the run without a crash took CrashReport.Attempts).
	Attempts int
}

func (b Boundary) String() string {
	when := "before"
	if b.Committed {
		when = "after"
	}
	return fmt.Sprintf("write %d %s, crash %s commit: recovered, %d attempts, %d side effects repeated", b.Write, b.Method, when, b.Attempts, b.Repeated)
}

// CrashReport says what CrashEach exercised.
type CrashReport struct {
	// Writes are the store writes of a run without a crash, in order.
	Writes []string
	// Attempts is the total attempts of a run without a crash.
	Attempts   int
	Boundaries []Boundary
}

func (r *CrashReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d writes, %d crash points:\n", len(r.Writes), len(r.Boundaries))
	for _, x := range r.Boundaries {
		fmt.Fprintf(&b, "  %s\n", x)
	}
	return b.String()
}

// CrashEach runs the workflow once without a crash, listing the store
// writes it makes (task creation, claims, completions, durable step
// records, …). Then, for each write and each side of its commit, it runs
// the workflow on a fresh SQLite file and crashes there: the write fails
// before reaching the database, or commits and its reply is lost; the
// engine's process dies at once (its store refuses every later call, its
// in-memory state is gone). A new engine opens the same file, starts the
// workflow again (Start), and runs it to the end, its clock skipping to
// each lease expiry and backoff.
//
// Each run must end as the run without a crash did (the task's state and
// its durable steps), with every step's completion recorded once in its
// history, and every side effect the run without a crash made run at
// least once under the same idempotency key. A failure names the
// boundary. The report lists the boundaries exercised. A ready step the
// engines can never claim (no handler of its name registered by Setup, or
// a queue Config.Execution.Queues leaves out) fails the test, naming it.
//
// Attempts are counted when a step is claimed, so that a step that kills
// its process cannot loop forever: a crash after a claim commits costs
// that attempt. A step allowed a single attempt (engine.WithStepNoRetry,
// RetryLimit 1) therefore ends in error at that boundary, as it would in
// production, and CrashEach reports it; give steps that must survive a
// crash a second attempt.
func CrashEach(t testing.TB, c CrashTest) *CrashReport {
	t.Helper()
	if c.Setup == nil || c.Start == nil {
		t.Fatalf("testkit.CrashEach: Setup and Start are required")
		return nil
	}
	if c.Config.Store != nil || c.Config.Clock != nil || c.Config.WorkerID != "" {
		t.Fatalf("testkit.CrashEach: Config.Store, Clock and WorkerID are CrashEach's own (each run's SQLite file, clock and worker); leave them unset")
		return nil
	}
	dir := t.TempDir()
	// Every run starts from a copy of one freshly migrated file.
	empty := filepath.Join(dir, "empty.db")
	if err := migrated(empty); err != nil {
		t.Fatalf("testkit.CrashEach: %v", err)
		return nil
	}
	fresh := func(name string) string {
		path := filepath.Join(dir, name)
		if err := copyFile(empty, path); err != nil {
			return filepath.Join(dir, "missing", name) // the run reports it cannot open it
		}
		return path
	}
	base := crashRun(c, fresh("dry.db"), 0, 0)
	if base.err != "" {
		t.Fatalf("testkit.CrashEach: the run without a crash: %s", base.err)
		return nil
	}
	if msg := unkeyed(base.effects); msg != "" {
		t.Fatalf("testkit.CrashEach: the run without a crash %s", msg)
		return nil
	}
	report := &CrashReport{Writes: base.writes, Attempts: base.attempts}
	type point struct {
		write  int
		action faultstore.Action
	}
	var points []point
	for i := range base.writes {
		points = append(points, point{i + 1, faultstore.FailBefore}, point{i + 1, faultstore.FailAfter})
	}
	// The runs are independent (a database file each): a few run at once,
	// in waves, checked in order; the first failure ends it.
	par := max(1, min(4, runtime.GOMAXPROCS(0)))
	for start := 0; start < len(points); start += par {
		wave := points[start:min(start+par, len(points))]
		results := make([]crashOutcome, len(wave))
		var wg sync.WaitGroup
		for k, p := range wave {
			wg.Go(func() {
				results[k] = crashRun(c, fresh(fmt.Sprintf("crash-%d-%d.db", p.write, p.action)), p.write, p.action)
			})
		}
		wg.Wait()
		for k, p := range wave {
			r := results[k]
			b := Boundary{Write: p.write, Method: base.writes[p.write-1], Committed: p.action == faultstore.FailAfter, Attempts: r.attempts}
			where := fmt.Sprintf("crash at write %d (%s, %s)", p.write, b.Method, p.action)
			if r.err != "" {
				t.Fatalf("testkit.CrashEach: %s: %s", where, r.err)
				return report
			}
			if problems := compare(base, r); len(problems) > 0 {
				t.Fatalf("testkit.CrashEach: %s:\n  %s", where, strings.Join(problems, "\n  "))
				return report
			}
			if r.crashedAt != "" {
				b.Method = r.crashedAt
			}
			for _, n := range r.effects {
				if n > 1 {
					b.Repeated++
				}
			}
			report.Boundaries = append(report.Boundaries, b)
		}
	}
	t.Logf("testkit.CrashEach: %s", report)
	return report
}

// crashOutcome is what one run ended with.
type crashOutcome struct {
	err       string // why the run could not be carried out
	writes    []string
	crashedAt string // the method crashed at ("" for no crash)
	state     store.TaskState
	durable   []string // "seq name:state" of each durable step, in sequence order
	steps     []string // "name:state" of each DAG step
	twice     []string // steps completed more than once in the history
	attempts  int
	effects   map[string]int
	tasks     int
}

// crashStart is the fake clock's start in every run.
var crashStart = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// crashRun runs the workflow on a fresh database at path, crashing at the
// nth write (0: no crash) with action, then recovers in a new engine.
func crashRun(c CrashTest, path string, nth int, action faultstore.Action) crashOutcome {
	fx := &Effects{}
	clk := clock.NewFake(crashStart)
	var out crashOutcome

	inner, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		return crashOutcome{err: fmt.Sprintf("opening %s: %v", path, err)}
	}
	fs, err := faultstore.New(inner, 1)
	if err != nil {
		inner.Close()
		return crashOutcome{err: err.Error()}
	}
	if nth > 0 {
		if err := fs.Add(faultstore.Rule{Method: "*", Nth: nth, Action: action, Kill: true}); err != nil {
			inner.Close()
			return crashOutcome{err: err.Error()}
		}
	}
	var mu sync.Mutex
	fs.OnCall(func(method string, _ int) {
		if slices.Contains(faultstore.Writes, method) {
			mu.Lock()
			out.writes = append(out.writes, method)
			if len(out.writes) == nth {
				out.crashedAt = method
			}
			mu.Unlock()
		}
	})
	// The crashing process: its context ends with it.
	ctx, die := context.WithCancel(context.Background())
	fs.OnKill(die)
	first, err := crashEngine(c, fs, clk, "crashing", fx)
	if err == nil {
		var id int64
		if id, err = c.Start(ctx, first); err == nil {
			err = drive(ctx, first, inner, clk, queuesOf(c.Config), id)
		}
	}
	die()
	if first != nil { // (nil when its Setup failed)
		_ = first.Stop(context.Background())
	}
	inner.Close()
	if nth == 0 && err != nil {
		return crashOutcome{err: err.Error()}
	}
	if nth > 0 && !fs.Dead() {
		// This run wrote less than the run without a crash (handlers
		// running concurrently can group their writes differently):
		// nothing crashed, and the run must still end the same.
		out.crashedAt = ""
	}

	// The process that recovers: a new engine on the same file.
	st, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		return crashOutcome{err: fmt.Sprintf("reopening %s: %v", path, err)}
	}
	defer st.Close()
	second, err := crashEngine(c, st, clk, "recovering", fx)
	if err != nil {
		return crashOutcome{err: err.Error()}
	}
	defer second.Stop(context.Background())
	ctx = context.Background()
	id, err := c.Start(ctx, second)
	if err != nil {
		return crashOutcome{err: fmt.Sprintf("starting again after the crash: %v", err)}
	}
	if err := drive(ctx, second, st, clk, queuesOf(c.Config), id); err != nil {
		return crashOutcome{err: fmt.Sprintf("recovering: %v", err)}
	}
	mu.Lock()
	res := crashOutcome{writes: out.writes, crashedAt: out.crashedAt, effects: fx.Runs()}
	mu.Unlock()
	if err := res.read(ctx, st, id); err != nil {
		return crashOutcome{err: err.Error()}
	}
	return res
}

func crashEngine(c CrashTest, st store.Store, clk *clock.Fake, worker string, fx *Effects) (*engine.Engine, error) {
	cfg := c.Config
	cfg.Store, cfg.Clock, cfg.WorkerID = st, clk, worker
	e, err := engine.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.Setup(e, fx); err != nil {
		_ = e.Stop(context.Background())
		return nil, fmt.Errorf("setup: %w", err)
	}
	if err := pastTheLimit(e); err != nil {
		_ = e.Stop(context.Background())
		return nil, fmt.Errorf("setup: %w", err)
	}
	return e, nil
}

// queuesOf is the queues an engine of cfg claims from.
func queuesOf(cfg engine.Config) []string {
	if len(cfg.Execution.Queues) == 0 {
		return []string{store.DefaultQueue}
	}
	return cfg.Execution.Queues
}

// drive runs ready steps and moves the clock to the next wake-up (retry,
// timer, lease expiry) until the task has finished. A ready step e can
// never claim (on none of queues, or of no handler e has) fails it at
// once, as RunUntilDone does.
func drive(ctx context.Context, e *engine.Engine, st store.Store, clk *clock.Fake, queues []string, id int64) error {
	for round := range maxRounds {
		ran, err := e.RunOnce(ctx)
		if err != nil {
			return err
		}
		if _, err := e.Rescue(ctx); err != nil {
			return err
		}
		d, err := st.GetTask(ctx, id)
		if err != nil {
			return err
		}
		if d.Task.State.Done() {
			return nil
		}
		next, ok, err := st.NextWakeup(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("task %d is %s and can never finish: no step is ready, retrying or leased%s", id, d.Task.State, waits(ctx, e, st, []int64{id}))
		}
		if ran == 0 && !next.After(clk.Now()) {
			if err := unservable(ctx, e, st, queues, clk.Now(), []int64{id}); err != nil {
				return err
			}
		}
		if round == maxRounds-1 {
			break // (what the task waits for is said at the time it waits)
		}
		if next, err = pastLooks(ctx, st, clk.Now(), next); err != nil {
			return err
		}
		skipTo(clk, next)
	}
	return fmt.Errorf("task %d did not finish in %d rounds%s", id, maxRounds, waits(ctx, e, st, []int64{id}))
}

// read fills the outcome from the store.
func (o *crashOutcome) read(ctx context.Context, st store.Store, id int64) error {
	d, err := st.GetTask(ctx, id)
	if err != nil {
		return err
	}
	o.state = d.Task.State
	var durable []*store.Step
	for _, s := range d.Steps {
		o.attempts += s.Attempts
		if s.Sequence != nil {
			durable = append(durable, s)
		} else if !strings.HasPrefix(s.Handler, engine.WorkflowHandlerPrefix) {
			o.steps = append(o.steps, s.Name+":"+string(s.State))
		}
	}
	slices.Sort(o.steps)
	// In sequence order, numbered: a recovered run that called its
	// durable steps in another order did not end as the run without a
	// crash did, though the same names ended the same.
	slices.SortFunc(durable, func(a, b *store.Step) int { return cmp.Compare(*a.Sequence, *b.Sequence) })
	for _, s := range durable {
		o.durable = append(o.durable, fmt.Sprintf("%d %s:%s", *s.Sequence, s.UserName(), s.State))
	}
	h, err := st.History(ctx, id)
	if err != nil {
		return err
	}
	names := map[int64]string{}
	for _, s := range d.Steps {
		names[s.ID] = s.Name
	}
	done := map[int64]int{}
	for _, tr := range h.Steps {
		if tr.ToState == string(store.StepComplete) {
			if done[tr.StepID]++; done[tr.StepID] == 2 {
				o.twice = append(o.twice, names[tr.StepID])
			}
		}
	}
	page, err := st.ListTasks(ctx, &store.ListTasksParams{Limit: 1000})
	if err != nil {
		return err
	}
	o.tasks = len(page.Tasks)
	return nil
}

// compare lists how a crashed run differs from the run without a crash.
func compare(base, r crashOutcome) []string {
	var out []string
	if r.state != base.state {
		out = append(out, fmt.Sprintf("the task ended %s; without a crash it ends %s", r.state, base.state))
	}
	if r.tasks != base.tasks {
		out = append(out, fmt.Sprintf("%d tasks exist; without a crash %d (is Start's identity fixed? see CrashTest.Start)", r.tasks, base.tasks))
	}
	if !slices.Equal(r.steps, base.steps) {
		out = append(out, fmt.Sprintf("steps ended %v; without a crash %v", r.steps, base.steps))
	}
	if !slices.Equal(r.durable, base.durable) {
		out = append(out, fmt.Sprintf("durable steps recorded %v; without a crash %v", r.durable, base.durable))
	}
	if len(r.twice) > 0 {
		out = append(out, fmt.Sprintf("steps completed twice in the history: %v", r.twice))
	}
	for key := range base.effects {
		if r.effects[key] == 0 {
			out = append(out, fmt.Sprintf("side effect %s never ran", key))
		}
	}
	if msg := unkeyed(r.effects); msg != "" { // (a path only a crash takes)
		out = append(out, msg)
	}
	slices.Sort(out)
	return out
}

// unkeyed says how many side effects were recorded without an idempotency
// key; "" when none was.
func unkeyed(effects map[string]int) string {
	n := effects[""]
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("recorded %d side effects with an empty idempotency key (Effects.Record(\"\")): pass StepContext.IdempotencyKey, or engine.StepInfoFrom(ctx) of the durable step's own ctx", n)
}

// skipTo moves the clock to next, or just past now when next has come: a
// lease expiring at next is rescued only once the clock is past it.
func skipTo(clk *clock.Fake, next time.Time) {
	if next.After(clk.Now()) {
		clk.Set(next)
		return
	}
	clk.Advance(time.Millisecond)
}

// migrated creates an empty, migrated SQLite database at path.
func migrated(path string) error {
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		return fmt.Errorf("creating the database: %w", err)
	}
	return s.Close()
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}
