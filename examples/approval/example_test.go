package approval_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/approval"
	"github.com/tasker-go/tasker/store/sqlite"
)

// approve is the README's snippet, verbatim (internal/readmetest checks
// that they match).
func approve(ctx context.Context, e *engine.Engine) (approval.Outcome, error) {
	h, err := approval.Start(ctx, e, approval.Expense{ID: "exp-1", Employee: "ann", Cents: 4200})
	if err != nil {
		return approval.Outcome{}, err
	}
	// The manager's decision arrives as an event (sending it twice with the
	// same key changes nothing).
	for range 2 {
		if _, err := e.SendEvent(ctx, h.TaskID, approval.EventName, "manager-decision", approval.Decision{Approved: true, By: "bob"}); err != nil {
			return approval.Outcome{}, err
		}
	}
	return h.Result(ctx) // {Status: "settled", ChargeID: "ch_exp-1", By: "bob"}
}

// An expense is charged, a manager approves it, and the charge is settled.
func Example() {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Memory, nil)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	e, err := engine.New(engine.Config{Store: s, Execution: engine.ExecutionConfig{PollInterval: 50 * time.Millisecond}})
	if err != nil {
		panic(err)
	}
	ledger := &approval.Ledger{}
	if err := approval.Register(e, approval.Options{Ledger: ledger}); err != nil {
		panic(err)
	}
	go e.Run(ctx)
	defer e.Stop(ctx)

	out, err := approve(ctx, e)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s %s by %s\n", out.Status, out.ChargeID, out.By)
	for _, entry := range ledger.Entries() {
		fmt.Println(entry)
	}
	// Output:
	// settled ch_exp-1 by bob
	// charge exp-1 4200
	// settle ch_exp-1
}
