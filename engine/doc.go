// Package engine is the Tasker SDK: declare workflows as DAGs of named
// steps, start them, and run them to completion across crashes, retries
// and restarts.
//
// # Workflows
//
// A Template names its steps, their handlers and dependencies, retry
// limits (total attempts), backoff, timeouts and handler config. Define it
// in Go or load it from YAML (LoadTemplateFile, with environment overrides
// deep-merged over the base). Register validates it — every problem at
// once: cycles named step by step, unknown dependencies and handlers,
// duplicates, bad limits — and Start snapshots it into a task's steps and
// edges, so code deployed later never changes a running task.
//
// # Code-first workflows
//
// RegisterWorkflow registers a Go function; StartWorkflow starts it. Each
// durable call (Step, Go, Sleep, WaitEvent, Child, Version) is recorded
// under the task in call order, and every run of the function replays the
// recorded ones from the database before executing new ones. A durable step
// that fails for good returns a *StepFailedError the function may handle
// (compensate, take another path); only an error the function returns
// fails the workflow. Select waits for the first of several futures, events
// and timers (NewTimer); ContinueAsNew ends a run and starts the next one
// with an empty history, so a loop never makes replays grow.
// SetQueryState publishes state that Query reads from any process; Update
// sends a request, idempotent per update id, that the workflow receives
// (ReceiveUpdate, OnUpdate) and answers (UpdateRequest.Reply) once.
//
// Code changes while workflows are asleep: wrap each change in Version
// (changeID, minSupported, maxSupported), which records the version a run
// chose, so histories recorded by older code keep the old path and new runs
// take the new one. Before a deploy, replay recorded histories against the
// new code: Replay (a task in the database) or ReplayHistory (a
// WorkflowHistory saved as JSON, as testkit's Env.SaveHistory and
// testkit.ReplayFile do in CI) report a *NonDeterminismError or a
// *VersionError without executing anything.
//
// # Handlers
//
// A Handler receives a *StepContext: a context.Context carrying the step's
// deadline (cancelled when the task is cancelled or the lease is lost), the
// task input (Input), its own config (Config), its dependencies' results
// (Result[T]), the attempt number, an idempotency key stable across
// attempts, and a logger with the task, step, attempt and key on every line.
// It returns a JSON-encodable result or an error: a *RetryableError
// (optionally with RetryAfter, which replaces the backoff exactly, and
// MaxRetries), a *PermanentError (no further attempts; the task fails),
// Skip (a Skippable step ends without a result), or any other error,
// retried under the step's policy. A panic becomes a *PanicError with its
// stack and is retried.
//
// # Outcomes and errors
//
// Wait returns a task's Outcome. Outcome.Err is nil for a completed task
// and otherwise a *TaskError read from the database, so errors.Is(err,
// ErrStepFailed), ErrWorkflowTimeout, ErrNonDeterministic,
// ErrVersionUnsupported and ErrCancelled hold in any process, and
// errors.As gives the *StepError (step, attempt, kind, code, message). A
// TaskHandle remembers its task's identity and never denotes another task.
//
// # Running
//
// Run claims ready steps in batches with leases, runs their handlers
// concurrently (up to ExecutionConfig.MaxConcurrency), heartbeats long
// steps, and records outcomes in grouped transactions, which claim the
// steps they make ready. A Start in a process running with free slots
// claims its task's first ready steps in the creating transaction and runs
// them here (eager dispatch; not while the claim loop has a backlog, nor
// for InTx starts or StartMany). Other work started in this process wakes
// idle workers at once; Postgres wakes other processes through
// LISTEN/NOTIFY; a poll interval covers the rest; and the claim loop arms
// its timer for the earliest due time it knows (a retry, a sleep's end),
// busy or idle. Stop stops claiming, lets running handlers finish until its
// context ends, then cancels them and returns by the deadline even when a
// handler ignores cancellation. RunBackground returns once the engine runs.
// RunOnce runs what is ready synchronously (testkit uses it).
//
// The machinery lives in engine/internal, one part per package, each
// testable alone: claimer (the claim loop and its due times), dispatch (the
// concurrency budget), attempt (one attempt of user code: deadline, panic),
// completer (group commit), maintainer (heartbeat, rescue, retention),
// tuner (dynamic concurrency), inflight, waiters and bus. Engine holds the
// public API and wires them.
//
// # Routing
//
// A worker claims only steps whose handler (or code-first workflow) it
// registered, on the queues it serves (ExecutionConfig.Queues), highest
// priority first (WithPriority, Template.Priority; every tenth claim takes
// the longest-waiting step so none starves), within fleet-wide limits
// enforced in the claim transaction: concurrency per workflow or per input
// key (Template.Concurrency, WithConcurrency) and token-bucket rate limits
// per dependent system (Template.RateLimits). Steps held back cost no
// attempt; Explain says which limit holds them.
//
// # Identity
//
// Start is idempotent: by default a task's identity is a hash of the
// template and the normalised input; WithIdempotencyKey uses the caller's
// key (another input under the same key is refused with store.ErrConflict);
// Unique always creates. InTx creates the task inside the caller's bun.Tx.
//
// # Schedules
//
// Schedule stores a schedule that starts a workflow (DAG or code-first) on
// every tick of a cron spec (robfig/cron syntax, seconds optional, UTC
// unless ScheduleOptions.Location or a CRON_TZ= prefix names a zone) or of
// "@every <duration>" (anchored at the Unix epoch). The process leading the
// schedules fires them while it runs; each tick's run takes an identity
// made of the schedule and the tick's time, so a tick fires exactly once
// however many leaders come and go, and a new leader catches up on the
// ticks missed within ScheduleOptions.CatchUpWindow. ScheduleOptions.Overlap
// says what a tick does while the previous run goes on (skip, buffer one,
// allow all, cancel previous); Jitter spreads the runs. Schedules lists
// them with their next fire times; PauseSchedule, ResumeSchedule,
// TriggerSchedule and DeleteSchedule operate them, as does `tasker
// schedules`.
//
// # Payload codec
//
// Config.Codec encodes (compresses, encrypts) the payloads the engine
// stores — inputs, results, events and updates, query state, schedules'
// inputs — as JSON envelopes {"tasker:codec": name, "data": base64} and
// decodes them when read; MaxPayloadBytes bounds the envelope. A payload of another codec, or
// read without one, is refused with ErrCodec. examples/codec encrypts with
// AES-256-GCM.
//
// # Operators and events
//
// Cancel, Retry and Resolve act through the state machine and are refused
// with a clear error when illegal; WithActor names who acts, recorded as
// "actor" in the metadata of the transitions they write. Subscribe delivers lifecycle events
// (task.started, step.completed, step.retry_scheduled, task.failed, …)
// without ever blocking execution.
//
// # Workers and Explain
//
// A running engine records itself in the store's worker registry (its
// Config.WorkerID, the handlers and workflows it serves, Config.Version,
// its concurrency) when Run starts, refreshes the record with every lease
// heartbeat and deletes it when Run ends; a crashed process's record
// expires WorkerTTLFactor lease TTLs after its last heartbeat. Workers
// lists the live ones. Explain says, for each unfinished step of a task,
// why it is not running now — in words (StepExplanation.Reason) and as data
// (an ExplainKind with the times, workers, dependencies and errors it
// names): waiting on dependencies, a retry due at a time, leased by a
// worker, ready but no live worker serves its handler, its dependent system
// paused, a workflow asleep or waiting for an event, its task finished.
//
// # Logs, metrics and traces
//
// The engine logs through zap (Config.Logger) or log/slog (Config.Slog);
// with neither, warnings and errors go to standard error — only what it
// cannot report another way (see Config.Logger). NewMetrics returns a
// Prometheus collector for the application's registry: tasks by workflow
// and outcome, step attempt durations, retries, rescues, transactions, the
// pool, and the per-queue lag measured by the maintenance leader (see
// Metrics). The admin package serves them with an HTTP API and dashboard.
//
// With an OpenTelemetry tracer provider (Config.TracerProvider, else the
// global one; a no-op until the application installs one) Start makes a
// span under the caller's and stores its W3C trace context with the task
// (nothing with the no-op provider: the column stays NULL; a span the
// sampler left out is stored too, unsampled, so every process keeps the
// sampler's decision);
// each step attempt is a span continued from that context in whichever
// process claims the step; a code-first workflow's runs carry its durable
// steps, sleeps, event waits and children as child spans; and the process
// that ends a task emits a span covering its whole run. Their attributes
// are tasker.workflow, tasker.workflow.version, tasker.task.id,
// tasker.step, tasker.step.sequence, tasker.attempt, tasker.queue,
// tasker.outcome and tasker.error.kind; the instrumentation scope is
// TracerName.
//
// # Diagnostics, predictive retry, the report
//
// Every recorded failure carries a Diagnosis (rules matched, insights,
// suggestions, a snapshot of the pool and the concurrency; add rules with
// Config.DiagnosisRules). With Template.PredictiveRetry, or the
// predictive_retry toggle, a retry's backoff is weighed by the error's
// class, the pool's pressure and the step's recent success rate at the
// coming attempt (BackoffDecision, bounded by Config.PredictiveRetry).
// Report computes the performance report of a window, cached like the
// predictive retry's history (Status.Cache reports their hit rates).
// Preset returns the development, test and production configurations.
// Finished tasks are deleted after ExecutionConfig.Retention (default
// DefaultRetention, 7 days; KeepForever keeps them), or after their
// workflow's own (Template.Retention, WithRetention for code-first ones).
package engine
