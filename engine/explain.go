package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tasker-go/tasker/store"
)

// ExplainKind says, as data, why a step is not running now.
type ExplainKind string

// Why a step is not running (Explain).
const (
	// ExplainDependencies: dependencies have not finished (WaitingOn
	// names them).
	ExplainDependencies ExplainKind = "waiting_on_dependencies"
	// ExplainRetry: a failed attempt is retried at Until (Attempt of
	// MaxAttempts, LastError). For a code-first driver, Durable names the
	// durable step that retries.
	ExplainRetry ExplainKind = "retry_scheduled"
	// ExplainLeased: Worker runs it; its lease lasts until Until.
	ExplainLeased ExplainKind = "leased"
	// ExplainNoLiveWorker: it is ready, but no live worker in the registry
	// serves its handler on its queue (Explanation.LiveWorkers lists the
	// live ones; there are none at all when it is empty).
	ExplainNoLiveWorker ExplainKind = "no_live_worker"
	// ExplainSystemPaused: the dependent system it calls (System) is paused
	// until Until, or its circuit breaker is open (Until is then when the
	// step looks again, every second while it stays open). For a
	// code-first driver, Durable names the durable step held
	// (WithStepDependentSystem).
	ExplainSystemPaused ExplainKind = "system_paused"
	// ExplainLimitReached: it is ready, but its concurrency group (Group)
	// already runs its limit of steps (Holders name them).
	ExplainLimitReached ExplainKind = "limit_reached"
	// ExplainRateLimited: it is ready, but the rate limit of the system it
	// calls (System) has no token until Until.
	ExplainRateLimited ExplainKind = "rate_limited"
	// ExplainReady: it is claimable now by one of LiveWorkers.
	ExplainReady ExplainKind = "ready"
	// ExplainSleeping: a code-first workflow sleeps until Until.
	ExplainSleeping ExplainKind = "sleeping"
	// ExplainWaitingForEvent: a code-first workflow waits for Event until
	// Until (its timeout).
	ExplainWaitingForEvent ExplainKind = "waiting_for_event"
	// ExplainWaitingForChild: a code-first workflow waits for a child
	// workflow; it looks again at Until.
	ExplainWaitingForChild ExplainKind = "waiting_for_child"
	// ExplainScheduled: it may not start before Until (for another reason
	// than the above, e.g. a suspension).
	ExplainScheduled ExplainKind = "scheduled"
	// ExplainFailed: it failed for good (LastError); it runs again only
	// after an operator's retry, which a task that failed its
	// WithWorkflowTimeout does not get: Resolve closes that one (a
	// code-first workflow's DriverStep, a DAG task's unfinished steps).
	ExplainFailed ExplainKind = "failed"
	// ExplainTaskFinished: its task is finished (cancelled, failed,
	// resolved): it will not run.
	ExplainTaskFinished ExplainKind = "task_finished"
)

// Explanation says why a task's unfinished steps are not running now.
type Explanation struct {
	TaskID   int64           `json:"task_id"`
	Workflow string          `json:"workflow"` // "namespace/name"
	Kind     store.Kind      `json:"kind"`
	State    store.TaskState `json:"state"`
	// Reason sums the task up in words.
	Reason string `json:"reason"`
	// Steps: one per unfinished step (for a code-first task, its driver:
	// the durable steps it records are never claimed on their own).
	Steps []StepExplanation `json:"steps"`
	// LiveWorkers are the ids of the live workers of the registry.
	LiveWorkers []string  `json:"live_workers"`
	At          time.Time `json:"at"` // when the explanation was made
}

