package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/store"
)

// Replay runs a workflow task's function against its recorded history with
// the code registered now, executing nothing new: it returns a
// *NonDeterminismError (errors.Is ErrNonDeterministic) when the code
// diverges from the history (it calls another operation, or it returns,
// with an error or without, where the history goes on), a *VersionError (errors.Is
// ErrVersionUnsupported) when the history's version of a change is one the
// code no longer supports (see Version), and nil when the history is a
// valid prefix of what the code does. Code that would fail the workflow
// where its history goes on — a step's recorded result or the input that no
// longer decodes as the type the code now asks for, an operation it
// refuses — is an error too (the failure, wrapped). Use it before deploying
// changed workflow code; ReplayHistory does the same for a history saved as
// JSON.
func (e *Engine) Replay(ctx context.Context, taskID int64) error {
	h, err := e.WorkflowHistory(ctx, taskID)
	if err != nil {
		return fmt.Errorf("replaying task %d: %w", taskID, err)
	}
	return e.ReplayHistory(ctx, h)
}

// WorkflowHistory is a code-first task's recorded history, self-contained:
// save it as JSON (from production, or from a test of the current code) and
// replay it against new code with ReplayHistory, in CI before a deploy.
type WorkflowHistory struct {
	TaskID   int64           `json:"task_id"`
	Workflow string          `json:"workflow"` // "namespace/name"
	Input    json.RawMessage `json:"input"`    // the task's input document
	Steps    []HistoryStep   `json:"steps"`    // in sequence order
}

// HistoryStep is one recorded durable operation.
type HistoryStep struct {
	Sequence int             `json:"sequence"`
	Name     string          `json:"name"` // as the code gave it
	Kind     string          `json:"kind"` // step, sleep, event, child, version, timer, select
	State    store.StepState `json:"state"`
	Attempts int             `json:"attempts,omitempty"`
	Results  json.RawMessage `json:"results,omitempty"`
	Error    json.RawMessage `json:"error,omitempty"`
}

// WorkflowHistory reads a code-first task's history.
func (e *Engine) WorkflowHistory(ctx context.Context, taskID int64) (*WorkflowHistory, error) {
	if err := checkTaskID(taskID); err != nil {
		return nil, fmt.Errorf("reading the history of task %d: %w", taskID, err)
	}
	d, err := e.st.GetWorkflowHistory(ctx, taskID)
	if err != nil {
		return nil, fmt.Errorf("reading the history of task %d: %w", taskID, err)
	}
	driver := d.Step(DriverStep)
	if d.Task.Kind != store.KindCode || driver == nil {
		return nil, fmt.Errorf("reading the history of task %d: %w: not a code-first workflow", taskID, store.ErrInvalid)
	}
	input, err := e.decode(d.Task.Context) // a history is kept as JSON (testdata files)
	if err == nil {
		err = e.decodeAll(d.Steps)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the history of task %d: %w", taskID, err)
	}
	h := &WorkflowHistory{TaskID: taskID, Workflow: strings.TrimPrefix(driver.Handler, WorkflowHandlerPrefix), Input: json.RawMessage(input)}
	for _, s := range d.Steps {
		if s.Sequence == nil {
			continue
		}
		h.Steps = append(h.Steps, HistoryStep{Sequence: *s.Sequence, Name: s.UserName(), Kind: strings.TrimPrefix(s.Handler, "workflow."),
			State: s.State, Attempts: s.Attempts, Results: json.RawMessage(s.Results), Error: json.RawMessage(s.LastError)})
	}
	slices.SortFunc(h.Steps, func(a, b HistoryStep) int { return a.Sequence - b.Sequence })
	return h, nil
}

// historyKinds are the kinds of a history's steps (HistoryStep.Kind).
var historyKinds = []string{"step", "sleep", "event", "child", "version", "timer", "select"}

// ReplayHistory is Replay for a saved history: it needs no database row of
// the task, only the workflow registered on e. A nil history is refused
// (store.ErrInvalid), and so is a step with no name, or a kind, a state or
// a sequence no history holds, naming it.
func (e *Engine) ReplayHistory(ctx context.Context, h *WorkflowHistory) error {
	if h == nil {
		return fmt.Errorf("replaying a workflow history: %w: the history is nil", store.ErrInvalid)
	}
	def, ok := e.workflowDef(h.Workflow)
	if !ok {
		return fmt.Errorf("replaying task %d: %w: %q", h.TaskID, ErrUnknownWorkflow, h.Workflow)
	}
	wctx := &WorkflowContext{Context: ctx, TaskID: h.TaskID, Workflow: h.Workflow, e: e, replay: true, history: map[int]*store.Step{}}
	wctx.Logger = e.log.With(zap.Int64("task_id", h.TaskID), zap.String("workflow", h.Workflow), zap.Bool("replay", true))
	for _, s := range h.Steps {
		// A step read otherwise than it was written (a hand-edited file)
		// would be reported as non-determinism in contradictory words, or
		// end the replay there as an unfinished step does.
		var problem string
		switch {
		case s.Sequence < 1 || wctx.history[s.Sequence] != nil:
			return fmt.Errorf("replaying task %d: %w: sequence %d is missing or repeated", h.TaskID, store.ErrInvalid, s.Sequence)
		case !slices.Contains(historyKinds, s.Kind):
			problem = fmt.Sprintf("kind %q is none a history holds (%s)", s.Kind, strings.Join(historyKinds, ", "))
		case !s.State.Valid():
			problem = fmt.Sprintf("state %q is not a step's", s.State)
		case s.Name == "":
			problem = "the name is empty"
		}
		if problem != "" {
			return fmt.Errorf("replaying task %d: %w: sequence %d: %s", h.TaskID, store.ErrInvalid, s.Sequence, problem)
		}
		seq := s.Sequence
		wctx.history[seq] = &store.Step{TaskID: h.TaskID, Name: store.DurableStepName(s.Name, seq), Handler: "workflow." + s.Kind, Sequence: &seq,
			State: s.State, Attempts: s.Attempts, Results: store.JSON(s.Results), LastError: store.JSON(s.Error)}
		wctx.last = max(wctx.last, seq)
	}
	_, ferr := runWorkflowFn(wctx, def, store.JSON(h.Input))
	wctx.wg.Wait()
	wctx.mu.Lock()
	defer wctx.mu.Unlock()
	var nd *NonDeterminismError
	var ve *VersionError
	switch {
	case errors.As(wctx.fail, &nd):
		return nd
	case errors.As(wctx.fail, &ve):
		return ve
	case wctx.fail != nil:
		// The code fails the workflow where the history goes on: it no
		// longer reads what was recorded (a step's result or the input
		// decoded as another type) or misuses an operation. A resumed
		// workflow would fail the same way.
		return fmt.Errorf("replaying task %d: the code fails the workflow: %w", h.TaskID, wctx.fail)
	case wctx.stop != nil:
		return nil // the history ends here; the code went on consistently
	case ferr != nil && ctx.Err() != nil:
		// The code gave up as the replay's context ended: no verdict.
		return fmt.Errorf("replaying task %d: %w", h.TaskID, context.Cause(ctx))
	case wctx.last > wctx.seq:
		// The code returned, with or without an error, where the history
		// goes on: the recorded run did not stop there.
		next, rec := wctx.nextRecorded()
		name, kind := recordedName(rec)
		nd := &NonDeterminismError{TaskID: h.TaskID, Sequence: next, Recorded: describe(name, kind)}
		if ferr != nil {
			return fmt.Errorf("%w (it returned the error: %v)", nd, ferr)
		}
		return nd
	}
	return nil
}
