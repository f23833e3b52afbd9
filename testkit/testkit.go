// Package testkit makes workflows easy to unit test: an engine on an
// in-memory (or temp-dir) SQLite store, a clock that moves only when told,
// a driver that runs workflows to the end by skipping time, history
// assertions, and failure injection.
//
//	env := testkit.NewEngine(t, nil)
//	env.HandleFunc("charge", charge)
//	env.Register(tmpl)
//	h, _ := env.Start(ctx, "billing/renew", input)
//	env.RunUntilDone(h.TaskID)           // backoffs fire as the clock skips ahead
//	env.AssertHistory(h.TaskID, "task pending", "step charge: pending → in_progress", ...)
package testkit

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// Options adjust NewEngine.
type Options struct {
	// Config is the engine configuration; Store and Clock are supplied.
	Config engine.Config
	// File puts the database in a file under t.TempDir() instead of memory.
	File bool
	// Start is the fake clock's initial time (default 2030-01-01 UTC).
	Start time.Time
}

// Clock is the fake clock: it moves only through Advance and Set.
type Clock struct{ *clock.Fake }

// Env is an engine under test.
type Env struct {
	*engine.Engine
	Store *sqlite.Store
	Clock Clock
	t     testing.TB
}

// NewEngine returns an engine on a fresh SQLite store with a fake clock.
// Everything is closed when the test ends.
func NewEngine(t testing.TB, opts *Options) *Env {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
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
	return &Env{Engine: e, Store: s, Clock: Clock{fake}, t: t}
}

// RunUntilDone runs ready steps; when none is ready it moves the clock to
// the next retry or lease expiry; it stops when every given task has
// finished (complete, error, cancelled or resolved). It fails the test if
// the tasks can never finish.
func (env *Env) RunUntilDone(taskIDs ...int64) {
	env.t.Helper()
	ctx := context.Background()
	for range 10_000 {
		if _, err := env.RunOnce(ctx); err != nil {
			env.t.Fatalf("testkit: running steps: %v", err)
		}
		if _, err := env.Rescue(ctx); err != nil {
			env.t.Fatalf("testkit: %v", err)
		}
		if env.allDone(taskIDs) {
			return
		}
		next, ok, err := env.Store.NextWakeup(ctx)
		if err != nil {
			env.t.Fatalf("testkit: %v", err)
		}
		if !ok {
			env.t.Fatalf("testkit: tasks %v cannot finish: no step is ready, retrying or leased", taskIDs)
		}
		if next.After(env.Clock.Now()) {
			env.Clock.Set(next)
		}
	}
	env.t.Fatalf("testkit: tasks %v did not finish in 10000 rounds", taskIDs)
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
	type line struct {
		at   time.Time
		id   int64
		text string
	}
	var lines []line
	for _, tr := range h.Task {
		text := "task " + tr.ToState
		if tr.FromState != nil {
			text = fmt.Sprintf("task %s → %s", *tr.FromState, tr.ToState)
		}
		lines = append(lines, line{tr.CreatedAt, tr.ID * 2, text})
	}
	for _, tr := range h.Steps {
		lines = append(lines, line{tr.CreatedAt, tr.ID*2 + 1, fmt.Sprintf("step %s: %s → %s", names[tr.StepID], *tr.FromState, tr.ToState)})
	}
	// Task and step rows live in two tables; order them by time, then by
	// their write order within each table.
	for i := 1; i < len(lines); i++ {
		for j := i; j > 0 && lines[j].at.Before(lines[j-1].at); j-- {
			lines[j], lines[j-1] = lines[j-1], lines[j]
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.text
	}
	return out
}

// StepHistory is History restricted to one step's lines.
func (env *Env) StepHistory(id int64, step string) []string {
	env.t.Helper()
	var out []string
	prefix := "step " + step + ": "
	for _, l := range env.History(id) {
		if strings.HasPrefix(l, prefix) {
			out = append(out, strings.TrimPrefix(l, prefix))
		}
	}
	return out
}

// AssertStepHistory fails the test unless the step's transitions are want,
// in order, e.g. "pending → in_progress", "in_progress → complete".
func (env *Env) AssertStepHistory(id int64, step string, want ...string) {
	env.t.Helper()
	got := env.StepHistory(id, step)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		env.t.Fatalf("step %s history:\n  got  %q\n  want %q", step, got, want)
	}
}

// FailOnAttempts wraps h so that the listed attempts (1-based) fail with
// err instead of running h.
func FailOnAttempts(h engine.Handler, err error, attempts ...int) engine.Handler {
	return engine.HandlerFunc(func(sc *engine.StepContext) (any, error) {
		for _, a := range attempts {
			if sc.Attempt == a {
				return nil, err
			}
		}
		return h.Handle(sc)
	})
}
