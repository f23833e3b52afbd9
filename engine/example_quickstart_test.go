package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store/sqlite"
)

// quickStart is the README's quick start, verbatim (internal/readmetest
// checks that they match): a two-step order workflow on an SQLite file.
func quickStart(ctx context.Context, path string) error {
	s, err := sqlite.Open(ctx, path, nil) // the file is created on first use; migrations applied
	if err != nil {
		return err
	}
	defer s.Close()
	e, err := engine.New(engine.Config{Store: s})
	if err != nil {
		return err
	}

	err = e.HandleFunc("shop.charge", func(sc *engine.StepContext) (any, error) {
		var in struct {
			OrderID int `json:"order_id"`
		}
		if err := sc.Input(&in); err != nil {
			return nil, err
		}
		// sc is a context.Context with the step's deadline; sc.IdempotencyKey is
		// stable across attempts: pass it to the payment provider.
		return map[string]string{"charge": fmt.Sprintf("ch_%d", in.OrderID)}, nil
	})
	if err != nil {
		return err
	}
	err = e.HandleFunc("shop.ship", func(sc *engine.StepContext) (any, error) {
		charge, err := engine.Result[map[string]string](sc, "charge")
		if err != nil {
			return nil, err
		}
		return "shipped, paid by " + charge["charge"], nil
	})
	if err != nil {
		return err
	}
	err = e.Register(&engine.Template{Namespace: "shop", Name: "order", Steps: []engine.StepTemplate{
		{Name: "charge", Handler: "shop.charge", RetryLimit: 5},
		{Name: "ship", Handler: "shop.ship", DependsOn: []string{"charge"}},
	}})
	if err != nil {
		return err
	}

	go e.Run(ctx)     // workers: claim, run, record
	defer e.Stop(ctx) // stops claiming, drains running steps
	h, err := e.Start(ctx, "shop/order", map[string]int{"order_id": 42})
	if err != nil {
		return err
	}
	out, err := h.Wait(ctx)
	if err != nil {
		return err
	}
	var shipped string
	if err := out.DecodeFinal(&shipped); err != nil { // the last step's result
		return err
	}
	fmt.Println(out.State, "—", shipped)
	return nil
}

// The README's quick start: a charge step, then a ship step that reads the
// charge's result.
func Example_quickStart() {
	dir, err := os.MkdirTemp("", "tasker-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	if err := quickStart(context.Background(), filepath.Join(dir, "app.db")); err != nil {
		panic(err)
	}
	// Output: complete — shipped, paid by ch_42
}
