// Package testkit makes workflows easy to unit test: an engine on an
// in-memory (or temp-dir) SQLite store, a clock that moves only when told,
// a driver that runs workflows to the end by skipping time, history
// assertions, and failure injection.
//
//	env := testkit.NewEngine(t, nil)
//	env.HandleFunc("billing.charge", charge)
//	env.Register(&engine.Template{Namespace: "billing", Name: "renew",
//		Steps: []engine.StepTemplate{{Name: "charge", Handler: "billing.charge"}}})
//	h, _ := env.Start(ctx, "billing/renew", input)
//	env.RunUntilDone(h.TaskID) // backoffs fire as the clock skips ahead
//	env.AssertHistory(h.TaskID,
//		"task pending",
//		"step charge: pending → in_progress",
//		"task pending → in_progress",
//		"step charge: in_progress → complete",
//		"task in_progress → complete")
//
// Nothing runs on its own: steps run only when the test drives the
// engine (RunUntilDone, RunFor, RunOnce), and the clock moves only then or
// when told. TaskHandle.Wait and WorkflowHandle.Result called before the
// task has been run to its end wait until their context ends; call them
// after RunUntilDone.
//
// RunStep unit-tests one handler without a workflow: it builds the
// *engine.StepContext the engine would (input, dependency results,
// attempt, idempotency key, deadline, logger) and returns what the handler
// returned.
//
//	got, err := testkit.RunStepAs[Receipt](t, engine.HandlerFunc(charge),
//		Renewal{Account: "acme"}, map[string]any{"quote": Quote{Amount: 42}}, nil)
//
// # Crash injection
//
// CrashEach runs a workflow once per persistence boundary — every store
// write its run makes: the task's creation, each claim, each completion,
// each durable step record — and crashes there, before the write commits
// and after it (its reply lost). A new engine opens the same SQLite file,
// starts the workflow again as a restarted program would, and runs it to
// the end; the run must end as the run without a crash did, each step's
// completion recorded once, each side effect (logged in Effects under its
// idempotency key) run at least once. The report lists the boundaries and
// the side effects each crash repeated: those the systems you call must
// deduplicate by key.
//
//	report := testkit.CrashEach(t, testkit.CrashTest{Setup: setup, Start: start})
//	t.Log(report)
package testkit

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// Options adjust NewEngine.
type Options struct {
	// Config is the engine configuration; Store and Clock are supplied
	// (setting either is refused: the test would not run on it).
	Config engine.Config
	// File puts the database in a file under t.TempDir() instead of memory.
	File bool
	// Start is the fake clock's initial time (default 2030-01-01 UTC).
	Start time.Time
}

// Clock is the fake clock: it moves only through Advance and Set, and only
// forwards.
type Clock struct {
	*clock.Fake
	t testing.TB // fails the test a move backwards would have fooled
}

// Advance moves the clock forward by d and fires the timers it reaches. A
// negative d fails the test: the clock does not run backwards, and a test
// that went on as if it had would assert on a time that never came.
func (c Clock) Advance(d time.Duration) {
	if d < 0 {
		c.helper()
		c.refuse(fmt.Sprintf("testkit: Clock.Advance(%s): the clock does not run backwards", d))
		return
	}
	c.Fake.Advance(d)
}

// Set moves the clock to t and fires the timers it reaches. A t before the
// clock's time fails the test, as Advance does a negative d.
func (c Clock) Set(t time.Time) {
	if now := c.Now(); t.Before(now) {
		c.helper()
		c.refuse(fmt.Sprintf("testkit: Clock.Set(%s): before the clock's %s, and the clock does not run backwards", t, now))
		return
	}
	c.Fake.Set(t)
}

func (c Clock) helper() {
	if c.t != nil {
		c.t.Helper()
	}
}

func (c Clock) refuse(msg string) {
	if c.t == nil { // a Clock not made by NewEngine
		panic(msg)
	}
	c.t.Helper()
	c.t.Fatalf("%s", msg)
}

