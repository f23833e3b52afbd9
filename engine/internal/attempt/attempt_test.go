package attempt_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tasker-go/tasker/engine/internal/attempt"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPanicBecomesAResultWithItsStack(t *testing.T) {
	r := attempt.Run(context.Background(), 0, func(context.Context) (int, error) { panic("boom") })
	if r.Panic == nil || r.Panic.Value != "boom" || !strings.Contains(r.Panic.Stack, "attempt_test.go") || r.Err != nil {
		t.Fatalf("result %+v", r)
	}
}

func TestOwnTimeoutIsToldApartFromTheCallersCancellation(t *testing.T) {
	wait := func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() }
	r := attempt.Run(context.Background(), time.Millisecond, wait)
	if !r.TimedOut || !errors.Is(r.Err, context.DeadlineExceeded) {
		t.Fatalf("own timeout: %+v", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := attempt.Run(ctx, time.Hour, wait); r.TimedOut {
		t.Fatalf("the caller's cancellation reported as a timeout: %+v", r)
	}
	if r := attempt.Run(context.Background(), 0, func(ctx context.Context) (int, error) {
		if _, ok := ctx.Deadline(); ok {
			return 0, errors.New("a deadline without a timeout")
		}
		return 7, nil
	}); r.Value != 7 || r.Err != nil {
		t.Fatalf("no timeout: %+v", r)
	}
}
