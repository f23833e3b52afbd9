// Package store is the persistence boundary of Tasker: the records (Task,
// Step, Edge, TaskTransition, StepTransition, Event), the task and step
// state machines, the Store interface every backend implements, and the
// sentinel errors callers match with errors.Is.
//
// # State machines
//
// Task: pending → in_progress | cancelled | error; in_progress → complete |
// error | cancelled | pending; error → pending (operator retry) |
// resolved_manually. complete → cancelled and resolved_manually → cancelled
// are operator overrides: refused unless forced, so a finished task's record
// does not change by accident. Step: pending → in_progress | error |
// cancelled | resolved_manually; in_progress → complete | error | cancelled |
// pending; error → pending | resolved_manually | cancelled. A move to the
// current state is refused. CheckTaskTransition and CheckStepTransition are
// the pure rules; the Store adds the guards that need other rows (a step
// starts only when every dependency is satisfied; a task completes only
// when every step is).
//
// # Transitions
//
// Every state change writes the row's new state and appends a transition
// row (from, to, sort key, metadata, time) in one transaction, guarded on
// the expected current state: of two concurrent writers exactly one wins
// and the other gets ErrConflict. Transition rows are append-only: the
// current one of an object is its highest sort key (unique per object),
// which History reports as MostRecent, so no write demotes the row before
// it. A step that has never moved has no transition rows and is pending.
// A task's first transition comes from no state (FromState nil): to
// pending, or straight to in_progress when its first steps are claimed in
// the commit that creates it (an eager start: it was never pending to
// anyone, so no pending → in_progress row is written beside it).
//
// # Retries and errors
//
// A retryable failure moves a step in_progress → pending with its next
// attempt time pushed back; the transition's metadata carries the error. A
// step in error is out of attempts or failed permanently, and its task
// fails in the same transaction. RetryLimit counts total attempts and the
// first attempt always runs, retryable or not.
//
// # Leases
//
// ClaimSteps hands out steps with a lease (owner, expiry, token).
// FinishSteps, ExtendLeases and ReleaseLeases act only while the token is
// the step's current one, so a worker that lost its lease — it expired and
// was rescued, or the task was cancelled — can never record a result.
//
// # Backends
//
// store/sqlite (embedded) and store/postgres (many processes) share one bun
// repository; store/storetest is the conformance suite both pass.
package store
