package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Validate reports every problem with p at once (joined); nil means the
// store may write it.
func (p *CreateTaskParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(checkName("namespace", p.Namespace, true))
	add(checkName("name", p.Name, true))
	add(checkName("version", p.Version, false))
	add(checkName("identity_key", p.IdentityKey, true))
	add(checkName("input_hash", p.InputHash, false))
	add(checkJSON("context", p.Context, true))
	if p.Queue != "" {
		add(checkName("queue", p.Queue, true))
	}
	if p.Deadline < 0 {
		add(invalid("deadline", "must not be negative, got %s", p.Deadline))
	}
	if p.Retention < 0 && p.Retention != KeepForever || p.Retention > 0 && p.Retention < time.Millisecond {
		add(invalid("retention", "must be at least 1ms, 0 (the default) or KeepForever, got %s", p.Retention))
	}
	if p.ParentID != nil {
		add(CheckTaskID("parent_id", *p.ParentID))
	}
	if p.TraceContext != "" && !validTraceparent(p.TraceContext) {
		add(invalid("trace_context", "is not a W3C traceparent (version-traceid-spanid-flags in lower-case hex), got %.60q", p.TraceContext))
	}
	if p.ConcGroup != "" {
		add(checkName("conc_group", p.ConcGroup, true))
		if p.ConcMax < 1 || p.ConcMax > MaxCount {
			add(invalid("conc_max", "must be at least 1 with a concurrency group and at most %d, got %d", MaxCount, p.ConcMax))
		}
	} else if p.ConcMax != 0 {
		add(invalid("conc_max", "needs a concurrency group (conc_group)"))
	}
	for i, r := range p.RateLimits {
		f := fmt.Sprintf("rate_limits[%d]", i)
		add(checkName(f+".system", r.System, true))
		if !(r.PerSecond > 0) || r.PerSecond > 1e6 {
			add(invalid(f+".per_second", "must be above 0 and at most 1000000, got %g", r.PerSecond))
		}
		if r.Burst < 1 || r.Burst > MaxCount {
			add(invalid(f+".burst", "must be at least 1 and at most %d, got %d", MaxCount, r.Burst))
		}
	}
	if p.Priority < MinPriority || p.Priority > MaxPriority {
		add(invalid("priority", "must be between %d and %d, got %d", MinPriority, MaxPriority, p.Priority))
	}
	switch p.Kind {
	case KindDAG, KindCode:
	default:
		add(invalid("kind", "must be %q or %q, got %q", KindDAG, KindCode, p.Kind))
	}
	if p.Kind == KindDAG && len(p.Steps) == 0 {
		add(invalid("steps", "a dag task needs at least one step"))
	}
	byName := make(map[string]int, len(p.Steps))
	bySeq := map[int]string{} // a task has one step at a durable sequence
	for i, s := range p.Steps {
		// The step's problems name it (steps["charge"].handler); the
		// name is formatted only for a problem (Validate runs at every
		// start).
		step := func(err error) {
			if err == nil {
				return
			}
			field := fmt.Sprintf("steps[%d]", i)
			if s.Name != "" {
				field = fmt.Sprintf("steps[%q]", s.Name)
			}
			add(under(field, err))
		}
		step(checkName(".name", s.Name, true))
		step(checkName(".handler", s.Handler, true))
		if s.RateSystem != "" {
			step(checkName(".rate_system", s.RateSystem, true))
		}
		if s.Sequence != nil {
			switch other, dup := bySeq[*s.Sequence]; {
			case *s.Sequence < 1:
				step(invalid(".sequence", "must be at least 1 (a durable step's), got %d", *s.Sequence))
			case dup:
				step(invalid(".sequence", "%d is also step %q's", *s.Sequence, other))
			default:
				bySeq[*s.Sequence] = s.Name
			}
		}
		step(checkJSON(".config", s.Config, false))
		step(checkJSON(".policy", s.Policy, false))
		if s.RetryLimit < 0 || s.RetryLimit > MaxCount {
			step(invalid(".retry_limit", "must be at least 1 (0 means the default %d) and at most %d, got %d", DefaultRetryLimit, MaxCount, s.RetryLimit))
		}
		if _, dup := byName[s.Name]; dup && s.Name != "" {
			step(invalid(".name", "duplicate step name"))
		}
		byName[s.Name] = i
	}
	for _, s := range p.Steps {
		for j, d := range s.DependsOn {
			problem := ""
			switch _, ok := byName[d]; {
			case d == s.Name:
				problem = "step depends on itself"
			case !ok:
				problem = fmt.Sprintf("unknown step %q (dependencies must be steps of the same task)", d)
			case slices.Contains(s.DependsOn[:j], d):
				problem = fmt.Sprintf("dependency %q listed twice", d)
			}
			if problem != "" {
				add(invalid(fmt.Sprintf("steps[%q].depends_on", s.Name), "%s", problem))
			}
		}
	}
	if l := p.Lease; l != nil {
		add(checkName("lease.owner", l.Owner, true))
		if l.TTL <= 0 {
			add(invalid("lease.ttl", "must be positive, got %v", l.TTL))
		}
		if l.Limit < 0 {
			add(invalid("lease.limit", "must not be negative, got %d", l.Limit))
		}
		for i, h := range l.Handlers { // every handler of the process, at every start
			if err := checkName("", h, true); err != nil {
				add(under(fmt.Sprintf("lease.handlers[%d]", i), err))
			}
		}
	}
	if len(errs) == 0 {
		if cycle := FindCycle(p.Steps); cycle != nil {
			add(invalid("steps", "dependency cycle: %s", strings.Join(cycle, " → ")))
		}
	}
	return errors.Join(errs...)
}