// StepExplanation is why one step is not running, in words (Reason) and
// as data (Kind and the fields it names).
type StepExplanation struct {
	StepID  int64           `json:"step_id"`
	Step    string          `json:"step"`
	Handler string          `json:"handler"`
	State   store.StepState `json:"state"`
	Kind    ExplainKind     `json:"kind"`
	Reason  string          `json:"reason"`

	WaitingOn []string  `json:"waiting_on,omitempty"` // unfinished dependencies
	Until     time.Time `json:"until,omitzero"`       // when the wait ends (or is rechecked)
	// Attempt is the attempt running (leased) or the next one (retry), of
	// MaxAttempts (1 for a step that is not retryable).
	Attempt     int    `json:"attempt,omitempty"`
	MaxAttempts int    `json:"max_attempts,omitempty"`
	LastError   string `json:"last_error,omitempty"`
	Worker      string `json:"worker,omitempty"` // the lease owner
	// WorkerLive: the lease owner is a live worker of the registry.
	WorkerLive bool   `json:"worker_live,omitempty"`
	System     string `json:"system,omitempty"`       // the dependent system
	Event      string `json:"event,omitempty"`        // the event waited for
	Durable    string `json:"durable_step,omitempty"` // code-first: the durable step waited on (retried or held by its system)
	Child      string `json:"child,omitempty"`        // code-first: the child workflow waited for
	Queue      string `json:"queue,omitempty"`
	// LiveWorkers serving the handler on the queue (ExplainReady).
	LiveWorkers []string `json:"live_workers,omitempty"`
	// Group is the step's concurrency group; Holders the running steps
	// that fill it ("task 7 step charge on worker w1").
	Group   string   `json:"group,omitempty"`
	Holders []string `json:"holders,omitempty"`
	// Diagnosis of the last failure, and how its retry's delay was
	// chosen when the predictive retry chose it.
	Diagnosis *Diagnosis       `json:"diagnosis,omitempty"`
	Backoff   *BackoffDecision `json:"backoff,omitempty"`
}

// Explain says, for each unfinished step of a task, why it is not running
// now: waiting on named dependencies, a retry due at a time, leased by a
// worker until a time, ready but served by no live worker, its dependent
// system paused, a code-first workflow sleeping or waiting for an event or
// a child, or its task finished. It reads the task, its history and the
// worker registry; it changes nothing.
func (e *Engine) Explain(ctx context.Context, taskID int64) (*Explanation, error) {
	if err := checkTaskID(taskID); err != nil {
		return nil, fmt.Errorf("explaining task %d: %w", taskID, err)
	}
	d, err := e.st.GetTask(ctx, taskID)
	if err != nil {
		return nil, fmt.Errorf("explaining task %d: %w", taskID, err)
	}
	h, err := e.st.History(ctx, taskID)
	if err != nil {
		return nil, fmt.Errorf("explaining task %d: %w", taskID, err)
	}
	workers, err := e.st.ListWorkers(ctx, &store.ListWorkersParams{Now: e.now()})
	if err != nil {
		return nil, fmt.Errorf("explaining task %d: %w", taskID, err)
	}
	x := &explainer{e: e, d: d, workers: workers, now: e.clk.Now(), last: map[int64]*store.StepTransition{}, byID: map[int64]*store.Step{}}
	for _, tr := range h.Steps {
		if tr.MostRecent {
			x.last[tr.StepID] = tr
		}
	}
	for _, s := range d.Steps {
		x.byID[s.ID] = s
	}
	t := d.Task
	out := &Explanation{TaskID: t.ID, Workflow: t.Namespace + "/" + t.Name, Kind: t.Kind, State: t.State, LiveWorkers: []string{}, Steps: []StepExplanation{}, At: x.now}
	for _, w := range workers {
		out.LiveWorkers = append(out.LiveWorkers, w.ID)
	}
	for _, s := range d.Steps {
		if s.Sequence != nil || s.State.Satisfied() || s.State == store.StepCancelled {
			continue
		}
		out.Steps = append(out.Steps, x.step(ctx, s))
	}
	out.Reason = summary(out)
	return out, nil
}

// explainer holds what Explain read.
type explainer struct {
	e       *Engine
	d       *store.TaskDetail
	workers []*store.Worker
	now     time.Time
	last    map[int64]*store.StepTransition // each step's latest transition
	byID    map[int64]*store.Step
}

