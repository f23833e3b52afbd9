package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/store"
)

// StepContextParams describe the step a StepContext is built for (see
// NewStepContext). Zero fields get the defaults named on each.
type StepContextParams struct {
	TaskID   int64  // not negative (0: none)
	StepID   int64  // not negative (0: none)
	Workflow string // "namespace/name"
	Step     string
	Handler  string
	// Attempt is the attempt number (default 1; a negative one is
	// refused).
	Attempt int
	// Skippable is what StepContext.Skippable reports: whether the step
	// may end with Skip (StepTemplate.Skippable).
	Skippable bool
	// IdempotencyKey defaults to the key the engine derives: "<task id>:<step>".
	IdempotencyKey string
	// Logger defaults to a no-op logger.
	Logger *zap.Logger
	// Input is the task's input as JSON (what StepContext.Input decodes):
	// a JSON object, as every task's is (default {}, the input of a task
	// started with none).
	Input json.RawMessage
	// Config is the step's handler config as JSON (StepContext.Config).
	Config json.RawMessage
	// Deps are the dependencies' results as JSON, by step name: their names
	// are what Dependencies lists; a nil result is a dependency that
	// returned nothing (resolved without results, say).
	Deps map[string]json.RawMessage
}

// NewStepContext builds the StepContext a handler receives, outside of a
// running engine: it is for tests and tools (testkit.RunStep uses it) that
// call a Handler directly. ctx supplies the deadline and cancellation the
// handler sees. The engine builds its own StepContexts from claimed steps.
// A negative Attempt, TaskID or StepID (no run has one) is refused
// (store.ErrInvalid), naming each, and so are a Workflow that is not
// "namespace/name", an Input that is not a JSON object and a Config or
// dependency result that is not JSON: no claimed
// step carries one, and the handler would fail decoding it, far from the
// mistake, or be tested on an input no task has.
func NewStepContext(ctx context.Context, p StepContextParams) (*StepContext, error) {
	var errs []error
	if len(p.Input) == 0 {
		p.Input = json.RawMessage("{}")
	} else if !json.Valid(p.Input) {
		errs = append(errs, fmt.Errorf("%w: StepContextParams.Input is not valid JSON: %.60q", store.ErrInvalid, p.Input))
	} else if !isJSONObject(p.Input) {
		errs = append(errs, fmt.Errorf("%w: StepContextParams.Input is %.60s, not a JSON object (a task's input is one: Start refuses any other)", store.ErrInvalid, p.Input))
	}
	if len(p.Config) > 0 && !json.Valid(p.Config) {
		errs = append(errs, fmt.Errorf("%w: StepContextParams.Config is not valid JSON: %.60q", store.ErrInvalid, p.Config))
	}
	for _, name := range slices.Sorted(maps.Keys(p.Deps)) {
		if raw := p.Deps[name]; len(raw) > 0 && !json.Valid(raw) {
			errs = append(errs, fmt.Errorf("%w: StepContextParams.Deps[%q] is not valid JSON: %.60q", store.ErrInvalid, name, raw))
		}
	}
	if ns, name, ok := strings.Cut(p.Workflow, "/"); p.Workflow != "" && (!ok || ns == "" || name == "" || strings.ContainsAny(name, "/@") || strings.Contains(ns, "@")) {
		// The engine's StepContext.Workflow is always the task's
		// "namespace/name", no version: a handler that splits it would be
		// tested on a value it never sees.
		errs = append(errs, fmt.Errorf("%w: StepContextParams.Workflow %q is not \"namespace/name\" (no version: the engine passes the task's namespace and name)", store.ErrInvalid, p.Workflow))
	}
	if p.Attempt < 0 {
		errs = append(errs, fmt.Errorf("%w: StepContextParams.Attempt must be at least 1 (0 means 1), got %d", store.ErrInvalid, p.Attempt))
	}
	if p.TaskID < 0 {
		errs = append(errs, fmt.Errorf("%w: StepContextParams.TaskID must not be negative, got %d", store.ErrInvalid, p.TaskID))
	}
	if p.StepID < 0 {
		errs = append(errs, fmt.Errorf("%w: StepContextParams.StepID must not be negative, got %d", store.ErrInvalid, p.StepID))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if p.Attempt == 0 {
		p.Attempt = 1
	}
	if p.IdempotencyKey == "" {
		p.IdempotencyKey = stepKey(p.TaskID, p.Step)
	}
	if p.Logger == nil {
		p.Logger = zap.NewNop()
	}
	deps := make(map[string]store.JSON, len(p.Deps))
	for name, raw := range p.Deps {
		deps[name] = store.JSON(raw)
	}
	return &StepContext{Context: ctx, TaskID: p.TaskID, StepID: p.StepID, Workflow: p.Workflow, Step: p.Step, Handler: p.Handler,
		Attempt: p.Attempt, IdempotencyKey: p.IdempotencyKey, Logger: p.Logger, skippable: p.Skippable,
		input: store.JSON(p.Input), config: store.JSON(p.Config), deps: deps}, nil
}

// isJSONObject reports whether doc, valid JSON, is an object: what a
// task's input is (Start refuses any other).
func isJSONObject(doc []byte) bool {
	for _, b := range doc {
		switch b {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return b == '{'
	}
	return false
}
