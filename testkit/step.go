package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// StepOptions describe the step RunStep runs a handler as. Every field is
// optional.
type StepOptions struct {
	Workflow string // "namespace/name", no version (default "test/workflow")
	Step     string // the step's name (default "step")
	Handler  string // the handler's registered name (default: Step)
	TaskID   int64  // default 1
	StepID   int64  // default 1
	// Attempt is the attempt number the handler sees (default 1).
	Attempt int
	// Skippable is what StepContext.Skippable reports to the handler, as
	// a template step's Skippable would (default false).
	Skippable bool
	// IdempotencyKey defaults to the key the engine would give the step:
	// "<task id>:<step>".
	IdempotencyKey string
	// Config is the step's handler config (what StepContext.Config
	// decodes), encoded to JSON.
	Config any
	// Timeout sets the step's deadline, as a template's Timeout does
	// (default: none; otherwise at least a millisecond).
	Timeout time.Duration
	// Context is the parent of the handler's context (default: t.Context(),
	// which ends with the test).
	Context context.Context
	// Logger is the handler's logger (default: one that writes to the
	// test's log), given the task, step, attempt and key fields the engine
	// adds.
	Logger *zap.Logger
}

// StepResult is what a handler returned, as RunStep saw it.
type StepResult struct {
	// Value is the handler's result as returned.
	Value any
	// JSON is Value encoded as the engine would record it (nil when the
	// handler failed).
	JSON json.RawMessage
	// Context is the StepContext the handler ran with.
	Context *engine.StepContext
}

// Decode decodes the recorded result into v, as a dependant's
// engine.Result would: a handler that returned nil (or a nil pointer),
// recorded as null, gave it no result, and that is an error.
func (r *StepResult) Decode(v any) error {
	switch {
	case r.JSON == nil:
		return fmt.Errorf("step %s recorded no result", r.Context.Step)
	case string(r.JSON) == "null":
		// (json would decode null into a zero v: a test would pass on a
		// result the workflow's next step fails on)
		return fmt.Errorf("step %s returned no result (nil, recorded as null): a dependant's engine.Result fails on it", r.Context.Step)
	}
	return json.Unmarshal(r.JSON, v)
}

