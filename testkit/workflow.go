package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// DurableStep is one recorded durable operation of a code-first workflow.
type DurableStep struct {
	Sequence int
	Name     string // the name the code gave it ("sleep" for Sleep)
	Kind     string // "step", "sleep", "event", "child", "version", "timer" or "select"
	State    store.StepState
	Attempts int
}

// DurableSteps returns a code-first task's recorded durable operations in
// sequence order: which steps ran, and how many attempts each took. A DAG
// task, which records none, fails the test (an empty list would pass an
// assertion that nothing ran).
func (env *Env) DurableSteps(taskID int64) []DurableStep {
	env.t.Helper()
	d := env.Task(taskID)
	if d.Task.Kind != store.KindCode {
		env.t.Fatalf("testkit: DurableSteps(%d): the task is of the DAG template %s/%s, which records no durable steps (see History)", taskID, d.Task.Namespace, d.Task.Name)
	}
	var out []DurableStep
	for _, s := range d.Steps {
		if s.Sequence == nil {
			continue
		}
		kind := strings.TrimPrefix(s.Handler, "workflow.")
		out = append(out, DurableStep{Sequence: *s.Sequence, Name: s.UserName(), Kind: kind, State: s.State, Attempts: s.Attempts})
	}
	slices.SortFunc(out, func(a, b DurableStep) int { return a.Sequence - b.Sequence })
	return out
}

// SendEvent sends an event to a workflow task (see engine.SendEvent) and
// fails the test on error. It reports whether the event was new.
func (env *Env) SendEvent(taskID int64, name, key string, payload any) bool {
	env.t.Helper()
	created, err := env.Engine.SendEvent(context.Background(), taskID, name, key, payload)
	if err != nil {
		env.t.Fatalf("testkit: %v", err)
	}
	return created
}

// RunFor runs ready work and moves the clock through wake-ups until d has
// passed on the fake clock (or every task is idle for good), then returns:
// use it to let a workflow reach a wait before sending an event. It fires
// each schedule tick it passes (Engine.Schedule), at the tick's time, as
// a running engine does, and runs what the tick starts. A d under
// a millisecond other than 0 fails the test (a bare number is nanoseconds:
// RunFor(30) is 30 ns), as the engine refuses such a wait. It fails
// the test if d does not pass in 10000 rounds (a step retrying or a
// workflow sleeping in a tight loop), or if a ready step can never be
// claimed by this engine (see RunUntilDone).
func (env *Env) RunFor(d time.Duration) {
	env.t.Helper()
	switch {
	case d < 0:
		env.t.Fatalf("testkit: RunFor(%s): the clock does not run backwards", d)
	case d > 0 && d < time.Millisecond: // as the engine's waits refuse it
		env.t.Fatalf("testkit: RunFor(%s): under a millisecond, a bare number is nanoseconds (write 30 * time.Second, not 30); RunFor(0) runs what is ready now", d)
	}
	env.refusePastTheLimit()
	ctx := context.Background()
	end := env.Clock.Now().Add(d)
	for range maxRounds {
		env.fireSchedules(ctx)
		ran, err := env.RunOnce(ctx)
		if err != nil {
			env.t.Fatalf("testkit: running steps: %v", err)
		}
		if _, err := env.Rescue(ctx); err != nil {
			env.t.Fatalf("testkit: %v", err)
		}
		next, ok, err := env.Store.NextWakeup(ctx)
		if err != nil {
			env.t.Fatalf("testkit: %v", err)
		}
		if ok {
			next = env.pastLooks(next)
		}
		if tick, has := env.nextTick(ctx); has && (!ok || tick.Before(next)) {
			next, ok = tick, true
		}
		if !ok || next.After(end) {
			// (the Fake's own Set: a round that found a step ready may
			// have moved the clock a millisecond past end, and stays there)
			env.Clock.Fake.Set(end)
			env.fireSchedules(ctx)
			if _, err := env.RunOnce(ctx); err != nil {
				env.t.Fatalf("testkit: running steps: %v", err)
			}
			return
		}
		if ran == 0 && !next.After(env.Clock.Now()) {
			env.failIfUnservable(nil)
		}
		skipTo(env.Clock.Fake, next)
	}
	// Returning here would let the test go on as if d had passed.
	env.t.Fatalf("testkit: RunFor(%s): still %s short of the end after %d rounds of wake-ups", d, end.Sub(env.Clock.Now()), maxRounds)
}

