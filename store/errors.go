package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Backends map their driver errors onto these; callers
// match them with errors.Is.
var (
	// ErrNotFound: the task, step or event does not exist.
	ErrNotFound = errors.New("tasker/store: not found")
	// ErrConflict: a compare-and-set lost (the row was not in the expected
	// state), or a unique key is taken by a different value.
	ErrConflict = errors.New("tasker/store: conflict")
	// ErrLeaseLost: the caller's lease on a step expired or was taken over;
	// its result is discarded.
	ErrLeaseLost = errors.New("tasker/store: lease lost")
	// ErrIllegalTransition: the state machine refuses the move. The error
	// is a *TransitionError that names the object and the move.
	ErrIllegalTransition = errors.New("tasker/store: illegal transition")
	// ErrInvalid: the input was refused at the border; the error is a
	// *ValidationError (or several joined) naming the field.
	ErrInvalid = errors.New("tasker/store: invalid input")
	// ErrRetryable: a transient database failure (serialization, deadlock,
	// lost connection); the whole operation may be retried.
	ErrRetryable = errors.New("tasker/store: transient database error")
)

// ValidationError names the field that was wrong and how.
type ValidationError struct {
	Field   string
	Problem string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Problem) }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Problem: fmt.Sprintf(format, args...)}
}
