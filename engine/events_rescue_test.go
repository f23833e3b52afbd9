package engine_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

// The steps a rescue pass moves are announced as a commit's are: a step
// whose lease expired with attempts left gets step.retry_scheduled, one
// with none left step.failed (then its task task.failed), each with the
// lease-expiry error. Subscribers heard only task.failed: the lost
// attempt and the step's retry went unannounced.
func TestRescueAnnouncesTheStepsItMoves(t *testing.T) {
	ctx := context.Background()
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "again", Steps: []engine.StepTemplate{{Name: "s", Handler: "h", RetryLimit: 2}}}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "once", Steps: []engine.StepTemplate{{Name: "s", Handler: "h", RetryLimit: 1}}}))
	again, err := env.Start(ctx, "t/again", nil)
	must(t, err)
	once, err := env.Start(ctx, "t/once", nil)
	must(t, err)
	// A worker that claims both steps and disappears.
	claimed, err := env.Store.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: "gone", Limit: 10, LeaseTTL: time.Minute, Handlers: []string{"h"}, Now: env.Clock.Now()})
	must(t, err)
	if len(claimed) != 2 {
		t.Fatalf("claimed %d steps, want 2", len(claimed))
	}
	events, stop := env.Subscribe(16)
	defer stop()
	env.Clock.Advance(2 * time.Minute)
	_, err = env.Rescue(ctx)
	must(t, err)
	var got []string
	for len(events) > 0 {
		ev := <-events
		if ev.Name != engine.EventTaskFailed && !strings.Contains(ev.Error, "lease expired") {
			t.Errorf("%s of task %d: error %q, want the lease's expiry", ev.Name, ev.TaskID, ev.Error)
		}
		got = append(got, fmt.Sprintf("%s %d %s #%d", ev.Name, ev.TaskID, ev.Step, ev.Attempt))
	}
	want := []string{ // the steps first, in the order they were created, then the tasks
		fmt.Sprintf("%s %d s #1", engine.EventStepRetryScheduled, again.TaskID),
		fmt.Sprintf("%s %d s #1", engine.EventStepFailed, once.TaskID),
		fmt.Sprintf("%s %d  #0", engine.EventTaskFailed, once.TaskID),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events of the rescue:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
