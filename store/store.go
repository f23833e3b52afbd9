package store

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
)

// Store is the persistence boundary of Tasker. Every method takes a context
// and a params struct; every state change writes the new state on the row and
// appends its transition row in one transaction, guarded on the expected
// current state.
//
// Times in params: a zero Now means "the database's clock" (Postgres) or the
// process clock (SQLite, where database and process share a machine). Tests
// pass an explicit Now to move time without waiting.
type Store interface {
	// DB is the bun database the store writes through. Callers that enqueue
	// inside their own transaction begin it here and pass it to WithTx.
	DB() *bun.DB
	// WithTx returns a Store whose methods run inside tx: nothing they write
	// exists unless tx commits.
	WithTx(tx bun.IDB) Store
	// Capabilities reports what the backend can do (see Capabilities).
	Capabilities() Capabilities
	// Close closes the store's connections; on a WithTx view it does
	// nothing.
	Close() error

	// CreateTask inserts a task with its steps and edges in one transaction.
	// It is idempotent on IdentityKey: a second create with the same key and
	// input hash returns the existing task with Existing set; the same key
	// with a different input hash fails with ErrConflict.
	CreateTask(ctx context.Context, p *CreateTaskParams) (*CreateTaskResult, error)
	// CreateTasks creates many tasks in one transaction, with one
	// multi-row INSERT per table. Each item succeeds or fails on its own:
	// an invalid item (ErrInvalid) or an identity conflict (ErrConflict)
	// is reported in its CreateTasksItem and the others are created; an
	// identity repeated within ps denotes the first item's task. The
	// error is for the call as a whole: the transaction failed and
	// nothing was written.
	CreateTasks(ctx context.Context, ps []*CreateTaskParams) ([]CreateTasksItem, error)
	// GetTask reads a task with its steps and edges: ErrNotFound when no
	// task has that id, ErrInvalid naming it when id is below 1.
	GetTask(ctx context.Context, id int64) (*TaskDetail, error)
	// GetTaskOutcomes reads what Wait reports of the tasks of ids, in id
	// order, in one statement: each task's outcome fields and, once it has
	// finished (State.Done), its steps' names and results (TaskOutcome).
	// Ids of no task are left out.
	GetTaskOutcomes(ctx context.Context, ids []int64) ([]*TaskOutcome, error)
	// GetTasks reads the tasks of ids, each as GetTask does, in id order,
	// in one statement: ids of no task are left out.
	GetTasks(ctx context.Context, ids []int64) ([]*TaskDetail, error)
	// TasksDone returns, in no particular order, those of ids whose task
	// has finished (State.Done), in one statement: whoever waits for many
	// tasks learns which to read after a commit elsewhere. Ids of no task
	// are left out; an empty ids returns nothing.
	TasksDone(ctx context.Context, ids []int64) ([]int64, error)
	// GetWorkflowHistory is GetTask for a code-first replay: the task, and
	// its steps with only their id, task, name, handler, sequence, state,
	// attempts, results, last error and next attempt time (no edges).
	GetWorkflowHistory(ctx context.Context, id int64) (*TaskDetail, error)
	// GetTaskByIdentity reads the task whose identity key is identityKey
	// (ErrNotFound when none).
	GetTaskByIdentity(ctx context.Context, identityKey string) (*Task, error)
	// RetireIdentity renames a task's identity key to p.Retired when the
	// task still has p.IdentityKey and is in one of p.States, freeing the
	// key for a new run; it reports whether it did.
	RetireIdentity(ctx context.Context, p *RetireIdentityParams) (bool, error)
	// ListTasks lists tasks newest first, filtered by p, a page at a
	// time (keyset pagination; 50 a page by default, at most 1,000).
	ListTasks(ctx context.Context, p *ListTasksParams) (*TaskPage, error)
	// CountByState counts the tasks and the steps in each state.
	CountByState(ctx context.Context) (*StateCounts, error)
	// TransitionTask moves a task through the state machine (compare and
	// set on From). Moving to complete requires every step satisfied.
	TransitionTask(ctx context.Context, p *TransitionTaskParams) (*Task, error)
	// CancelTask cancels a task and every unfinished step of it.
	CancelTask(ctx context.Context, p *CancelTaskParams) (*Task, error)
	// RetryTask moves a task in error back to pending and gives its failed
	// steps fresh attempts. The steps' moves carry p.Metadata (its actor,
	// say) with the reason "task retried".
	RetryTask(ctx context.Context, p *RetryTaskParams) (*Task, error)
	// History reads a task's transitions and its steps', in write order
	// (ErrNotFound when no task has that id). It includes the rows the
	// store implies and does not write (ID 0): the task's creation, the
	// claims of the steps the start claimed, and the claim and completion
	// of a durable step recorded complete on its first attempt.
	History(ctx context.Context, taskID int64) (*History, error)

	// GetStep reads one step: ErrNotFound when no step has that id,
	// ErrInvalid naming it when id is below 1.
	GetStep(ctx context.Context, id int64) (*Step, error)
	// TransitionStep moves one step through the state machine (compare and
	// set on From), with the same bookkeeping the engine's paths do.
	TransitionStep(ctx context.Context, p *TransitionStepParams) (*Step, error)
	// ResolveStep marks a pending or failed step resolved_manually with the
	// supplied results; its dependants may then run. The task's moves it
	// brings about (back to pending, on to complete) carry p.Metadata with
	// the reason "step resolved manually", and are reported in the result.
	// The driver (the step with no sequence) of a code-first task in error
	// resolves the workflow as a whole: the results are its return value,
	// its unfinished durable steps are cancelled, and the task moves error
	// → resolved_manually (reason "workflow resolved manually").
	ResolveStep(ctx context.Context, p *ResolveStepParams) (*ResolveStepResult, error)

	// ClaimSteps leases up to Limit ready steps (pending, dependencies
	// satisfied, backoff elapsed, task not finished), moving them to
	// in_progress and counting an attempt. No step is handed to two
	// claimers for the same attempt.
	ClaimSteps(ctx context.Context, p *ClaimStepsParams) ([]*ClaimedStep, error)
	// FinishSteps records outcomes of claimed steps in one transaction:
	// results and transitions, dependants' counters, and the tasks that
	// complete or fail as a consequence. An outcome whose lease is no
	// longer current is refused with ErrLeaseLost and changes nothing;
	// the others still commit.
	FinishSteps(ctx context.Context, p *FinishStepsParams) (*FinishStepsResult, error)
	// ExtendLeases pushes lease expiry forward and returns the leases that
	// were lost (expired and rescued, cancelled, or completed elsewhere).
	ExtendLeases(ctx context.Context, p *ExtendLeasesParams) ([]Lease, error)
	// ReleaseLeases returns in-progress steps to pending without counting
	// the interrupted attempt (used at shutdown).
	ReleaseLeases(ctx context.Context, p *ReleaseLeasesParams) (int, error)
	// RescueExpired returns steps whose lease expired to pending (the
	// attempt counts) or, with no attempts left, to error; given a
	// DeadlineCause, it fails the tasks past their deadline too.
	RescueExpired(ctx context.Context, p *RescueExpiredParams) (*RescueResult, error)
	// NextWakeup is the earliest time a step becomes ready or a lease
	// expires, for the scheduler's timer.
	NextWakeup(ctx context.Context) (time.Time, bool, error)

	// SendEvent records an event for a task, idempotent on (task, name, key).
	// In a transaction (WithTx) it holds the task until that ends: a
	// MoveEvents from the task waits for it, and it waits for one.
	SendEvent(ctx context.Context, p *SendEventParams) (*Event, bool, error)
	// SetWorkflowValue writes a value a code-first workflow publishes (see
	// WorkflowValue), fenced on its driver's lease (ErrLeaseLost).
	SetWorkflowValue(ctx context.Context, p *SetWorkflowValueParams) error
	// GetWorkflowValue reads one published value, or ErrNotFound (ErrInvalid
	// for a kind other than ValueQuery and ValueReply, or an empty name).
	GetWorkflowValue(ctx context.Context, taskID int64, kind, name string) (*WorkflowValue, error)
	// ConsumeEvent marks the oldest unconsumed event of that name consumed
	// and returns it, or ErrNotFound.
	ConsumeEvent(ctx context.Context, p *ConsumeEventParams) (*Event, error)
	// HasEvent reports whether task taskID holds the event (name, key),
	// consumed or not: what a SendEvent of it would find (created false).
	// It reads, holding nothing. An empty key is refused (ErrInvalid): each
	// send with one is a new event, which no task holds yet.
	HasEvent(ctx context.Context, taskID int64, name, key string) (bool, error)
	// MoveEvents gives task From's unconsumed events to task To (a
	// code-first workflow that continued as new: its next run reads what
	// the last did not), but for one To holds already (the same name and
	// key: the same event), and reports how many it moved (ErrNotFound:
	// no task From, or no task To). It serialises with a SendEvent to From (see there):
	// it moves an event sent and committed while it waited.
	MoveEvents(ctx context.Context, p *MoveEventsParams) (int, error)

	// DeleteFinished deletes up to Limit tasks that finished (complete,
	// cancelled, resolved_manually) longer ago than their retention (their
	// own, or the default that p.Before stands for), oldest first within
	// each retention, in one short transaction; their steps, edges,
	// transitions and events go with them. A child task whose parent is
	// pending, in progress or in error is kept: its parent reads its
	// outcome when it resumes; and a task with an unfinished child is
	// kept until that child has finished (or been cancelled as an orphan:
	// see ListOrphans). It returns how many tasks it
	// deleted: callers loop until that is less than the limit, so no
	// batch holds locks for long.
	DeleteFinished(ctx context.Context, p *DeleteFinishedParams) (int, error)
	// ListOrphans returns up to p.Limit unfinished tasks (pending, in
	// progress) with an id above p.After, lowest id first, whose parent
	// has ended for good with no
	// one left to read their result — complete, cancelled or resolved by
	// hand (TaskState.Terminal) — with their parent's id and state. A
	// parent in error is not one: it may be retried and read them (as
	// DeleteFinished keeps them for it), and an operator may have retried
	// such a child by hand. The process that ended the parent cancels its
	// children after that commit; the engine's maintenance cancels those
	// it left (it died in between). A limit below 1, or a negative After,
	// is refused (ErrInvalid).
	ListOrphans(ctx context.Context, p *ListOrphansParams) ([]Orphan, error)
	// StepSuccessRate counts how often attempt p.Attempt of the most recent
	// steps named p.Name succeeded (see StepSuccessRate): the history the
	// predictive retry weighs a backoff with.
	StepSuccessRate(ctx context.Context, p *StepSuccessRateParams) (*StepSuccessRate, error)
	// ReportData reads what a performance report is computed from (see
	// ReportParams): exact counts and a sample of recent tasks.
	ReportData(ctx context.Context, p *ReportParams) (*ReportData, error)
	// Elect takes or renews the lease on the leadership called Name for
	// Owner until TTL from now, and reports whether Owner leads. Another
	// owner's lease is taken over only once it has expired.
	Elect(ctx context.Context, p *ElectParams) (bool, error)
	// Resign gives up owner's leadership of name at once (a no-op when
	// owner does not lead). ErrInvalid for an empty name or owner, which
	// no leadership has.
	Resign(ctx context.Context, name, owner string) error

	// CreateSchedule inserts a schedule with Revision 1, or fails with
	// ErrConflict when one of that ID exists (and writes nothing).
	CreateSchedule(ctx context.Context, s *Schedule) error
	// UpdateSchedule writes every field of s but its ID and CreatedAt when
	// the stored revision is still s.Revision, bumping it (and s.Revision);
	// it reports false, writing nothing, when another write came first.
	// ErrNotFound when there is no such schedule; ErrInvalid for a
	// Revision below 1 (a schedule not read from the store).
	UpdateSchedule(ctx context.Context, s *Schedule) (bool, error)
	// GetSchedule reads one schedule, or ErrNotFound.
	GetSchedule(ctx context.Context, id string) (*Schedule, error)
	// ListSchedules returns every schedule ordered by ID.
	ListSchedules(ctx context.Context) ([]*Schedule, error)
	// DeleteSchedule deletes a schedule, or fails with ErrNotFound. The
	// tasks it started are left alone.
	DeleteSchedule(ctx context.Context, id string) error

	// RecordStep writes the outcome of one durable step of a code-first
	// task (the row at (task, sequence), inserted on first record) with its
	// transitions, in one transaction fenced on the driver step's lease:
	// when Driver is no longer the current lease it fails with ErrLeaseLost
	// and writes nothing. Durable rows are never claimed by workers.
	RecordStep(ctx context.Context, p *RecordStepParams) (*Step, error)
	// RecordAttempts records, in one transaction, attempts of durable
	// steps of (possibly many) code-first tasks — first attempts and
	// retries, completed or failed — grouped so it costs a few statements
	// per group rather than a transaction per step. Each item says which
	// attempt it is (RecordStepParams.Attempt, required here); Kind is
	// OutcomeComplete, OutcomeRetry or OutcomeFail, with no ConsumeEvent.
	// Each row moves as RecordStep would move it, at its item's own Now
	// (items that share one are written together), and each item is fenced
	// on its driver's lease (Err ErrLeaseLost otherwise). Any other failure
	// (a row that exists after all, or whose attempts differ from the
	// item's) fails the whole call and writes nothing: record those steps
	// one by one instead.
	RecordAttempts(ctx context.Context, steps []*RecordStepParams) ([]RecordedStep, error)
	// WakeTask makes the task's pending, dependency-free steps that wait
	// for a later time (backoff, suspension) ready now, and reports whether
	// any was. A task that has not started (pending: its start delayed by
	// NewStep.NotBefore) is left to start at its time. In a transaction
	// (WithTx) it holds the task's running and ready steps until that
	// ends: a claim passes them by, and a suspension waits, so a run
	// started or suspending meanwhile sees what the transaction sent.
	WakeTask(ctx context.Context, p *WakeTaskParams) (bool, error)

	// RegisterWorker inserts or refreshes a worker's registry row (see
	// Worker); in the same transaction it deletes rows that expired more
	// than WorkerRetention ago. A refresh of a live row another run of
	// the ID recorded is ErrConflict (see RegisterWorkerParams.StartedAt).
	RegisterWorker(ctx context.Context, p *RegisterWorkerParams) (*Worker, error)
	// DeregisterWorker deletes a worker's registry row (a no-op when there
	// is none, or, with a StartedAt, when the row is another run's).
	DeregisterWorker(ctx context.Context, p *DeregisterWorkerParams) error
	// RateLimitState reads a rate limit's bucket (store.ErrNotFound when
	// no task declared one for the system).
	RateLimitState(ctx context.Context, system string) (*RateLimitState, error)
	// RunningInGroup lists the running (in_progress) steps of a
	// concurrency group, by id.
	RunningInGroup(ctx context.Context, group string) ([]*Step, error)
	// ListWorkers lists the registry by id: the live workers, and with
	// IncludeExpired also those whose rows have expired.
	ListWorkers(ctx context.Context, p *ListWorkersParams) ([]*Worker, error)

	// QueueLags counts, per queue, the steps ready to run and not claimed
	// (at Now, zero: the database's clock), with the earliest due time;
	// not those of a finished task, which no claim takes. Queues with
	// nothing ready are absent. One statement; the maintenance leader
	// calls it on an interval for the lag metrics.
	QueueLags(ctx context.Context, now time.Time) ([]QueueLag, error)
	// TaskActivity counts task creations, completions and failures per
	// interval of a window (every bucket, empty ones too, oldest first):
	// creations from the tasks, the rest from the task transitions. It
	// reads only the window's rows.
	TaskActivity(ctx context.Context, p *TaskActivityParams) ([]ActivityBucket, error)

	// CreateAdminToken records an admin API token (its hash; the caller
	// shows the secret once); ErrConflict, writing nothing, when a token
	// not revoked has its name or its hash (on PostgreSQL two creates of
	// one name at the same moment can both succeed). FindAdminToken returns the token with that
	// hash, revoked or not (ErrNotFound when none; ErrInvalid for a hash
	// no token can have, see CheckTokenHash). ListAdminTokens lists
	// every token by id. RevokeAdminToken marks one revoked (ErrNotFound
	// when no such token; revoking twice is a no-op). CountAdminTokens
	// counts the tokens not revoked.
	CreateAdminToken(ctx context.Context, p *CreateAdminTokenParams) (*AdminToken, error)
	FindAdminToken(ctx context.Context, hash string) (*AdminToken, error)
	ListAdminTokens(ctx context.Context) ([]*AdminToken, error)
	RevokeAdminToken(ctx context.Context, id int64, now time.Time) error
	CountAdminTokens(ctx context.Context) (int, error)
}

