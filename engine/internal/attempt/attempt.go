// Package attempt runs one attempt of user code safely — a DAG step's
// handler or a code-first durable step alike: under a deadline, with a
// panic turned into an error carrying its stack, and with the deadline's
// expiry told apart from the caller's cancellation.
package attempt

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"
)

// Panic is a recovered panic.
type Panic struct {
	Value any
	Stack string
}

func (p *Panic) Error() string { return fmt.Sprintf("handler panicked: %v", p.Value) }

// Result is what an attempt returned.
type Result[T any] struct {
	Value T
	Err   error
	// Panic is set when the code panicked (Err is then nil).
	Panic *Panic
	// TimedOut: the attempt's own timeout passed (not the parent's
	// cancellation) before the code returned.
	TimedOut bool
}

// Run calls fn with a context derived from ctx that ends after timeout
// (no limit when timeout <= 0).
func Run[T any](ctx context.Context, timeout time.Duration, fn func(context.Context) (T, error)) (r Result[T]) {
	runCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	defer func() {
		if v := recover(); v != nil {
			r.Panic = &Panic{Value: v, Stack: string(debug.Stack())}
		}
		r.TimedOut = runCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil
	}()
	r.Value, r.Err = fn(runCtx)
	return r
}
