package engine_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// newWelcomeEngine is an engine on in-memory SQLite with a one-step
// "mail/welcome" workflow.
func newWelcomeEngine(ctx context.Context) (*sqlite.Store, *engine.Engine) {
	s, err := sqlite.Open(ctx, sqlite.Memory, nil)
	if err != nil {
		panic(err)
	}
	e, err := engine.New(engine.Config{Store: s})
	if err != nil {
		panic(err)
	}
	err = e.HandleFunc("mail.send", func(sc *engine.StepContext) (any, error) {
		var in struct{ User string }
		if err := sc.Input(&in); err != nil {
			return nil, err
		}
		return "welcome sent to " + in.User, nil
	})
	if err != nil {
		panic(err)
	}
	err = e.Register(&engine.Template{Namespace: "mail", Name: "welcome", Steps: []engine.StepTemplate{{Name: "send", Handler: "mail.send"}}})
	if err != nil {
		panic(err)
	}
	return s, e
}

// InTx creates a task inside the caller's transaction on the store's
// database: the welcome mail is sent only for a sign-up that commits.
func ExampleInTx() {
	ctx := context.Background()
	s, e := newWelcomeEngine(ctx)
	defer s.Close()
	if _, err := s.DB().ExecContext(ctx, "CREATE TABLE users (name TEXT PRIMARY KEY)"); err != nil {
		panic(err)
	}
	signUp := func(name string, fail error) error {
		return s.DB().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO users (name) VALUES (?)", name); err != nil {
				return err
			}
			if _, err := e.Start(ctx, "mail/welcome", map[string]string{"User": name}, engine.InTx(tx)); err != nil {
				return err
			}
			return fail // an error rolls back the user and the task
		})
	}
	if err := signUp("ada", nil); err != nil {
		panic(err)
	}
	refused := errors.New("sign-up refused")
	if err := signUp("bob", refused); !errors.Is(err, refused) {
		panic(err)
	}

	go e.Run(ctx)
	defer e.Stop(ctx)
	page, err := s.ListTasks(ctx, &store.ListTasksParams{})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(page.Tasks), "task")
	out, err := e.Wait(ctx, page.Tasks[0].ID)
	if err != nil {
		panic(err)
	}
	var sent string
	if err := out.DecodeFinal(&sent); err != nil {
		panic(err)
	}
	fmt.Println(sent)
	// Output:
	// 1 task
	// welcome sent to ada
}

// Subscribe delivers lifecycle events after the changes they describe have
// committed; a slow subscriber misses events rather than slowing the
// engine.
func ExampleEngine_Subscribe() {
	ctx := context.Background()
	s, e := newWelcomeEngine(ctx)
	defer s.Close()
	events, unsubscribe := e.Subscribe(64)
	defer unsubscribe()

	go e.Run(ctx)
	defer e.Stop(ctx)
	if _, err := e.Start(ctx, "mail/welcome", map[string]string{"User": "ada"}); err != nil {
		panic(err)
	}
	for ev := range events {
		if ev.Step != "" {
			fmt.Println(ev.Name, ev.Step)
		} else {
			fmt.Println(ev.Name)
		}
		if ev.Name == engine.EventTaskCompleted {
			break
		}
	}
	// Output:
	// task.started
	// step.started send
	// step.completed send
	// task.completed
}

// Final is a task's result without naming its last step: the result of its
// one sink step, or an object keyed by step name when several steps end it.
func ExampleOutcome_Final() {
	ctx := context.Background()
	s, e := newWelcomeEngine(ctx)
	defer s.Close()
	go e.Run(ctx)
	defer e.Stop(ctx)
	h, err := e.Start(ctx, "mail/welcome", map[string]string{"User": "ada"})
	if err != nil {
		panic(err)
	}
	out, err := h.Wait(ctx)
	if err != nil {
		panic(err)
	}
	final, err := out.Final()
	if err != nil {
		panic(err)
	}
	fmt.Println(out.FinalSteps(), string(final))
	// Output: [send] "welcome sent to ada"
}