// Waker is implemented by stores shared by many processes: Wake announces
// that steps may have become ready; Wakeups delivers other processes'
// announcements (and this process's own). Wake is debounced and never
// blocks a commit.
type Waker interface {
	// Wake tells the other processes that steps may have become ready.
	Wake()
	// Wakeups ticks after Wake calls (coalesced: one tick may stand for
	// several), and on a timer while the store cannot hear them; nil when
	// no other process can write (an in-memory or read-only SQLite store).
	Wakeups() <-chan struct{}
}

// Capabilities describe what a backend can do.
type Capabilities struct {
	Dialect      string // "sqlite" or "postgres"
	SkipLocked   bool   // claims from many processes without blocking each other
	ListenNotify bool   // cross-process wake-ups
	SingleWriter bool   // one writer connection serialises every write
}

// NewStep describes one step of a task to create.
type NewStep struct {
	Name      string
	Handler   string
	DependsOn []string // names of steps of the same task
	Config    JSON
	Policy    JSON
	Retryable bool
	// RetryLimit is the total number of attempts; 0 means DefaultRetryLimit.
	RetryLimit int
	Skippable  bool
	// Sequence is a durable step's place in its code-first task (1 or
	// more, one step each); nil for a DAG step.
	Sequence *int
	// NotBefore delays the step's first attempt (zero: ready at once).
	NotBefore time.Time
	// RateSystem names the rate-limited system the step calls: each
	// attempt takes a token from that system's bucket (see
	// CreateTaskParams.RateLimits) when it is claimed.
	RateSystem string
}

