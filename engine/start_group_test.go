package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// Starts from many goroutines at once (grouped into shared transactions):
// every start gets its own task or, for a repeated key, the one task of
// that key; a key repeated with another input is refused alone; every task
// runs to completion.
func TestConcurrentStartsShareTransactions(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, engine.Config{})
	oneStep(t, e, "echo", func(sc *engine.StepContext) (any, error) { return sc.Step, nil }, engine.StepTemplate{})
	run(t, e)
	const goroutines, each = 8, 40
	type start struct {
		h   *engine.TaskHandle
		key string
		err error
	}
	results := make([][]start, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("k-%d-%d", g, i)
				input := map[string]int{"n": i}
				if i%10 == 0 { // every goroutine starts these ten keys: one task each
					key = fmt.Sprintf("shared-%d", i)
				}
				if i == 5 && g%2 == 1 { // the same key as the even goroutines, another input
					key, input = fmt.Sprintf("k-%d-%d", g-1, i), map[string]int{"n": -1}
				}
				h, err := e.Start(ctx, "t/echo", input, engine.WithIdempotencyKey(key))
				results[g] = append(results[g], start{h, key, err})
			}
		})
	}
	wg.Wait()
	byKey := map[string]int64{}
	created, conflicts := 0, 0
	for g := range results {
		for _, r := range results[g] {
			if r.err != nil {
				if !errors.Is(r.err, store.ErrConflict) {
					t.Fatalf("start %s: %v", r.key, r.err)
				}
				conflicts++
				continue
			}
			if id, ok := byKey[r.key]; ok && id != r.h.TaskID {
				t.Fatalf("key %s gave tasks %d and %d", r.key, id, r.h.TaskID)
			}
			byKey[r.key] = r.h.TaskID
			if !r.h.Existing {
				created++
			}
		}
	}
	// Each of the 4 odd goroutines' clashing starts either lost (conflict)
	// or won the key before its even twin (which then conflicted).
	if conflicts != goroutines/2 {
		t.Fatalf("%d starts refused as conflicts, want %d", conflicts, goroutines/2)
	}
	if created != len(byKey) {
		t.Fatalf("%d starts created a task for %d keys", created, len(byKey))
	}
	for key, id := range byKey {
		out, err := e.Wait(ctx, id)
		if err != nil || out.State != store.TaskComplete {
			t.Fatalf("task %d (%s): %v, %v", id, key, out, err)
		}
	}
}

// A Start whose context has ended before its group began writes nothing.
func TestStartWithEndedContextWritesNothing(t *testing.T) {
	e := newEngine(t, engine.Config{})
	oneStep(t, e, "echo", func(sc *engine.StepContext) (any, error) { return nil, nil }, engine.StepTemplate{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Start(ctx, "t/echo", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled context: %v", err)
	}
	c, err := e.Store().CountByState(context.Background())
	must(t, err)
	if n := c.Tasks[store.TaskPending]; n != 0 {
		t.Fatalf("%d tasks written", n)
	}
}
