package engine

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of the engine.
var (
	// ErrUnknownTemplate: Start named a template that was never registered.
	ErrUnknownTemplate = errors.New("tasker: unknown workflow template")
	// ErrInvalidTemplate: a template failed validation, or a workflow or
	// handler registration was refused (a nil handler, a name the store
	// would not accept); the error joins every problem (see TemplateError
	// and TemplateProblems).
	ErrInvalidTemplate = errors.New("tasker: invalid workflow template")
	// ErrInvalidInput: the input does not match the template's schema.
	ErrInvalidInput = errors.New("tasker: invalid workflow input")
	// ErrEventRefused: SendEvent named a task that will never read the
	// event (a DAG task, or a workflow that has finished).
	ErrEventRefused = errors.New("tasker: event refused")
	// ErrPayloadTooLarge: an input, event payload, update argument or
	// answer, query state or result is over Config.MaxPayloadBytes.
	ErrPayloadTooLarge = errors.New("tasker: payload too large")
	// ErrRefused: an operator action that would leave a task unable to
	// finish or its history at odds with its code (resolving the driver
	// step, DriverStep, or a durable step of a code-first workflow that has
	// not failed: once it is in error, resolving its driver closes it), or
	// could not do what it says (retrying a task past its
	// WithWorkflowTimeout; cancelling a run that continued as new).
	ErrRefused = errors.New("tasker: refused")
	// ErrCancelled: the task was cancelled (see TaskError).
	ErrCancelled = errors.New("tasker: task cancelled")
	// ErrRunning: Run (or RunOnce) was called while a Run is active, or
	// Run while a RunOnce is.
	ErrRunning = errors.New("tasker: engine is already running")
	// ErrDuplicate: a registration took a name already taken in this
	// engine: a handler registered twice, a template version registered
	// again with a different definition, a code-first workflow under a DAG
	// template's name or the reverse. Registering the same template
	// version again with the same definition is allowed and changes
	// nothing. The error names what was registered twice.
	ErrDuplicate = errors.New("tasker: already registered")
	// ErrTypeMismatch: StartWorkflow was called with input or result types
	// other than those the workflow was registered with; it refuses before
	// writing anything. WorkflowHandle.Result returns it for a DAG task
	// (GetWorkflow of a DAG task's id) and for a result type other than
	// the workflow's; Query and Update for a type the published state or
	// answer does not decode as. Inside a workflow, ContinueAsNew and Child refuse
	// such types with it, failing the workflow (its TaskError keeps the
	// message, not the sentinel).
	ErrTypeMismatch = errors.New("tasker: workflow type mismatch")
)

// RetryableError asks for another attempt. RetryAfter, when set, is the
// delay before it (an HTTP Retry-After, say): it replaces the step's
// backoff — shorter or longer than the policy would wait, Max included —
// bounded only by retry.MaxRequested (24 h). MaxRetries, when set, caps the
// retries this error allows below the step's own limit.
type RetryableError struct {
	// Err is the failure; its message is recorded as the step's error
	// (nil: the message says the handler gave no cause).
	Err error
	// RetryAfter, when positive, is the delay before the next attempt: at
	// least a millisecond (below, the step's backoff decides: see
	// Retryable).
	RetryAfter time.Duration
	// MaxRetries, when positive, fails the step (retries_exhausted) once
	// this many retries have been made. A negative one caps nothing, and
	// the recorded error says so.
	MaxRetries int
	// Context is recorded with the failure (StepError.Context).
	Context map[string]any
}

func (e *RetryableError) Error() string {
	if e.Err == nil {
		return "retryable error with no cause: the handler returned Retryable(nil, d) or a RetryableError without Err"
	}
	return e.Err.Error()
}

func (e *RetryableError) Unwrap() error { return e.Err }

// Retryable wraps err as a RetryableError retried after exactly after (0:
// the step's backoff decides). A delay under a millisecond, or negative
// (time.Until a reset already past), is left to the step's backoff too,
// and the recorded error says so: Retryable(err, 30) is 30 ns, not 30 s,
// and would retry at once.
//
// Retryable(nil, d) is still a failure (unlike pkg/errors' Wrap(nil),
// which is nil: a handler returning it meant the attempt to fail), and its
// recorded message says the handler gave no cause: pass the error that
// says why.
func Retryable(err error, after time.Duration) error {
	return &RetryableError{Err: err, RetryAfter: after}
}

// PermanentError stops a step at once: no further attempts, the step goes to
// error and its task fails.
type PermanentError struct {
	// Err is the failure; its message is recorded as the step's error
	// (nil: the message says the handler gave no cause).
	Err error
	// Code, when set, is recorded with the failure (StepError.Code) and
	// prefixes the message.
	Code string
	// Context is recorded with the failure (StepError.Context).
	Context map[string]any
}

func (e *PermanentError) Error() string {
	msg := "permanent error with no cause: the handler returned Permanent(nil) or a PermanentError without Err"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Code != "" {
		msg = e.Code + ": " + msg
	}
	return msg
}

func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
//
// Permanent(nil) is still a failure that stops the step (unlike
// pkg/errors' Wrap(nil), which is nil: a handler returning it meant the
// step to fail, and a nil would have completed it), and its recorded
// message says the handler gave no cause; so does a PermanentError with
// no Err. Pass the error that says why.
func Permanent(err error) error { return &PermanentError{Err: err} }

// PanicError is what a handler's panic becomes: the step fails (retryably)
// and the worker lives on. A panic is a bug of the binary, not a failure of
// the step's DependentSystem: its breaker does not count it.
type PanicError struct {
	Value any    // what the handler panicked with
	Stack string // the goroutine's stack at the panic
}

func (e *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.Value) }
