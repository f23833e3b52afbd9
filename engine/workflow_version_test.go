package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// versionedFlow registers "t/versioned", whose code is that of the deploy
// *deployed names: v1 charges, sleeps a day and ships; v2 adds a fraud check
// after the charge behind Version("fraud-check", DefaultVersion, 1); v3
// deletes the old path (minSupported 1).
func versionedFlow(t *testing.T, e *engine.Engine, deployed *int, ran *calls) {
	t.Helper()
	step := func(wctx *engine.WorkflowContext, name string) error {
		_, err := engine.Step(wctx, name, func(ctx context.Context) (string, error) { ran.inc(name); return name, nil })
		return err
	}
	must(t, engine.RegisterWorkflow(e, "t/versioned", func(wctx *engine.WorkflowContext, in struct{ N int }) (string, error) {
		if err := step(wctx, "charge"); err != nil {
			return "", err
		}
		path := "old"
		if *deployed >= 2 {
			minimum := engine.DefaultVersion
			if *deployed >= 3 {
				minimum = 1
			}
			if engine.Version(wctx, "fraud-check", minimum, 1) == 1 {
				path = "new"
				if err := step(wctx, "fraud"); err != nil {
					return "", err
				}
			}
		}
		if err := engine.Sleep(wctx, 24*time.Hour); err != nil {
			return "", err
		}
		return path, step(wctx, "ship")
	}))
}

func TestWorkflowVersioning(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	deployed := 1
	var ran calls
	versionedFlow(t, env.Engine, &deployed, &ran)
	ctx := context.Background()
	start := func(n int) *engine.WorkflowHandle[string] {
		h, err := engine.StartWorkflow[struct{ N int }, string](ctx, env.Engine, "t/versioned", struct{ N int }{n})
		must(t, err)
		return h
	}
	result := func(h *engine.WorkflowHandle[string]) string {
		t.Helper()
		env.RunUntilDone(h.TaskID)
		v, err := h.Result(ctx)
		must(t, err)
		return v
	}
	steps := func(h *engine.WorkflowHandle[string]) string {
		return strings.Join(describeDurable(env.DurableSteps(h.TaskID)), "|")
	}

	// v1: one workflow asleep mid-way, one done, one started but not run.
	asleep, done := start(1), start(2)
	if got := result(done); got != "old" {
		t.Fatalf("v1 result %q", got)
	}
	if _, err := env.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	env.RunFor(time.Hour) // asleep reaches the sleep
	unstarted := start(4) // started under v1, not run yet
	historyV1 := filepath.Join(t.TempDir(), "testdata", "versioned-v1.json")
	env.SaveHistory(done.TaskID, historyV1)

	// v2 deployed while one is asleep.
	deployed = 2
	testkit.Replay(t, env.Engine, asleep.TaskID) // the pre-deploy check passes
	testkit.ReplayFile(t, env.Engine, historyV1)
	if got := result(asleep); got != "old" {
		t.Fatalf("a v1 workflow resumed under v2 took the %s path", got)
	}
	if got, want := steps(asleep), "1 step charge complete 1|2 sleep sleep complete 1|3 step ship complete 1"; got != want {
		t.Fatalf("v1 workflow under v2:\n got  %s\n want %s", got, want)
	}
	fresh := start(5)
	if got := result(fresh); got != "new" {
		t.Fatalf("a new workflow under v2 took the %s path", got)
	}
	if got, want := steps(fresh), "1 step charge complete 1|2 version fraud-check complete 1|3 step fraud complete 1|4 sleep sleep complete 1|5 step ship complete 1"; got != want {
		t.Fatalf("v2 workflow:\n got  %s\n want %s", got, want)
	}
	// Started before the deploy, it reaches the change after it: new path.
	if got := result(unstarted); got != "new" {
		t.Fatalf("a workflow started under v1 and first run under v2 took the %s path", got)
	}
	if ran.get("fraud") != 2 {
		t.Fatalf("fraud ran %d times, want 2", ran.get("fraud"))
	}
	testkit.Replay(t, env.Engine, fresh.TaskID)
	historyV2 := filepath.Join(t.TempDir(), "versioned-v2.json")
	env.SaveHistory(fresh.TaskID, historyV2)

	// One more v1 workflow left asleep, then v3 drops the old path.
	deployed = 1
	stale := start(6)
	env.RunFor(time.Hour)
	deployed = 3
	testkit.ReplayFile(t, env.Engine, historyV2)
	for _, id := range []int64{stale.TaskID, done.TaskID} {
		err := env.Replay(ctx, id)
		var ve *engine.VersionError
		if !errors.As(err, &ve) || !errors.Is(err, engine.ErrVersionUnsupported) || ve.ChangeID != "fraud-check" ||
			ve.Version != engine.DefaultVersion || ve.Min != 1 || ve.Sequence != 0 {
			t.Fatalf("Replay of a v1 history under v3 = %v (%+v)", err, ve)
		}
	}
	// The same from the saved file, on an engine with no row of the task.
	other := testkit.NewEngine(t, nil)
	versionedFlow(t, other.Engine, &deployed, &ran)
	doc, err := os.ReadFile(historyV1)
	must(t, err)
	var h engine.WorkflowHistory
	must(t, json.Unmarshal(doc, &h))
	if err := other.ReplayHistory(ctx, &h); !errors.Is(err, engine.ErrVersionUnsupported) {
		t.Fatalf("ReplayHistory of the saved v1 history under v3 = %v", err)
	}
	// Run anyway, the old workflow fails, typed, and is not retried.
	env.RunUntilDone(stale.TaskID)
	_, err = stale.Result(ctx)
	var te *engine.TaskError
	if !errors.As(err, &te) || te.State != store.TaskError || !errors.Is(err, engine.ErrVersionUnsupported) || te.Failure.Kind != engine.KindVersion ||
		!strings.Contains(err.Error(), `predates change "fraud-check"`) {
		t.Fatalf("v1 workflow under v3: %v", err)
	}
	if d := env.Task(stale.TaskID).Step(engine.DriverStep); d.Attempts != 1 {
		t.Fatalf("driver attempts %d: an unsupported version was retried", d.Attempts)
	}
	// A v2 history under v3 still runs, and so do new workflows.
	if got := result(start(7)); got != "new" {
		t.Fatalf("v3 new workflow took the %s path", got)
	}
}

