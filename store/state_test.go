package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/store"
)

func TestTaskTransitions(t *testing.T) {
	legal := map[[2]store.TaskState]bool{}
	for _, m := range [][2]store.TaskState{
		{store.TaskPending, store.TaskInProgress}, {store.TaskPending, store.TaskCancelled}, {store.TaskPending, store.TaskError},
		{store.TaskInProgress, store.TaskComplete}, {store.TaskInProgress, store.TaskError}, {store.TaskInProgress, store.TaskCancelled}, {store.TaskInProgress, store.TaskPending},
		{store.TaskError, store.TaskPending}, {store.TaskError, store.TaskResolvedManually},
	} {
		legal[m] = true
	}
	forced := map[[2]store.TaskState]bool{{store.TaskComplete, store.TaskCancelled}: true, {store.TaskResolvedManually, store.TaskCancelled}: true}
	for _, from := range store.TaskStates {
		for _, to := range store.TaskStates {
			move := [2]store.TaskState{from, to}
			err := store.CheckTaskTransition(7, from, to, false)
			if legal[move] != (err == nil) {
				t.Errorf("%s → %s: err = %v, legal = %v", from, to, err, legal[move])
			}
			if err != nil {
				if !errors.Is(err, store.ErrIllegalTransition) || !strings.Contains(err.Error(), "task 7") ||
					!strings.Contains(err.Error(), string(from)) || !strings.Contains(err.Error(), string(to)) {
					t.Errorf("error %q must name the task, its id and both states", err)
				}
			}
			if forcedErr := store.CheckTaskTransition(7, from, to, true); (legal[move] || forced[move]) != (forcedErr == nil) {
				t.Errorf("forced %s → %s: err = %v", from, to, forcedErr)
			}
		}
	}
	if err := store.CheckTaskTransition(1, "bogus", store.TaskPending, true); err == nil {
		t.Error("unknown state accepted")
	}
}

func TestStepTransitions(t *testing.T) {
	legal := map[[2]store.StepState]bool{}
	for _, m := range [][2]store.StepState{
		{store.StepPending, store.StepInProgress}, {store.StepPending, store.StepError}, {store.StepPending, store.StepCancelled}, {store.StepPending, store.StepResolvedManually},
		{store.StepInProgress, store.StepComplete}, {store.StepInProgress, store.StepError}, {store.StepInProgress, store.StepCancelled}, {store.StepInProgress, store.StepPending},
		{store.StepError, store.StepPending}, {store.StepError, store.StepResolvedManually}, {store.StepError, store.StepCancelled},
	} {
		legal[m] = true
	}
	for _, from := range store.StepStates {
		for _, to := range store.StepStates {
			err := store.CheckStepTransition(9, from, to)
			if legal[[2]store.StepState{from, to}] != (err == nil) {
				t.Errorf("%s → %s: err = %v", from, to, err)
			}
			if from == to && (err == nil || !strings.Contains(err.Error(), "already")) {
				t.Errorf("move to the current state %s: err = %v", from, err)
			}
		}
	}
}

func TestFindCycle(t *testing.T) {
	steps := []store.NewStep{{Name: "a", DependsOn: []string{"c"}}, {Name: "b", DependsOn: []string{"a"}}, {Name: "c", DependsOn: []string{"b"}}, {Name: "d"}}
	if got := strings.Join(store.FindCycle(steps), " "); got != "a c b a" {
		t.Fatalf("cycle = %q", got)
	}
	if c := store.FindCycle([]store.NewStep{{Name: "a"}, {Name: "b", DependsOn: []string{"a"}}}); c != nil {
		t.Fatalf("acyclic graph reported cycle %v", c)
	}
}

// FindCycles names every cycle, a step on itself among them; a name no
// step has is no step of one.
func TestFindCycles(t *testing.T) {
	steps := []store.NewStep{
		{Name: "a", DependsOn: []string{"a", "b"}}, {Name: "b", DependsOn: []string{"a", "ghost"}},
		{Name: "c", DependsOn: []string{"d"}}, {Name: "d", DependsOn: []string{"c"}},
	}
	var got []string
	for _, c := range store.FindCycles(steps) {
		got = append(got, strings.Join(c, " "))
	}
	if want := "a a|a b a|c d c"; strings.Join(got, "|") != want {
		t.Fatalf("cycles = %q, want %q", strings.Join(got, "|"), want)
	}
}