// RateLimitState is a bucket as last written: Tokens at UpdatedAt (it
// refills at PerSecond, up to Burst).
type RateLimitState struct {
	RateLimit
	Tokens    float64
	UpdatedAt time.Time
}

// TokensAt is the bucket's tokens at t.
func (r *RateLimitState) TokensAt(t time.Time) float64 {
	if d := t.Sub(r.UpdatedAt).Seconds(); d > 0 {
		return min(float64(r.Burst), r.Tokens+d*r.PerSecond)
	}
	return r.Tokens
}

// RateLimit is a token bucket shared by every process: PerSecond tokens
// a second, at most Burst saved up.
type RateLimit struct {
	System    string
	PerSecond float64
	Burst     int
}

// CreateTaskParams describe a task to create.
type CreateTaskParams struct {
	Namespace   string
	Name        string
	Version     string
	Kind        Kind
	IdentityKey string
	InputHash   string
	Context     JSON // a JSON object; empty means {}
	// Priority orders claims: higher first (MinPriority..MaxPriority).
	Priority int
	// Queue is the queue the task's steps are claimed from (default
	// DefaultQueue).
	Queue string
	// ConcGroup, when set, puts every step of the task in a concurrency
	// group: at most ConcMax (≥ 1) steps of the group run at once across
	// every process; the others wait, in claim order, costing no attempt.
	ConcGroup string
	ConcMax   int
	// RateLimits declares (or changes) the buckets of the systems its
	// steps' RateSystem name; a RateSystem must have one here or already
	// in the store (the start is refused otherwise: ErrInvalid naming the
	// step's rate_system).
	RateLimits []RateLimit
	ParentID   *int64
	// TraceContext is the W3C traceparent header value of the starter's
	// span, stored with the task (empty: none, NULL in the database).
	TraceContext string
	// Retention is how long the task is kept once finished (see
	// DeleteFinished): 0 the deleter's default, KeepForever never
	// deleted, otherwise at least a millisecond.
	Retention time.Duration
	// Deadline, when positive, sets the task's DeadlineAt this long after
	// its creation by the database's clock (Postgres: the start
	// statement's; SQLite: the writing process's, on the machine every
	// process sharing the file runs on), so no process's skewed clock
	// moves it. A task found by its identity key keeps its own.
	Deadline time.Duration
	Steps    []NewStep
	Now      time.Time
	// Lease, when set, claims the new task's first ready steps for the
	// worker starting it, in the transaction that creates it (eager
	// dispatch): they are written in_progress with their first attempt
	// counted, and returned in CreateTaskResult.Claimed. A task found by
	// its identity key claims nothing.
	Lease *StartLease
}

