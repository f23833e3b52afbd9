package engine_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store/sqlite"
)

type Renewal struct {
	Account    string
	Amount     int
	Order      string
	CoolingOff time.Duration // a day in production; a moment in the example
}

type Charge struct {
	ID     string
	Amount int
}

type Shipment struct{ Tracking string }

type Receipt struct {
	Charge   Charge
	Shipment Shipment
	Refunded bool
}

// fakePayments stands in for a payment provider's client.
type fakePayments struct{}

func (fakePayments) Charge(ctx context.Context, account string, amount int) (Charge, error) {
	return Charge{ID: "ch_" + account, Amount: amount}, nil
}

func (fakePayments) Refund(ctx context.Context, c Charge) (bool, error) { return true, nil }

var payments fakePayments

// renew is the README's code-first workflow, verbatim (internal/readmetest
// checks that they match).
func renew(ctx context.Context, e *engine.Engine, in Renewal) (Receipt, error) {
	err := engine.RegisterWorkflow(e, "billing/renew", func(w *engine.WorkflowContext, in Renewal) (Receipt, error) {
		charge, err := engine.Step(w, "charge", func(ctx context.Context) (Charge, error) {
			return payments.Charge(ctx, in.Account, in.Amount) // retried with backoff like any step
		})
		if err != nil {
			return Receipt{}, err
		}
		ok, err := engine.WaitEvent[bool](w, "approval", 72*time.Hour) // durable; events sent earlier are kept
		if errors.Is(err, engine.ErrEventTimeout) {
			ok, err = false, nil // no answer in three days: refund
		}
		if err != nil {
			return Receipt{}, err
		}
		if !ok {
			_, err := engine.Step(w, "refund", func(ctx context.Context) (bool, error) { return payments.Refund(ctx, charge) })
			return Receipt{Charge: charge, Refunded: true}, err
		}
		if err := engine.Sleep(w, in.CoolingOff); err != nil { // releases the worker; resumes on any worker
			return Receipt{}, err
		}
		shipped, err := engine.Child[Shipment](w, "shop/ship", in.Order) // a child workflow (code-first or DAG)
		return Receipt{Charge: charge, Shipment: shipped}, err
	})
	if err != nil {
		return Receipt{}, err
	}

	go e.Run(ctx) // the workers; without them nothing runs
	defer e.Stop(ctx)
	h, err := engine.StartWorkflow[Renewal, Receipt](ctx, e, "billing/renew", in)
	if err != nil {
		return Receipt{}, err
	}
	// Usually another process, later: a person approves.
	if _, err := e.SendEvent(ctx, h.TaskID, "approval", "approval-1", true); err != nil { // idempotent per key
		return Receipt{}, err
	}
	return h.Result(ctx)
}

// A code-first workflow: a durable step, a wait for an approval event, a
// durable sleep and a child workflow. Each is recorded, so after a crash or
// a wait the function runs again from the top and recorded calls return at
// once.
func ExampleRegisterWorkflow() {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Memory, nil)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	e, err := engine.New(engine.Config{Store: s})
	if err != nil {
		panic(err)
	}
	err = engine.RegisterWorkflow(e, "shop/ship", func(w *engine.WorkflowContext, order string) (Shipment, error) {
		return engine.Step(w, "label", func(ctx context.Context) (Shipment, error) {
			return Shipment{Tracking: "TRK-" + order}, nil
		})
	})
	if err != nil {
		panic(err)
	}

	receipt, err := renew(ctx, e, Renewal{Account: "acme", Amount: 42, Order: "o-7", CoolingOff: 10 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", receipt)
	// Output: {Charge:{ID:ch_acme Amount:42} Shipment:{Tracking:TRK-o-7} Refunded:false}
}
