package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// tasks resolve ID workflow closes a code-first workflow in error with the
// result given (--results, required: its default {} would become the
// return value), and tasks cancel of such a task points there: no command
// closed it (cancel refused it, resolve of its driver was refused).
// Results that read as a continuation are refused, as Engine.Resolve
// refuses them, though the CLI has not the workflow's result type.
func TestTasksResolveClosesAFailedWorkflow(t *testing.T) {
	db := filepath.Join(t.TempDir(), "wf.db")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := engine.New(engine.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.RegisterWorkflow(e, "t/fails", func(*engine.WorkflowContext, int) (int, error) {
		return 0, engine.Permanent(errors.New("no"))
	}); err != nil {
		t.Fatal(err)
	}
	h, err := engine.StartWorkflow[int, int](ctx, e, "t/fails", 1)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce ran %d attempts, %v; want the driver's one", n, err)
	}
	id := fmt.Sprint(h.TaskID)
	// The command suggested names the database given (it was left out).
	mustFail(t, "tasker tasks resolve "+id+" workflow --results JSON --db "+db, "tasks", "cancel", id, "--db", db)
	mustFail(t, "give them with --results", "tasks", "resolve", id, "workflow", "--db", db)
	// What a run that continued as new records: the task would read as
	// continued by task 1 (itself here), the CLI knowing no result type
	// to refuse it by.
	mustFail(t, `the results {"tasker_continued_as_new": 1} are what a run that continued as new records`, "tasks", "resolve", id, "workflow", "--results", `{"tasker_continued_as_new": 1}`, "--db", db)
	mustFail(t, `--results is not valid JSON: ""`, "tasks", "resolve", id, "workflow", "--results", "", "--db", db)
	// A step name with spaces around it (a pasted one) was answered "no
	// step", the step listed beside it: the spaces are named.
	mustFail(t, `task `+id+` has no step " workflow": write "workflow", without the spaces around it`, "tasks", "resolve", id, " workflow", "--results", "7", "--db", db)
	if d, err := st.GetTask(ctx, h.TaskID); err != nil || d.Task.State != store.TaskError {
		t.Fatalf("after the refusals: %v; want the task still in error", err)
	}
	out := mustExecute(t, "tasks", "resolve", id, "workflow", "--results", "7", "--db", db)
	wantMatch(t, out, `(?m)^task `+id+`: error → resolved_manually$`)
	if got, err := h.Result(ctx); err != nil || got != 7 {
		t.Fatalf("Result after tasks resolve = %d, %v; want 7", got, err)
	}
}

// tasks resolve ID NAME of a failed code-first workflow whose code named
// two durable steps NAME (a loop's: the first complete, the second failed)
// resolves the one it failed on, as Engine.Resolve does: the command read
// the first, complete, and refused ("only a pending or failed step can be
// resolved").
func TestTasksResolveTakesTheStepTheWorkflowFailedOn(t *testing.T) {
	db := filepath.Join(t.TempDir(), "wf.db")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := engine.New(engine.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.RegisterWorkflow(e, "t/loop", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		sum := 0
		for i := range 2 {
			v, err := engine.Step(wctx, "call", func(context.Context) (int, error) {
				if i == 1 {
					return 0, engine.Permanent(errors.New("second fails"))
				}
				return 1, nil
			})
			if err != nil {
				return 0, err
			}
			sum += v
		}
		return sum, nil
	}); err != nil {
		t.Fatal(err)
	}
	h, err := engine.StartWorkflow[int, int](ctx, e, "t/loop", 1)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := e.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := st.GetTask(ctx, h.TaskID); err != nil || d.Task.State != store.TaskError {
		t.Fatalf("the workflow did not fail: %v", err)
	}
	id := fmt.Sprint(h.TaskID)
	// The workflow runs on once retried: its driver, not another step,
	// is in error (the note said "another step failed").
	out := mustExecute(t, "tasks", "resolve", id, "call", "--results", "5", "--db", db)
	wantMatch(t, out, regexp.QuoteMeta("the workflow's driver is still in error: `tasker tasks retry "+id+" --db "+db+"` runs the workflow on"))
	d, err := st.GetTask(ctx, h.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if s := d.StepsNamed("call"); len(s) != 2 || s[0].State != store.StepComplete || s[1].State != store.StepResolvedManually {
		t.Fatalf("after tasks resolve %s call: %v; want the second call resolved", id, s)
	}
}