func (x *explainer) step(ctx context.Context, s *store.Step) StepExplanation {
	out := StepExplanation{StepID: s.ID, Step: s.Name, Handler: s.Handler, Queue: s.Queue, State: s.State, MaxAttempts: allowedAttempts(s)}
	t := x.d.Task
	lastErr := ""
	if f := decodeFailure(s.LastError); f != nil {
		lastErr, out.Diagnosis, out.Backoff = f.Message, f.Diagnosis, f.Backoff
	}
	switch {
	case s.State == store.StepError:
		out.Kind, out.Attempt, out.LastError = ExplainFailed, s.Attempts, lastErr
		out.Reason = fmt.Sprintf("failed for good after attempt %d of %d: %s", s.Attempts, out.MaxAttempts, orNone(lastErr))
		switch {
		case t.State == store.TaskError && pastTimeout(t):
			out.Reason += fmt.Sprintf("; task %d failed its WithWorkflowTimeout, which Retry cannot undo: %s", t.ID, closesTimedOut(t))
		case t.State == store.TaskError:
			out.Reason += fmt.Sprintf("; task %d is in error until an operator retries it", t.ID)
		}
		return out
	case t.State.Done():
		out.Kind = ExplainTaskFinished
		out.Reason = fmt.Sprintf("task %d is %s: this step will not run", t.ID, t.State)
		switch {
		case t.State == store.TaskError && pastTimeout(t):
			out.Reason += " (the task failed its WithWorkflowTimeout, which Retry cannot undo: " + closesTimedOut(t) + ")"
		case t.State == store.TaskError:
			out.Reason += " unless an operator retries the task"
		}
		return out
	case s.State == store.StepInProgress:
		return x.leased(s, out)
	}
	// Pending.
	switch {
	case s.PendingDeps > 0:
		out.Kind, out.WaitingOn = ExplainDependencies, x.unfinishedDeps(s)
		out.Reason = fmt.Sprintf("waiting on %s: %s", plural(len(out.WaitingOn), "dependency", "dependencies"), strings.Join(out.WaitingOn, ", "))
	case x.now.Before(s.NextAttemptAt):
		out = x.waiting(ctx, s, out, lastErr)
	default:
		out = x.ready(ctx, s, out)
	}
	if dl := t.DeadlineAt; dl != nil && !x.now.Before(*dl) {
		// Not claimable for long: a claim fails it, and so does the next
		// maintenance pass (Rescue).
		out.Reason += fmt.Sprintf("; task %d is past its WithWorkflowTimeout deadline (%s): the next maintenance pass fails it", t.ID, fmtWhen(dl.UTC()))
	}
	return out
}

// pastTimeout reports whether a task in error failed its
// WithWorkflowTimeout, which Retry refuses, and SendEvent a new event for
// it: no run starts after its deadline.
func pastTimeout(t *store.Task) bool {
	f := decodeFailure(t.LastError)
	return f != nil && f.Kind == KindWorkflowTimeout
}

// closesTimedOut says what closes task t, in error past its
// WithWorkflowTimeout, which Retry refuses (Explain and Retry's refusal
// say it alike).
func closesTimedOut(t *store.Task) string {
	if t.Kind == store.KindCode {
		return fmt.Sprintf("close the workflow with its result by resolving its driver step (Resolve with DriverStep, %q)", DriverStep)
	}
	return "Resolve its unfinished steps (the failed ones last: a task with no failed step left runs on and meets its deadline again)"
}

// allowedAttempts is how many attempts s may make: one for a step that is
// not retryable (NotRetryable, WithStepNoRetry), whose stored RetryLimit
// is the default it never uses; else its RetryLimit.
func allowedAttempts(s *store.Step) int {
	if !s.Retryable {
		return 1
	}
	return s.RetryLimit
}

// leased explains a step in progress.
func (x *explainer) leased(s *store.Step, out StepExplanation) StepExplanation {
	out.Kind, out.Attempt = ExplainLeased, s.Attempts
	if s.LeaseOwner != nil {
		out.Worker = *s.LeaseOwner
	}
	if s.LeaseExpiresAt != nil {
		out.Until = s.LeaseExpiresAt.UTC()
	}
	for _, w := range x.workers {
		if w.ID == out.Worker {
			out.WorkerLive = true
		}
	}
	out.Reason = fmt.Sprintf("running attempt %d of %d on worker %s, leased until %s", s.Attempts, out.MaxAttempts, out.Worker, fmtWhen(out.Until))
	if !out.WorkerLive {
		out.Reason += fmt.Sprintf(" (worker %s is not a live worker of the registry)", out.Worker)
	}
	if !out.Until.IsZero() && !x.now.Before(out.Until) {
		out.Reason += "; the lease has expired: the next rescue returns the step to pending (the attempt counts)"
	}
	return out
}

