package store

import (
	"fmt"
	"slices"
)

// TaskState is the current state of a task (one workflow instance).
type TaskState string

// Task states.
const (
	TaskPending          TaskState = "pending"
	TaskInProgress       TaskState = "in_progress"
	TaskComplete         TaskState = "complete"
	TaskError            TaskState = "error"
	TaskCancelled        TaskState = "cancelled"
	TaskResolvedManually TaskState = "resolved_manually"
)

// TaskStates lists every task state in a stable order.
var TaskStates = []TaskState{TaskPending, TaskInProgress, TaskComplete, TaskError, TaskCancelled, TaskResolvedManually}

// Valid reports whether s is one of the six task states.
func (s TaskState) Valid() bool { _, ok := taskMoves[s]; return ok }

// Terminal reports whether no worker will touch a task in state s again
// without an operator acting on it.
func (s TaskState) Terminal() bool {
	return s == TaskComplete || s == TaskCancelled || s == TaskResolvedManually
}

// Done reports whether the task has finished, successfully or not: terminal
// states and error.
func (s TaskState) Done() bool { return s.Terminal() || s == TaskError }

// StepState is the current state of a step.
type StepState string

// Step states.
const (
	StepPending          StepState = "pending"
	StepInProgress       StepState = "in_progress"
	StepComplete         StepState = "complete"
	StepError            StepState = "error"
	StepCancelled        StepState = "cancelled"
	StepResolvedManually StepState = "resolved_manually"
)

// StepStates lists every step state in a stable order.
var StepStates = []StepState{StepPending, StepInProgress, StepComplete, StepError, StepCancelled, StepResolvedManually}

// Valid reports whether s is one of the six step states.
func (s StepState) Valid() bool { _, ok := stepMoves[s]; return ok }

// Satisfied reports whether a step in state s satisfies its dependants: it
// completed, or an operator resolved it.
func (s StepState) Satisfied() bool { return s == StepComplete || s == StepResolvedManually }

// taskMoves is the task state machine. complete → cancelled and
// resolved_manually → cancelled exist only for operators and need Force.
var taskMoves = map[TaskState][]TaskState{
	TaskPending:          {TaskInProgress, TaskCancelled, TaskError},
	TaskInProgress:       {TaskComplete, TaskError, TaskCancelled, TaskPending},
	TaskError:            {TaskPending, TaskResolvedManually},
	TaskComplete:         {},
	TaskCancelled:        {},
	TaskResolvedManually: {},
}

// forcedTaskMoves are refused unless an operator forces them.
var forcedTaskMoves = map[TaskState][]TaskState{
	TaskComplete:         {TaskCancelled},
	TaskResolvedManually: {TaskCancelled},
}

// stepMoves is the step state machine.
var stepMoves = map[StepState][]StepState{
	StepPending:          {StepInProgress, StepError, StepCancelled, StepResolvedManually},
	StepInProgress:       {StepComplete, StepError, StepCancelled, StepPending},
	StepError:            {StepPending, StepResolvedManually, StepCancelled},
	StepComplete:         {},
	StepCancelled:        {},
	StepResolvedManually: {},
}

// TransitionError is returned when a state change is not allowed. It names
// the object ("task" or "step"), its id, and the refused move.
type TransitionError struct {
	Object string
	ID     int64
	From   string
	To     string
	Reason string
}

func (e *TransitionError) Error() string {
	msg := fmt.Sprintf("%s %d: transition %s → %s refused", e.Object, e.ID, e.From, e.To)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Is makes errors.Is(err, ErrIllegalTransition) true for every TransitionError.
func (e *TransitionError) Is(target error) bool { return target == ErrIllegalTransition }

// CheckTaskTransition reports whether a task may move from one state to
// another. force allows the operator-only moves complete → cancelled and
// resolved_manually → cancelled. Guards that need the task's steps (→ complete
// only when every step is satisfied) are enforced by the Store.
func CheckTaskTransition(id int64, from, to TaskState, force bool) error {
	err := checkMove("task", id, from, to, taskMoves, forcedTaskMoves, force)
	if te, ok := err.(*TransitionError); ok && from == TaskError && to == TaskCancelled {
		// Force withdraws the other finished tasks; say what this one
		// takes instead.
		te.Reason = "a task in error is retried or its failed steps resolved, not cancelled (not even by force)"
	}
	return err
}

// CheckStepTransition reports whether a step may move from one state to
// another. Guards that need other rows (→ in_progress only when every
// dependency is satisfied) are enforced by the Store.
func CheckStepTransition(id int64, from, to StepState) error {
	return checkMove("step", id, from, to, stepMoves, nil, false)
}

// checkMove is the one rule both machines follow: known states, no move to
// the current state, and only the moves listed (forced ones with force).
func checkMove[S ~string](object string, id int64, from, to S, moves, forced map[S][]S, force bool) error {
	refuse := func(reason string) error {
		return &TransitionError{Object: object, ID: id, From: string(from), To: string(to), Reason: reason}
	}
	_, fromOK := moves[from]
	_, toOK := moves[to]
	switch {
	case !fromOK:
		return refuse("unknown from state")
	case !toOK:
		return refuse("unknown to state")
	case from == to:
		return refuse("already in that state")
	case slices.Contains(moves[from], to):
		return nil
	case slices.Contains(forced[from], to):
		if force {
			return nil
		}
		return refuse("only an operator may force it")
	}
	return refuse("not a legal move")
}
