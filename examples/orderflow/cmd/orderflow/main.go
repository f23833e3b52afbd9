// Command orderflow runs ten orders of the example workflow on the SQLite
// file ./orderflow.db and prints what became of each.
//
//	go run ./examples/orderflow/cmd/orderflow
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"text/tabwriter"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/orderflow"
	"github.com/tasker-go/tasker/store/sqlite"
)

func main() {
	if err := checkArgs(os.Args[1:]); err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		log.Fatal(err)
	}
}

// checkArgs refuses arguments: ignored, `orderflow 100` ran ten orders.
func checkArgs(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("orderflow takes no arguments, got %q: it runs ten orders on ./orderflow.db", args)
	}
	return nil
}

func run(ctx context.Context) error {
	st, err := sqlite.Open(ctx, "orderflow.db", nil)
	if err != nil {
		return err
	}
	defer st.Close()
	e, err := engine.New(engine.Config{Store: st})
	if err != nil {
		return err
	}
	if err := orderflow.Register(e, orderflow.Options{}); err != nil {
		return err
	}
	done, err := e.RunBackground(context.Background())
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Stop(sctx)
		<-done
	}()

	began := time.Now()
	var handles []*engine.TaskHandle
	for id := 1; id <= 10; id++ {
		// Unique: every run adds ten new orders instead of finding the
		// previous run's tasks by their input.
		h, err := e.Start(ctx, orderflow.Workflow, orderflow.SampleOrder(id), engine.Unique())
		if err != nil {
			return err
		}
		handles = append(handles, h)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TASK\tORDER\tSTATE\tTOTAL\tPAYMENT ATTEMPT\tCONFIRMATION")
	for _, h := range handles {
		out, err := h.Wait(ctx)
		if err != nil {
			return err
		}
		var order orderflow.Order
		var pay orderflow.Payment
		var msg orderflow.Confirmation
		_ = out.Decode("create_order", &order)
		_ = out.Decode("charge_payment", &pay)
		_ = out.Decode("send_confirmation", &msg)
		fmt.Fprintf(w, "%d\t%s\t%s\t$%d.%02d\t%d\t%s\n", out.TaskID, order.OrderNumber, out.State,
			order.TotalCents/100, order.TotalCents%100, pay.Attempt, msg.MessageID)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	s := e.Stats()
	fmt.Printf("\n10 orders in %s: %d steps completed, %d retried (payments fail once for every third order)\n",
		time.Since(began).Round(time.Millisecond), s.StepsCompleted, s.StepsRetried)
	return nil
}
