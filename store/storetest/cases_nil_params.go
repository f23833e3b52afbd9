package storetest

import (
	"context"
	"strings"
	"testing"

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
