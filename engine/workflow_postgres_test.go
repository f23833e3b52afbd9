package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/saga"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store/postgres"
)

// The long-running features on PostgreSQL with a running engine: a caught
// step failure compensated (saga), Select over two events, an update
// answered and its state queried, and a chain of continue-as-new runs.
// (Updates sent while the driver was suspending were once lost here: see
// WakeTask.)
func TestLongRunningFeaturesOnPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, pgtest.URL(t), &postgres.Options{Schema: pgtest.NewSchema(t)})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	e, err := engine.New(engine.Config{Store: s, Execution: engine.ExecutionConfig{PollInterval: 20 * time.Millisecond}})
	must(t, err)
	agency := &saga.Agency{}
	agency.Down("car")
	must(t, saga.Register(e, saga.Options{Agency: agency, Backoff: retry.Policy{Base: time.Millisecond, Max: time.Millisecond}}))
	must(t, accountFlow(e, filepath.Join(t.TempDir(), "ledger.txt"), false))
	registerCounter(t, e)
	must(t, engine.RegisterWorkflow(e, "t/pick", func(wctx *engine.WorkflowContext, in struct{}) (string, error) {
		var a, b string
		i, err := engine.Select(wctx, engine.OnEvent("a", &a), engine.OnEvent("b", &b))
		if err != nil {
			return "", err
		}
		if i == 0 {
			return "a:" + a, nil
		}
		return "b:" + b, nil
	}))
	run(t, e)

	trip, err := saga.Start(ctx, e, saga.Trip{ID: "pg"})
	must(t, err)
	if out, err := trip.Result(ctx); err != nil || out.Status != "compensated" || len(out.Compensated) != 2 {
		t.Fatalf("saga: %+v, %v", out, err)
	}
	must(t, e.Replay(ctx, trip.TaskID))

	pick, err := engine.StartWorkflow[struct{}, string](ctx, e, "t/pick", struct{}{})
	must(t, err)
	if _, err := e.SendEvent(ctx, pick.TaskID, "b", "1", "second"); err != nil {
		t.Fatal(err)
	}
	if got, err := pick.Result(ctx); err != nil || got != "b:second" {
		t.Fatalf("select: %q, %v", got, err)
	}
	must(t, e.Replay(ctx, pick.TaskID))

	acct, err := engine.StartWorkflow[struct{}, int](ctx, e, "t/account", struct{}{})
	must(t, err)
	for range 2 { // the same id twice: one deposit
		if v, err := engine.Update[int](ctx, e, acct.TaskID, "deposit", "u1", 5); err != nil || v != 5 {
			t.Fatalf("update: %d, %v", v, err)
		}
	}
	if v, err := engine.Query[int](ctx, e, acct.TaskID, "balance"); err != nil || v != 5 {
		t.Fatalf("query: %d, %v", v, err)
	}
	var ue *engine.UpdateError
	if _, err := engine.Update[int](ctx, e, acct.TaskID, "deposit", "neg", -1); !errors.As(err, &ue) {
		t.Fatalf("negative deposit: %v", err)
	}
	if v, err := engine.Update[int](ctx, e, acct.TaskID, "close", "end", nil); err != nil || v != 5 {
		t.Fatalf("close: %d, %v", v, err)
	}

	loop, err := engine.StartWorkflow[counterIn, int](ctx, e, "t/counter", counterIn{Total: 30, Per: 10})
	must(t, err)
	if v, err := loop.Result(ctx); err != nil || v != 30 {
		t.Fatalf("continue-as-new: %d, %v", v, err)
	}
	runs := 0
	for id := loop.TaskID; id != 0; runs++ {
		r, err := e.Runs(ctx, id)
		must(t, err)
		id = r.ContinuedAs
	}
	if runs != 3 {
		t.Fatalf("%d runs, want 3", runs)
	}
}