// StartLease is the claim a start makes (see CreateTaskParams.Lease). It
// takes, in step order, at most Limit steps that are ready at once: no
// dependencies, no NotBefore, outside concurrency groups and rate limits,
// calling one of Handlers.
type StartLease struct {
	Owner    string
	TTL      time.Duration
	Limit    int
	Handlers []string
}

// Leased returns the indexes of the steps of p its Lease claims.
func (p *CreateTaskParams) Leased() []int {
	l := p.Lease
	if l == nil || l.Limit <= 0 || p.ConcGroup != "" {
		return nil
	}
	var out []int
	for i, ns := range p.Steps {
		if len(out) == l.Limit {
			break
		}
		if len(ns.DependsOn) == 0 && ns.NotBefore.IsZero() && ns.RateSystem == "" && slices.Contains(l.Handlers, ns.Handler) {
			out = append(out, i)
		}
	}
	return out
}

// CreateTaskResult is the task created or, for a repeated identity key, the
// one that existed.
type CreateTaskResult struct {
	Task     *Task
	Existing bool
	// Claimed are the steps the start's Lease claimed (their Deps empty).
	Claimed []*ClaimedStep
}

// CreateTasksItem is what became of one item of CreateTasks: the task (as
// CreateTask returns it), or the error that refused the item.
type CreateTasksItem struct {
	CreateTaskResult
	Err error
}

