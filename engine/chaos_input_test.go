package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// Hostile input at the engine's API on both databases: inputs and event
// payloads at exactly the size limit are accepted and one byte over are
// refused; a key with a NUL byte works; names with NUL bytes or quotes, ids
// out of range, resolves of steps that
// do not exist or with results that cannot be encoded are refused — each
// with an error naming what was wrong, and none writes anything.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := openChaosStore(t, db)
			// The store's own limit (store.MaxJSONBytes) is tested at the
			// store (storetest PayloadLimits); here the engine's.
			const limit = 64 << 10
			cfg := chaosConfig(s, "hostile")
			cfg.MaxPayloadBytes = limit
			e := newEngine(t, cfg)
			l := newLedger()
			chaosWork(t, e, l)
			input := func(n int) map[string]string { // {"p":"xx…"}: 8 bytes + n
				return map[string]string{"p": strings.Repeat("x", n-8)}
			}
			at, err := e.Start(ctx, "chaos/order", input(limit), engine.WithIdempotencyKey("at-limit"))
			must(t, err)
			flow, err := engine.StartWorkflow[int, string](ctx, e, "chaos/flow", 1, engine.WithIdempotencyKey("flow"))
			must(t, err)
			if _, err := e.SendEvent(ctx, flow.TaskID, "paid", "at-limit", strings.Repeat("y", limit-2)); err != nil {
				t.Fatalf("event payload of exactly the limit: %v", err)
			}
			// A key with a NUL byte is kept as a hash of it: accepted, and
			// idempotent like any other.
			for i := range 2 {
				h, err := e.Start(ctx, "chaos/order", nil, engine.WithIdempotencyKey("a\x00b"))
				must(t, err)
				if h.Existing != (i == 1) {
					t.Fatalf("start %d with a NUL key: existing %v", i+1, h.Existing)
				}
			}
			before, err := s.CountByState(ctx)
			must(t, err)
			beforeTasks, err := s.ListTasks(ctx, &store.ListTasksParams{Limit: 1000})
			must(t, err)

			cases := []struct {
				name string
				call func() error
				is   error
				says string
			}{
				{"input one byte over", func() error {
					_, err := e.Start(ctx, "chaos/order", input(limit+1), engine.WithIdempotencyKey("over"))
					return err
				}, engine.ErrPayloadTooLarge, "input"},
				{"event payload one byte over", func() error {
					_, err := e.SendEvent(ctx, flow.TaskID, "paid", "over", strings.Repeat("y", limit-1))
					return err
				}, engine.ErrPayloadTooLarge, "event payload"},
				{"NUL in a workflow name", func() error {
					_, err := e.Start(ctx, "chaos/or\x00der", nil)
					return err
				}, nil, "chaos/or"},
				{"NUL in an event name", func() error {
					_, err := e.SendEvent(ctx, flow.TaskID, "pa\x00id", "k", 1)
					return err
				}, store.ErrInvalid, "NUL"},
				{"quotes in a step name to resolve", func() error {
					return e.Resolve(ctx, at.TaskID, `a'; DROP TABLE tasker_tasks; --`, 1)
				}, store.ErrNotFound, "no step"},
				{"results that cannot be encoded", func() error {
					return e.Resolve(ctx, at.TaskID, "validate", make(chan int))
				}, nil, "encoding results"},
				{"resolve with invalid JSON", func() error {
					return e.Resolve(ctx, at.TaskID, "validate", json.RawMessage(`{"unterminated": `))
				}, nil, "encoding results"},
				{"cancel of a negative id", func() error { return e.Cancel(ctx, -1, "x") }, store.ErrInvalid, "task_id: must be a task id (1 or more), got -1"},
				{"cancel with a NUL in the reason", func() error { return e.Cancel(ctx, at.TaskID, "fraud\x00suspected") }, store.ErrInvalid, `the reason "fraud\x00suspected" contains a NUL byte`},
				{"retry of an id out of range", func() error { return e.Retry(ctx, math.MaxInt64) }, store.ErrNotFound, ""},
				{"event to a DAG task", func() error {
					_, err := e.SendEvent(ctx, at.TaskID, "paid", "k", 1)
					return err
				}, engine.ErrEventRefused, "DAG"},
				{"unknown workflow with a quote", func() error {
					_, err := e.Start(ctx, `chaos/o'rder`, nil)
					return err
				}, nil, "o'rder"},
			}
			for _, c := range cases {
				err := c.call()
				switch {
				case err == nil:
					t.Errorf("%s: accepted", c.name)
				case c.is != nil && !errors.Is(err, c.is):
					t.Errorf("%s: %v; want %v", c.name, err, c.is)
				case !strings.Contains(err.Error(), c.says):
					t.Errorf("%s: %q does not say %q", c.name, err, c.says)
				}
			}
			after, err := s.CountByState(ctx)
			must(t, err)
			afterTasks, err := s.ListTasks(ctx, &store.ListTasksParams{Limit: 1000})
			must(t, err)
			if !reflect.DeepEqual(before, after) || len(beforeTasks.Tasks) != len(afterTasks.Tasks) {
				t.Fatalf("refused commands changed the store: %+v → %+v", before, after)
			}
			// The input at the limit runs to the end (the flow, sent a
			// payload it cannot decode, is cancelled).
			must(t, e.Cancel(ctx, flow.TaskID, "done with it"))
			done, err := e.RunBackground(ctx)
			must(t, err)
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			for _, id := range []int64{at.TaskID} {
				out, err := e.Wait(wctx, id)
				must(t, err)
				if out.State != store.TaskComplete {
					t.Errorf("task %d ended %s: %v", id, out.State, out.Err())
				}
			}
			must(t, e.Stop(ctx))
			<-done
		})
	}
}