// Env is an engine under test.
type Env struct {
	*engine.Engine
	Store  *sqlite.Store
	Clock  Clock
	t      testing.TB
	queues []string // the queues the engine claims from

	// mu makes Handle's and Register's check of what the engine has and
	// their registration one step, so that two of them at once cannot each
	// take half of a FailOnAttempts attempt past a step's retry limit.
	mu sync.Mutex
}

// NewEngine returns an engine on a fresh SQLite store with a fake clock.
// Everything is closed when the test ends.
func NewEngine(t testing.TB, opts *Options) *Env {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Config.Store != nil || o.Config.Clock != nil {
		t.Fatalf("testkit: Options.Config.Store and Clock are testkit's own (an SQLite store and a fake clock); leave them unset")
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	path := sqlite.Memory
	if o.File {
		path = filepath.Join(t.TempDir(), "tasker.db")
	}
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatalf("testkit: opening store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	fake := clock.NewFake(o.Start)
	cfg := o.Config
	cfg.Store, cfg.Clock = s, fake
	if cfg.WorkerID == "" {
		cfg.WorkerID = "testkit"
	}
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	return &Env{Engine: e, Store: s, Clock: Clock{Fake: fake, t: t}, t: t, queues: queuesOf(cfg)}
}

// maxRounds bounds the rounds (run, rescue, move the clock) of CrashEach,
// RunUntilDone and RunFor: a run that needs more is taken to be looping.
var maxRounds = 10_000

// RunUntilDone runs ready steps; when none is ready it moves the clock to
// the next retry or lease expiry; it stops when every given task has
// finished (complete, error, cancelled or resolved): for a code-first
// workflow that continued as new (engine.ContinueAsNew), the last run of
// its chain, whose result WorkflowHandle.Result returns. It fails the test
// if the tasks can never finish, naming a ready step of theirs this engine
// cannot claim (no handler of that name registered, or a queue it does
// not serve), and if they do not finish in 10000 rounds (a workflow
// waiting for an event no one sends wakes once a day to look again),
// saying what each unfinished task, and each unfinished child of theirs,
// waits for (see engine.Explain). Schedules do not fire as it moves the
// clock: RunFor fires their ticks. A parent waiting for a child looks at
// it again every few minutes, a safety net the child's end makes
// needless: the clock skips over those looks (RunFor's too).
func (env *Env) RunUntilDone(taskIDs ...int64) {
	env.t.Helper()
	if len(taskIDs) == 0 {
		// Nothing to wait for would return after one round, asserting
		// nothing.
		env.t.Fatalf("testkit: RunUntilDone needs the ids of the tasks to run to the end")
	}
	env.refusePastTheLimit()
	ctx := context.Background()
	var ids []int64
	for round := range maxRounds {
		ran, err := env.RunOnce(ctx)
		if err != nil {
			env.t.Fatalf("testkit: running steps: %v", err)
		}
		if _, err := env.Rescue(ctx); err != nil {
			env.t.Fatalf("testkit: %v", err)
		}
		ids = env.lastRuns(taskIDs)
		if env.allDone(ids) {
			return
		}
		next, ok, err := env.Store.NextWakeup(ctx)
		if err != nil {
			env.t.Fatalf("testkit: %v", err)
		}
		if !ok {
			env.t.Fatalf("testkit: tasks %v cannot finish: no step is ready, retrying or leased%s", taskIDs, env.waits(ids))
		}
		if ran == 0 && !next.After(env.Clock.Now()) {
			env.failIfUnservable(ids)
		}
		if round == maxRounds-1 {
			break // (what the tasks wait for is said at the time they wait)
		}
		skipTo(env.Clock.Fake, env.pastLooks(next))
	}
	env.t.Fatalf("testkit: tasks %v did not finish in %d rounds%s", taskIDs, maxRounds, env.waits(ids))
}

// refusePastTheLimit fails the test on a FailOnAttempts handler listing an
// attempt past the retry limit of a step that runs it, when both were
// registered on env.Engine (by a package's own Register function, say),
// where neither Env.Handle nor Env.Register saw them.
func (env *Env) refusePastTheLimit() {
	env.t.Helper()
	if err := pastTheLimit(env.Engine); err != nil {
		env.t.Fatalf("%v", err)
	}
}

// pastLooks is the time to move the clock to for the wake-up next: next,
// or, when what comes then is only parents looking at unfinished children
// again, the first wake-up after such looks (see pastLooks).
func (env *Env) pastLooks(next time.Time) time.Time {
	at, err := pastLooks(context.Background(), env.Store, env.Clock.Now(), next)
	if err != nil {
		env.t.Fatalf("testkit: %v", err)
	}
	return at
}

// pastLooks is Env.pastLooks on store st at time now. A parent waiting for
// a child looks again every few minutes, a safety net only (the child's
// end wakes it at once): a child sleeping for weeks would cost a round a
// look, and the rounds would run out.
func pastLooks(ctx context.Context, st store.Store, now, next time.Time) (time.Time, error) {
	if !next.After(now) {
		return next, nil // ready now
	}
	page, err := st.ListTasks(ctx, &store.ListTasksParams{States: []store.TaskState{store.TaskPending, store.TaskInProgress}, Limit: 1000})
	if err != nil {
		return next, err
	}
	if !slices.ContainsFunc(page.Tasks, func(t *store.Task) bool { return t.ParentID != nil }) {
		return next, nil // no child to wait for
	}
	var after time.Time // the first wake-up other than a look
	looks := false
	for _, task := range page.Tasks {
		d, err := st.GetTask(ctx, task.ID)
		if err != nil {
			return next, err
		}
		// A driver suspended on a child has its pending child row. (One
		// with a deadline looks at it too: a look past the deadline fails
		// the task, and its children with it.)
		waiting := d.Task.DeadlineAt == nil && slices.ContainsFunc(d.Steps, func(s *store.Step) bool {
			return s.Sequence != nil && s.Handler == "workflow.child" && s.State == store.StepPending
		})
		for _, s := range d.Steps {
			var at time.Time
			switch {
			case s.State == store.StepInProgress && s.LeaseExpiresAt != nil:
				at = *s.LeaseExpiresAt
			case s.State != store.StepPending || s.PendingDeps > 0 || s.Sequence != nil:
				continue
			case waiting && strings.HasPrefix(s.Handler, engine.WorkflowHandlerPrefix) && s.NextAttemptAt.After(now):
				looks = true // a look; the child's end would have made it ready now
				continue
			default:
				at = s.NextAttemptAt
			}
			if after.IsZero() || at.Before(after) {
				after = at
			}
		}
	}
	if !looks || after.IsZero() || !after.After(next) {
		return next, nil
	}
	return after, nil
}

// lastRuns maps each task to the last run of its ContinueAsNew chain
// (itself, unless it is a code-first run that continued as new).
func (env *Env) lastRuns(ids []int64) []int64 {
	ctx := context.Background()
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = id
		d, err := env.Store.GetTask(ctx, id)
		if err != nil {
			env.t.Fatalf("testkit: %v", err)
		}
		if d.Task.Kind != store.KindCode || d.Task.State != store.TaskComplete {
			continue // (Runs is for code-first tasks; only a complete run continued)
		}
		r, err := env.Runs(ctx, id)
		if err != nil {
			env.t.Fatalf("testkit: %v", err)
		}
		out[i] = r.Last
	}
	return out
}

// failIfUnservable fails the test if a ready step of the tasks (or of
// their children; of every unfinished task when ids is empty) can never be
// claimed by this engine (see unservable).
func (env *Env) failIfUnservable(ids []int64) {
	env.t.Helper()
	if err := unservable(context.Background(), env.Engine, env.Store, env.queues, env.Clock.Now(), ids); err != nil {
		env.t.Fatalf("testkit: %v", err)
	}
}

// unservable names a ready step of the tasks (or of their children; of
// every unfinished task when ids is empty) that e can never claim: its
// handler is not registered (a misspelt name) or its queue is not one of
// queues, those e serves; nil when there is none. Such a step looks ready
// to NextWakeup for ever, and the clock would creep a millisecond a round
// until the rounds ran out, with no word of why.
func unservable(ctx context.Context, e *engine.Engine, st store.Store, queues []string, now time.Time, ids []int64) error {
	page, err := st.ListTasks(ctx, &store.ListTasksParams{States: []store.TaskState{store.TaskPending, store.TaskInProgress}, Limit: 1000})
	if err != nil {
		return err
	}
	handlers := e.Handlers()
	for _, task := range within(page.Tasks, ids) {
		d, err := st.GetTask(ctx, task.ID)
		if err != nil {
			return err
		}
		for _, s := range d.Steps {
			if s.State != store.StepPending || s.PendingDeps > 0 || s.NextAttemptAt.After(now) || s.Sequence != nil {
				continue
			}
			switch {
			case !slices.Contains(handlers, s.Handler):
				return fmt.Errorf("step %s of task %d is ready, but no handler %q is registered (handlers: %s)",
					s.Name, task.ID, s.Handler, strings.Join(handlers, ", "))
			case !slices.Contains(queues, s.Queue):
				return fmt.Errorf("step %s of task %d is ready on queue %q, which the engine does not serve (Config.Execution.Queues: %s)",
					s.Name, task.ID, s.Queue, strings.Join(queues, ", "))
			}
		}
	}
	return nil
}

// within is those of tasks that are one of ids or a descendant of one
// (every task when ids is empty).
func within(tasks []*store.Task, ids []int64) []*store.Task {
	parent := map[int64]*int64{}
	for _, task := range tasks {
		parent[task.ID] = task.ParentID
	}
	in := func(id int64) bool {
		for range len(parent) + 1 { // no chain of parents is longer
			if len(ids) == 0 || slices.Contains(ids, id) {
				return true
			}
			if parent[id] == nil {
				return false
			}
			id = *parent[id]
		}
		return false
	}
	var out []*store.Task
	for _, task := range tasks {
		if in(task.ID) {
			out = append(out, task)
		}
	}
	return out
}

// maxWaits bounds the tasks waits describes.
const maxWaits = 10

// waits says, for a test that gives up on the tasks, what each of them
// that is unfinished, and each unfinished child of theirs (every
// unfinished task when ids is empty), waits for: a line a step, as
// engine.Explain gives it ("the workflow waits for event \"approved\"
// …"). A test that only learnt the rounds ran out would not know whether
// an event was never sent, a child never finished or a step kept failing.
func (env *Env) waits(ids []int64) string {
	return waits(context.Background(), env.Engine, env.Store, ids)
}

// waits is Env.waits for engine e on store st.
func waits(ctx context.Context, e *engine.Engine, st store.Store, ids []int64) string {
	page, err := st.ListTasks(ctx, &store.ListTasksParams{States: []store.TaskState{store.TaskPending, store.TaskInProgress}, Limit: 1000})
	if err != nil {
		return "; " + err.Error()
	}
	tasks := within(page.Tasks, ids)
	if len(tasks) == 0 {
		return ""
	}
	slices.SortFunc(tasks, func(a, b *store.Task) int { return cmp.Compare(a.ID, b.ID) })
	var b strings.Builder
	b.WriteString("; unfinished:")
	for i, task := range tasks {
		if i == maxWaits {
			fmt.Fprintf(&b, "\n  … and %d more", len(tasks)-maxWaits)
			break
		}
		what := task.Namespace + "/" + task.Name
		if task.ParentID != nil {
			what += fmt.Sprintf(", child of task %d", *task.ParentID)
		}
		x, err := e.Explain(ctx, task.ID)
		if err != nil {
			fmt.Fprintf(&b, "\n  task %d (%s): %v", task.ID, what, err)
			continue
		}
		if len(x.Steps) == 0 {
			fmt.Fprintf(&b, "\n  task %d (%s): %s", task.ID, what, x.Reason)
		}
		for _, sx := range x.Steps {
			fmt.Fprintf(&b, "\n  task %d (%s): step %s: %s", task.ID, what, sx.Step, sx.Reason)
		}
	}
	return b.String()
}

func (env *Env) allDone(ids []int64) bool {
	for _, id := range ids {
		d, err := env.Store.GetTask(context.Background(), id)
		if err != nil {
			env.t.Fatalf("testkit: %v", err)
		}
		if !d.Task.State.Done() {
			return false
		}
	}
	return true
}

// Task returns a task with its steps.
func (env *Env) Task(id int64) *store.TaskDetail {
	env.t.Helper()
	d, err := env.Store.GetTask(context.Background(), id)
	if err != nil {
		env.t.Fatalf("testkit: %v", err)
	}
	return d
}

// History renders a task's transitions in order, one line each:
// "task pending → in_progress" or "step charge: in_progress → complete".
//
// Task and step transitions come in two lists, each in write order
// (Store.History); History merges them by time. Rows written at the same instant (one
// transaction, or a fake clock that has not moved) are ordered by cause: a
// task moves to in_progress right after the step start that caused it, to
// error right after the step failure, to complete after its last step
// completes; its creation, cancellation and retry come before the step
// moves they cause.
func (env *Env) History(id int64) []string {
	env.t.Helper()
	h, err := env.Store.History(context.Background(), id)
	if err != nil {
		env.t.Fatalf("testkit: %v", err)
	}
	d := env.Task(id)
	names := map[int64]string{}
	for _, s := range d.Steps {
		names[s.ID] = s.Name
	}
	tasks, steps := h.Task, h.Steps // each in write order

	var out []string
	emitStep := func(tr *store.StepTransition) {
		from := ""
		if tr.FromState != nil {
			from = *tr.FromState + " → "
		}
		out = append(out, fmt.Sprintf("step %s: %s%s", names[tr.StepID], from, tr.ToState))
	}
	for _, tr := range tasks {
		// Step moves before this task move come first: those written
		// earlier, and at the same instant those up to its cause.
		n := 0
		for n < len(steps) && steps[n].CreatedAt.Before(tr.CreatedAt) {
			n++
		}
		if cause := causeOf(tr, steps[n:]); cause >= 0 {
			n += cause + 1
		}
		for _, st := range steps[:n] {
			emitStep(st)
		}
		steps = steps[n:]
		if tr.FromState == nil {
			out = append(out, "task "+tr.ToState)
		} else {
			out = append(out, fmt.Sprintf("task %s → %s", *tr.FromState, tr.ToState))
		}
	}
	for _, st := range steps {
		emitStep(st)
	}
	return out
}

// causeOf finds, among the step transitions written at the same instant as
// a task transition (steps is in write order, from that instant on), the
// one that caused it: its index, or -1 when the task move comes first.
func causeOf(tr *store.TaskTransition, steps []*store.StepTransition) int {
	if tr.FromState == nil {
		return -1 // the task's creation precedes its steps' moves
	}
	same := 0
	for same < len(steps) && steps[same].CreatedAt.Equal(tr.CreatedAt) {
		same++
	}
	steps = steps[:same]
	switch store.TaskState(tr.ToState) {
	case store.TaskInProgress: // a step started
		return slices.IndexFunc(steps, func(s *store.StepTransition) bool { return s.ToState == string(store.StepInProgress) })
	case store.TaskError: // a step failed for good
		return slices.IndexFunc(steps, func(s *store.StepTransition) bool { return s.ToState == string(store.StepError) })
	case store.TaskComplete: // its last step finished
		i := len(steps) - 1
		for i >= 0 && steps[i].ToState != string(store.StepComplete) && steps[i].ToState != string(store.StepResolvedManually) {
			i--
		}
		return i
	}
	return -1 // cancelled, retried, resolved: the task moves first
}

// StepHistory is History restricted to one step's lines. A step the task
// does not have fails the test (its history would be empty, whatever the
// name's typo).
func (env *Env) StepHistory(id int64, step string) []string {
	env.t.Helper()
	var names []string
	for _, s := range env.Task(id).Steps {
		names = append(names, s.Name)
	}
	if !slices.Contains(names, step) {
		env.t.Fatalf("testkit: task %d has no step %q (steps: %s)", id, step, strings.Join(names, ", "))
	}
	var out []string
	prefix := "step " + step + ": "
	for _, l := range env.History(id) {
		if strings.HasPrefix(l, prefix) {
			out = append(out, strings.TrimPrefix(l, prefix))
		}
	}
	return out
}

// AssertHistory fails the test unless the task's whole history (see
// History) is want, in order, e.g. "task pending", "step charge: pending →
// in_progress", "task pending → in_progress", ….
func (env *Env) AssertHistory(id int64, want ...string) {
	env.t.Helper()
	if msg := differ(env.History(id), want); msg != "" {
		env.t.Fatalf("task %d history %s", id, msg)
	}
}

// differ says where got and want first differ, then shows both whole; ""
// when they are equal. In a history of dozens of lines, "complete" for
// "completed" is hard to find by eye.
func differ(got, want []string) string {
	if slices.Equal(got, want) {
		return ""
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	line := func(l []string) string {
		if i < len(l) {
			return strconv.Quote(l[i])
		}
		return "no more lines"
	}
	return fmt.Sprintf("differs at line %d:\n  got  %s\n  want %s\nwhole:\n  got  %q\n  want %q", i+1, line(got), line(want), got, want)
}

// AssertStepHistory fails the test unless the step's transitions are want,
// in order, e.g. "pending → in_progress", "in_progress → complete".
func (env *Env) AssertStepHistory(id int64, step string, want ...string) {
	env.t.Helper()
	if msg := differ(env.StepHistory(id, step), want); msg != "" {
		env.t.Fatalf("task %d step %s history %s", id, step, msg)
	}
}

// FailOnAttempts wraps h so that the listed attempts (1-based) fail with
// err instead of running h; a nil err fails them with an error naming the
// attempt. A nil h, no attempts, an attempt below 1 or one listed twice
// (1, 1, a slip for 1, 2) is a mistake in the test, and panics here, where
// it is made. So is an attempt past the retry limit of a step that runs
// the handler, which would never come: Env.Handle or Env.Register,
// whichever of the two comes second (the first may be made on
// env.Engine), refuses it, naming the step, the attempt and the limit;
// RunUntilDone and RunFor do before running anything (for both made on
// env.Engine), and CrashEach after its Setup. An err that ends the step
// (engine.Permanent, engine.Skip) beside more than one attempt panics
// too: the later ones never come.
func FailOnAttempts(h engine.Handler, err error, attempts ...int) engine.Handler {
	switch {
	case h == nil:
		panic("testkit.FailOnAttempts: the handler is nil")
	case len(attempts) == 0:
		panic("testkit.FailOnAttempts: no attempt to fail is listed")
	}
	for i, a := range attempts {
		if a < 1 {
			panic(fmt.Sprintf("testkit.FailOnAttempts: attempt %d: attempts count from 1", a))
		}
		if slices.Contains(attempts[:i], a) { // a slip for another attempt
			panic(fmt.Sprintf("testkit.FailOnAttempts: attempt %d is listed twice", a))
		}
	}
	if msg := afterTheEnd(err, attempts); msg != "" {
		panic("testkit.FailOnAttempts: " + msg)
	}
	return &attemptFailer{h: h, err: err, attempts: slices.Clone(attempts)}
}
