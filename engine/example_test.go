package engine_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/store/sqlite"
)

// A two-step workflow whose second step fails once and succeeds on retry.
func Example() {
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
	_ = e.HandleFunc("greet.name", func(sc *engine.StepContext) (any, error) {
		var in struct{ Name string }
		if err := sc.Input(&in); err != nil {
			return nil, err
		}
		return "Hello, " + in.Name, nil
	})
	_ = e.HandleFunc("greet.shout", func(sc *engine.StepContext) (any, error) {
		if sc.Attempt == 1 {
			return nil, engine.Retryable(errors.New("megaphone warming up"), 0)
		}
		greeting, err := engine.Result[string](sc, "name")
		return greeting + "!", err
	})
	err = e.Register(&engine.Template{Namespace: "demo", Name: "greet", Steps: []engine.StepTemplate{
		{Name: "name", Handler: "greet.name"},
		{Name: "shout", Handler: "greet.shout", DependsOn: []string{"name"}, Backoff: retry.Policy{Base: time.Millisecond, Max: time.Millisecond}},
	}})
	if err != nil {
		panic(err)
	}

	h, err := e.Start(ctx, "demo/greet", map[string]string{"Name": "Ada"})
	if err != nil {
		panic(err)
	}
	go e.Run(ctx)
	defer e.Stop(ctx)
	out, err := h.Wait(ctx)
	if err != nil {
		panic(err)
	}
	var shout string
	_ = out.Decode("shout", &shout)
	fmt.Println(out.State, shout)
	// Output: complete Hello, Ada!
}

// Templates can come from YAML; environments override the base.
func ExampleParseTemplate() {
	t, err := engine.ParseTemplate([]byte(`
namespace: shop
name: order
steps:
  - name: charge
    handler: shop.charge
    retry: {limit: 5, base: 1s, max: 1m}
    config: {url: https://pay.example/charge}
environments:
  development:
    steps: [{name: charge, config: {url: http://localhost:3000/charge}}]
`), "development")
	if err != nil {
		panic(err)
	}
	fmt.Println(t.FullName(), t.Steps[0].RetryLimit, t.Steps[0].Config.(map[string]any)["url"])
	// Output: shop/order 5 http://localhost:3000/charge
}
