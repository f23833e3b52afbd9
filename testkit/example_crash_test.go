package testkit_test

import (
	"context"
	"fmt"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// CrashEach crashes a workflow at each of its persistence boundaries, on
// both sides of the commit, and checks that it recovers in a new engine.
func ExampleCrashEach() {
	t := &exampleT{}
	defer t.cleanup()
	report := testkit.CrashEach(t, testkit.CrashTest{
		Setup: func(e *engine.Engine, fx *testkit.Effects) error {
			if err := e.HandleFunc("billing.charge", func(sc *engine.StepContext) (any, error) {
				fx.Record(sc.IdempotencyKey) // the call the payment provider deduplicates
				return "charged", nil
			}); err != nil {
				return err
			}
			return e.Register(&engine.Template{Namespace: "billing", Name: "renew",
				Steps: []engine.StepTemplate{{Name: "charge", Handler: "billing.charge"}}})
		},
		Start: func(ctx context.Context, e *engine.Engine) (int64, error) {
			h, err := e.Start(ctx, "billing/renew", map[string]string{"account": "acme"}, engine.WithIdempotencyKey("renew-acme-2030"))
			if err != nil {
				return 0, err
			}
			return h.TaskID, nil
		},
	})
	fmt.Println("writes:", report.Writes)
	for _, b := range report.Boundaries {
		fmt.Println(b)
	}
	// Output:
	// writes: [CreateTasks ClaimSteps FinishSteps ClaimSteps RescueExpired]
	// write 1 CreateTasks, crash before commit: recovered, 1 attempts, 0 side effects repeated
	// write 1 CreateTasks, crash after commit: recovered, 1 attempts, 0 side effects repeated
	// write 2 ClaimSteps, crash before commit: recovered, 1 attempts, 0 side effects repeated
	// write 2 ClaimSteps, crash after commit: recovered, 2 attempts, 0 side effects repeated
	// write 3 FinishSteps, crash before commit: recovered, 2 attempts, 1 side effects repeated
	// write 3 FinishSteps, crash after commit: recovered, 1 attempts, 0 side effects repeated
	// write 4 ClaimSteps, crash before commit: recovered, 1 attempts, 0 side effects repeated
	// write 4 ClaimSteps, crash after commit: recovered, 1 attempts, 0 side effects repeated
	// write 5 RescueExpired, crash before commit: recovered, 1 attempts, 0 side effects repeated
	// write 5 RescueExpired, crash after commit: recovered, 1 attempts, 0 side effects repeated
}
