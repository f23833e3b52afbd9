package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// testNilParamsRefused: every method given a nil params pointer refuses
// it (ErrInvalid, naming the action and "params: is nil") and writes
// nothing; it panicked, on the field the method read first or on the
// one its error named.
func testNilParamsRefused(t *testing.T, b *bundle) {
	b.create(t, chain("x"))
	tasks, steps := b.totals(t)
	ctx := b.ctx
	cases := []struct {
		action string
		call   func(context.Context) error
	}{
		{"creating task", func(ctx context.Context) error { _, err := b.s.CreateTask(ctx, nil); return err }},
		{"retiring the identity of a task", func(ctx context.Context) error { _, err := b.s.RetireIdentity(ctx, nil); return err }},
		{"listing tasks", func(ctx context.Context) error { _, err := b.s.ListTasks(ctx, nil); return err }},
		{"transitioning task", func(ctx context.Context) error { _, err := b.s.TransitionTask(ctx, nil); return err }},
		{"cancelling task", func(ctx context.Context) error { _, err := b.s.CancelTask(ctx, nil); return err }},
		{"retrying task", func(ctx context.Context) error { _, err := b.s.RetryTask(ctx, nil); return err }},
		{"transitioning step", func(ctx context.Context) error { _, err := b.s.TransitionStep(ctx, nil); return err }},
		{"resolving step", func(ctx context.Context) error { _, err := b.s.ResolveStep(ctx, nil); return err }},
		{"claiming steps", func(ctx context.Context) error { _, err := b.s.ClaimSteps(ctx, nil); return err }},
		{"finishing steps", func(ctx context.Context) error { _, err := b.s.FinishSteps(ctx, nil); return err }},
		{"extending leases", func(ctx context.Context) error { _, err := b.s.ExtendLeases(ctx, nil); return err }},
		{"rescuing expired leases", func(ctx context.Context) error { _, err := b.s.RescueExpired(ctx, nil); return err }},
		{"sending event", func(ctx context.Context) error { _, _, err := b.s.SendEvent(ctx, nil); return err }},
		{"setting workflow value", func(ctx context.Context) error { return b.s.SetWorkflowValue(ctx, nil) }},
		{"consuming event", func(ctx context.Context) error { _, err := b.s.ConsumeEvent(ctx, nil); return err }},
		{"deleting finished tasks", func(ctx context.Context) error { _, err := b.s.DeleteFinished(ctx, nil); return err }},
		{"reading step success rate", func(ctx context.Context) error { _, err := b.s.StepSuccessRate(ctx, nil); return err }},
		{"reading report data", func(ctx context.Context) error { _, err := b.s.ReportData(ctx, nil); return err }},
		{"electing leader", func(ctx context.Context) error { _, err := b.s.Elect(ctx, nil); return err }},
		{"creating schedule", func(ctx context.Context) error { return b.s.CreateSchedule(ctx, nil) }},
		{"updating schedule", func(ctx context.Context) error { _, err := b.s.UpdateSchedule(ctx, nil); return err }},
		{"recording durable step", func(ctx context.Context) error { _, err := b.s.RecordStep(ctx, nil); return err }},
		{"recording durable steps: steps[0]", func(ctx context.Context) error {
			_, err := b.s.RecordAttempts(ctx, []*store.RecordStepParams{nil})
			return err
		}},
		{"waking task", func(ctx context.Context) error { _, err := b.s.WakeTask(ctx, nil); return err }},
		{"registering worker", func(ctx context.Context) error { _, err := b.s.RegisterWorker(ctx, nil); return err }},
		{"deregistering worker", func(ctx context.Context) error { return b.s.DeregisterWorker(ctx, nil) }},
		{"reading task activity", func(ctx context.Context) error { _, err := b.s.TaskActivity(ctx, nil); return err }},
		{"creating admin token", func(ctx context.Context) error { _, err := b.s.CreateAdminToken(ctx, nil); return err }},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.action, " ", "_"), func(t *testing.T) {
			wantErr(t, c.call(ctx), store.ErrInvalid, c.action+": params: is nil")
		})
	}
	if gt, gs := b.totals(t); gt != tasks || gs != steps {
		t.Fatalf("refused calls changed the counts: %d tasks, %d steps; want %d, %d", gt, gs, tasks, steps)
	}
}

// testIDsBelowOneRefused: an id no task or step can have (below 1) in a
// params struct is refused (ErrInvalid naming the field) where it is
// given, not answered "not found" or "lease lost", and nothing is
// written: not even the good lease or outcome beside it.
func testIDsBelowOneRefused(t *testing.T, b *bundle) {
	b.create(t, chain("x"))
	got := b.claimOne(t, "x")
	good := got.Step.Lease()
	before, err := b.s.GetStep(b.ctx, got.Step.ID)
	if err != nil {
		t.Fatal(err)
	}
	bad := store.Lease{StepID: 0, Token: good.Token}
	cases := []struct {
		name string
		call func() error
		want []string
	}{
		{"ConsumeEvent", func() error {
			_, err := b.s.ConsumeEvent(b.ctx, &store.ConsumeEventParams{TaskID: 0, Name: "e", Now: b.now})
			return err
		}, []string{"consuming event", "task_id", "got 0"}},
		{"SetWorkflowValue", func() error {
			return b.s.SetWorkflowValue(b.ctx, &store.SetWorkflowValueParams{Driver: bad, TaskID: -1, Kind: store.ValueQuery,
				Name: "q", Value: store.JSON(`1`), Now: b.now})
		}, []string{"setting workflow value", "task_id", "got -1", "driver.step_id", "got 0"}},
		{"RecordStep", func() error {
			_, err := b.s.RecordStep(b.ctx, &store.RecordStepParams{Driver: bad, TaskID: 0, Sequence: 1, Name: "s", Handler: "h",
				Kind: store.OutcomeComplete, Now: b.now})
			return err
		}, []string{"recording durable step", "task_id", "driver.step_id"}},
		{"ExtendLeases", func() error {
			_, err := b.s.ExtendLeases(b.ctx, &store.ExtendLeasesParams{Leases: []store.Lease{good, bad}, LeaseTTL: time.Hour, Now: b.now})
			return err
		}, []string{"extending leases", "leases[1].step_id", "got 0"}},
		{"FinishSteps lease", func() error {
			_, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{complete(got, `{}`),
				{Lease: bad, Kind: store.OutcomeComplete}}, Now: b.now})
			return err
		}, []string{"finishing steps", "outcomes[1].lease.step_id", "got 0"}},
		{"FinishSteps wake_on_tasks", func() error {
			_, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{{Lease: good, Kind: store.OutcomeSuspend,
				RetryAfter: time.Hour, WakeOnTasks: []int64{got.Task.ID, 0}}}, Now: b.now})
			return err
		}, []string{"finishing steps", "outcomes[0].wake_on_tasks[1]", "got 0"}},
		{"FinishSteps watch", func() error {
			_, err := b.s.FinishSteps(b.ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{complete(got, `{}`)},
				Watch: []int64{got.Task.ID, -3}, Now: b.now})
			return err
		}, []string{"finishing steps", "watch[1]", "got -3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantErr(t, c.call(), store.ErrInvalid, c.want...) })
	}
	after, err := b.s.GetStep(b.ctx, got.Step.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.State != store.StepInProgress || !after.LeaseExpiresAt.Equal(*before.LeaseExpiresAt) || after.TransitionSeq != before.TransitionSeq {
		t.Fatalf("refused calls moved the leased step: %s, lease until %v (was %v)", after.State, after.LeaseExpiresAt, before.LeaseExpiresAt)
	}
}