// waiting explains a pending step whose next attempt is later.
func (x *explainer) waiting(ctx context.Context, s *store.Step, out StepExplanation, lastErr string) StepExplanation {
	out.Until = s.NextAttemptAt.UTC()
	var meta struct {
		Reason     string `json:"reason"`
		System     string `json:"system"`
		WaitingFor string `json:"waiting_for"`
	}
	if tr := x.last[s.ID]; tr != nil && len(tr.Metadata) > 0 {
		_ = json.Unmarshal(tr.Metadata, &meta)
	}
	when := fmtWhen(out.Until)
	switch wf := meta.WaitingFor; {
	case meta.System != "":
		out.Kind, out.System = ExplainSystemPaused, meta.System
		what := "the step"
		if d, ok := strings.CutPrefix(wf, "dependent system of "); ok { // a code-first driver's durable step
			out.Durable, what = d, "durable step "+d
		}
		switch _, hold := x.e.explainHold(ctx, meta.System); hold {
		case holdPaused:
			out.Reason = fmt.Sprintf("dependent system %s is paused: %s waits until %s, no attempt used", meta.System, what, when)
		case holdBreaker:
			out.Reason = fmt.Sprintf("the circuit breaker of dependent system %s is open (or half-open, its probes out): %s looks again at %s, no attempt used", meta.System, what, when)
		default: // (the hold has ended, or this process cannot see it)
			out.Reason = fmt.Sprintf("dependent system %s held %s back (a pause or its open circuit breaker): it looks again at %s, no attempt used", meta.System, what, when)
		}
	case wf == "sleep":
		out.Kind = ExplainSleeping
		out.Reason = "the workflow sleeps until " + when
	case strings.HasPrefix(wf, "event "):
		out.Kind, out.Event = ExplainWaitingForEvent, strings.TrimPrefix(wf, "event ")
		out.Reason = fmt.Sprintf("the workflow waits for event %q (timeout at %s)", out.Event, when)
	case strings.HasPrefix(wf, "child "):
		out.Kind, out.Child = ExplainWaitingForChild, strings.TrimPrefix(wf, "child ")
		out.Reason = fmt.Sprintf("the workflow waits for child workflow %s (looks again at %s)", out.Child, when)
	case strings.HasPrefix(wf, "retry of "):
		out.Kind, out.Durable = ExplainRetry, strings.TrimPrefix(wf, "retry of ")
		out.Reason = fmt.Sprintf("durable step %s retries at %s", out.Durable, when)
		if ds := x.durable(out.Durable); ds != nil {
			out.Attempt, out.MaxAttempts = ds.Attempts+1, allowedAttempts(ds)
			if f := decodeFailure(ds.LastError); f != nil {
				out.LastError, out.Diagnosis, out.Backoff = f.Message, f.Diagnosis, f.Backoff
			}
			out.Reason += fmt.Sprintf(" (attempt %d of %d; last error: %s)", out.Attempt, out.MaxAttempts, orNone(out.LastError))
			if out.Backoff != nil { // (as a DAG step's retry says it)
				out.Reason += "; predicted delay " + out.Backoff.String()
			}
		}
	case s.Attempts > 0 && len(s.LastError) > 0 && lastErr != "":
		out.Kind, out.Attempt, out.LastError = ExplainRetry, s.Attempts+1, lastErr
		out.Reason = fmt.Sprintf("retry due at %s (attempt %d of %d; last error: %s)", when, out.Attempt, out.MaxAttempts, lastErr)
		if out.Backoff != nil {
			out.Reason += "; predicted delay " + out.Backoff.String()
		}
	default:
		out.Kind = ExplainScheduled
		out.Reason = "not before " + when
		if wf != "" {
			out.Reason += " (waiting for " + wf + ")"
		}
	}
	return out
}

