package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/store"
)

// Handler runs one attempt of a step. It returns a JSON-encodable result or
// an error (RetryableError, PermanentError, or any other error, which is
// retried under the step's policy). A result holding a NUL character
// (which the store refuses) fails the step with a permanent error saying
// so; a NUL in an error's message is recorded as U+FFFD.
type Handler interface {
	// Handle runs the attempt sc describes and returns its result.
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

	TaskID   int64  // the step's task
	StepID   int64  // the step's row
	Workflow string // "namespace/name"
	Step     string // the step's name in its template
	Handler  string // the handler name the step was claimed for
	// Attempt is 1 on the first run.
	Attempt int
	// IdempotencyKey is stable across attempts of this step (task id and
	// step name): pass it to the systems the handler calls so a retried
	// side effect happens once.
	IdempotencyKey string
	// Logger carries the task, step, attempt and idempotency key on
	// every line.
	Logger *zap.Logger

	input     store.JSON
	config    store.JSON
	deps      map[string]store.JSON
	skippable bool
	// firstRun is the step's task when this is the step's first claim
	// (see execute): a code-first driver then has no history to read.
	firstRun *store.Task
	// records, set by a code-first driver, are durable step records it
	// held back to commit with its outcome (see recordCompleted).
	records []*store.RecordStepParams
	// storeSkew is the store's clock minus the engine's when the step was
	// claimed (zero when the engine hands the store its own time): the
	// lease expiry the database wrote, less the lease TTL, less the
	// engine's reading taken after. The step's wait in the dispatcher
	// makes it an underestimate, so a due time read through it is never
	// early.
	storeSkew time.Duration
	// deadline is the task's WithWorkflowTimeout by the store's clock
	// (store.Task.DeadlineAt; zero: none, or a task started before it).
	deadline time.Time
}

// Skippable reports whether the step may end with Skip.
func (sc *StepContext) Skippable() bool { return sc.skippable }

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

// RawResult returns a dependency's raw JSON result; ok is false for a step
// that is not a dependency or that has no result: it was skipped, its
// handler returned nil, or an operator resolved it without results.
func (sc *StepContext) RawResult(step string) (json.RawMessage, bool) {
	r, ok := sc.deps[step]
	if !ok || len(r) == 0 || string(r) == "null" {
		return nil, false
	}
	return json.RawMessage(r), true
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

// Result decodes the result of one of the step's dependencies. A
// dependency without a result (see RawResult) is a permanent error saying
// so.
func Result[T any](sc *StepContext, step string) (T, error) {
	var v T
	raw, ok := sc.deps[step]
	if !ok {
		return v, Permanent(fmt.Errorf("step %s has no dependency named %q", sc.Step, step))
	}
	if len(raw) == 0 || string(raw) == "null" {
		return v, Permanent(fmt.Errorf("step %s: dependency %q has no result: it was skipped, returned nil or was resolved without results (check sc.RawResult first)", sc.Step, step))
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, Permanent(fmt.Errorf("decoding result of %s for step %s: %w", step, sc.Step, err))
	}
	return v, nil
}

// registry maps handler names to handlers; safe for concurrent use. It is
// the engine's own (Handle and HandleFunc add to it).
type registry struct {
	mu       sync.RWMutex
	handlers map[string]Handler
	names    []string // sorted; replaced, never changed in place (claims read it)
}

// Register adds a handler under name. It refuses (errors.Is
// ErrInvalidTemplate) a nil handler, a name the store would not accept
// (empty, over store.MaxNameLen bytes, a NUL byte, not UTF-8), one with
// spaces around it and names starting with WorkflowHandlerPrefix, which
// code-first workflows use; and (errors.Is ErrDuplicate) a name registered
// before: a handler is never silently replaced.
func (r *registry) Register(name string, h Handler) error {
	if strings.HasPrefix(name, WorkflowHandlerPrefix) {
		return &TemplateError{Msg: fmt.Sprintf("registering handler %s: names starting with %q are reserved for code-first workflows", quoteName(name), WorkflowHandlerPrefix)}
	}
	return r.add(name, h)
}

// add is Register without the reserved prefix.
func (r *registry) add(name string, h Handler) error {
	if msg := checkName("handler name", name); msg != "" {
		return &TemplateError{Msg: "registering a handler: " + msg}
	}
	if isNil(h) {
		return &TemplateError{Msg: fmt.Sprintf("registering handler %s: the handler is nil", quoteName(name))}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.handlers == nil {
		r.handlers = map[string]Handler{}
	}
	if _, dup := r.handlers[name]; dup {
		return fmt.Errorf("registering handler %s: %w", quoteName(name), ErrDuplicate)
	}
	r.handlers[name] = h
	names := append(slices.Clone(r.names), name)
	slices.Sort(names)
	r.names = names
	return nil
}

// isNil reports a nil handler, including a nil function or pointer in a
// non-nil interface (HandleFunc(name, nil)).
func isNil(h Handler) bool {
	if h == nil {
		return true
	}
	switch v := reflect.ValueOf(h); v.Kind() {
	case reflect.Func, reflect.Pointer, reflect.Map, reflect.Slice, reflect.Chan, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// Lookup returns the handler registered under name.
func (r *registry) Lookup(name string) (Handler, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	h, ok := r.handlers[name]
	return h, ok
}

// Names lists the registered handler names, sorted. The slice is shared:
// callers must not change it.
func (r *registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.names
}
