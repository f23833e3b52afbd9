package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tasker-go/tasker/engine/internal/errclass"
	"github.com/tasker-go/tasker/engine/internal/predict"
	"github.com/tasker-go/tasker/store"
)

// Kinds of failure, as StepError.Kind reports them.
const (
	KindError           = "error"               // any other error: retried under the policy
	KindRetryable       = "retryable"           // a RetryableError
	KindPermanent       = "permanent"           // a PermanentError (or a refusal of the engine's)
	KindExhausted       = "retries_exhausted"   // a RetryableError past its MaxRetries
	KindPanic           = "panic"               // the handler panicked (Stack is set)
	KindTimeout         = "timeout"             // the attempt's own timeout passed
	KindWorkflowTimeout = "workflow_timeout"    // the task's WithWorkflowTimeout passed
	KindNonDeterminism  = "non_deterministic"   // a code-first replay left its history
	KindPayloadTooLarge = "payload_too_large"   // a result over Config.MaxPayloadBytes
	KindVersion         = "version_unsupported" // a code-first history's Version outside what the code supports
)

// StepError is a step's failure as the database records it, so it reads
// the same in every process: the step (for code-first workflows, the
// durable step and its sequence), the attempt, the kind, the code and
// message the handler gave. errors.Is(err, ErrStepFailed) holds for every
// StepError; ErrWorkflowTimeout, ErrNonDeterministic,
// ErrVersionUnsupported and ErrPayloadTooLarge hold for those kinds.
type StepError struct {
	Step     string
	Sequence int // code-first durable steps: the step's sequence number
	Attempt  int
	Kind     string
	Code     string
	Message  string
	Stack    string         // a panic's stack
	Context  map[string]any // PermanentError/RetryableError context
	// Diagnosis is what the engine made of the failure (nil on failures
	// recorded before diagnostics existed).
	Diagnosis *Diagnosis
	// Backoff is how the predictive retry chose the delay before the next
	// attempt (nil when the retry was not predicted).
	Backoff *BackoffDecision
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("step %s failed (attempt %d, %s)", e.Step, e.Attempt, e.Kind)
	if e.Code != "" && !strings.HasPrefix(e.Message, e.Code+": ") {
		// (A PermanentError's message starts with its code already.)
		msg += " " + e.Code
	}
	return msg + ": " + e.Message
}

// Is matches ErrStepFailed, and ErrWorkflowTimeout, ErrNonDeterministic,
// ErrVersionUnsupported or ErrPayloadTooLarge by kind.
func (e *StepError) Is(target error) bool {
	switch target {
	case ErrStepFailed:
		return true
	case ErrWorkflowTimeout:
		return e.Kind == KindWorkflowTimeout
	case ErrNonDeterministic:
		return e.Kind == KindNonDeterminism
	case ErrVersionUnsupported:
		return e.Kind == KindVersion
	case ErrPayloadTooLarge: // (a result over the limit)
		return e.Kind == KindPayloadTooLarge
	}
	return false
}

// TaskError is a task that ended without completing: failed (Failure says
// why) or cancelled (errors.Is(err, ErrCancelled)). Outcome.Err and
// WorkflowHandle.Result return it.
type TaskError struct {
	TaskID  int64
	State   store.TaskState
	Failure *StepError // nil when cancelled without a failure
}

func (e *TaskError) Error() string {
	if e.Failure != nil {
		return fmt.Sprintf("task %d ended %s: %v", e.TaskID, e.State, e.Failure)
	}
	return fmt.Sprintf("task %d ended %s", e.TaskID, e.State)
}

// Unwrap returns the failure.
func (e *TaskError) Unwrap() error {
	if e.Failure == nil {
		return nil
	}
	return e.Failure
}

// Is matches ErrCancelled for a cancelled task.
func (e *TaskError) Is(target error) bool {
	return target == ErrCancelled && e.State == store.TaskCancelled
}

// failure is what the engine records about a failed attempt.
type failure struct {
	StepError
	requested time.Duration     // a RetryableError's delay
	decision  *predict.Decision // the predictive retry's, when it decided
	reason    string            // why the store's rescue recorded it (lease_expired)
}

