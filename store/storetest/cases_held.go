package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// A driver's outcome carries the durable steps it held back
// (StepOutcome.Records): they are inserted, complete with their two
// transitions, in the commit that records the outcome — in a group of
// mixed outcomes (a transaction of statements) and in a group of
// completions (one statement on Postgres, whose watched task comes back
// with them) — and not at all when the driver lost its lease.
func testFinishWithHeldRecords(t *testing.T, b *bundle) {
	held := func(c *store.ClaimedStep, id int64, seq int, name string) *store.RecordStepParams {
		return &store.RecordStepParams{Driver: c.Step.Lease(), TaskID: id, Sequence: seq, Name: fmt.Sprintf("%s#%d", name, seq),
			Handler: "workflow.step", Kind: store.OutcomeComplete, Results: store.JSON(`{"n":` + fmt.Sprint(seq) + `}`), Attempt: 1, Now: b.now}
	}
	durable := func(id int64) map[int]*store.Step {
		out := map[int]*store.Step{}
		for _, s := range b.get(t, id).Steps {
			if s.Sequence != nil {
				out[*s.Sequence] = s
			}
		}
		return out
	}
	// Mixed: a completion, a suspension and a stale completion.
	d1, c1 := codeTask(t, b)
	d2, c2 := codeTask(t, b)
	d3, c3 := codeTask(t, b)
	done := complete(c1, `"ok"`)
	done.Records = []*store.RecordStepParams{held(c1, d1.Task.ID, 1, "charge"), held(c1, d1.Task.ID, 2, "ship")}
	sleep := store.StepOutcome{Lease: c2.Step.Lease(), Kind: store.OutcomeSuspend, RetryAfter: time.Hour, Records: []*store.RecordStepParams{held(c2, d2.Task.ID, 1, "charge")}}
	stale := complete(c3, `"late"`)
	stale.Lease.Token++
	stale.Records = []*store.RecordStepParams{held(c3, d3.Task.ID, 1, "charge")}
	stale.Records[0].Driver = stale.Lease
	res := b.finish(t, done, sleep, stale)
	if res.Steps[0].Err != nil || res.Steps[1].Err != nil || !errors.Is(res.Steps[2].Err, store.ErrLeaseLost) {
		t.Fatalf("outcomes: %+v", res.Steps)
	}
	if got := b.get(t, d1.Task.ID); got.Task.State != store.TaskComplete {
		t.Fatalf("task 1 is %s after its driver completed", got.Task.State)
	}
	for id, want := range map[int64]int{d1.Task.ID: 2, d2.Task.ID: 1, d3.Task.ID: 0} {
		steps := durable(id)
		if len(steps) != want {
			t.Fatalf("task %d has %d durable steps; want %d", id, len(steps), want)
		}
		for seq, s := range steps {
			if s.State != store.StepComplete || s.Attempts != 1 || !sameJSON(s.Results, fmt.Sprintf(`{"n":%d}`, seq)) {
				t.Fatalf("task %d step %d: %s, %d attempts, results %s", id, seq, s.State, s.Attempts, s.Results)
			}
		}
		checkHistoryMatches(t, b, id)
	}
	// Completions only (a stale one among them), the task watched.
	d4, c4 := codeTask(t, b)
	d6, c6 := codeTask(t, b)
	last := complete(c4, `"ok"`)
	last.Records = []*store.RecordStepParams{held(c4, d4.Task.ID, 1, "charge")}
	lost := complete(c6, `"late"`)
	lost.Lease.Token++
	lost.Records = []*store.RecordStepParams{held(c6, d6.Task.ID, 1, "charge")}
	lost.Records[0].Driver = lost.Lease
	res, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{last, lost}, Now: b.now, Watch: []int64{d4.Task.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if steps := durable(d4.Task.ID); res.Steps[0].Err != nil || len(steps) != 1 || steps[1].State != store.StepComplete {
		t.Fatalf("task 4: outcome %+v, durable steps %v", res.Steps[0], steps)
	}
	if steps := durable(d6.Task.ID); !errors.Is(res.Steps[1].Err, store.ErrLeaseLost) || len(steps) != 0 {
		t.Fatalf("stale driver: outcome %+v, %d durable steps written", res.Steps[1], len(steps))
	}
	checkHistoryMatches(t, b, d4.Task.ID)
	for _, f := range res.Finished { // a store may hand the finished task over
		if f.Task.ID == d4.Task.ID && len(f.Steps) != 2 {
			t.Fatalf("the finished task came back with %d steps; want the driver and the held one", len(f.Steps))
		}
	}
	// A record that is not its outcome's is refused, and nothing written.
	d5, c5 := codeTask(t, b)
	bad := complete(c5, `"ok"`)
	bad.Records = []*store.RecordStepParams{held(c4, d5.Task.ID, 1, "charge")}
	if _, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{bad}, Now: b.now}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a record of another driver: %v; want ErrInvalid", err)
	}
	if got := b.get(t, d5.Task.ID); got.Task.State == store.TaskComplete || len(durable(d5.Task.ID)) != 0 {
		t.Fatalf("the refused group wrote: task %s", got.Task.State)
	}
}