// TaskDetail is a task with its steps and edges.
type TaskDetail struct {
	Task  *Task
	Steps []*Step
	Edges []*Edge
}

// Step returns the task's step with that name, or nil. A code-first
// workflow's durable steps are found by the name the code gave them
// ("charge" finds the row charge#2): when no step has exactly that name, the
// durable step of that name with the lowest sequence number — the first the
// workflow reached — is returned. Use StepsNamed for every call of a step
// made in a loop.
func (d *TaskDetail) Step(name string) *Step {
	for _, s := range d.Steps {
		if s.Name == name {
			return s
		}
	}
	if all := d.StepsNamed(name); len(all) > 0 {
		return all[0]
	}
	return nil
}

// StepsNamed returns the task's steps with that name as the code wrote it:
// a DAG step with exactly that name, or every durable step recorded under
// it, in sequence order.
func (d *TaskDetail) StepsNamed(name string) []*Step {
	var out []*Step
	for _, s := range d.Steps {
		if s.UserName() == name {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b *Step) int { return cmp.Compare(seqOf(a), seqOf(b)) })
	return out
}

func seqOf(s *Step) int {
	if s.Sequence == nil {
		return -1
	}
	return *s.Sequence
}

// ListTasksParams filter and page a task listing, newest first (or as
// Order says).
type ListTasksParams struct {
	Namespace string
	Name      string
	States    []TaskState
	ParentID  *int64
	// Queue, when set, keeps tasks of that queue.
	Queue string
	// CreatedAfter and CreatedBefore, when set, keep tasks created at or
	// after, and before, those times.
	CreatedAfter, CreatedBefore time.Time
	// Order is the listing's order: OrderByID (the default) or
	// OrderByFailed.
	Order TaskOrder
	// Before is the keyset cursor: only tasks after it in the order (by
	// id: a smaller id; by failure: a move into error before it); 0: from
	// the first. Pass the previous page's NextCursor.
	Before int64
	Limit  int // 0: the default 50; at most 1000 (more lists 1000)
}

// TaskOrder is the order of a task listing.
type TaskOrder string

// Task listing orders.
const (
	// OrderByID lists the newest (created last) first.
	OrderByID TaskOrder = ""
	// OrderByFailed lists the tasks in error, the one that failed last
	// first (by its move into error, which its transitions record; an
	// index of those moves serves it), whenever it was created. Tasks
	// not in error are not listed.
	OrderByFailed TaskOrder = "failed"
)

// TaskPage is one page of tasks. NextCursor is 0 on the last page.
type TaskPage struct {
	Tasks      []*Task
	NextCursor int64
}

// StateCounts count tasks and steps by current state.
type StateCounts struct {
	Tasks map[TaskState]int
	Steps map[StepState]int
}

// TransitionTaskParams ask for one task move.
type TransitionTaskParams struct {
	TaskID   int64
	From, To TaskState
	Force    bool // operator override for complete/resolved_manually → cancelled
	// Sequence, on error → pending of a code-first task: the failed
	// durable step to give fresh attempts (0: none; refused with any
	// other move). Other failed durable steps were handled by the
	// workflow and stay as they are. One the task has no durable step at
	// is refused (ErrInvalid) and the task is not moved.
	Sequence int
	Metadata JSON
	Now      time.Time
}

// CancelTaskParams ask to cancel a task.
type CancelTaskParams struct {
	TaskID   int64
	Force    bool // also cancel a complete or resolved task
	Metadata JSON
	Now      time.Time
}

// RetryTaskParams ask to retry a task in error.
type RetryTaskParams struct {
	TaskID int64
	// Sequence: for a code-first task, the failed durable step to give
	// fresh attempts (0: none; see TransitionTaskParams.Sequence). One the
	// task has no durable step at is refused (ErrInvalid).
	Sequence int
	Metadata JSON
	Now      time.Time
}

// History is a task's audit trail in the order it was written.
type History struct {
	Task  []*TaskTransition
	Steps []*StepTransition
}

// TransitionStepParams ask for one step move.
type TransitionStepParams struct {
	StepID   int64
	From, To StepState
	Metadata JSON
	Now      time.Time
}

// ResolveStepParams resolve a step by hand.
type ResolveStepParams struct {
	StepID   int64
	Results  JSON
	Metadata JSON
	Now      time.Time
}

// ResolveStepResult reports a resolve: the step, resolved, and the moves
// of its task the resolve made, in order: none, error → pending, on to
// complete (through in_progress from pending), or both; or error →
// resolved_manually (a code-first task's driver). A task another
// commit completed meanwhile is not in Tasks: that commit reports it.
type ResolveStepResult struct {
	Step  *Step
	Tasks []TaskChange
}