// Misuse of Version fails the workflow with a message naming the call.
func TestWorkflowVersionRefusesBadRanges(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	must(t, engine.RegisterWorkflow(env.Engine, "t/badversion", func(wctx *engine.WorkflowContext, in struct{ Min, Max int }) (int, error) {
		v := engine.Version(wctx, "x", in.Min, in.Max)
		_, err := engine.Step(wctx, "after", func(ctx context.Context) (int, error) { return 1, nil })
		return v, err
	}))
	ctx := context.Background()
	for _, r := range []struct{ Min, Max int }{{2, 1}, {-2, 0}} {
		h, err := engine.StartWorkflow[struct{ Min, Max int }, int](ctx, env.Engine, "t/badversion", r)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		if _, err := h.Result(ctx); err == nil || !strings.Contains(err.Error(), `engine.Version("x")`) {
			t.Fatalf("Version(%d, %d): %v", r.Min, r.Max, err)
		}
		if got := env.DurableSteps(h.TaskID); len(got) != 0 {
			t.Fatalf("recorded %+v after a refused Version", got)
		}
	}
}

// A change id the store would refuse fails the workflow naming it, before
// anything is recorded: one with a NUL byte failed at the store (and, its
// refusal quoting the id raw, ended "lease expired"), one not UTF-8 was
// recorded on SQLite and would be refused by PostgreSQL.
func TestWorkflowVersionRefusesBadChangeIDs(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ids := map[string]string{"empty": "", "nul": "fraud\x00check", "utf8": "fraud\xffcheck", "long": strings.Repeat("x", 244)}
	must(t, engine.RegisterWorkflow(env.Engine, "t/badchange", func(wctx *engine.WorkflowContext, in string) (int, error) {
		v := engine.Version(wctx, ids[in], engine.DefaultVersion, 1)
		_, err := engine.Step(wctx, "after", func(ctx context.Context) (int, error) { return 1, nil })
		return v, err
	}))
	ctx := context.Background()
	for in, want := range map[string]string{"empty": "engine.Version: change id is required", "nul": `engine.Version: change id "fraud\x00check" contains a NUL byte`,
		"utf8": `engine.Version: change id "fraud\xffcheck" is not valid UTF-8`, "long": "is 244 bytes long; the limit is 243"} {
		h, err := engine.StartWorkflow[string, int](ctx, env.Engine, "t/badchange", in)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		if _, err := h.Result(ctx); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("change id %s: %v, want %q", in, err, want)
		}
		if got := env.DurableSteps(h.TaskID); len(got) != 0 {
			t.Fatalf("change id %s: recorded %+v", in, got)
		}
	}
}