// ready explains a step that is claimable now.
func (x *explainer) ready(ctx context.Context, s *store.Step, out StepExplanation) StepExplanation {
	if len(x.workers) == 0 {
		out.Kind = ExplainNoLiveWorker
		out.Reason = fmt.Sprintf("ready, but there is no live worker: no engine has recorded a heartbeat in the registry within %d lease TTLs, so nothing claims handler %s", WorkerTTLFactor, s.Handler)
		return out
	}
	var ids, serving, otherQueues []string
	for _, w := range x.workers {
		ids = append(ids, w.ID)
		switch {
		case !w.Serves(s.Handler):
		case slices.Contains(w.Queues, s.Queue):
			serving = append(serving, w.ID)
		default:
			otherQueues = append(otherQueues, fmt.Sprintf("%s on %s", w.ID, strings.Join(w.Queues, ",")))
		}
	}
	switch {
	case len(serving) > 0:
	case len(otherQueues) > 0:
		out.Kind = ExplainNoLiveWorker
		out.Reason = fmt.Sprintf("ready, but no live worker serves handler %s on queue %s (it is served on other queues: %s)", s.Handler, s.Queue, strings.Join(otherQueues, "; "))
		return out
	default:
		out.Kind = ExplainNoLiveWorker
		out.Reason = fmt.Sprintf("ready, but no live worker serves handler %s (live workers: %s)", s.Handler, strings.Join(ids, ", "))
		return out
	}
	var policy stepPolicy
	if len(s.Policy) > 0 {
		_ = json.Unmarshal(s.Policy, &policy)
	}
	if sys := policy.DependentSystem; sys != "" {
		switch until, hold := x.e.explainHold(ctx, sys); hold {
		case holdPaused:
			out.Kind, out.System, out.Until = ExplainSystemPaused, sys, until.UTC()
			out.Reason = fmt.Sprintf("ready, but dependent system %s is paused until %s", sys, fmtWhen(out.Until))
			return out
		case holdBreaker:
			// The breaker's end is not known here (it half-opens OpenFor
			// after it opened, and closes when a probe succeeds): the step
			// looks again every breakerRecheck.
			out.Kind, out.System, out.Until = ExplainSystemPaused, sys, x.now.Add(breakerRecheck).UTC()
			out.Reason = fmt.Sprintf("ready, but the circuit breaker of dependent system %s is open (or half-open, its probes out): the step looks again at %s, and runs once the breaker lets a call through (Config.Breaker's OpenFor after it opened)", sys, fmtWhen(out.Until))
			return out
		}
	}
	if g := s.ConcGroup; g != nil {
		running, err := x.e.st.RunningInGroup(ctx, *g)
		if err == nil && len(running) >= s.ConcMax {
			out.Kind, out.Group = ExplainLimitReached, *g
			for _, r := range running {
				owner := "?"
				if r.LeaseOwner != nil {
					owner = *r.LeaseOwner
				}
				out.Holders = append(out.Holders, fmt.Sprintf("task %d step %s on worker %s", r.TaskID, r.Name, owner))
			}
			out.Reason = fmt.Sprintf("ready, but concurrency group %s runs its limit of %d: %s", *g, s.ConcMax, strings.Join(out.Holders, "; "))
			return out
		}
	}
	if sys := s.RateSystem; sys != nil {
		if b, err := x.e.st.RateLimitState(ctx, *sys); err == nil {
			if tokens := b.TokensAt(x.now); tokens < 1 {
				out.Kind, out.System = ExplainRateLimited, *sys
				// A rate of a token in centuries waits past what a
				// Duration holds: the conversion would wrap to the past.
				wait := time.Duration(math.MaxInt64)
				if secs := (1 - tokens) / b.PerSecond; secs < float64(math.MaxInt64)/float64(time.Second) {
					wait = time.Duration(secs * float64(time.Second))
				}
				out.Until = x.now.Add(wait).UTC()
				when := fmtWhen(out.Until)
				if wait == math.MaxInt64 {
					when = "after " + when
				}
				out.Reason = fmt.Sprintf("ready, but the rate limit of system %s (%g/s, burst %d) has no token until %s", *sys, b.PerSecond, b.Burst, when)
				return out
			}
		}
	}
	out.Kind, out.LiveWorkers = ExplainReady, serving
	out.Reason = fmt.Sprintf("ready now: claimable by %s serving handler %s (%s)", plural(len(serving), "live worker", "live workers"), s.Handler, strings.Join(serving, ", "))
	return out
}