// ClaimStepsParams ask for a batch of ready steps.
type ClaimStepsParams struct {
	Owner    string
	Limit    int
	LeaseTTL time.Duration
	// Handlers, when set, restricts claims to steps of these handlers.
	Handlers []string
	// Queues, when set, restricts claims to steps of these queues.
	Queues []string
	// Grouped also claims steps in concurrency groups, within their
	// limits (a count under a lock per group, so it costs more).
	Grouped bool
	// ByReadyTime orders the claim by ready time alone, ignoring priority:
	// the engine takes such a turn now and then so that a flood of high
	// priority work cannot starve the rest.
	ByReadyTime bool
	Now         time.Time
}

// ClaimedStep is a leased step with what its handler needs.
type ClaimedStep struct {
	Step *Step
	Task *Task
	// Deps are the results of the step's dependencies, by step name.
	Deps map[string]JSON
}

// OutcomeKind says how an attempt ended.
type OutcomeKind int

// Outcome kinds.
const (
	// OutcomeComplete records results; the step is done.
	OutcomeComplete OutcomeKind = iota + 1
	// OutcomeRetry records a failure; the step returns to pending after
	// RetryAfter when it is retryable and has attempts left, and goes to
	// error otherwise.
	OutcomeRetry
	// OutcomeFail records a permanent failure: the step goes to error and
	// its task fails.
	OutcomeFail
	// OutcomeSuspend returns the step to pending until RetryAfter from now
	// without counting the attempt (a code-first workflow's driver waiting
	// for a timer, an event or a retry of one of its durable steps). With
	// WakeOnEvents set, the step is ready at once when an unconsumed event
	// of one of those names already exists for the task, so no event is
	// missed between the driver's last look and the suspension; with
	// WakeOnTasks set, when one of those tasks (a child) has finished, so
	// a child finishing while the suspension commits is not missed.
	OutcomeSuspend
)

// StepOutcome is the end of one attempt of a claimed step.
type StepOutcome struct {
	Lease      Lease
	Kind       OutcomeKind
	Results    JSON
	Error      JSON
	RetryAfter time.Duration
	Metadata   JSON
	// WakeOnEvents, for OutcomeSuspend only: event names (see OutcomeSuspend).
	WakeOnEvents []string
	// WakeOnTasks, for OutcomeSuspend only: task ids (see OutcomeSuspend).
	WakeOnTasks []int64
	// Records are durable steps of a code-first task whose driver is this
	// outcome's step, each completed on its first attempt (Kind
	// OutcomeComplete, Attempt 1, no row yet, Driver the outcome's Lease).
	// They are inserted, with their transitions, in the commit that
	// records the outcome, and only when it is recorded: a lost lease
	// writes neither. The driver so commits its last steps with its
	// result instead of one commit before it.
	Records []*RecordStepParams
}

// FinishStepsParams carry a group of outcomes to commit together.
type FinishStepsParams struct {
	Outcomes []StepOutcome
	Now      time.Time
	// Claim, when set, also claims ready steps in the same transaction
	// (the dependants these outcomes just released, say), saving the
	// claim's own commit. They are returned in FinishStepsResult.Claimed.
	Claim *ClaimStepsParams
	// ClaimUnblockedOnly limits Claim to the steps these outcomes make
	// ready (the next steps of their tasks), outside concurrency groups
	// and rate limits; other ready work is left to the claim loop. A
	// worker with no backlog so continues its chains without searching
	// the queue, and on Postgres a group of completions then commits in
	// one statement.
	ClaimUnblockedOnly bool
	// Watch names tasks the caller wants whole (a process's waiters, and
	// the tasks its handles may wait for) if this commit finishes them. A store returns in
	// FinishStepsResult.Finished those its commit can return without
	// another statement (Postgres, for a group of completions; other
	// groups and SQLite return none): the caller reads the others.
	Watch []int64
}

// FinishedStep reports what happened to one outcome.
type FinishedStep struct {
	StepID int64
	TaskID int64
	State  StepState // the step's new state
	Err    error     // ErrLeaseLost when the outcome was discarded
}

// TaskChange is a task that changed state as a consequence of a write.
type TaskChange struct {
	TaskID int64
	From   TaskState
	To     TaskState
}

// FinishStepsResult reports each outcome, in order, and the tasks that
// completed or failed in the same commit.
type FinishStepsResult struct {
	Steps []FinishedStep
	Tasks []TaskChange
	// Unblocked counts steps whose last dependency completed here.
	Unblocked int
	// Claimed are the steps claimed for FinishStepsParams.Claim.
	Claimed []*ClaimedStep
	// Finished are tasks of FinishStepsParams.Watch this commit finished,
	// as GetTask would read them after it.
	Finished []*TaskDetail
}

// ExtendLeasesParams push leases forward.
type ExtendLeasesParams struct {
	Leases []Lease
	// LeaseTTL is how long past Now the leases then expire: positive.
	LeaseTTL time.Duration
	Now      time.Time
}

// ReleaseLeasesParams give leases back.
type ReleaseLeasesParams struct {
	Leases []Lease
	Now    time.Time
}

