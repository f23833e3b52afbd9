package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// A durable step's PermanentError with a code reads its code once: the
// recorded message starts with it already ("E42: card declined"), and
// StepFailedError put Failure.Code in front again ("(permanent) E42: E42:
// card declined"). A code the message does not start with (the error
// wrapped) is still given, as StepError gives it.
func TestStepFailedErrorNamesItsCodeOnce(t *testing.T) {
	env := testkit.NewEngine(t, &testkit.Options{File: true, Config: engine.Config{Retry: retryFast}})
	seen := make(chan string, 1)
	must(t, engine.RegisterWorkflow(env.Engine, "t/code", func(wctx *engine.WorkflowContext, in struct{ Wrap bool }) (string, error) {
		_, err := engine.Step(wctx, "pay", func(ctx context.Context) (int, error) {
			var err error = &engine.PermanentError{Err: errors.New("card declined"), Code: "E42"}
			if in.Wrap {
				err = fmt.Errorf("charging: %w", err)
			}
			return 0, err
		})
		if !wctx.Replaying() {
			seen <- err.Error()
		}
		return "", nil
	}))
	ctx := context.Background()
	for _, c := range []struct {
		wrap bool
		want string
	}{
		{false, "durable step pay (sequence 1) failed after 1 attempts (permanent): E42: card declined"},
		{true, "durable step pay (sequence 1) failed after 1 attempts (permanent) E42: charging: E42: card declined"},
	} {
		h, err := engine.StartWorkflow[struct{ Wrap bool }, string](ctx, env.Engine, "t/code", struct{ Wrap bool }{c.wrap})
		must(t, err)
		env.RunUntilDone(h.TaskID)
		if got := <-seen; got != c.want {
			t.Errorf("StepFailedError:\n %s\nwant\n %s", got, c.want)
		}
	}
}