// fireSchedules fires the schedules' ticks due by the clock, as a running
// engine's leader does (nextTick reports a tick that could not fire).
func (env *Env) fireSchedules(ctx context.Context) {
	env.t.Helper()
	if err := env.FireSchedules(ctx); err != nil {
		env.t.Fatalf("testkit: firing schedules: %v", err)
	}
}

// nextTick is the earliest tick of an unpaused schedule after the clock's
// time. A schedule whose due tick did not fire fails the test, naming
// its error.
func (env *Env) nextTick(ctx context.Context) (time.Time, bool) {
	env.t.Helper()
	list, err := env.Schedules(ctx)
	if err != nil {
		env.t.Fatalf("testkit: %v", err)
	}
	now := env.Clock.Now()
	var next time.Time
	for _, sc := range list {
		switch {
		case sc.Paused || sc.NextFireAt.IsZero():
		case !sc.NextFireAt.After(now):
			if sc.LastError != "" {
				env.t.Fatalf("testkit: schedule %s did not fire its tick at %s: %s", sc.ID, sc.NextFireAt, sc.LastError)
			}
		case next.IsZero() || sc.NextFireAt.Before(next):
			next = sc.NextFireAt
		}
	}
	return next, !next.IsZero()
}

// SaveHistory writes a workflow task's recorded history (see
// engine.WorkflowHistory) as indented JSON to path, creating its directory.
// Save histories of the workflows you deploy (say, under testdata/), check
// them in, and replay them against changed code with ReplayFile in CI.
func (env *Env) SaveHistory(taskID int64, path string) {
	env.t.Helper()
	h, err := env.Engine.WorkflowHistory(context.Background(), taskID)
	if err != nil {
		env.t.Fatalf("testkit: %v", err)
	}
	doc, err := json.MarshalIndent(h, "", "  ")
	if err == nil {
		err = os.MkdirAll(filepath.Dir(path), 0o755)
	}
	if err == nil {
		err = os.WriteFile(path, append(doc, '\n'), 0o644)
	}
	if err != nil {
		env.t.Fatalf("testkit: saving the history of task %d: %v", taskID, err)
	}
}

// ReplayFile replays the history SaveHistory wrote to path against the
// workflow code registered on e (see engine.ReplayHistory) and fails the
// test when the code is not deterministic with respect to it, no longer
// supports its version of a change, or would fail the workflow where its
// history goes on (a recorded result or input it no longer decodes). e needs
// no row of the task.
func ReplayFile(t testing.TB, e *engine.Engine, path string) {
	t.Helper()
	if e == nil {
		t.Fatalf("testkit.ReplayFile: the engine is nil")
		return
	}
	if err := replayFile(e, path); err != nil {
		t.Fatalf("testkit: %v", err)
	}
}

func replayFile(e *engine.Engine, path string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading a workflow history: %w", err)
	}
	// A key the history does not have is refused: a misspelt or foreign
	// file would otherwise decode to a history missing what it meant.
	var h engine.WorkflowHistory
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return fmt.Errorf("decoding the workflow history %s: %w", path, err)
	}
	if dec.More() {
		return fmt.Errorf("decoding the workflow history %s: more follows the history's JSON value", path)
	}
	if err := e.ReplayHistory(context.Background(), &h); err != nil {
		return fmt.Errorf("replaying %s: %w", path, err)
	}
	return nil
}

// Replay re-runs a stored workflow history against the workflow code
// registered on e now, executing nothing new, and fails the test when the
// code is not deterministic with respect to it or would fail the workflow
// (see engine.Replay). Run it on histories saved from production before
// deploying changed code.
func Replay(t testing.TB, e *engine.Engine, taskID int64) {
	t.Helper()
	if e == nil {
		t.Fatalf("testkit.Replay: the engine is nil")
		return
	}
	if err := e.Replay(context.Background(), taskID); err != nil {
		t.Fatalf("testkit: replaying task %d: %v", taskID, err)
	}
}