// failureOf classifies a handler's (or a workflow's) error.
func failureOf(step string, attempt int, err error) failure {
	f := failure{StepError: StepError{Step: step, Attempt: attempt, Kind: KindError, Message: err.Error()}}
	var perm *PermanentError
	var re *RetryableError
	var pe *PanicError
	var nd *NonDeterminismError
	var ve *VersionError
	var sf *StepFailedError
	var se *StepError
	var tl *resultTooLarge
	switch {
	case errors.As(err, &sf):
		// A durable step failed for good and the workflow returned it: the
		// task's failure is the step's, as recorded (its kind and code).
		if sf.Failure != nil {
			f.StepError = *sf.Failure
		}
		f.Step, f.Sequence, f.Attempt, f.Message = sf.Step, sf.Sequence, sf.Attempts, err.Error()
	case errors.As(err, &se): // recorded before (a child's failure, say)
		f.StepError = *se
		f.Step, f.Attempt, f.Message = step, attempt, err.Error()
	case errors.As(err, &nd):
		f.Kind, f.Sequence = KindNonDeterminism, nd.Sequence
	case errors.As(err, &ve):
		f.Kind, f.Sequence = KindVersion, ve.Sequence
	case errors.Is(err, ErrWorkflowTimeout):
		f.Kind = KindWorkflowTimeout
	case errors.As(err, &tl):
		f.Kind, f.Code = KindPayloadTooLarge, KindPayloadTooLarge // as a DAG step's (Engine.oversized)
	case errors.As(err, &perm):
		f.Kind, f.Code, f.Context = KindPermanent, perm.Code, perm.Context
	case errors.As(err, &pe):
		f.Kind, f.Stack = KindPanic, pe.Stack
	case errors.As(err, &re):
		f.Kind, f.requested, f.Context = KindRetryable, re.RetryAfter, re.Context
		if errors.Is(err, errAttemptTimeout) {
			f.Kind = KindTimeout
		}
		if re.MaxRetries > 0 && attempt > re.MaxRetries {
			f.Kind = KindExhausted
		}
		switch {
		case re.RetryAfter > 0 && re.RetryAfter < time.Millisecond:
			// A unit mistake (Retryable(err, 30) is 30 ns) or a delay
			// computed to almost nothing (time.Until a reset): retried at
			// once, the step would hammer what failed. The step's backoff
			// decides instead, and the error says so.
			f.requested = 0
			f.Message = fmt.Sprintf("%s (retry delay %s is under a millisecond, so the step's backoff decides; a bare number is nanoseconds: write 30*time.Second, not 30)", err, re.RetryAfter)
		case re.RetryAfter < 0:
			// time.Until a reset already past: no delay asked for, as
			// above (recorded as asked, it read as one in retry_after_ms
			// and kept the predictive retry from weighing the delay).
			f.requested = 0
			f.Message = fmt.Sprintf("%s (retry delay %s is negative, so the step's backoff decides)", err, re.RetryAfter)
		}
		if re.MaxRetries < 0 {
			// Only a positive cap caps: a negative one (meant as "none",
			// or as "no retry") would otherwise be taken in silence.
			f.Message = fmt.Sprintf("%s (MaxRetries %d is negative and caps nothing: the step's own retry limit decides)", f.Message, re.MaxRetries)
		}
	}
	return f
}

// resultTooLarge is a durable step's result over Config.MaxPayloadBytes: it
// fails the step for good, recorded as a DAG step's oversized result is
// (kind and code payload_too_large), not as any permanent error.
type resultTooLarge struct{ err error }

func (e *resultTooLarge) Error() string { return e.err.Error() }
func (e *resultTooLarge) Unwrap() error { return e.err }

// permanent reports whether the failure ends the step at once.
func (f failure) permanent() bool {
	switch f.Kind {
	case KindPermanent, KindExhausted, KindNonDeterminism, KindWorkflowTimeout, KindPayloadTooLarge, KindVersion:
		return true
	}
	return false
}

