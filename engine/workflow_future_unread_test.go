package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/testkit"
)

// TestAFailedFutureNeverReadIsWarnedOf: a durable step started with Go that
// failed for good, its future never read (Get, All, Select), left no trace
// but its record: the workflow completed as if it had succeeded. The
// workflow still completes (dropping a result is the code's choice), but
// the worker warns, naming the step; a failure that was read is not
// warned of.
func TestAFailedFutureNeverReadIsWarnedOf(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	env := testkit.NewEngine(t, &testkit.Options{Config: engine.Config{Logger: zap.New(core)}})
	ctx := context.Background()
	fail := func(context.Context) (int, error) { return 0, engine.Permanent(errors.New("card declined")) }
	must(t, engine.RegisterWorkflow(env.Engine, "t/unread", func(wctx *engine.WorkflowContext, read bool) (int, error) {
		f := engine.Go(wctx, "charge", fail)
		if read {
			_, _ = f.Get() // read, and ignored on purpose
		}
		return 3, nil
	}))
	for _, read := range []bool{false, true} {
		logs.TakeAll()
		h, err := engine.StartWorkflow[bool, int](ctx, env.Engine, "t/unread", read)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		if got, err := h.Result(ctx); err != nil || got != 3 {
			t.Fatalf("read %v: %d, %v; want 3", read, got, err)
		}
		var warned []string
		for _, e := range logs.All() {
			if strings.Contains(e.Message, "never read") {
				warned = append(warned, e.Message+" "+e.ContextMap()["step"].(string))
			}
		}
		switch {
		case !read && (len(warned) != 1 || !strings.Contains(warned[0], "charge")):
			t.Errorf("unread failure: warnings %q; want one naming the step", warned)
		case read && len(warned) != 0:
			t.Errorf("read failure: warnings %q; want none", warned)
		}
	}
}
