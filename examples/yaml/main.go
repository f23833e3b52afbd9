// Command yaml runs the orderflow workflow declared in process_order.yaml
// instead of Go, with the orderflow package's handlers, on an in-memory
// SQLite store.
//
//	go run ./examples/yaml [-env development] [-file examples/yaml/process_order.yaml]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/examples/orderflow"
	"github.com/tasker-go/tasker/store/sqlite"
)

func main() {
	env := flag.String("env", "development", "environment whose overrides apply (empty: none)")
	file := flag.String("file", "", "template file (default: process_order.yaml here or in examples/yaml)")
	orders := flag.Int("orders", 3, "orders to run")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, templatePath(*file), *env, *orders); err != nil {
		log.Fatal(err)
	}
}

// templatePath finds the YAML file whether the program runs from the
// repository root (go run ./examples/yaml) or from this directory.
func templatePath(flagged string) string {
	if flagged != "" {
		return flagged
	}
	for _, p := range []string{"process_order.yaml", "examples/yaml/process_order.yaml"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "process_order.yaml"
}

func run(ctx context.Context, w io.Writer, path, env string, orders int) error {
	t, err := engine.LoadTemplateFile(path, env)
	if err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, sqlite.Memory, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	e, err := engine.New(engine.Config{Store: st})
	if err != nil {
		return err
	}
	if err := orderflow.RegisterHandlers(e, orderflow.Options{}); err != nil {
		return err
	}
	if err := e.Register(t); err != nil {
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

	fmt.Fprintf(w, "template %s@%s from %s (environment %q)\n", t.FullName(), t.Version, path, env)
	for id := 1; id <= orders; id++ {
		h, err := e.Start(ctx, t.FullName(), orderflow.SampleOrder(id))
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := h.Wait(wctx)
		cancel()
		if err != nil {
			return err
		}
		var pay orderflow.Payment
		var order orderflow.Order
		if err := out.Decode("charge_payment", &pay); err != nil {
			return fmt.Errorf("order %d ended %s: %w", id, out.State, err)
		}
		if err := out.Decode("create_order", &order); err != nil {
			return err
		}
		fmt.Fprintf(w, "order %d: %s %s, charged %d cents via %s on attempt %d\n",
			id, order.OrderNumber, out.State, pay.AmountCents, pay.Gateway, pay.Attempt)
	}
	return nil
}