// failureDoc is the JSON the store keeps (the step's and the task's
// last_error). "error" is the message, as before StepError existed.
type failureDoc struct {
	Message      string            `json:"error"`
	Step         string            `json:"step,omitempty"`
	Sequence     int               `json:"sequence,omitempty"`
	Attempt      int               `json:"attempt"`
	Kind         string            `json:"kind"`
	Code         string            `json:"code,omitempty"`
	Stack        string            `json:"stack,omitempty"`
	Context      map[string]any    `json:"context,omitempty"`
	RetryAfterMS int64             `json:"retry_after_ms,omitempty"`
	Diagnosis    *Diagnosis        `json:"diagnosis,omitempty"`
	Backoff      *predict.Decision `json:"backoff,omitempty"`
	Reason       string            `json:"reason,omitempty"`
}

func (f failure) doc() store.JSON {
	// (marshalResult: a context value's MarshalJSON that panics is an
	// error here, not a crash of the process recording the failure.)
	raw, err := marshalResult(failureDoc{Message: f.Message, Step: f.Step, Sequence: f.Sequence, Attempt: f.Attempt, Kind: f.Kind,
		Code: f.Code, Stack: f.Stack, Context: f.Context, RetryAfterMS: f.requested.Milliseconds(), Diagnosis: f.Diagnosis, Backoff: f.decision, Reason: f.reason})
	if err != nil { // a context value that does not encode
		raw, _ = json.Marshal(failureDoc{Message: f.Message, Step: f.Step, Sequence: f.Sequence, Attempt: f.Attempt, Kind: f.Kind, Code: f.Code,
			Diagnosis: f.Diagnosis, Backoff: f.decision, Reason: f.reason})
	}
	// The store refuses a NUL character (Postgres jsonb cannot hold one):
	// an error whose message or context held one (errors.New("bad\x00"),
	// a name quoted raw) made the whole commit of outcomes fail, and the
	// step ended "lease expired" instead of with its error. It is recorded
	// as U+FFFD, the replacement character, and so is half a surrogate pair
	// alone (a json.RawMessage context value), which the store refuses too.
	return storableEscapes(raw)
}

// storableEscapes replaces, in doc (valid JSON), each escape the store
// refuses (see store.UnstorableAt) with \ufffd, six bytes for six (a
// pair's halves are replaced one by one). It reads escapes as the store
// does: "C:\\u0000", a backslash and the text u0000, is left as it is.
func storableEscapes(doc []byte) []byte {
	at, _ := store.UnstorableAt(doc, 0)
	if at < 0 {
		return doc
	}
	out := bytes.Clone(doc)
	for ; at >= 0; at, _ = store.UnstorableAt(out, at+len(replacementEscape)) {
		copy(out[at:], replacementEscape)
	}
	return out
}

// replacementEscape is U+FFFD, the replacement character, as JSON escapes it.
var replacementEscape = []byte(`\ufffd`)

// nulInResult refuses a step's result whose JSON holds what the store
// refuses (a NUL character, half a surrogate pair alone): recorded, it
// would fail the commit carrying it and every other outcome in it. It
// reads escapes: the text "C:\\u0000" is no NUL.
func nulInResult(doc []byte) error { return store.UnstorableEscape(doc) }

// decodeFailure reads a recorded failure; a document that is not one
// (written by an older version, or by hand) becomes its text as Message.
func decodeFailure(doc []byte) *StepError {
	if len(doc) == 0 || string(doc) == "null" {
		return nil
	}
	var d failureDoc
	if err := json.Unmarshal(doc, &d); err != nil || d.Kind == "" {
		return &StepError{Kind: KindError, Message: string(doc)}
	}
	if d.Diagnosis != nil && d.Diagnosis.Class == "" {
		// Recorded before the unknown class was named: it left it empty.
		d.Diagnosis.Class = errclass.Unknown.Name()
	}
	return &StepError{Step: d.Step, Sequence: d.Sequence, Attempt: d.Attempt, Kind: d.Kind, Code: d.Code, Message: d.Message, Stack: d.Stack, Context: d.Context,
		Diagnosis: d.Diagnosis, Backoff: backoffFrom(d.Backoff)}
}

// errAttemptTimeout marks an attempt that ran out of its own time.
var errAttemptTimeout = errors.New("attempt timed out")
