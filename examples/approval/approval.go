// Package approval is a code-first expense workflow: it charges the
// expense, waits up to three days for an "approval" event, then settles the
// charge or refunds it. It shows durable steps with idempotency keys, a
// durable event wait with a timeout, and branching on earlier results in
// plain Go.
//
//	approval.Register(e, approval.Options{})
//	h, _ := approval.Start(ctx, e, approval.Expense{ID: "exp-1", Employee: "ann", Cents: 4200})
//	e.SendEvent(ctx, h.TaskID, approval.EventName, "manager-1", approval.Decision{Approved: true, By: "bob"})
//	outcome, _ := h.Result(ctx) // Outcome{Status: "settled", ...}
package approval

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tasker-go/tasker/engine"
)

// Workflow is the registered name.
const Workflow = "expenses/approval"

// EventName is the event the workflow waits for.
const EventName = "approval"

// DefaultWait is how long the workflow waits for a decision.
const DefaultWait = 72 * time.Hour

// Expense is the workflow's input.
type Expense struct {
	ID       string `json:"id"`
	Employee string `json:"employee"`
	Cents    int64  `json:"cents"`
}

// Decision is the approval event's payload.
type Decision struct {
	Approved bool   `json:"approved"`
	By       string `json:"by"`
	Note     string `json:"note,omitempty"`
}

// Outcome is the workflow's result.
type Outcome struct {
	Status   string `json:"status"` // "settled" or "refunded"
	ChargeID string `json:"charge_id"`
	By       string `json:"by,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Ledger records money movements keyed by idempotency key, so a step that
// runs again after a crash moves money once. The in-memory one is for
// demos and tests; a real one is the payment provider.
type Ledger struct {
	mu      sync.Mutex
	entries map[string]string
	order   []string
}

// Apply records entry under key once and reports whether it was new.
func (l *Ledger) Apply(key, entry string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.entries == nil {
		l.entries = map[string]string{}
	}
	if _, ok := l.entries[key]; ok {
		return false
	}
	l.entries[key] = entry
	l.order = append(l.order, entry)
	return true
}

// Entries lists the entries in the order they were applied.
func (l *Ledger) Entries() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.order...)
}

// Options configure Register.
type Options struct {
	Ledger *Ledger       // default: a fresh in-memory ledger
	Wait   time.Duration // default DefaultWait
}

// Register registers the workflow on e. A negative Options.Wait is
// refused, and so is one under a millisecond (a bare number is
// nanoseconds), which engine.WaitEvent refuses.
func Register(e *engine.Engine, o Options) error {
	// Either way the workflow would charge, then fail at its wait.
	if o.Wait < 0 {
		return fmt.Errorf("approval.Register: Options.Wait %s is negative", o.Wait)
	}
	if o.Wait > 0 && o.Wait < time.Millisecond {
		return fmt.Errorf("approval.Register: Options.Wait %s is under a millisecond: a bare number is nanoseconds (write %d * time.Hour, not %d)", o.Wait, int64(o.Wait), int64(o.Wait))
	}
	if o.Ledger == nil {
		o.Ledger = &Ledger{}
	}
	if o.Wait == 0 {
		o.Wait = DefaultWait
	}
	return engine.RegisterWorkflow(e, Workflow, func(wctx *engine.WorkflowContext, x Expense) (Outcome, error) {
		chargeID, err := engine.Step(wctx, "charge", func(ctx context.Context) (string, error) {
			info, _ := engine.StepInfoFrom(ctx)
			o.Ledger.Apply(info.IdempotencyKey, fmt.Sprintf("charge %s %d", x.ID, x.Cents))
			return "ch_" + x.ID, nil
		})
		if err != nil {
			return Outcome{}, err
		}
		d, err := engine.WaitEvent[Decision](wctx, EventName, o.Wait)
		reason := ""
		switch {
		case errors.Is(err, engine.ErrEventTimeout):
			reason = "no decision within " + o.Wait.String()
		case err != nil:
			return Outcome{}, err
		case !d.Approved:
			reason = "rejected by " + d.By
		}
		if reason == "" {
			_, err = engine.Step(wctx, "settle", func(ctx context.Context) (bool, error) {
				info, _ := engine.StepInfoFrom(ctx)
				return o.Ledger.Apply(info.IdempotencyKey, "settle "+chargeID), nil
			})
			return Outcome{Status: "settled", ChargeID: chargeID, By: d.By}, err
		}
		_, err = engine.Step(wctx, "refund", func(ctx context.Context) (bool, error) {
			info, _ := engine.StepInfoFrom(ctx)
			return o.Ledger.Apply(info.IdempotencyKey, "refund "+chargeID), nil
		})
		return Outcome{Status: "refunded", ChargeID: chargeID, Reason: reason}, err
	})
}

// Start starts the workflow for one expense; starting the same expense ID
// again returns the first workflow. An expense with an empty ID or
// Employee, or an amount that is not positive, is refused, naming the
// field, and nothing is started (the workflow would charge it).
func Start(ctx context.Context, e *engine.Engine, x Expense) (*engine.WorkflowHandle[Outcome], error) {
	switch {
	case x.ID == "":
		return nil, errors.New("approval.Start: Expense.ID is empty: it keys the workflow (a second start of the same expense finds the first)")
	case x.Employee == "":
		return nil, errors.New("approval.Start: Expense.Employee is empty: name who spent it")
	case x.Cents <= 0:
		return nil, fmt.Errorf("approval.Start: Expense.Cents %d: an expense is a positive amount", x.Cents)
	}
	return engine.StartWorkflow[Expense, Outcome](ctx, e, Workflow, x, engine.WithIdempotencyKey(x.ID))
}
