package orderflow_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/orderflow"
	"github.com/tasker-go/tasker/store/sqlite"
)

// Example runs one order on an in-memory SQLite store. Order 3 is one of
// the flaky ones: its payment fails once and succeeds on the retry.
func Example() {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Memory, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	e, err := engine.New(engine.Config{Store: st})
	if err != nil {
		log.Fatal(err)
	}
	if err := orderflow.Register(e, orderflow.Options{}); err != nil {
		log.Fatal(err)
	}
	done, err := e.RunBackground(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		_ = e.Stop(ctx)
		<-done
	}()

	h, err := e.Start(ctx, orderflow.Workflow, orderflow.SampleOrder(3))
	if err != nil {
		log.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := h.Wait(wctx)
	if err != nil {
		log.Fatal(err)
	}
	var pay orderflow.Payment
	var order orderflow.Order
	var msg orderflow.Confirmation
	if err := errors.Join(out.Decode("charge_payment", &pay), out.Decode("create_order", &order), out.Decode("send_confirmation", &msg)); err != nil {
		log.Fatal(err)
	}
	fmt.Println("state:", out.State)
	fmt.Println("order:", order.OrderNumber, "total", order.TotalCents, "cents")
	fmt.Println("payment charged on attempt", pay.Attempt, "with key", pay.IdempotencyKey)
	fmt.Println("confirmation to:", msg.To)
	// Output:
	// state: complete
	// order: ORD-000003 total 7500 cents
	// payment charged on attempt 2 with key 1:charge_payment
	// confirmation to: customer-3@example.com
}