// FindCycle returns the names of the steps forming a dependency cycle
// (first name repeated at the end), or nil when the graph is acyclic: the
// first of FindCycles.
func FindCycle(steps []NewStep) []string {
	if cycles := FindCycles(steps); len(cycles) > 0 {
		return cycles[0]
	}
	return nil
}

// FindCycles returns every dependency cycle among steps, each as the
// names of its steps with the first repeated at the end (a step on itself
// is [a a]), in the order a depth-first walk of the steps, in their order,
// closes them. A name no step has is no step of a cycle; of two steps of
// one name the first counts.
func FindCycles(steps []NewStep) [][]string {
	deps := make(map[string][]string, len(steps))
	for _, s := range steps {
		if _, dup := deps[s.Name]; !dup {
			deps[s.Name] = s.DependsOn
		}
	}
	const (
		unseen = iota
		onPath
		done
	)
	mark := make(map[string]int, len(steps))
	var path []string
	var out [][]string
	var visit func(string)
	visit = func(n string) {
		mark[n] = onPath
		path = append(path, n)
		for _, d := range deps[n] {
			if _, ok := deps[d]; !ok {
				continue
			}
			switch mark[d] {
			case onPath:
				i := slices.Index(path, d)
				out = append(out, append(slices.Clone(path[i:]), d))
			case unseen:
				visit(d)
			}
		}
		path = path[:len(path)-1]
		mark[n] = done
	}
	for _, s := range steps {
		if mark[s.Name] == unseen {
			visit(s.Name)
		}
	}
	return out
}

// errNilParams refuses a nil params pointer: a caller's mistake, named
// ("params: is nil") rather than a panic on its first field.
func errNilParams() error { return invalid("params", "is nil") }

func checkMeta(field string, doc JSON) error { return checkJSON(field, doc, false) }

// CheckTaskID refuses an id no task can have (ids start at 1): a caller's
// mistake, reported as ErrInvalid naming field rather than as ErrNotFound.
func CheckTaskID(field string, id int64) error { return checkID("task", field, id) }

// CheckStepID refuses an id no step can have, as CheckTaskID does a task's.
func CheckStepID(field string, id int64) error { return checkID("step", field, id) }

// CheckTokenID refuses an id no admin token can have, as CheckTaskID does
// a task's.
func CheckTokenID(field string, id int64) error { return checkID("token", field, id) }

func checkID(kind, field string, id int64) error {
	if id < 1 {
		return invalid(field, "must be a %s id (1 or more), got %d", kind, id)
	}
	return nil
}

// CheckTaskIDs is CheckTaskID for each of ids, naming the first bad one
// by its index.
func CheckTaskIDs(ids []int64) error {
	for i, id := range ids {
		if id < 1 {
			return CheckTaskID(fmt.Sprintf("ids[%d]", i), id)
		}
	}
	return nil
}

// Validate checks a step move's inputs.
func (p *TransitionStepParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	return errors.Join(CheckStepID("step_id", p.StepID), checkMeta("metadata", p.Metadata))
}

// Validate checks a task move's inputs: a Sequence only with the move
// that retries it (error → pending).
func (p *TransitionTaskParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	var bad error
	switch {
	case p.Sequence < 0:
		bad = invalid("sequence", "must not be negative, got %d", p.Sequence)
	case p.Sequence > 0 && (p.From != TaskError || p.To != TaskPending):
		bad = invalid("sequence", "names a durable step to retry, which only error → pending does; got %d with %s → %s", p.Sequence, p.From, p.To)
	}
	return errors.Join(CheckTaskID("task_id", p.TaskID), bad, checkMeta("metadata", p.Metadata))
}