// RescueExpiredParams bound one rescue pass.
type RescueExpiredParams struct {
	Limit int // 0: the default 1000
	Now   time.Time
	// DeadlineCause, when set (a JSON object), also fails the unfinished
	// tasks whose deadline (CreateTaskParams.Deadline) has passed, up to
	// Limit, with it as their last error and their move's metadata: also
	// those whose steps no worker claims. Their running steps are left
	// to their attempts, and their pending ones are never claimed (a
	// claim skips a failed task).
	DeadlineCause JSON
	// ExpiredCause, when set (a JSON object), is the last error recorded
	// on the steps whose lease expired (and on their tasks, failed when a
	// step is out of attempts) and their moves' metadata, in place of the
	// store's own {"error":"lease expired: …","reason":"lease_expired"}:
	// the engine's carries the diagnosis its rules give.
	ExpiredCause JSON
}

// RescueResult reports a rescue pass.
type RescueResult struct {
	Rescued  int // back to pending
	Failed   int // out of attempts: to error
	TimedOut int // tasks past their deadline: to error (DeadlineCause)
	Tasks    []TaskChange
	// Steps are the steps the pass moved (Rescued and Failed), by id.
	Steps []RescuedStep
	// FailedTasks are the tasks of Tasks that moved to error, as the pass
	// left them, read in its transaction (one statement) without their
	// Context and Results: what announcing their end needs (workflow,
	// version, queue, trace context, LastError), with no read per task.
	FailedTasks []*Task
}

// RescuedStep is a step whose lease expired, moved by a rescue pass.
type RescuedStep struct {
	StepID   int64
	TaskID   int64
	Name     string
	Attempts int       // the attempts made, the one whose lease expired included
	State    StepState // pending (attempts left) or error
	Error    JSON      // the step's last error: its lease expired
}

// SendEventParams describe an event for a task.
type SendEventParams struct {
	TaskID  int64
	Name    string
	Key     string
	Payload JSON
	Now     time.Time
}

// RetireIdentityParams free a finished task's identity key.
type RetireIdentityParams struct {
	TaskID      int64
	IdentityKey string      // the key the task must still have
	Retired     string      // its new, never-started identity
	States      []TaskState // the task must be in one of these
	Now         time.Time
}

// Validate checks the task id, the keys and the states.
func (p *RetireIdentityParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	var errs []error
	if len(p.States) == 0 {
		errs = append(errs, invalid("states", "at least one state is required"))
	}
	for _, s := range p.States {
		if !s.Valid() {
			errs = append(errs, invalid("states", "unknown task state %q", s))
		}
	}
	switch {
	case p.Retired == "" || p.Retired == p.IdentityKey:
		errs = append(errs, invalid("retired", "must be set and differ from the identity key"))
	case strings.IndexByte(p.Retired, 0) >= 0:
		errs = append(errs, invalid("retired", "contains a NUL byte"))
	case !utf8.ValidString(p.Retired):
		// (No length limit: the engine's retired key is the identity
		// key, which may be MaxNameLen long, behind a prefix.)
		errs = append(errs, invalid("retired", "is not valid UTF-8"))
	}
	return errors.Join(append(errs, CheckTaskID("task_id", p.TaskID), checkName("identity_key", p.IdentityKey, true))...)
}

// Kinds of WorkflowValue.
const (
	ValueQuery = "query" // query state: the value with the highest Seq wins
	ValueReply = "reply" // an update's answer: the first value written wins
)

// SetWorkflowValueParams publish a value of a code-first workflow.
type SetWorkflowValueParams struct {
	Driver Lease // the task's driver step, leased by the caller
	TaskID int64
	Kind   string // ValueQuery or ValueReply
	Name   string
	Seq    int // the workflow's durable sequence when the value was set
	Value  JSON
	Now    time.Time
}

// Validate checks the kind, name and value.
func (p *SetWorkflowValueParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	var errs []error
	if p.Kind != ValueQuery && p.Kind != ValueReply {
		errs = append(errs, invalid("kind", "must be %q or %q, got %q", ValueQuery, ValueReply, p.Kind))
	}
	if p.Seq < 0 {
		errs = append(errs, invalid("seq", "must not be negative, got %d", p.Seq))
	}
	if len(p.Value) == 0 {
		errs = append(errs, invalid("value", "is required"))
	}
	return errors.Join(append(errs, CheckTaskID("task_id", p.TaskID), CheckStepID("driver.step_id", p.Driver.StepID),
		checkName("name", p.Name, true), checkJSON("value", p.Value, false))...)
}

// ConsumeEventParams ask for the oldest unconsumed event of a name.
type ConsumeEventParams struct {
	TaskID int64
	Name   string
	Now    time.Time
}

// MoveEventsParams name the task whose unconsumed events go to another.
type MoveEventsParams struct {
	From, To int64
}

// KeepForever is a task's retention (CreateTaskParams.Retention) that
// DeleteFinished never deletes it by.
const KeepForever time.Duration = -1

// Orphan is an unfinished task whose parent has ended for good
// (ListOrphans).
type Orphan struct {
	ID          int64
	ParentID    int64
	ParentState TaskState // complete, cancelled or resolved_manually
}

// ListOrphansParams page through the orphans (ListOrphans): those with
// an id above After (0: from the first), at most Limit (at least 1).
type ListOrphansParams struct {
	After int64
	Limit int
}

// DeleteFinishedParams bound one retention batch.
type DeleteFinishedParams struct {
	// Before: tasks created without a retention of their own are deleted
	// when they finished strictly earlier. Zero: none of them is (the
	// default is to keep them).
	Before time.Time
	// Now: a task with a retention of its own is deleted when it finished
	// strictly before Now minus that retention. Required.
	Now   time.Time
	Limit int // default 500
}

