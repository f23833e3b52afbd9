package store

import (
	"time"

	"github.com/uptrace/bun"
)

// Kind tells how a task's steps are defined.
type Kind string

// Task kinds.
const (
	KindDAG  Kind = "dag"  // steps and edges snapshotted from a template
	KindCode Kind = "code" // a Go function whose durable steps are recorded as it runs
)

// DefaultRetryLimit is the number of attempts a step gets when its template
// does not say.
const DefaultRetryLimit = 3

// Task is one workflow instance.
type Task struct {
	bun.BaseModel `bun:"table:tasker_tasks,alias:t"`

	ID          int64     `bun:"id,pk,autoincrement" json:"id"`
	Namespace   string    `bun:"namespace,notnull" json:"namespace"`
	Name        string    `bun:"name,notnull" json:"name"`
	Version     string    `bun:"version,notnull" json:"version"`
	Kind        Kind      `bun:"kind,notnull" json:"kind"`
	IdentityKey string    `bun:"identity_key,notnull" json:"identity_key"`
	InputHash   string    `bun:"input_hash,notnull" json:"input_hash"`
	Context     JSON      `bun:"context,type:text" json:"context"`
	Results     JSON      `bun:"results,type:text" json:"results,omitempty"`
	LastError   JSON      `bun:"last_error,type:text" json:"last_error,omitempty"` // what put it in error; a move out of error clears it
	State       TaskState `bun:"state,notnull" json:"state"`
	Priority    int       `bun:"priority,notnull" json:"priority"`
	Queue       string    `bun:"queue,notnull" json:"queue"`
	ParentID    *int64    `bun:"parent_id" json:"parent_id,omitempty"`
	// TraceContext is the W3C traceparent of the span that started the
	// task (empty when its starter was not tracing); the processes that
	// run its steps continue that trace.
	TraceContext string `bun:"trace_context,nullzero" json:"trace_context,omitempty"`
	// RetentionMS is the task's own retention in milliseconds (see
	// CreateTaskParams.Retention): 0 the default, -1 kept forever.
	RetentionMS int64 `bun:"retention_ms,nullzero" json:"retention_ms,omitempty"`
	// DeadlineAt is when the task times out (CreateTaskParams.Deadline),
	// by the database's clock; nil: never.
	DeadlineAt *time.Time `bun:"deadline_at" json:"deadline_at,omitempty"`
	// Unfinished counts steps not yet complete or resolved; the task
	// completes in the transaction that brings it to zero.
	Unfinished    int        `bun:"unfinished,notnull" json:"unfinished"`
	TransitionSeq int        `bun:"transition_seq,notnull" json:"-"`
	CreatedAt     time.Time  `bun:"created_at,notnull" json:"created_at"`
	UpdatedAt     time.Time  `bun:"updated_at,notnull" json:"updated_at"`
	CompletedAt   *time.Time `bun:"completed_at" json:"completed_at,omitempty"`
}

// Step is one unit of work of a task.
type Step struct {
	bun.BaseModel `bun:"table:tasker_steps,alias:s"`

	ID        int64  `bun:"id,pk,autoincrement" json:"id"`
	TaskID    int64  `bun:"task_id,notnull" json:"task_id"`
	Name      string `bun:"name,notnull" json:"name"`
	Handler   string `bun:"handler,notnull" json:"handler"`
	Sequence  *int   `bun:"sequence" json:"sequence,omitempty"` // code-first steps only
	Config    JSON   `bun:"config,type:text" json:"config,omitempty"`
	Policy    JSON   `bun:"policy,type:text" json:"policy,omitempty"` // retry/timeout policy snapshot
	Retryable bool   `bun:"retryable,notnull" json:"retryable"`
	// RetryLimit is the total number of attempts allowed (≥ 1). The first
	// attempt always runs, retryable or not.
	RetryLimit int  `bun:"retry_limit,notnull" json:"retry_limit"`
	Attempts   int  `bun:"attempts,notnull" json:"attempts"`
	Skippable  bool `bun:"skippable,notnull" json:"skippable"`
	// Queue and Priority are the task's, copied so the claim reads one table.
	Queue    string `bun:"queue,notnull,default:'default'" json:"queue"`
	Priority int    `bun:"priority,notnull" json:"priority"`
	// ConcGroup and ConcMax: the step runs only while fewer than ConcMax
	// steps of its group run, across every process (see
	// CreateTaskParams.ConcGroup).
	ConcGroup *string `bun:"conc_group" json:"conc_group,omitempty"`
	ConcMax   int     `bun:"conc_max,notnull" json:"conc_max,omitempty"`
	// RateSystem: each attempt takes a token of this system's rate limit.
	RateSystem *string   `bun:"rate_system" json:"rate_system,omitempty"`
	State      StepState `bun:"state,notnull" json:"state"`
	Results    JSON      `bun:"results,type:text" json:"results,omitempty"`
	LastError  JSON      `bun:"last_error,type:text" json:"last_error,omitempty"`
	// NextAttemptAt is when a pending step becomes claimable (backoff).
	NextAttemptAt time.Time `bun:"next_attempt_at,notnull" json:"next_attempt_at"`
	// PendingDeps counts dependencies not yet complete or resolved; a step
	// is ready only at zero.
	PendingDeps    int        `bun:"pending_deps,notnull" json:"pending_deps"`
	LeaseOwner     *string    `bun:"lease_owner" json:"lease_owner,omitempty"`
	LeaseExpiresAt *time.Time `bun:"lease_expires_at" json:"lease_expires_at,omitempty"`
	LeaseToken     *int64     `bun:"lease_token" json:"-"`
	TransitionSeq  int        `bun:"transition_seq,notnull" json:"-"`
	StartedAt      *time.Time `bun:"started_at" json:"started_at,omitempty"`
	CompletedAt    *time.Time `bun:"completed_at" json:"completed_at,omitempty"`
	CreatedAt      time.Time  `bun:"created_at,notnull" json:"created_at"`
	UpdatedAt      time.Time  `bun:"updated_at,notnull" json:"updated_at"`
}