// Validate checks a cancel's inputs.
func (p *CancelTaskParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	return errors.Join(CheckTaskID("task_id", p.TaskID), checkMeta("metadata", p.Metadata))
}

// Validate checks a retry's inputs: a Sequence, when given, names a
// durable step (1 or more).
func (p *RetryTaskParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	var bad error
	if p.Sequence < 0 {
		bad = invalid("sequence", "must not be negative (0: no durable step), got %d", p.Sequence)
	}
	return errors.Join(CheckTaskID("task_id", p.TaskID), bad, checkMeta("metadata", p.Metadata))
}

// Validate checks a wake-up: an id no task can have is refused, not
// answered "nothing to wake".
func (p *WakeTaskParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	return CheckTaskID("task_id", p.TaskID)
}

// Validate checks a manual resolution.
func (p *ResolveStepParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	return errors.Join(CheckStepID("step_id", p.StepID), checkJSON("results", p.Results, false), checkMeta("metadata", p.Metadata))
}

// Validate checks an event.
func (p *SendEventParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	return errors.Join(
		CheckTaskID("task_id", p.TaskID),
		checkName("name", p.Name, true),
		checkName("key", p.Key, false),
		checkJSON("payload", p.Payload, false),
	)
}

// Validate checks the event name: one SendEvent would accept.
func (p *ConsumeEventParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	return errors.Join(CheckTaskID("task_id", p.TaskID), checkName("name", p.Name, true))
}

// Validate checks both task IDs, which must differ.
func (p *MoveEventsParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	errs := []error{CheckTaskID("from", p.From), CheckTaskID("to", p.To)}
	if p.From == p.To && p.From > 0 {
		errs = append(errs, invalid("to", "is from (%d): a task's events are its own already", p.From))
	}
	return errors.Join(errs...)
}

