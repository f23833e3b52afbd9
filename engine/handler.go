package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/store"
)

// Handler runs one attempt of a step. It returns a JSON-encodable result or
// an error (RetryableError, PermanentError, or any other error, which is
// retried under the step's policy).
type Handler interface {
	Handle(sc *StepContext) (any, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(sc *StepContext) (any, error)

// Handle calls f.
func (f HandlerFunc) Handle(sc *StepContext) (any, error) { return f(sc) }

// StepContext is what a handler gets: a context.Context that carries the
// step's deadline and is cancelled when the task is cancelled or the lease
// is lost, plus the step's inputs.
type StepContext struct {
	context.Context

	TaskID   int64
	StepID   int64
	Workflow string // "namespace/name"
	Step     string
	Handler  string
	// Attempt is 1 on the first run.
	Attempt int
	// IdempotencyKey is stable across attempts of this step (task id and
	// step name): pass it to the systems the handler calls so a retried
	// side effect happens once.
	IdempotencyKey string
	Logger         *zap.Logger

	input  store.JSON
	config store.JSON
	deps   map[string]store.JSON
}

// Input decodes the task's input into v.
func (sc *StepContext) Input(v any) error {
	if err := json.Unmarshal(sc.input, v); err != nil {
		return Permanent(fmt.Errorf("decoding input of step %s: %w", sc.Step, err))
	}
	return nil
}

// Config decodes the step's handler config into v (a no-op without config).
func (sc *StepContext) Config(v any) error {
	if len(sc.config) == 0 {
		return nil
	}
	if err := json.Unmarshal(sc.config, v); err != nil {
		return Permanent(fmt.Errorf("decoding config of step %s: %w", sc.Step, err))
	}
	return nil
}

// RawResult returns a dependency's raw JSON result.
func (sc *StepContext) RawResult(step string) (json.RawMessage, bool) {
	r, ok := sc.deps[step]
	return json.RawMessage(r), ok
}

// Dependencies lists the names of the steps this step depends on, sorted:
// the names RawResult and Result accept. A step without dependencies gets
// an empty list.
func (sc *StepContext) Dependencies() []string {
	out := make([]string, 0, len(sc.deps))
	for name := range sc.deps {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Result decodes the result of one of the step's dependencies.
func Result[T any](sc *StepContext, step string) (T, error) {
	var v T
	raw, ok := sc.deps[step]
	if !ok {
		return v, Permanent(fmt.Errorf("step %s has no dependency named %q", sc.Step, step))
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, Permanent(fmt.Errorf("decoding result of %s for step %s: %w", step, sc.Step, err))
	}
	return v, nil
}

// Registry maps handler names to handlers; safe for concurrent use.
type Registry struct {
	mu       sync.RWMutex
	handlers map[string]Handler
}

// Register adds or replaces a handler.
func (r *Registry) Register(name string, h Handler) error {
	if name == "" || h == nil {
		return fmt.Errorf("registering handler: name and handler are required")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.handlers == nil {
		r.handlers = map[string]Handler{}
	}
	r.handlers[name] = h
	return nil
}

// Lookup returns the handler registered under name.
func (r *Registry) Lookup(name string) (Handler, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	h, ok := r.handlers[name]
	return h, ok
}

// Names lists the registered handler names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.handlers))
	for n := range r.handlers {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