// Lease identifies one claim of a step: a completion is accepted only while
// the lease it carries is the step's current one.
type Lease struct {
	StepID int64
	Token  int64
}

// Lease returns the step's current lease (zero when it has none).
func (s *Step) Lease() Lease {
	if s.LeaseToken == nil {
		return Lease{StepID: s.ID}
	}
	return Lease{StepID: s.ID, Token: *s.LeaseToken}
}

// Edge says that step To depends on step From, within one task.
type Edge struct {
	bun.BaseModel `bun:"table:tasker_step_edges,alias:e"`

	TaskID     int64 `bun:"task_id,notnull" json:"task_id"`
	FromStepID int64 `bun:"from_step_id,pk" json:"from_step_id"`
	ToStepID   int64 `bun:"to_step_id,pk" json:"to_step_id"`
}

// TaskTransition is one row of a task's audit trail.
type TaskTransition struct {
	bun.BaseModel `bun:"table:tasker_task_transitions,alias:tt"`

	// ID is 0 for the task's creation, which its row implies and History
	// adds (it is not stored).
	ID        int64   `bun:"id,pk,autoincrement" json:"id"`
	TaskID    int64   `bun:"task_id,notnull" json:"task_id"`
	FromState *string `bun:"from_state" json:"from_state"`
	ToState   string  `bun:"to_state,notnull" json:"to_state"`
	SortKey   int     `bun:"sort_key,notnull" json:"sort_key"`
	// MostRecent marks the latest row (highest SortKey) of its task or
	// step; it is computed when History reads the rows, not stored.
	MostRecent bool      `bun:"-" json:"most_recent"`
	Metadata   JSON      `bun:"metadata,type:text" json:"metadata,omitempty"`
	CreatedAt  time.Time `bun:"created_at,notnull" json:"created_at"`
}

// StepTransition is one row of a step's audit trail.
type StepTransition struct {
	bun.BaseModel `bun:"table:tasker_step_transitions,alias:st"`

	// ID is 0 for the claim of a step its start claimed, which the step's
	// row implies and History adds (it is not stored).
	ID        int64   `bun:"id,pk,autoincrement" json:"id"`
	StepID    int64   `bun:"step_id,notnull" json:"step_id"`
	TaskID    int64   `bun:"task_id,notnull" json:"task_id"`
	FromState *string `bun:"from_state" json:"from_state"`
	ToState   string  `bun:"to_state,notnull" json:"to_state"`
	SortKey   int     `bun:"sort_key,notnull" json:"sort_key"`
	// MostRecent marks the latest row (highest SortKey) of its task or
	// step; it is computed when History reads the rows, not stored.
	MostRecent bool      `bun:"-" json:"most_recent"`
	Metadata   JSON      `bun:"metadata,type:text" json:"metadata,omitempty"`
	CreatedAt  time.Time `bun:"created_at,notnull" json:"created_at"`
}

// Event is a signal sent to a code-first workflow. Key makes sending
// idempotent: a second event with the same (task, name, key) is ignored.
type Event struct {
	bun.BaseModel `bun:"table:tasker_events,alias:ev"`

	ID         int64      `bun:"id,pk,autoincrement" json:"id"`
	TaskID     int64      `bun:"task_id,notnull" json:"task_id"`
	Name       string     `bun:"name,notnull" json:"name"`
	Key        string     `bun:"key,notnull" json:"key"`
	Payload    JSON       `bun:"payload,type:text" json:"payload,omitempty"`
	ConsumedAt *time.Time `bun:"consumed_at" json:"consumed_at,omitempty"`
	CreatedAt  time.Time  `bun:"created_at,notnull" json:"created_at"`
}

// WorkflowValue is a value a code-first workflow published for readers
// outside it: query state, or the answer to an update.
type WorkflowValue struct {
	bun.BaseModel `bun:"table:tasker_workflow_values,alias:wv"`

	TaskID    int64     `bun:"task_id,pk" json:"task_id"`
	Kind      string    `bun:"kind,pk" json:"kind"`
	Name      string    `bun:"name,pk" json:"name"`
	Seq       int       `bun:"seq,notnull" json:"seq"`
	Value     JSON      `bun:"value,type:text,notnull" json:"value"`
	UpdatedAt time.Time `bun:"updated_at,notnull" json:"updated_at"`
}

// Queues and priorities.
const (
	// DefaultQueue is the queue of a task that names none.
	DefaultQueue = "default"
	// MinPriority and MaxPriority bound a task's priority; higher runs
	// first. The default is 0.
	MinPriority = 0
	MaxPriority = 1000
)

// MaxCount bounds a step's retry limit, a concurrency group's maximum and
// a rate limit's burst: the columns (and a step's attempt counter) are
// 32-bit integers. A larger value is refused as ErrInvalid naming it, on
// every backend (Postgres refused it at the insert, SQLite stored it).
const MaxCount = 1<<31 - 1