// Validate checks a batch of outcomes.
func (p *FinishStepsParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	var errs []error
	for i, o := range p.Outcomes {
		f := fmt.Sprintf("outcomes[%d]", i)
		errs = append(errs, CheckStepID(f+".lease.step_id", o.Lease.StepID))
		if o.Kind < OutcomeComplete || o.Kind > OutcomeSuspend {
			errs = append(errs, invalid(f+".kind", "unknown outcome kind %d", o.Kind))
		}
		if o.RetryAfter < 0 {
			errs = append(errs, invalid(f+".retry_after", "must not be negative"))
		}
		errs = append(errs, checkJSON(f+".results", o.Results, false), checkJSON(f+".error", o.Error, false), checkMeta(f+".metadata", o.Metadata))
		if o.Kind != OutcomeSuspend {
			if len(o.WakeOnEvents) > 0 {
				errs = append(errs, invalid(f+".wake_on_events", "only a suspend outcome wakes on events, got kind %d with %q", o.Kind, o.WakeOnEvents))
			}
			if len(o.WakeOnTasks) > 0 {
				errs = append(errs, invalid(f+".wake_on_tasks", "only a suspend outcome wakes on tasks, got kind %d with %v", o.Kind, o.WakeOnTasks))
			}
		}
		for j, id := range o.WakeOnTasks {
			errs = append(errs, CheckTaskID(fmt.Sprintf("%s.wake_on_tasks[%d]", f, j), id))
		}
		for j, n := range o.WakeOnEvents {
			errs = append(errs, checkName(fmt.Sprintf("%s.wake_on_events[%d]", f, j), n, true))
		}
		for j, r := range o.Records {
			g := fmt.Sprintf("%s.records[%d]", f, j)
			switch {
			case r == nil:
				errs = append(errs, invalid(g, "is nil"))
				continue
			case r.Driver != o.Lease:
				errs = append(errs, invalid(g+".driver", "must be the outcome's lease (step %d), got step %d", o.Lease.StepID, r.Driver.StepID))
			case r.Kind != OutcomeComplete || r.Attempt != 1 || r.ConsumeEvent != "":
				errs = append(errs, invalid(g, "must be a first attempt that completed (kind complete, attempt 1, no event to consume)"))
			}
			if err := r.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", g, err))
			}
		}
	}
	for i, id := range p.Watch {
		errs = append(errs, CheckTaskID(fmt.Sprintf("watch[%d]", i), id))
	}
	if p.Claim != nil {
		if err := p.Claim.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("claim: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Validate checks a claim request.
func (p *ClaimStepsParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	var errs []error
	if p.Limit < 1 || p.Limit > MaxCount {
		errs = append(errs, invalid("limit", "must be at least 1 and at most %d, got %d", MaxCount, p.Limit))
	}
	if p.LeaseTTL <= 0 {
		errs = append(errs, invalid("lease_ttl", "must be positive, got %s", p.LeaseTTL))
	}
	errs = append(errs, checkName("owner", p.Owner, true))
	for i, q := range p.Queues {
		errs = append(errs, checkName(fmt.Sprintf("queues[%d]", i), q, true))
	}
	for i, h := range p.Handlers {
		errs = append(errs, checkName(fmt.Sprintf("handlers[%d]", i), h, true))
	}
	return errors.Join(errs...)
}

// Validate checks a listing's filters: each must be one some task can
// match.
func (p *ListTasksParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	var errs []error
	if p.Limit < 0 {
		errs = append(errs, invalid("limit", "must not be negative (0 means the default 50), got %d", p.Limit))
	}
	if p.Before < 0 {
		errs = append(errs, invalid("before", "must be a task id (0: the first page), got %d", p.Before))
	}
	if p.Order != OrderByID && p.Order != OrderByFailed {
		errs = append(errs, invalid("order", "must be %q (by id) or %q, got %q", OrderByID, OrderByFailed, p.Order))
	}
	if p.ParentID != nil && *p.ParentID < 1 {
		errs = append(errs, invalid("parent_id", "must be a task id, got %d", *p.ParentID))
	}
	if !p.CreatedAfter.IsZero() && !p.CreatedBefore.IsZero() && !p.CreatedAfter.Before(p.CreatedBefore) {
		errs = append(errs, invalid("created_before", "must be after created_after (%s), got %s",
			p.CreatedAfter.Format(time.RFC3339Nano), p.CreatedBefore.Format(time.RFC3339Nano)))
	}
	for i, st := range p.States {
		if !st.Valid() {
			errs = append(errs, invalid(fmt.Sprintf("states[%d]", i), "unknown task state %q", st))
		}
	}
	return errors.Join(append(errs, checkName("namespace", p.Namespace, false), checkName("name", p.Name, false),
		checkName("queue", p.Queue, false))...)
}

// Validate checks a lease extension: a TTL that is not positive would
// move the leases' expiry to now or before it.
func (p *ExtendLeasesParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	if p.LeaseTTL <= 0 {
		return invalid("lease_ttl", "must be positive, got %s", p.LeaseTTL)
	}
	for i, l := range p.Leases {
		if err := CheckStepID(fmt.Sprintf("leases[%d].step_id", i), l.StepID); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks a release: a nil p, or a lease of an id no step can
// have, is refused and nothing is released.
func (p *ReleaseLeasesParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	for i, l := range p.Leases {
		if err := CheckStepID(fmt.Sprintf("leases[%d].step_id", i), l.StepID); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks a rescue pass's bound.
func (p *RescueExpiredParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	if p.Limit < 0 {
		return invalid("limit", "must not be negative (0 means the default 1000), got %d", p.Limit)
	}
	return errors.Join(checkMeta("deadline_cause", p.DeadlineCause), checkMeta("expired_cause", p.ExpiredCause))
}

// Validate checks a retention batch.
func (p *DeleteFinishedParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	var errs []error
	if p.Now.IsZero() {
		errs = append(errs, invalid("now", "is required"))
	}
	if p.Limit < 0 {
		errs = append(errs, invalid("limit", "must not be negative, got %d", p.Limit))
	}
	return errors.Join(errs...)
}

// Validate checks a leadership request.
func (p *ElectParams) Validate() error {
	if p == nil {
		return errNilParams()
	}
	var errs []error
	if p.TTL <= 0 {
		errs = append(errs, invalid("ttl", "must be positive, got %s", p.TTL))
	}
	errs = append(errs, checkName("name", p.Name, true), checkName("owner", p.Owner, true))
	return errors.Join(errs...)
}

// validTraceparent checks the shape of a W3C traceparent header value:
// 2-32-16-2 lower-case hex digits joined by dashes (version 00; a later
// version may append fields after another dash).
func validTraceparent(v string) bool {
	if len(v) < 55 || len(v) > 256 || (len(v) > 55 && v[55] != '-') {
		return false
	}
	for i := range 55 {
		switch c := v[i]; {
		case i == 2 || i == 35 || i == 52:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		default:
			return false
		}
	}
	return true
}