// explainHold asks the system gate about a system, when the engine has
// one to ask: its coordination exists already (a run, a step executed
// here) or a distributed cache is declared. A process-local cache made
// just for Explain would know of no pause. It says which holds the system
// back — a pause, with its end, or its open breaker — and takes no
// half-open breaker's probe (the gate's Peek): that is the next attempt's.
func (e *Engine) explainHold(ctx context.Context, system string) (time.Time, holdKind) {
	e.cmu.Lock()
	have := e.co != nil
	e.cmu.Unlock()
	if !have && e.cfg.Cache.Distributed == "" && e.cfg.CacheStore == nil {
		return time.Time{}, holdNone
	}
	co := e.coordinate(ctx)
	if co == nil || system == "" {
		return time.Time{}, holdNone
	}
	if until, paused := co.gate.PausedUntil(ctx, system); paused {
		return until, holdPaused
	}
	if !co.gate.Peek(ctx, system) {
		return time.Time{}, holdBreaker
	}
	return time.Time{}, holdNone
}

// holdKind is what holds a dependent system's steps back (explainHold).
type holdKind int

const (
	holdNone    holdKind = iota
	holdPaused           // a pause (a Retry-After) until a time
	holdBreaker          // its circuit breaker, open
)

// unfinishedDeps names the step's dependencies that have not finished.
func (x *explainer) unfinishedDeps(s *store.Step) []string {
	var out []string
	for _, ed := range x.d.Edges {
		if ed.ToStepID != s.ID {
			continue
		}
		if dep := x.byID[ed.FromStepID]; dep != nil && !dep.State.Satisfied() {
			out = append(out, fmt.Sprintf("%s (%s)", dep.Name, dep.State))
		}
	}
	return out
}

// durable returns the latest durable row recorded under name.
func (x *explainer) durable(name string) *store.Step {
	all := x.d.StepsNamed(name)
	if len(all) == 0 {
		return nil
	}
	return all[len(all)-1]
}

// summary sums an explanation up.
func summary(x *Explanation) string {
	if x.State.Done() {
		return fmt.Sprintf("task %d is %s", x.TaskID, x.State)
	}
	if len(x.Steps) == 0 {
		return fmt.Sprintf("task %d is %s with no unfinished step", x.TaskID, x.State)
	}
	counts := map[ExplainKind]int{}
	var order []ExplainKind
	for _, s := range x.Steps {
		if counts[s.Kind] == 0 {
			order = append(order, s.Kind)
		}
		counts[s.Kind]++
	}
	parts := make([]string, len(order))
	for i, k := range order {
		what, ok := kindWords[k]
		if !ok {
			what = strings.ReplaceAll(string(k), "_", " ")
		}
		parts[i] = plural(counts[k], "step", "steps") + " " + what
	}
	return fmt.Sprintf("task %d is %s: %s", x.TaskID, x.State, strings.Join(parts, ", "))
}

// kindWords says what a step of each kind is doing, after "1 step" or
// "2 steps" ("1 no live worker" read as nonsense).
var kindWords = map[ExplainKind]string{
	ExplainDependencies:    "waiting on dependencies",
	ExplainRetry:           "with a retry scheduled",
	ExplainLeased:          "running",
	ExplainNoLiveWorker:    "that no live worker serves",
	ExplainSystemPaused:    "held by a paused dependent system",
	ExplainLimitReached:    "held by its concurrency limit",
	ExplainRateLimited:     "held by a rate limit",
	ExplainReady:           "ready to be claimed",
	ExplainSleeping:        "sleeping",
	ExplainWaitingForEvent: "waiting for an event",
	ExplainWaitingForChild: "waiting for a child workflow",
	ExplainScheduled:       "scheduled for later",
	ExplainFailed:          "failed for good",
	ExplainTaskFinished:    "that will not run (its task is finished)",
}

func fmtWhen(t time.Time) string {
	if t.IsZero() {
		return "(unknown)"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func orNone(s string) string {
	if s == "" {
		return "(none recorded)"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