// RunStep runs one attempt of a handler, outside of any workflow, with a
// real *engine.StepContext: input is the task's input, deps the results of
// the step's dependencies by step name (what engine.Result and
// StepContext.Dependencies see); each is encoded to JSON as the engine
// would store it (a json.RawMessage or []byte is taken as it is; a nil dep
// is a dependency without a result). It runs the handler in the calling
// goroutine and returns its error as the engine would see it: a panic
// becomes an *engine.PanicError with its stack; a result that cannot be
// encoded (its MarshalJSON panicking included) or holds a NUL character,
// which the store refuses, a typed nil error (a nil *MyError returned as
// error), and an engine.Skip from a step that is not Skippable, a
// permanent error. The result is returned even with an error.
//
// Encoding input, deps or config failing fails the test, and so do an
// input that is not a JSON object (a task's input is one: Start refuses
// any other), a nil handler, a json.RawMessage or []byte that is not valid
// JSON, a negative StepOptions number, a Timeout under a millisecond (a
// bare number is nanoseconds), a Workflow that is not "namespace/name",
// and a Workflow, Step or Handler with spaces around a name (a template
// refuses them). RunStep is the unit test of a step; NewEngine runs whole
// workflows.
//
//	res, err := testkit.RunStep(t, charge, map[string]int{"order_id": 42},
//		map[string]any{"validate": Cart{Total: 10}}, nil)
func RunStep(t testing.TB, h engine.Handler, input any, deps map[string]any, opts *StepOptions) (*StepResult, error) {
	t.Helper()
	var o StepOptions
	if opts != nil {
		o = *opts
	}
	if h == nil {
		t.Fatalf("testkit: RunStep: the handler is nil")
	}
	if o.Attempt < 0 || o.TaskID < 0 || o.StepID < 0 || o.Timeout < 0 {
		t.Fatalf("testkit: RunStep: StepOptions.Attempt, TaskID, StepID and Timeout must not be negative, got %d, %d, %d and %s", o.Attempt, o.TaskID, o.StepID, o.Timeout)
	}
	if o.Timeout > 0 && o.Timeout < time.Millisecond { // as a template step's Timeout
		t.Fatalf("testkit: RunStep: StepOptions.Timeout %s is under a millisecond: a bare number is nanoseconds (write 30 * time.Second, not 30)", o.Timeout)
	}
	if o.Workflow == "" {
		o.Workflow = "test/workflow"
	} else if ns, name, ok := strings.Cut(o.Workflow, "/"); !ok || ns == "" || name == "" || strings.ContainsAny(name, "/@") || strings.Contains(ns, "@") {
		// The engine's StepContext.Workflow is always the task's
		// "namespace/name" (no version): a handler that splits it
		// would be tested on a value it never sees.
		t.Fatalf("testkit: RunStep: StepOptions.Workflow %q is not \"namespace/name\" (no version: the engine passes the task's namespace and name)", o.Workflow)
	} else if trimmed := strings.TrimSpace(ns) + "/" + strings.TrimSpace(name); trimmed != o.Workflow {
		// A template refuses such a namespace or name, so no run
		// passes one.
		t.Fatalf("testkit: RunStep: StepOptions.Workflow %q has spaces around its namespace or name (a template refuses them): write %q", o.Workflow, trimmed)
	}
	for _, f := range []struct{ field, v string }{{"Step", o.Step}, {"Handler", o.Handler}} {
		// As Workflow's: the handler would see a name no run has.
		switch trimmed := strings.TrimSpace(f.v); {
		case trimmed == "" && f.v != "":
			t.Fatalf("testkit: RunStep: StepOptions.%s %q is blank (a template refuses such a name): leave it empty for the default", f.field, f.v)
		case trimmed != f.v:
			t.Fatalf("testkit: RunStep: StepOptions.%s %q has spaces around it (a template refuses such a name): write %q", f.field, f.v, trimmed)
		}
	}
	if o.Step == "" {
		o.Step = "step"
	}
	if o.Handler == "" {
		o.Handler = o.Step
	}
	if o.TaskID == 0 {
		o.TaskID = 1
	}
	if o.StepID == 0 {
		o.StepID = 1
	}
	if o.Attempt == 0 {
		o.Attempt = 1
	}
	ctx := o.Context
	if ctx == nil {
		ctx = t.Context()
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	log := o.Logger
	if log == nil {
		log = zaptest.NewLogger(t)
	}
	in := encode(t, "input", input, []byte("{}"))
	if !strings.HasPrefix(strings.TrimLeft(string(in), " \t\r\n"), "{") {
		// The engine's StepContext always carries one: a handler tested on
		// anything else is tested on an input no task has.
		t.Fatalf("testkit: RunStep: the input is %.60s, not a JSON object: a task's input is one (Start refuses any other)", in)
	}
	p := engine.StepContextParams{TaskID: o.TaskID, StepID: o.StepID, Workflow: o.Workflow, Step: o.Step, Handler: o.Handler,
		Attempt: o.Attempt, Skippable: o.Skippable, IdempotencyKey: o.IdempotencyKey, // NewStepContext derives the engine's key when empty
		Input: in, Deps: make(map[string]json.RawMessage, len(deps))}
	if o.Config != nil {
		p.Config = encode(t, "config", o.Config, nil)
	}
	for name, v := range deps {
		p.Deps[name] = encode(t, "result of dependency "+name, v, nil)
	}
	sc, err := engine.NewStepContext(ctx, p)
	if err != nil {
		t.Fatalf("testkit: RunStep: %v", err)
	}
	sc.Logger = log.With(zap.Int64("task_id", o.TaskID), zap.String("step", o.Step), zap.Int("attempt", o.Attempt), zap.String("idempotency_key", sc.IdempotencyKey))

	res := &StepResult{Context: sc}
	res.Value, err = callHandler(h, sc)
	if v := reflect.ValueOf(err); err != nil && v.Kind() == reflect.Pointer && v.IsNil() {
		// As the engine fails it: the test would get an error whose
		// Error method dereferences nil.
		err = engine.Permanent(fmt.Errorf("the function returned a nil %T as its error: a non-nil error holding a nil pointer (a typed nil); return a plain nil for a success", err))
	}
	var skip *engine.SkipError
	if errors.As(err, &skip) && !o.Skippable {
		// As the engine fails it: a test that saw engine.Skip would pass
		// where the workflow's step fails for good.
		return res, engine.Permanent(fmt.Errorf("step %s returned engine.Skip (%s) but is not skippable: set Skippable on its template step", o.Step, skip.Reason))
	}
	if err != nil {
		return res, err
	}
	doc, merr := marshal(res.Value)
	if merr == nil {
		merr = store.UnstorableEscape(doc) // as the engine refuses it
	}
	if merr != nil {
		return res, engine.Permanent(fmt.Errorf("encoding result of step %s: %w", o.Step, merr))
	}
	res.JSON = doc
	return res, nil
}

// RunStepAs is RunStep with the result decoded into a T, as a dependant's
// engine.Result[T] would decode it (a nil result is an error, see
// StepResult.Decode).
//
//	got, err := testkit.RunStepAs[Receipt](t, charge, input, nil, nil)
func RunStepAs[T any](t testing.TB, h engine.Handler, input any, deps map[string]any, opts *StepOptions) (T, error) {
	t.Helper()
	var v T
	res, err := RunStep(t, h, input, deps, opts)
	if err != nil {
		return v, err
	}
	if err := res.Decode(&v); err != nil {
		if string(res.JSON) == "null" {
			return v, err // (not a decoding failure: there is nothing to decode)
		}
		return v, fmt.Errorf("decoding result of step %s as %T: %w", res.Context.Step, v, err)
	}
	return v, nil
}

func encode(t testing.TB, what string, v any, ifNil []byte) json.RawMessage {
	t.Helper()
	switch v := v.(type) {
	case nil:
		return ifNil
	case json.RawMessage:
		return validJSON(t, what, v)
	case []byte:
		return validJSON(t, what, v)
	}
	doc, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("testkit: encoding %s: %v", what, err)
	}
	return doc
}

// validJSON takes raw as it is, so it must be the JSON the engine would
// have stored: the handler decoding it would fail on anything else, far
// from the test's mistake.
func validJSON(t testing.TB, what string, raw []byte) json.RawMessage {
	t.Helper()
	if !json.Valid(raw) {
		t.Fatalf("testkit: %s is not valid JSON: %q", what, raw)
	}
	return raw
}

// marshal is json.Marshal with a panicking MarshalJSON the result's
// failure, as the engine records it (not a panic out of RunStep).
func marshal(v any) (doc []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, fmt.Errorf("its MarshalJSON panicked: %v", r)
		}
	}()
	return json.Marshal(v)
}

// callHandler runs h as the engine does: a panic is an *engine.PanicError.
func callHandler(h engine.Handler, sc *engine.StepContext) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &engine.PanicError{Value: r, Stack: string(debug.Stack())}
		}
	}()
	return h.Handle(sc)
}