// ElectParams ask for (or renew) a leadership lease.
type ElectParams struct {
	Name  string // what is led, e.g. "maintenance"
	Owner string // who asks, unique per process
	TTL   time.Duration
	Now   time.Time
}

// RecordStepParams record one durable step of a code-first task.
//
// Kind says what happens to the row at (TaskID, Sequence):
//   - OutcomeComplete: complete with Results (attempts+1).
//   - OutcomeRetry: a failed attempt (attempts+1) with Error; the row
//     waits until RetryAfter from now when Retryable and attempts remain,
//     and goes to error otherwise.
//   - OutcomeFail: error with Error (attempts+1).
//   - OutcomeSuspend: the row waits (pending) until RetryAfter from now; a
//     row that already exists is left as it is (its first wake time holds).
//
// A row in error does not fail the task and no longer counts as unfinished:
// the workflow handles the failure, or its driver fails.
//
// With ConsumeEvent set, when an unconsumed event of that name exists for
// the task, it is consumed in the same transaction and the row completes
// with {"event_id","name","key","payload"} instead of what Kind says.
type RecordStepParams struct {
	Driver     Lease // the code-first task's driver step, leased by the caller
	TaskID     int64
	Sequence   int
	Name       string
	Handler    string
	Config     JSON
	Policy     JSON
	Retryable  bool
	RetryLimit int // total attempts; 0 means DefaultRetryLimit
	Kind       OutcomeKind
	Results    JSON
	Error      JSON
	RetryAfter time.Duration
	// Attempt is the attempt this record is of, when the caller knows it:
	// 1 for the first (the step has no row yet), n for the n-th (its row
	// waits, pending, after n-1 attempts). A row that disagrees fails the
	// record with ErrConflict. Zero: any (RecordStep only; RecordAttempts
	// requires it).
	Attempt int
	// Ran is how long the attempt ran, when the caller timed it: the
	// row's started_at is that long before Now, so that completed_at
	// minus started_at is the attempt's duration, as a DAG step's is
	// (ReportStep.StartedAt). Zero: it started at Now. A suspension,
	// which is no attempt, leaves started_at as it is. Not negative.
	Ran time.Duration
	// ConsumeEvent: see RecordStepParams.
	ConsumeEvent string
	Now          time.Time
}

// RecordedStep is one result of RecordAttempts.
type RecordedStep struct {
	Step *Step
	Err  error // ErrLeaseLost when the driver's lease was not current
}

// Validate checks a durable step record.
func (p *RecordStepParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	var errs []error
	if p.Kind < OutcomeComplete || p.Kind > OutcomeSuspend {
		errs = append(errs, invalid("kind", "unknown outcome kind %d", p.Kind))
	}
	if p.Sequence < 1 {
		errs = append(errs, invalid("sequence", "must be at least 1, got %d", p.Sequence))
	}
	if p.RetryAfter < 0 {
		errs = append(errs, invalid("retry_after", "must not be negative"))
	}
	if p.Attempt < 0 {
		errs = append(errs, invalid("attempt", "must not be negative, got %d", p.Attempt))
	}
	if p.Ran < 0 {
		errs = append(errs, invalid("ran", "must not be negative, got %s", p.Ran))
	}
	if p.RetryLimit < 0 || p.RetryLimit > MaxCount {
		errs = append(errs, invalid("retry_limit", "must be at least 1 (0 means the default %d) and at most %d, got %d", DefaultRetryLimit, MaxCount, p.RetryLimit))
	}
	errs = append(errs, CheckTaskID("task_id", p.TaskID), CheckStepID("driver.step_id", p.Driver.StepID),
		checkName("name", p.Name, true), checkName("handler", p.Handler, true),
		checkName("consume_event", p.ConsumeEvent, false),
		checkJSON("config", p.Config, false), checkJSON("policy", p.Policy, false),
		checkJSON("results", p.Results, false), checkJSON("error", p.Error, false))
	return errors.Join(errs...)
}

// WakeTaskParams name the task to wake.
type WakeTaskParams struct {
	TaskID int64
	Now    time.Time
}

// TaskOutcome is what Wait reports of a task (GetTaskOutcomes): its
// identity, kind, state and error and, once it has finished, each step's
// name and result — no timestamps, input or bookkeeping.
type TaskOutcome struct {
	ID          int64
	Namespace   string
	Name        string
	Kind        Kind
	IdentityKey string
	State       TaskState
	LastError   JSON
	// Steps are set once State.Done(), in creation order.
	Steps []OutcomeStep
}

// OutcomeStep is one step of a TaskOutcome.
type OutcomeStep struct {
	Name    string
	Results JSON
	// Final: no step depends on it (a DAG's result is its final steps').
	Final bool
}

// Outcome is d as GetTaskOutcomes reads it (d's steps in its order).
func (d *TaskDetail) Outcome() *TaskOutcome {
	t := d.Task
	o := &TaskOutcome{ID: t.ID, Namespace: t.Namespace, Name: t.Name, Kind: t.Kind, IdentityKey: t.IdentityKey, State: t.State, LastError: t.LastError}
	if !t.State.Done() {
		return o
	}
	upstream := make(map[int64]bool, len(d.Edges))
	for _, e := range d.Edges {
		upstream[e.FromStepID] = true
	}
	o.Steps = make([]OutcomeStep, len(d.Steps))
	for i, s := range d.Steps {
		o.Steps[i] = OutcomeStep{Name: s.Name, Results: s.Results, Final: !upstream[s.ID]}
	}
	return o
}
