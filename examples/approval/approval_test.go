package approval_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/approval"
	"github.com/tasker-go/tasker/testkit"
)

func TestApprovalPaths(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	ledger := &approval.Ledger{}
	if err := approval.Register(env.Engine, approval.Options{Ledger: ledger}); err != nil {
		t.Fatal(err)
	}
	start := func(id string) int64 {
		h, err := approval.Start(ctx, env.Engine, approval.Expense{ID: id, Employee: "ann", Cents: 100})
		if err != nil {
			t.Fatal(err)
		}
		return h.TaskID
	}
	result := func(id int64) approval.Outcome {
		out, err := testkitHandle(env, id).Result(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	rejected := start("rejected")
	env.RunFor(time.Hour) // charged, now waiting
	env.SendEvent(rejected, approval.EventName, "m", approval.Decision{Approved: false, By: "bob"})
	env.RunUntilDone(rejected)
	if out := result(rejected); out.Status != "refunded" || out.Reason != "rejected by bob" {
		t.Fatalf("rejected: %+v", out)
	}

	silent := start("silent")
	t0 := env.Clock.Now()
	env.RunUntilDone(silent) // the clock skips the three days
	if out := result(silent); out.Status != "refunded" || !strings.Contains(out.Reason, "no decision") {
		t.Fatalf("timed out: %+v", out)
	}
	if waited := env.Clock.Now().Sub(t0); waited < approval.DefaultWait {
		t.Fatalf("refunded after %s", waited)
	}
	steps := env.DurableSteps(silent)
	if len(steps) != 3 || steps[0].Name != "charge" || steps[1].Kind != "event" || steps[2].Name != "refund" {
		t.Fatalf("durable steps %+v", steps)
	}
	want := "charge rejected 100|refund ch_rejected|charge silent 100|refund ch_silent"
	if got := strings.Join(ledger.Entries(), "|"); got != want {
		t.Fatalf("ledger %q, want %q", got, want)
	}
	testkit.Replay(t, env.Engine, silent)
}

func testkitHandle(env *testkit.Env, id int64) interface {
	Result(context.Context) (approval.Outcome, error)
} {
	return engine.GetWorkflow[approval.Outcome](env.Engine, id)
}

// A negative wait is refused by Register. Before, it was accepted, and each
// expense was charged before the workflow failed at its wait.
func TestRegisterRefusesANegativeWait(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	err := approval.Register(env.Engine, approval.Options{Wait: -time.Hour})
	if want := "approval.Register: Options.Wait -1h0m0s is negative"; err == nil || err.Error() != want {
		t.Fatalf("Register: %v, want %q", err, want)
	}
}

// A wait under a millisecond is refused by Register: a bare number is
// nanoseconds (Wait: 72 meant 72 hours). Before, it was accepted, and each
// expense was charged before the workflow failed at its wait, which the
// engine refuses.
func TestRegisterRefusesAWaitUnderAMillisecond(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	err := approval.Register(env.Engine, approval.Options{Wait: 72})
	if want := "approval.Register: Options.Wait 72ns is under a millisecond: a bare number is nanoseconds (write 72 * time.Hour, not 72)"; err == nil || err.Error() != want {
		t.Fatalf("Register: %v, want %q", err, want)
	}
	if h := env.Handlers(); len(h) != 0 {
		t.Fatalf("Register refused, but registered %v", h)
	}
}

// An expense no one can approve is refused by Start, naming the field, and
// nothing is started: an empty ID (the workflow's idempotency key), an
// empty Employee, and an amount that is not positive (as `tasker approval
// start` refuses them). Before, a negative expense was charged, and an
// empty ID was refused with advice about WithIdempotencyKey, an option the
// caller never gave.
func TestStartRefusesAnExpenseNoOneCanApprove(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	if err := approval.Register(env.Engine, approval.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		x    approval.Expense
		want string
	}{
		{approval.Expense{Employee: "ann", Cents: 4200}, "approval.Start: Expense.ID is empty: it keys the workflow (a second start of the same expense finds the first)"},
		{approval.Expense{ID: "exp-1", Cents: 4200}, "approval.Start: Expense.Employee is empty: name who spent it"},
		{approval.Expense{ID: "exp-1", Employee: "ann", Cents: -4200}, "approval.Start: Expense.Cents -4200: an expense is a positive amount"},
		{approval.Expense{ID: "exp-1", Employee: "ann"}, "approval.Start: Expense.Cents 0: an expense is a positive amount"},
	} {
		if _, err := approval.Start(context.Background(), env.Engine, c.x); err == nil || err.Error() != c.want {
			t.Errorf("Start(%+v): %v, want %q", c.x, err, c.want)
		}
	}
	counts, err := env.Store.CountByState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(counts.Tasks) != 0 {
		t.Fatalf("refused starts wrote tasks: %+v", counts.Tasks)
	}
}
