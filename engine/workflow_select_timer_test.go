package engine_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store/sqlite"
)

// Select between a running future and a timer returns the timer when it
// fires first, as "whichever comes first" says (a step bounded by a
// deadline): Select waited for the futures alone, so a timer that fired
// meanwhile was seen only once the step had finished, and the step won.
func TestSelectTimerFiresWhileAFutureRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "select.db"), nil)
	must(t, err)
	defer st.Close()
	e, err := engine.New(engine.Config{Store: st})
	must(t, err)
	defer e.Close()
	release := make(chan struct{}) // the step runs until the test releases it
	selected := make(chan int, 1)
	must(t, engine.RegisterWorkflow(e, "t/deadline", func(wctx *engine.WorkflowContext, in int) (int, error) {
		slow := engine.Go(wctx, "slow", func(ctx context.Context) (int, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return 1, nil
		})
		deadline := engine.NewTimer(wctx, 500*time.Millisecond)
		i, err := engine.Select(wctx, engine.OnFuture(slow), engine.OnTimer(deadline))
		if err != nil {
			return 0, err
		}
		select {
		case selected <- i:
		default:
		}
		if _, err := slow.Get(); err != nil {
			return 0, err
		}
		return i, nil
	}))
	h, err := engine.StartWorkflow[int, int](ctx, e, "t/deadline", 1)
	must(t, err)
	ran := make(chan error, 1)
	go func() { _, err := e.RunOnce(ctx); ran <- err }()
	var got int
	select {
	case got = <-selected:
	case <-time.After(10 * time.Second): // a bound for the failure, not a wait for the timer
		close(release)
		<-ran
		t.Fatal("Select did not return in 10s: the 500ms timer fired while the step ran, and Select waited for the step")
	}
	close(release)
	must(t, <-ran)
	if got != 1 {
		t.Fatalf("Select = %d, want 1 (the timer, which fired while the step ran)", got)
	}
	if v, err := h.Result(ctx); err != nil || v != 1 {
		t.Fatalf("result = %d, %v; want 1", v, err)
	}
}
