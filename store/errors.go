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
	// ErrNotMigrated: a store opened read-only found no Tasker schema where
	// it looked, or one at another version than this code's; opening it
	// read-write (or `tasker migrate`) creates or upgrades it. A schema
	// newer than this code's (a newer Tasker migrated it) is refused by a
	// read-write open too: only a newer program reads it.
	ErrNotMigrated = errors.New("tasker/store: no Tasker schema at this version")
)

// SchemaError is why a store refused its database: opened read-only, no
// Tasker schema there (Found 0) or one at another version than Want;
// opened read-write (or migrated), one newer than Want.
type SchemaError struct {
	Database string // the file or schema looked at
	Absent   bool   // the database (a Postgres schema) does not exist at all
	Found    int    // the schema version found; 0: no Tasker schema
	Want     int    // the version this code reads
}

func (e *SchemaError) Error() string {
	switch {
	case e.Absent:
		return fmt.Sprintf("%s does not exist", e.Database)
	case e.Found == 0:
		return fmt.Sprintf("%s is not a Tasker database (no Tasker schema)", e.Database)
	case e.Found > e.Want:
		return fmt.Sprintf("%s has schema version %d, newer than this program's %d (upgrade the program)", e.Database, e.Found, e.Want)
	}
	return fmt.Sprintf("%s has schema version %d, this program needs %d", e.Database, e.Found, e.Want)
}

// Is makes errors.Is(err, ErrNotMigrated) true.
func (e *SchemaError) Is(target error) bool { return target == ErrNotMigrated }

// ValidationError names the field that was wrong and how.
type ValidationError struct {
	Field   string
	Problem string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Problem) }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// under puts a field's problem under prefix (steps["a"] + .handler), when
// err is a *ValidationError; other errors are returned as they are.
func under(prefix string, err error) error {
	if v, ok := err.(*ValidationError); ok {
		return &ValidationError{Field: prefix + v.Field, Problem: v.Problem}
	}
	return err
}

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Problem: fmt.Sprintf(format, args...)}
}
