// Command yaml runs the orderflow workflow declared in process_order.yaml
// instead of Go, with the orderflow package's handlers, on an in-memory
// SQLite store.
//
//	go run ./examples/yaml [-env development] [-file examples/yaml/process_order.yaml]
package main

import (
	"context"
	"errors"
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
	a, err := parseArgs(os.Args[1:])
	if err == nil {
		err = run(context.Background(), os.Stdout, templatePath(a.file), a.env, a.orders)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		log.Fatal(err)
	}
}

type args struct {
	env, file string
	orders    int
}

// parseArgs reads the flags, refusing a word after them (ignored, it ran
// the default environment) and an -orders below 1 (it ran nothing).
func parseArgs(argv []string) (args, error) {
	var a args
	fs := flag.NewFlagSet("yaml", flag.ContinueOnError)
	fs.StringVar(&a.env, "env", "development", "environment whose overrides apply (empty: none)")
	fs.StringVar(&a.file, "file", "", "template file (default: process_order.yaml here or in examples/yaml)")
	fs.IntVar(&a.orders, "orders", 3, "orders to run")
	if err := fs.Parse(argv); err != nil {
		return a, err
	}
	switch {
	case fs.NArg() > 0:
		return a, fmt.Errorf("unexpected argument %q: the environment is -env NAME, the file -file PATH", fs.Arg(0))
	case a.orders < 1:
		return a, fmt.Errorf("-orders must be at least 1, got %d", a.orders)
	}
	return a, nil
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
