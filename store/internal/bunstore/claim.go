package bunstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
)

// ClaimSteps leases a batch of ready steps in one transaction and then
// loads their tasks and dependencies' results.
func (s *Store) ClaimSteps(ctx context.Context, p *store.ClaimStepsParams) ([]*store.ClaimedStep, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("claiming steps: %w", err)
	}
	if s.claimInOne(ctx, p) {
		return s.claimWithInputs(ctx, p)
	}
	var steps []*store.Step
	err := s.inTx(ctx, "claiming steps", func(ctx context.Context, tx bun.IDB) error {
		var err error
		steps, err = s.claim(ctx, tx, p)
		return err
	})
	if err != nil || len(steps) == 0 {
		return nil, err
	}
	// The claim has committed; what the handlers need is read outside the
	// write transaction so the single SQLite writer is held only for writes.
	out, err := s.claimedInputs(ctx, steps)
	if err != nil {
		return nil, s.wrap("loading claimed steps' inputs", err)
	}
	return out, nil
}

// claimWithInputs is a claim in one statement that returns the claimed
// steps' inputs (Postgres, see claimInOne): no BEGIN and COMMIT around
// it, and no read after it.
func (s *Store) claimWithInputs(ctx context.Context, p *store.ClaimStepsParams) ([]*store.ClaimedStep, error) {
	query, args := s.claimReadySQL(p, now(p.Now), passFIFO, p.Limit, nil, true)
	if _, alone := s.rw.(*bun.DB); alone { // not in a caller's transaction
		query += asyncCommit
	}
	var rows []claimedRow
	if err := s.scan(ctx, s.rw, query, args, &rows); err != nil {
		return nil, s.wrap("claiming steps", err)
	}
	out := make([]*store.ClaimedStep, len(rows))
	for i, r := range rows {
		var err error
		if out[i], err = claimedWithInputs(r.Step, r.Task, r.ClaimDeps); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b *store.ClaimedStep) int { return int(a.Step.ID - b.Step.ID) })
	return out, nil
}

// asyncCommit ends a claim statement that is a transaction of its own
// (Postgres, claimWithInputs): its commit does not wait for the WAL to
// reach the disk. A claim lost in a crash of the server only puts its
// steps back as they were, pending and claimable, as a lease that expired
// would (the handler's finish then finds its lease lost and the step runs
// again: at least once, as ever); and the commit that records a finished
// step waits for the WAL up to its own record, so for every claim before
// it too. A claim is then one WAL flush shorter: tasker bench W5x (starter
// and worker in two processes) p50 3.61 -> 3.43 ms, W1 with three worker
// processes 8,860 -> 10,050 workflows/s.
const asyncCommit = `
		CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit`

// claimInOne tells whether claim would run a single statement that
// writes its own books (Postgres, with no ready step with a priority and
// no gated step known to exist), so it needs no transaction around it.
func (s *Store) claimInOne(ctx context.Context, p *store.ClaimStepsParams) bool {
	return s.d.WritableCTE() &&
		(p.ByReadyTime || !s.hints.prio.may(ctx, s.rw, prioProbe)) &&
		(!p.Grouped || !s.hints.gated.may(ctx, s.rw, gatedProbe))
}

// The probes of claimHints: a ready step with a priority, a concurrency
// group or rate limit.
const (
	prioProbe = `SELECT 1 FROM tasker_steps WHERE state = 'pending' AND pending_deps = 0
		AND priority > 0 AND conc_group IS NULL AND rate_system IS NULL LIMIT 1`
	gatedProbe = `SELECT 1 FROM tasker_conc_groups UNION ALL SELECT 1 FROM tasker_rate_limits LIMIT 1`
)

// claim leases up to p.Limit ready steps inside tx: the steps move to
// in_progress (an attempt counted) and their tasks, if pending, start.
func (s *Store) claim(ctx context.Context, tx bun.IDB, p *store.ClaimStepsParams) ([]*store.Step, error) {
	at := now(p.Now)
	var steps []*store.Step
	// Steps with a priority first, highest first (their own index, read
	// while such steps may exist); then what is left, FIFO. An ageing turn
	// (ByReadyTime) skips the priority pass, so the longest-waiting steps
	// get through a flood of high-priority work.
	if !p.ByReadyTime && s.hints.prio.may(ctx, tx, prioProbe) {
		got, err := s.claimReady(ctx, tx, p, at, passPriority, p.Limit)
		if err != nil {
			return nil, err
		}
		if len(got) == 0 {
			s.hints.prio.forget()
		}
		steps = got
	}
	if len(steps) < p.Limit {
		got, err := s.claimReady(ctx, tx, p, at, passFIFO, p.Limit-len(steps))
		if err != nil {
			return nil, err
		}
		steps = append(steps, got...)
	}
	// The ready passes wrote their own transitions where the claim is one
	// statement (see claimReadySQL); the gated steps' are written here.
	var books []*store.Step
	if !s.d.WritableCTE() {
		books = steps
	}
	if p.Grouped && len(steps) < p.Limit &&
		s.hints.gated.may(ctx, tx, gatedProbe) {
		more, err := s.claimGrouped(ctx, tx, p, p.Limit-len(steps), []any{p.Owner, s.d.Time(p.Now, p.LeaseTTL), newLeaseToken()})
		if err != nil {
			return nil, err
		}
		steps = append(steps, more...)
		books = append(books, more...)
	}
	if len(steps) == 0 {
		return nil, nil
	}
	slices.SortFunc(steps, func(a, b *store.Step) int { return int(a.ID - b.ID) })
	return steps, s.claimBooks(ctx, tx, books, at)
}

// claimBooks writes what a claim of steps changes besides the step rows:
// their transitions, and their tasks' move to in_progress when pending.
func (s *Store) claimBooks(ctx context.Context, tx bun.IDB, steps []*store.Step, at time.Time) error {
	if len(steps) == 0 {
		return nil
	}
	slices.SortFunc(steps, func(a, b *store.Step) int { return int(a.ID - b.ID) })
	moves := make([]stepMove, len(steps))
	taskIDs := make([]int64, 0, len(steps))
	for i, st := range steps {
		moves[i] = stepMove{id: st.ID, taskID: st.TaskID, from: store.StepPending, to: store.StepInProgress, seq: st.TransitionSeq}
		taskIDs = append(taskIDs, st.TaskID)
	}
	if err := s.writeStepTransitions(ctx, tx, moves, at); err != nil {
		return err
	}
	var started []struct {
		ID            int64 `bun:"id"`
		TransitionSeq int   `bun:"transition_seq"`
	}
	b := params{s: s}
	if err := s.scan(ctx, tx, `UPDATE tasker_tasks SET state = 'in_progress', updated_at = `+b.arg(s.d.BindTime(at))+`, transition_seq = transition_seq + 1
		WHERE `+b.in("id", taskIDs)+` AND state = 'pending' RETURNING id, transition_seq`, b.args, &started); err != nil {
		return err
	}
	// A task's first start (sort key 2, after its creation) is implied by
	// its step's claim, written above (see withImpliedTask); a later one,
	// after a retry, is written.
	var tmoves []taskMove
	for _, t := range started {
		if t.TransitionSeq != startKey {
			tmoves = append(tmoves, taskMove{id: t.ID, from: store.TaskPending, to: store.TaskInProgress, seq: t.TransitionSeq})
		}
	}
	return s.writeTaskTransitions(ctx, tx, tmoves, at)
}

// claimedInputs loads the inputs of steps whose claim has committed. The
// read is tried again on a transient error (a dropped connection): failing
// here would leave the steps leased to a worker that cannot run them until
// their leases expire.
func (s *Store) claimedInputs(ctx context.Context, steps []*store.Step) ([]*store.ClaimedStep, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var out []*store.ClaimedStep
		if out, err = s.loadInputs(ctx, s.ro, steps); err == nil {
			return out, nil
		}
		if !errors.Is(s.d.MapError(err), store.ErrRetryable) || ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

// loadInputs reads the tasks of claimed steps and their dependencies'
// results in one statement: each task row carries, as a JSON array, the
// [to step, name, results missing, results] of the edges into its claimed
// steps.
func (s *Store) loadInputs(ctx context.Context, db bun.IDB, steps []*store.Step) ([]*store.ClaimedStep, error) {
	taskIDs := make([]int64, 0, len(steps))
	stepIDs := make([]int64, len(steps))
	seen := map[int64]bool{}
	for i, st := range steps {
		stepIDs[i] = st.ID
		if !seen[st.TaskID] {
			seen[st.TaskID] = true
			taskIDs = append(taskIDs, st.TaskID)
		}
	}
	var tasks []*taskInputs
	b := params{s: s}
	// The edges into the claimed steps are found once (by to_step_id) and
	// grouped by task, then joined to the tasks.
	agg := s.d.JSONAgg("e.to_step_id", "s.name", "s.results IS NULL", s.d.JSONCol("s.results"))
	if err := s.scan(ctx, db, `WITH d AS (
			SELECT e.task_id, `+agg+` AS deps FROM tasker_step_edges e JOIN tasker_steps s ON s.id = e.from_step_id
			WHERE `+b.in("e.to_step_id", stepIDs)+` GROUP BY e.task_id)
		SELECT t.*, d.deps AS claim_deps FROM tasker_tasks t LEFT JOIN d ON d.task_id = t.id
		WHERE `+b.in("t.id", taskIDs), b.args, &tasks); err != nil {
		return nil, err
	}
	out := make([]*store.ClaimedStep, len(steps))
	index := make(map[int64]*store.ClaimedStep, len(steps))
	for i, st := range steps {
		out[i] = &store.ClaimedStep{Step: st, Deps: map[string]store.JSON{}}
		index[st.ID] = out[i]
	}
	byID := make(map[int64]*store.Task, len(tasks))
	for _, t := range tasks {
		byID[t.ID] = &t.Task
		if len(t.ClaimDeps) == 0 {
			continue
		}
		var deps [][4]json.RawMessage
		if err := json.Unmarshal(t.ClaimDeps, &deps); err != nil {
			return nil, fmt.Errorf("decoding the dependencies of task %d's claimed steps: %w", t.ID, err)
		}
		for _, d := range deps {
			var to int64
			var name string
			if err := errors.Join(json.Unmarshal(d[0], &to), json.Unmarshal(d[1], &name)); err != nil {
				return nil, fmt.Errorf("decoding the dependencies of task %d's claimed steps: %w", t.ID, err)
			}
			var results store.JSON
			if missing := string(d[2]); missing != "true" && missing != "1" {
				results = store.JSON(d[3])
			}
			index[to].Deps[name] = results
		}
	}
	for _, c := range out {
		c.Task = byID[c.Step.TaskID]
	}
	return out, nil
}

// taskInputs is a task row with the dependencies of its claimed steps.
type taskInputs struct {
	store.Task `bun:",extend"`
	ClaimDeps  store.JSON `bun:"claim_deps"`
}

// FinishSteps commits a group of outcomes in one transaction.
func (s *Store) FinishSteps(ctx context.Context, p *store.FinishStepsParams) (*store.FinishStepsResult, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("finishing steps: %w", err)
	}
	if first, rest := splitRepeats(p.Outcomes); len(rest) > 0 {
		return s.finishApart(ctx, p, first, rest)
	}
	// Rows are locked in id order so concurrent groups cannot deadlock.
	order := make([]int, len(p.Outcomes))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(p.Outcomes[a].Lease.StepID - p.Outcomes[b].Lease.StepID) })
	var res *store.FinishStepsResult
	var claimed []*store.Step
	var err error
	if s.finishInOne(p) { // the claimed steps come with their inputs
		res, err = s.finishCTE(ctx, p, order)
	} else {
		res, claimed, err = s.finishInTx(ctx, p, order)
	}
	if err != nil {
		return nil, err
	}
	if len(claimed) > 0 {
		loaded, err := s.claimedInputs(ctx, claimed)
		if err != nil {
			return nil, s.wrap("loading claimed steps' inputs", err)
		}
		res.Claimed = append(res.Claimed, loaded...)
		slices.SortFunc(res.Claimed, func(a, b *store.ClaimedStep) int { return int(a.Step.ID - b.Step.ID) })
	}
	return res, nil
}

// splitRepeats returns the indexes of the outcomes whose step no earlier
// outcome names (first), and of the others (rest). A group can hold two
// outcomes of one step: an attempt that lost its lease and the attempt
// that took the step over in the same process.
func splitRepeats(outcomes []store.StepOutcome) (first, rest []int) {
	seen := make(map[int64]bool, len(outcomes))
	for i, o := range outcomes {
		if seen[o.Lease.StepID] {
			rest = append(rest, i)
			continue
		}
		seen[o.Lease.StepID] = true
		first = append(first, i)
	}
	return first, rest
}

// finishApart records the outcomes at first, then those at rest, each
// part as its own FinishSteps (a statement matches a step to one lease),
// and reports them as one result; each part claims for the room the
// parts before it left.
func (s *Store) finishApart(ctx context.Context, p *store.FinishStepsParams, first, rest []int) (*store.FinishStepsResult, error) {
	out := &store.FinishStepsResult{Steps: make([]store.FinishedStep, len(p.Outcomes))}
	for _, idx := range [][]int{first, rest} {
		part := &store.FinishStepsParams{Now: p.Now, ClaimUnblockedOnly: p.ClaimUnblockedOnly, Watch: p.Watch}
		if p.Claim != nil && p.Claim.Limit > len(out.Claimed) {
			c := *p.Claim
			c.Limit -= len(out.Claimed)
			part.Claim = &c
		}
		for _, i := range idx {
			part.Outcomes = append(part.Outcomes, p.Outcomes[i])
		}
		res, err := s.FinishSteps(ctx, part)
		if err != nil {
			return nil, err
		}
		for j, i := range idx {
			out.Steps[i] = res.Steps[j]
		}
		out.Tasks = append(out.Tasks, res.Tasks...)
		out.Unblocked += res.Unblocked
		out.Claimed = append(out.Claimed, res.Claimed...)
		out.Finished = append(out.Finished, res.Finished...)
	}
	return out, nil
}

// finishInTx is FinishSteps' general path: a transaction of a few
// statements.
func (s *Store) finishInTx(ctx context.Context, p *store.FinishStepsParams, order []int) (res *store.FinishStepsResult, claimed []*store.Step, err error) {
	err = s.inTx(ctx, "finishing steps", func(ctx context.Context, tx bun.IDB) error {
		at := now(p.Now)
		res = &store.FinishStepsResult{Steps: make([]store.FinishedStep, len(p.Outcomes))}
		claimed = nil
		moves := make([]stepMove, 0, len(p.Outcomes))
		// Completions, the common case, go in one statement per chunk,
		// and so do retries and failures.
		var completes, fails []int
		for _, i := range order {
			switch p.Outcomes[i].Kind {
			case store.OutcomeComplete:
				completes = append(completes, i)
			case store.OutcomeRetry, store.OutcomeFail:
				fails = append(fails, i)
			}
		}
		if err := chunked(s.d, completes, 4, func(chunk []int) error {
			var err error
			moves, err = s.completeSteps(ctx, tx, p.Outcomes, chunk, at, res, moves)
			return err
		}); err != nil {
			return err
		}
		if err := chunked(s.d, fails, 5, func(chunk []int) error {
			var err error
			moves, err = s.failSteps(ctx, tx, p, chunk, at, res, moves)
			return err
		}); err != nil {
			return err
		}
		for _, i := range order {
			o := p.Outcomes[i]
			if o.Kind != store.OutcomeSuspend {
				continue
			}
			const release = `lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL,
				transition_seq = transition_seq + 1, updated_at = ?`
			const guard = ` WHERE id = ? AND state = 'in_progress' AND lease_token = ? RETURNING id, task_id, state, transition_seq`
			q := tx.NewRaw(`UPDATE tasker_steps SET state = 'pending', attempts = attempts - 1, next_attempt_at = ?, `+release+guard,
				s.d.Time(p.Now, o.RetryAfter), at, o.Lease.StepID, o.Lease.Token)
			var got []movedStep
			if err := q.Scan(ctx, &got); err != nil {
				return err
			}
			if len(got) == 0 {
				res.Steps[i] = store.FinishedStep{StepID: o.Lease.StepID, Err: fmt.Errorf("step %d: %w", o.Lease.StepID, store.ErrLeaseLost)}
				continue
			}
			r := got[0]
			if len(o.WakeOnEvents) > 0 {
				if err := wakeOnEvent(ctx, tx, s.d, p.Now, r.ID, o.WakeOnEvents); err != nil {
					return err
				}
			}
			if len(o.WakeOnTasks) > 0 {
				if err := wakeOnTask(ctx, tx, s.d, p.Now, r.ID, o.WakeOnTasks); err != nil {
					return err
				}
			}
			res.Steps[i] = store.FinishedStep{StepID: r.ID, TaskID: r.TaskID, State: r.State}
			meta := o.Metadata
			if meta == nil && r.State != store.StepComplete {
				meta = o.Error
			}
			moves = append(moves, stepMove{id: r.ID, taskID: r.TaskID, from: store.StepInProgress, to: r.State, seq: r.TransitionSeq, meta: meta})
		}
		// The moves' transitions not written yet, the held records'
		// and an unblocked claim's (its steps are none of the moves':
		// those ran, so they had no dependency left), go in one
		// statement at the end.
		var books []stepMove
		for _, m := range moves {
			if !m.written {
				books = append(books, m)
			}
		}
		if err := s.insertHeld(ctx, tx, p, res, at); err != nil {
			return err
		}
		early := 0                      // dependants made ready by countDownClaiming
		var whole []*store.ClaimedStep  // its claims with their inputs
		var unread []*store.Step        // its claims whose inputs are read after the commit
		var tasks map[int64]*store.Task // whole's tasks, as the countdown leaves them
		if p.Claim != nil && p.ClaimUnblockedOnly {
			if early, whole, unread, err = s.countDownClaiming(ctx, tx, p.Claim, at, moves); err != nil {
				return err
			}
			for _, st := range unread {
				books = append(books, stepMove{id: st.ID, taskID: st.TaskID, from: store.StepPending, to: store.StepInProgress, seq: st.TransitionSeq})
			}
			for _, c := range whole {
				st := c.Step
				books = append(books, stepMove{id: st.ID, taskID: st.TaskID, from: store.StepPending, to: store.StepInProgress, seq: st.TransitionSeq})
				if tasks == nil {
					tasks = map[int64]*store.Task{}
				}
				tasks[st.TaskID] = nil
			}
		}
		tmoves, unblocked, err := s.consequences(ctx, tx, moves, at, tasks)
		if err != nil {
			return err
		}
		for _, c := range whole {
			if c.Task = tasks[c.Step.TaskID]; c.Task != nil {
				res.Claimed = append(res.Claimed, c)
			} else { // its task not counted down here (cannot be)
				unread = append(unread, c.Step)
			}
		}
		res.Unblocked = early + unblocked
		for _, m := range tmoves {
			res.Tasks = append(res.Tasks, store.TaskChange{TaskID: m.id, From: m.from, To: m.to})
		}
		switch {
		case p.Claim != nil && p.ClaimUnblockedOnly && unblocked > 0:
			claimed, err = s.claimUnblocked(ctx, tx, p.Claim, at, moves)
			if !s.d.WritableCTE() { // else the claim statement wrote them
				for _, st := range claimed {
					books = append(books, stepMove{id: st.ID, taskID: st.TaskID, from: store.StepPending, to: store.StepInProgress, seq: st.TransitionSeq})
				}
			}
		case p.Claim != nil && !p.ClaimUnblockedOnly:
			// This claim may take a step this group just retried: the
			// retry's transition must come first in its history.
			if err := s.writeStepTransitions(ctx, tx, books, at); err != nil {
				return err
			}
			books = nil
			claimed, err = s.claim(ctx, tx, p.Claim)
		}
		if err != nil {
			return err
		}
		claimed = append(claimed, unread...)
		return s.writeStepTransitions(ctx, tx, books, at)
	})
	return res, claimed, err
}

// insertHeld inserts the durable step records held by the outcomes res
// recorded (StepOutcome.Records). They complete on their first attempt, so
// no task's count of unfinished steps changes, and their transitions are
// implied (withImpliedSteps). at is the commit's time.
func (s *Store) insertHeld(ctx context.Context, tx bun.IDB, p *store.FinishStepsParams, res *store.FinishStepsResult, at time.Time) error {
	var rows []recordedRow
	for i, o := range p.Outcomes {
		if res.Steps[i].Err != nil {
			continue
		}
		for _, r := range o.Records {
			rows = append(rows, recordedRow{row: heldRow(r, at)})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	return s.insertRecorded(ctx, tx, rows, p.Now)
}

// countDownClaiming counts down the dependants of the steps moves
// satisfied and claims, for p, those it leaves ready, in one statement
// (SQLite: the countdown and claimUnblocked's claim are two statements
// otherwise, and a step of a chain pays for both). It applies when the
// statements that moved the steps counted their dependants (stepMove.outs)
// and all of them fit in p's room, so no choice by priority is to be made;
// else it does nothing and returns nothing. It marks the moves it counted
// down, and returns how many dependants became ready and which of them it
// claimed (in id order; their transitions are left to the caller). The
// claim's rules are claimReadySQL's: outside concurrency groups and rate
// limits (the claim loop takes those), due, of a handler and queue served,
// of a task not finished.
func (s *Store) countDownClaiming(ctx context.Context, tx bun.IDB, p *store.ClaimStepsParams, at time.Time, moves []stepMove) (int, []*store.ClaimedStep, []*store.Step, error) {
	if s.d.WritableCTE() { // Postgres: finishCTE, or consequences' merged statement
		return 0, nil, nil, nil
	}
	var from []int64
	outs := 0
	for _, m := range moves {
		if !m.to.Satisfied() || m.from.Satisfied() {
			continue
		}
		if !m.counted {
			return 0, nil, nil, nil
		}
		if m.outs > 0 {
			from = append(from, m.id)
			outs += m.outs
		}
	}
	if outs == 0 || outs > p.Limit {
		return 0, nil, nil, nil
	}
	b := params{s: s}
	token := newLeaseToken()
	filter := ""
	if len(p.Handlers) > 0 {
		filter += " AND " + b.in("s.handler", p.Handlers)
	}
	if len(p.Queues) > 0 {
		filter += " AND " + b.in("s.queue", p.Queues)
	}
	stamp := b.arg(s.d.BindTime(at))
	pick := func(then, otherwise string) string {
		return "CASE WHEN d.pick THEN " + then + " ELSE " + otherwise + " END"
	}
	// d is read before the update (MATERIALIZED): each dependant with the
	// dependencies completed here (n) and whether that was its last.
	query := `WITH x (id, n) AS (
			SELECT e.to_step_id, count(*) FROM tasker_step_edges e WHERE ` + b.in("e.from_step_id", from) + ` GROUP BY e.to_step_id),
		d (id, n, pick) AS MATERIALIZED (
			SELECT x.id, x.n, s.state = 'pending' AND s.pending_deps = x.n AND s.conc_group IS NULL AND s.rate_system IS NULL
				AND s.next_attempt_at <= ` + b.time(p.Now, 0) + filter + `
				AND t.state NOT IN ('complete', 'error', 'cancelled', 'resolved_manually')
			FROM x JOIN tasker_steps s ON s.id = x.id JOIN tasker_tasks t ON t.id = s.task_id)
		UPDATE tasker_steps SET pending_deps = tasker_steps.pending_deps - d.n,
			state = ` + pick("'in_progress'", "tasker_steps.state") + `,
			attempts = tasker_steps.attempts + ` + pick("1", "0") + `,
			lease_owner = ` + pick(b.arg(p.Owner), "tasker_steps.lease_owner") + `,
			lease_expires_at = ` + pick(b.time(p.Now, p.LeaseTTL), "tasker_steps.lease_expires_at") + `,
			lease_token = ` + pick(b.arg(token), "tasker_steps.lease_token") + `,
			started_at = ` + pick(stamp, "tasker_steps.started_at") + `,
			updated_at = ` + pick(stamp, "tasker_steps.updated_at") + `,
			transition_seq = tasker_steps.transition_seq + ` + pick("1", "0") + `
		FROM d WHERE tasker_steps.id = d.id
		RETURNING *`
	// A few claimed steps (a chain's next, the common case for latency)
	// come back with their dependencies' results, written earlier in this
	// transaction, and their tasks with the countdown (finishInTx): no
	// read after the commit. More are read after it, on the read pool,
	// out of the single writer's way.
	inline := outs <= inlineInputs
	if inline {
		query += `, CASE WHEN tasker_steps.state = 'in_progress' AND tasker_steps.lease_token = ` + b.arg(token) + ` THEN (
			SELECT ` + s.d.JSONAgg("f.name", "f.results IS NULL", s.d.JSONCol("f.results")) + `
			FROM tasker_step_edges e JOIN tasker_steps f ON f.id = e.from_step_id WHERE e.to_step_id = tasker_steps.id) END AS claim_deps`
	}
	var rows []*stepWithDeps
	if err := s.scan(ctx, tx, query, b.args, &rows); err != nil {
		return 0, nil, nil, err
	}
	for i := range moves {
		if m := &moves[i]; m.to.Satisfied() && !m.from.Satisfied() {
			m.countedDown = true
		}
	}
	ready := 0
	var whole []*store.ClaimedStep
	var bare []*store.Step
	for _, r := range rows {
		if r.PendingDeps == 0 {
			ready++
		}
		if r.State != store.StepInProgress || r.LeaseToken == nil || *r.LeaseToken != token {
			continue
		}
		if !inline {
			st := r.Step
			bare = append(bare, &st)
			continue
		}
		c, err := claimedWithInputs(r.Step, store.Task{}, r.ClaimDeps)
		if err != nil {
			return 0, nil, nil, err
		}
		c.Task = nil // the caller's: the task's countdown returns it
		whole = append(whole, c)
	}
	slices.SortFunc(whole, func(a, b *store.ClaimedStep) int { return int(a.Step.ID - b.Step.ID) })
	slices.SortFunc(bare, func(a, b *store.Step) int { return int(a.ID - b.ID) })
	return ready, whole, bare, nil
}

// inlineInputs is the most dependants a countdown that claims them
// returns with their inputs (countDownClaiming).
const inlineInputs = 4

// stepWithDeps is a step row with its dependencies' results (a JSON array
// of [name, results missing, results]), or none.
type stepWithDeps struct {
	store.Step `bun:",extend"`
	ClaimDeps  store.JSON `bun:"claim_deps"`
}

// claimUnblocked claims, for p, the ready steps among the dependants of
// the steps moves satisfied (gated steps are left to the claim loop). Their
// tasks are running already (a step of each just finished); the claimed
// steps' transitions are left to the caller on SQLite.
func (s *Store) claimUnblocked(ctx context.Context, tx bun.IDB, p *store.ClaimStepsParams, at time.Time, moves []stepMove) ([]*store.Step, error) {
	var from []int64
	for _, m := range moves {
		if m.to.Satisfied() && !m.from.Satisfied() {
			from = append(from, m.id)
		}
	}
	if len(from) == 0 {
		return nil, nil
	}
	steps, err := s.claimReadyAmong(ctx, tx, p, at, passUnblocked, p.Limit, from)
	if err != nil || len(steps) == 0 {
		return nil, err
	}
	slices.SortFunc(steps, func(a, b *store.Step) int { return int(a.ID - b.ID) })
	return steps, nil
}

// completeSteps records the completions at the given indexes of outcomes in
// one UPDATE … FROM (VALUES …), guarded per row on the lease token; the
// rows it does not return lost their lease.
func (s *Store) completeSteps(ctx context.Context, tx bun.IDB, outcomes []store.StepOutcome, idx []int, at time.Time, res *store.FinishStepsResult, moves []stepMove) ([]stepMove, error) {
	// Bound (kept prepared by the database; on SQLite one text per group
	// size).
	b := params{s: s}
	cte := s.d.WritableCTE()
	rows := make([][]any, len(idx))
	for k, i := range idx {
		o := outcomes[i]
		rows[k] = []any{o.Lease.StepID, o.Lease.Token, string(orEmptyObject(o.Results))}
		if cte { // Postgres: the metadata, for the transitions
			rows[k] = append(rows[k], nullJSON(o.Metadata))
		}
	}
	var v string
	if cte {
		v = b.rows([]string{"bigint", "bigint", "jsonb", "jsonb"}, rows)
	} else {
		v = b.rows([]string{"bigint", "bigint", "text"}, rows)
	}
	stamp := b.arg(s.d.BindTime(at))
	var got []movedStep
	update := `UPDATE tasker_steps SET state = 'complete', results = v.results, completed_at = ` + stamp + `, updated_at = ` + stamp + `,
			lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL,
			transition_seq = tasker_steps.transition_seq + 1
		FROM v
		WHERE tasker_steps.id = v.id AND tasker_steps.state = 'in_progress' AND tasker_steps.lease_token = v.token
		RETURNING tasker_steps.id, tasker_steps.task_id, tasker_steps.state, tasker_steps.transition_seq`
	// SQLite: how many steps depend on each (an index range), so that a
	// commit of steps that have none skips the statement that counts
	// dependants down (see consequences), and one whose dependants all fit
	// the claim's room claims them in that statement (countDownClaiming).
	query := `WITH v (id, token, results) AS (` + v + `)
		` + update + `, (SELECT count(*) FROM tasker_step_edges e WHERE e.from_step_id = tasker_steps.id) AS outs`
	if cte {
		// Postgres: the completions' transitions in the same statement.
		query = `WITH v (id, token, results, meta) AS (` + v + `),
		done AS (` + update + `),
		tr AS (INSERT INTO tasker_step_transitions (step_id, task_id, from_state, to_state, sort_key, metadata, created_at)
			SELECT done.id, done.task_id, 'in_progress', 'complete', done.transition_seq, v.meta, ` + stamp + ` FROM done JOIN v ON v.id = done.id)
		SELECT * FROM done`
	}
	if err := s.scan(ctx, tx, query, b.args, &got); err != nil {
		return nil, err
	}
	return recordMoved(outcomes, idx, got, res, moves, cte, func(o store.StepOutcome) store.JSON { return o.Metadata }), nil
}

// movedStep is a row an outcomes' statement returns: a step it moved.
type movedStep struct {
	ID            int64           `bun:"id"`
	TaskID        int64           `bun:"task_id"`
	State         store.StepState `bun:"state"`
	TransitionSeq int             `bun:"transition_seq"`
	Outs          *int            `bun:"outs"` // how many steps depend on it (when the statement says)
}

// recordMoved reports each outcome at idx by the row got holds for its
// step (none: its lease was lost), and appends its move, with the
// transition's metadata meta gives (written: the statement wrote it).
func recordMoved(outcomes []store.StepOutcome, idx []int, got []movedStep, res *store.FinishStepsResult, moves []stepMove, written bool, meta func(store.StepOutcome) store.JSON) []stepMove {
	byID := make(map[int64]int, len(got))
	for k, r := range got {
		byID[r.ID] = k
	}
	for _, i := range idx {
		o := outcomes[i]
		k, ok := byID[o.Lease.StepID]
		if !ok {
			res.Steps[i] = store.FinishedStep{StepID: o.Lease.StepID, Err: fmt.Errorf("step %d: %w", o.Lease.StepID, store.ErrLeaseLost)}
			continue
		}
		r := got[k]
		res.Steps[i] = store.FinishedStep{StepID: r.ID, TaskID: r.TaskID, State: r.State}
		m := stepMove{id: r.ID, taskID: r.TaskID, from: store.StepInProgress, to: r.State, seq: r.TransitionSeq, meta: meta(o), written: written}
		if r.Outs != nil {
			m.counted, m.outs = true, *r.Outs
		}
		moves = append(moves, m)
	}
	return moves
}

// failSteps records the retries and failures at the given indexes of
// p.Outcomes in one bound UPDATE … FROM v, guarded per row on the lease
// token: a retry goes back to pending, due after its RetryAfter, while
// attempts remain (else to error); a failure goes to error. The rows it
// does not return lost their lease.
func (s *Store) failSteps(ctx context.Context, tx bun.IDB, p *store.FinishStepsParams, idx []int, at time.Time, res *store.FinishStepsResult, moves []stepMove) ([]stepMove, error) {
	b := params{s: s}
	// The retry's due time: on the database's clock (Postgres, no Now) its
	// clock plus each row's delay, else each row's time.
	base, onDB := s.d.Time(p.Now, 0).(bun.Safe)
	next, nextType := "v.next", "timestamptz"
	if onDB {
		next, nextType = string(base)+" + v.next * interval '1 microsecond'", "bigint"
	}
	rows := make([][]any, len(idx))
	for k, i := range idx {
		o := p.Outcomes[i]
		var due any = o.RetryAfter.Microseconds()
		if !onDB {
			due = s.d.BindTime(s.d.Time(p.Now, o.RetryAfter).(time.Time))
		}
		rows[k] = []any{o.Lease.StepID, o.Lease.Token, o.Kind == store.OutcomeRetry, due, nullJSON(o.Error)}
	}
	v := b.rows([]string{"bigint", "bigint", "boolean", nextType, "jsonb"}, rows)
	stamp := b.arg(s.d.BindTime(at))
	var got []movedStep
	err := s.scan(ctx, tx, `WITH v (id, token, retry, next, err) AS (`+v+`)
		UPDATE tasker_steps SET
			state = CASE WHEN v.retry AND tasker_steps.retryable AND tasker_steps.attempts < tasker_steps.retry_limit THEN 'pending' ELSE 'error' END,
			next_attempt_at = CASE WHEN v.retry THEN `+next+` ELSE tasker_steps.next_attempt_at END,
			last_error = v.err, lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL,
			transition_seq = tasker_steps.transition_seq + 1, updated_at = `+stamp+`
		FROM v
		WHERE tasker_steps.id = v.id AND tasker_steps.state = 'in_progress' AND tasker_steps.lease_token = v.token
		RETURNING tasker_steps.id, tasker_steps.task_id, tasker_steps.state, tasker_steps.transition_seq`, b.args, &got)
	if err != nil {
		return nil, err
	}
	return recordMoved(p.Outcomes, idx, got, res, moves, false, failureMeta), nil
}

// failureMeta is the metadata of a failure's transition: its own, else
// its error.
func failureMeta(o store.StepOutcome) store.JSON {
	if o.Metadata != nil {
		return o.Metadata
	}
	return o.Error
}

// ExtendLeases pushes the expiry of live leases forward.
func (s *Store) ExtendLeases(ctx context.Context, p *store.ExtendLeasesParams) ([]store.Lease, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("extending leases: %w", err)
	}
	var lost []store.Lease
	err := s.inTx(ctx, "extending leases", func(ctx context.Context, tx bun.IDB) error {
		lost = lost[:0]
		for _, l := range p.Leases {
			res, err := tx.NewRaw(`UPDATE tasker_steps SET lease_expires_at = ?
				WHERE id = ? AND state = 'in_progress' AND lease_token = ?`,
				s.d.Time(p.Now, p.LeaseTTL), l.StepID, l.Token).Exec(ctx)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				lost = append(lost, l)
			}
		}
		return nil
	})
	return lost, err
}

// ReleaseLeases returns leased steps to pending, giving back the attempt.
func (s *Store) ReleaseLeases(ctx context.Context, p *store.ReleaseLeasesParams) (int, error) {
	if err := p.Validate(); err != nil {
		return 0, fmt.Errorf("releasing leases: %w", err)
	}
	n := 0
	err := s.inTx(ctx, "releasing leases", func(ctx context.Context, tx bun.IDB) error {
		at := now(p.Now)
		var moves []stepMove
		for _, l := range p.Leases {
			var got []struct {
				TaskID        int64 `bun:"task_id"`
				TransitionSeq int   `bun:"transition_seq"`
			}
			if err := tx.NewRaw(`UPDATE tasker_steps SET state = 'pending', attempts = attempts - 1,
					next_attempt_at = ?, lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL,
					transition_seq = transition_seq + 1, updated_at = ?
				WHERE id = ? AND state = 'in_progress' AND lease_token = ? RETURNING task_id, transition_seq`,
				s.d.Time(p.Now, 0), at, l.StepID, l.Token).Scan(ctx, &got); err != nil {
				return err
			}
			if len(got) == 1 {
				moves = append(moves, stepMove{id: l.StepID, taskID: got[0].TaskID, from: store.StepInProgress, to: store.StepPending,
					seq: got[0].TransitionSeq, meta: store.JSON(`{"reason":"lease released at shutdown"}`)})
			}
		}
		n = len(moves)
		return s.writeStepTransitions(ctx, tx, moves, at)
	})
	return n, err
}

// RescueExpired returns steps with expired leases to pending, or to error
// when they have no attempts left (failing their task).
func (s *Store) RescueExpired(ctx context.Context, p *store.RescueExpiredParams) (*store.RescueResult, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("rescuing expired leases: %w", err)
	}
	limit := p.Limit
	if limit == 0 {
		limit = 1000
	}
	res := &store.RescueResult{}
	err := s.inTx(ctx, "rescuing expired leases", func(ctx context.Context, tx bun.IDB) error {
		*res = store.RescueResult{}
		at := now(p.Now)
		cause := p.ExpiredCause
		if len(cause) == 0 {
			cause = store.JSON(`{"error":"lease expired: the worker running this attempt stopped heartbeating","reason":"lease_expired"}`)
		}
		type row struct {
			ID            int64           `bun:"id"`
			TaskID        int64           `bun:"task_id"`
			Name          string          `bun:"name"`
			Attempts      int             `bun:"attempts"`
			State         store.StepState `bun:"state"`
			TransitionSeq int             `bun:"transition_seq"`
		}
		var got []row
		// MATERIALIZED: the pick runs once (see ClaimSteps).
		if err := tx.NewRaw(`WITH picked AS MATERIALIZED (
				SELECT s.id FROM tasker_steps s WHERE s.state = 'in_progress' AND s.lease_expires_at < ?1
				ORDER BY s.lease_expires_at LIMIT ?3 `+strings.ReplaceAll(s.d.SkipLocked(), "OF s ", "")+`)
			UPDATE tasker_steps SET
				state = CASE WHEN attempts < retry_limit THEN 'pending' ELSE 'error' END,
				last_error = ?0, next_attempt_at = ?1, lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL,
				transition_seq = transition_seq + 1, updated_at = ?2
			WHERE state = 'in_progress' AND lease_expires_at < ?1 AND `+s.d.Among("id", "SELECT id FROM picked")+`
			RETURNING id, task_id, name, attempts, state, transition_seq`, cause, s.d.Time(p.Now, 0), at, limit).Scan(ctx, &got); err != nil {
			return err
		}
		slices.SortFunc(got, func(a, b row) int { return int(a.ID - b.ID) })
		moves := make([]stepMove, len(got))
		for i, g := range got {
			moves[i] = stepMove{id: g.ID, taskID: g.TaskID, from: store.StepInProgress, to: g.State, seq: g.TransitionSeq, meta: cause}
			res.Steps = append(res.Steps, store.RescuedStep{StepID: g.ID, TaskID: g.TaskID, Name: g.Name, Attempts: g.Attempts, State: g.State, Error: cause})
			if g.State == store.StepPending {
				res.Rescued++
			} else {
				res.Failed++
			}
		}
		if err := s.writeStepTransitions(ctx, tx, moves, at); err != nil {
			return err
		}
		tmoves, _, err := s.consequences(ctx, tx, moves, at, nil)
		if err != nil {
			return err
		}
		if len(p.DeadlineCause) > 0 {
			overdue, err := s.failOverdue(ctx, tx, p.DeadlineCause, s.d.Time(p.Now, 0), at, limit)
			if err != nil {
				return err
			}
			res.TimedOut = len(overdue)
			tmoves = append(tmoves, overdue...)
		}
		var failed []int64
		for _, m := range tmoves {
			res.Tasks = append(res.Tasks, store.TaskChange{TaskID: m.id, From: m.from, To: m.to})
			if m.to == store.TaskError {
				failed = append(failed, m.id)
			}
		}
		return s.failedTasks(ctx, tx, failed, &res.FailedTasks)
	})
	return res, err
}

// failedTasks reads the tasks a rescue failed (ids, at most its limit),
// all but their context and results, which may be large and which
// announcing their end does not need.
func (s *Store) failedTasks(ctx context.Context, tx bun.IDB, ids []int64, out *[]*store.Task) error {
	if len(ids) == 0 {
		return nil
	}
	return chunked(s.d, ids, 1, func(ids []int64) error {
		var got []*store.Task
		if err := tx.NewSelect().Model(&got).ExcludeColumn("context", "results").Where("t.id IN (?)", bun.List(ids)).Order("t.id").Scan(ctx); err != nil {
			return err
		}
		*out = append(*out, got...)
		return nil
	})
}

// failOverdue fails the unfinished tasks whose deadline is before clock
// (oldest deadline first, at most limit) with cause, writes their moves and
// wakes their parents' waiting steps (tasker_tasks_overdue).
func (s *Store) failOverdue(ctx context.Context, tx bun.IDB, cause store.JSON, clock any, at time.Time, limit int) ([]taskMove, error) {
	var ids []int64
	if err := tx.NewRaw(`SELECT id FROM tasker_tasks
		WHERE deadline_at IS NOT NULL AND state IN ('pending', 'in_progress') AND deadline_at < ?
		ORDER BY deadline_at, id LIMIT ?`, clock, limit).Scan(ctx, &ids); err != nil {
		return nil, err
	}
	var moves []taskMove
	for _, id := range ids {
		m, err := failTask(ctx, tx, id, cause, at)
		if err != nil {
			return nil, err
		}
		if m != nil {
			moves = append(moves, *m)
		}
	}
	if err := s.writeTaskTransitions(ctx, tx, moves, at); err != nil {
		return nil, err
	}
	return moves, wakeParents(ctx, tx, ids, at)
}

// Passes of the claim over ungated ready steps.
const (
	passPriority  = iota // priority > 0, highest first (tasker_steps_claim_priority)
	passFIFO             // any priority, FIFO (tasker_steps_ready): what the priority pass left, and the ageing turn
	passUnblocked        // the dependants of given steps, highest priority first (FinishStepsParams.ClaimUnblockedOnly)
)

// routeFilter restricts a claim to the handlers and queues it serves,
// given the positions of their list arguments.
func routeFilter(p *store.ClaimStepsParams, handlersArg, queuesArg int) string {
	filter := ""
	if len(p.Handlers) > 0 {
		filter += fmt.Sprintf(" AND s.handler IN (?%d)", handlersArg)
	}
	if len(p.Queues) > 0 {
		filter += fmt.Sprintf(" AND s.queue IN (?%d)", queuesArg)
	}
	return filter
}

// claimReady claims up to limit ready steps outside concurrency groups and
// rate limits in one statement with bind parameters (see claimReadySQL).
func (s *Store) claimReady(ctx context.Context, tx bun.IDB, p *store.ClaimStepsParams, at time.Time, pass, limit int) ([]*store.Step, error) {
	return s.claimReadyAmong(ctx, tx, p, at, pass, limit, nil)
}

// claimReadyAmong is claimReady of pass passUnblocked: among the steps
// that depend on the steps of ids from.
func (s *Store) claimReadyAmong(ctx context.Context, tx bun.IDB, p *store.ClaimStepsParams, at time.Time, pass, limit int, from []int64) ([]*store.Step, error) {
	query, args := s.claimReadySQL(p, at, pass, limit, from, false)
	var steps []*store.Step
	if err := s.scan(ctx, tx, query, args, &steps); err != nil {
		return nil, err
	}
	return steps, nil
}

// claimReadySQL is the claim statement, with bind parameters: its text
// depends only on the kind of claim (pass, routing filters, clock rule),
// never on the values, so the database keeps it prepared.
func (s *Store) claimReadySQL(p *store.ClaimStepsParams, at time.Time, pass, limit int, from []int64, withInputs bool) (string, []any) {
	b := params{s: s}
	owner, expires, token, started := b.arg(p.Owner), b.time(p.Now, p.LeaseTTL), b.arg(newLeaseToken()), b.arg(s.d.BindTime(at))
	filter := " AND s.next_attempt_at <= " + b.time(p.Now, 0)
	if len(p.Handlers) > 0 {
		filter += " AND " + b.in("s.handler", p.Handlers)
	}
	if len(p.Queues) > 0 {
		filter += " AND " + b.in("s.queue", p.Queues)
	}
	order := "s.next_attempt_at, s.id"
	switch pass {
	case passPriority:
		filter += " AND s.priority > 0"
		order = "s.priority DESC, s.next_attempt_at, s.id"
	case passUnblocked:
		filter += " AND s.id IN (SELECT e.to_step_id FROM tasker_step_edges e WHERE " + b.in("e.from_step_id", from) + ")"
		order = "s.priority DESC, s.next_attempt_at, s.id"
	}
	// The task's state is tested with NOT IN the finished states rather
	// than IN the unfinished ones: with a long history, statistics say
	// unfinished tasks are rare, and for IN Postgres then walks
	// tasker_tasks_state as the inner side of the join, scanning every
	// unfinished task for each step (12 ms per 256-step pick with 300,000
	// finished tasks and 5,000 ready, against 0.5 ms by the primary key:
	// bench --experiments E7). NOT IN cannot use that index, so the task is
	// looked up by its id. SQLite's plan is the same either way.
	//
	// The pick is a MATERIALIZED CTE so it runs exactly once: as a
	// plain "id IN (subquery)", Postgres may plan a semi-join that
	// re-runs the LIMITed, locking subquery for every outer row, and
	// each re-run skips the rows this statement already updated and
	// picks new ones, claiming more than Limit.
	pick := `WITH picked AS MATERIALIZED (
			SELECT s.id FROM tasker_steps s CROSS JOIN tasker_tasks t
			WHERE t.id = s.task_id AND s.state = 'pending' AND s.pending_deps = 0
				AND t.state NOT IN ('complete', 'error', 'cancelled', 'resolved_manually') AND s.conc_group IS NULL AND s.rate_system IS NULL` + filter + `
			ORDER BY ` + order + ` LIMIT ` + s.d.BindLimit(b.arg(limit)) + ` ` + s.d.SkipLocked() + `)`
	update := `UPDATE tasker_steps SET state = 'in_progress', attempts = attempts + 1,
			lease_owner = ` + owner + `, lease_expires_at = ` + expires + `, lease_token = ` + token + `,
			started_at = ` + started + `, updated_at = ` + started + `, transition_seq = transition_seq + 1
		WHERE state = 'pending' AND ` + s.d.Among("id", "SELECT id FROM picked") + `
		RETURNING *`
	if !s.d.WritableCTE() {
		return pick + "\n" + update, b.args
	}
	// Postgres: the claim's transitions and its tasks' start in the same
	// statement (what claimBooks does in three more round trips).
	return pick + `,
		claimed AS (` + update + `),
		str AS (INSERT INTO tasker_step_transitions (step_id, task_id, from_state, to_state, sort_key, metadata, created_at)
			SELECT id, task_id, 'pending', 'in_progress', transition_seq, NULL, ` + started + ` FROM claimed),
		tu AS (UPDATE tasker_tasks SET state = 'in_progress', updated_at = ` + started + `, transition_seq = transition_seq + 1
			WHERE ` + s.d.Among("id", "SELECT task_id FROM claimed") + ` AND state = 'pending' RETURNING *),
		ttr AS (INSERT INTO tasker_task_transitions (task_id, from_state, to_state, sort_key, metadata, created_at)
			SELECT id, 'pending', 'in_progress', transition_seq, NULL, ` + started + ` FROM tu WHERE transition_seq <> ` + strconv.Itoa(startKey) + `)
		` + s.claimAnswer(withInputs), b.args
}

// claimAnswer is the end of the Postgres claim statement: the claimed
// rows, and with withInputs each with its task (as the statement leaves it:
// the started tasks' rows are tu's) and its dependencies' results, so no
// read follows the claim (claimedRow).
func (s *Store) claimAnswer(withInputs bool) string {
	if !withInputs {
		return "SELECT * FROM claimed"
	}
	return `, cd AS (
			SELECT e.to_step_id AS id, ` + s.d.JSONAgg("f.name", "f.results IS NULL", "f.results") + ` AS deps
			FROM tasker_step_edges e JOIN claimed c ON c.id = e.to_step_id JOIN tasker_steps f ON f.id = e.from_step_id
			GROUP BY e.to_step_id)
		SELECT claimed.*, ` + s.columns("claimed tasks", func() string {
		return s.taskColumnsOf(func(col string) string { return "CASE WHEN tu.id IS NULL THEN t." + col + " ELSE tu." + col + " END" })
	}) + `, cd.deps AS claim_deps
		FROM claimed JOIN tasker_tasks t ON t.id = claimed.task_id LEFT JOIN tu ON tu.id = claimed.task_id LEFT JOIN cd ON cd.id = claimed.id`
}

// claimGrouped claims up to room ready gated steps — in a concurrency
// group, or calling a rate-limited system — each within its limits across
// every process: it picks candidates in claim order, locks their groups'
// and buckets' rows (skipping rows another claimer holds: that claimer is
// counting them), counts each group's running steps, refills each bucket,
// and takes what fits. lease is the claim's owner, lease expiry and token
// arguments.
func (s *Store) claimGrouped(ctx context.Context, tx bun.IDB, p *store.ClaimStepsParams, room int, lease []any) ([]*store.Step, error) {
	args := []any{s.d.Time(p.Now, 0), room * 4, bun.List(p.Handlers), bun.List(p.Queues)}
	filter := routeFilter(p, 2, 3)
	order := "s.priority DESC, s.next_attempt_at, s.id"
	if p.ByReadyTime {
		order = "s.next_attempt_at, s.id"
	}
	var cands []struct {
		ID     int64   `bun:"id"`
		Group  *string `bun:"conc_group"`
		Max    int     `bun:"conc_max"`
		System *string `bun:"rate_system"`
	}
	if err := tx.NewRaw(`SELECT s.id, s.conc_group, s.conc_max, s.rate_system FROM tasker_steps s CROSS JOIN tasker_tasks t
		WHERE t.id = s.task_id AND s.state = 'pending' AND s.pending_deps = 0 AND (s.conc_group IS NOT NULL OR s.rate_system IS NOT NULL)
			AND s.next_attempt_at <= ?0 AND t.state NOT IN ('complete', 'error', 'cancelled', 'resolved_manually')`+filter+`
		ORDER BY `+order+` LIMIT ?1 `+s.d.SkipLocked(), args...).Scan(ctx, &cands); err != nil {
		return nil, fmt.Errorf("picking gated steps: %w", err)
	}
	if len(cands) == 0 {
		return nil, nil
	}
	var groups, systems []string
	for _, c := range cands {
		if c.Group != nil && !slices.Contains(groups, *c.Group) {
			groups = append(groups, *c.Group)
		}
		if c.System != nil && !slices.Contains(systems, *c.System) {
			systems = append(systems, *c.System)
		}
	}
	running, err := s.lockGroups(ctx, tx, groups)
	if err != nil {
		return nil, err
	}
	at := now(p.Now)
	buckets, at, err := s.lockBuckets(ctx, tx, systems, at)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, c := range cands {
		if len(ids) == room {
			break
		}
		if c.Group != nil {
			if n, ok := running[*c.Group]; !ok || n >= c.Max {
				continue
			}
		}
		if c.System != nil {
			if b := buckets[*c.System]; b == nil || b.Tokens < 1 {
				continue
			}
			buckets[*c.System].Tokens--
		}
		if c.Group != nil {
			running[*c.Group]++
		}
		ids = append(ids, c.ID)
	}
	if err := s.saveBuckets(ctx, tx, buckets, at); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var steps []*store.Step
	if err := tx.NewRaw(`UPDATE tasker_steps SET state = 'in_progress', attempts = attempts + 1,
			lease_owner = ?0, lease_expires_at = ?1, lease_token = ?2,
			started_at = ?3, updated_at = ?3, transition_seq = transition_seq + 1
		WHERE state = 'pending' AND id IN (?4) RETURNING *`, lease[0], lease[1], lease[2], at, bun.List(ids)).Scan(ctx, &steps); err != nil {
		return nil, fmt.Errorf("claiming gated steps: %w", err)
	}
	return steps, nil
}

// lockGroups locks the rows of the groups another claimer does not hold
// and returns the running steps of each.
func (s *Store) lockGroups(ctx context.Context, tx bun.IDB, groups []string) (map[string]int, error) {
	running := map[string]int{}
	if len(groups) == 0 {
		return running, nil
	}
	slices.Sort(groups)
	var locked []string
	if err := tx.NewRaw(`SELECT s.name FROM tasker_conc_groups s WHERE s.name IN (?) ORDER BY s.name `+s.d.SkipLocked(),
		bun.List(groups)).Scan(ctx, &locked); err != nil {
		return nil, fmt.Errorf("locking concurrency groups: %w", err)
	}
	if len(locked) == 0 {
		return running, nil
	}
	var counts []struct {
		Group string `bun:"conc_group"`
		N     int    `bun:"n"`
	}
	if err := tx.NewRaw(`SELECT conc_group, count(*) AS n FROM tasker_steps
		WHERE state = 'in_progress' AND conc_group IN (?) GROUP BY conc_group`, bun.List(locked)).Scan(ctx, &counts); err != nil {
		return nil, fmt.Errorf("counting running steps of concurrency groups: %w", err)
	}
	for _, g := range locked {
		running[g] = 0
	}
	for _, c := range counts {
		running[c.Group] = c.N
	}
	return running, nil
}

// bucket is a rate limit's row.
type bucket struct {
	Name      string    `bun:"name"`
	PerSecond float64   `bun:"per_second"`
	Burst     int       `bun:"burst"`
	Tokens    float64   `bun:"tokens"`
	UpdatedAt time.Time `bun:"updated_at"`
}

// lockBuckets locks the buckets another claimer does not hold and refills
// them to at — or to the latest time a bucket was written, when another
// claimer (whose clock ran ahead, or who committed while this one waited)
// wrote it later: tokens are then taken in time order, so the steps'
// recorded starts never exceed the rate over any window. It returns the
// time the claim is made at.
func (s *Store) lockBuckets(ctx context.Context, tx bun.IDB, systems []string, at time.Time) (map[string]*bucket, time.Time, error) {
	out := map[string]*bucket{}
	if len(systems) == 0 {
		return out, at, nil
	}
	slices.Sort(systems)
	var rows []*bucket
	if err := tx.NewRaw(`SELECT s.name, s.per_second, s.burst, s.tokens, s.updated_at FROM tasker_rate_limits s
		WHERE s.name IN (?) ORDER BY s.name `+s.d.SkipLocked(), bun.List(systems)).Scan(ctx, &rows); err != nil {
		return nil, at, fmt.Errorf("locking rate limits: %w", err)
	}
	for _, b := range rows {
		if b.UpdatedAt.After(at) {
			at = b.UpdatedAt
		}
	}
	for _, b := range rows {
		if elapsed := at.Sub(b.UpdatedAt).Seconds(); elapsed > 0 {
			b.Tokens = min(float64(b.Burst), b.Tokens+elapsed*b.PerSecond)
		}
		out[b.Name] = b
	}
	return out, at, nil
}

// saveBuckets writes the buckets back and notes when a token is next due
// for a bucket that ran dry (NextWakeup reports it).
func (s *Store) saveBuckets(ctx context.Context, tx bun.IDB, buckets map[string]*bucket, at time.Time) error {
	if len(buckets) > 0 {
		s.hints.nextToken.Store(0) // recomputed below for the buckets still dry
	}
	for _, b := range buckets {
		if _, err := tx.NewRaw(`UPDATE tasker_rate_limits SET tokens = ?, updated_at = ? WHERE name = ?`, b.Tokens, at, b.Name).Exec(ctx); err != nil {
			return fmt.Errorf("taking rate limit tokens of %s: %w", b.Name, err)
		}
		if b.Tokens < 1 {
			due := at.Add(time.Duration((1 - b.Tokens) / b.PerSecond * float64(time.Second))).UnixNano()
			for {
				cur := s.hints.nextToken.Load()
				if cur != 0 && cur <= due || s.hints.nextToken.CompareAndSwap(cur, due) {
					break
				}
			}
		}
	}
	return nil
}

// RateLimitState reads a rate limit's bucket.
func (s *Store) RateLimitState(ctx context.Context, system string) (*store.RateLimitState, error) {
	if err := store.CheckName("system", system); err != nil {
		return nil, fmt.Errorf("reading the rate limit of system %q: %w", system, err)
	}
	var b bucket
	if err := s.ro.NewRaw(`SELECT name, per_second, burst, tokens, updated_at FROM tasker_rate_limits WHERE name = ?`, system).Scan(ctx, &b); err != nil {
		return nil, s.wrap(fmt.Sprintf("reading the rate limit of system %q", system), err)
	}
	return &store.RateLimitState{RateLimit: store.RateLimit{System: b.Name, PerSecond: b.PerSecond, Burst: b.Burst}, Tokens: b.Tokens, UpdatedAt: b.UpdatedAt}, nil
}

// HeldUntil reports when a step this store's claims held back for want of
// a rate-limit token may be claimed (no database access: the claim loop
// asks it on every turn, busy or idle). Once that time has passed it
// reports nothing until a claim finds a bucket dry again.
func (s *Store) HeldUntil() (time.Time, bool) {
	n := s.hints.nextToken.Load()
	if n == 0 {
		return time.Time{}, false
	}
	at := time.Unix(0, n)
	if time.Until(at) < -time.Second { // long past: the claims since have taken it
		s.hints.nextToken.CompareAndSwap(n, 0)
		return time.Time{}, false
	}
	return at, true
}

// RunningInGroup lists the running steps of a concurrency group.
func (s *Store) RunningInGroup(ctx context.Context, group string) ([]*store.Step, error) {
	if err := store.CheckName("group", group); err != nil {
		return nil, fmt.Errorf("listing running steps of concurrency group %q: %w", group, err)
	}
	var steps []*store.Step
	if err := s.ro.NewSelect().Model(&steps).Where("state = 'in_progress' AND conc_group = ?", group).Order("id").Scan(ctx); err != nil {
		return nil, s.wrap(fmt.Sprintf("listing running steps of concurrency group %q", group), err)
	}
	return steps, nil
}

// NextWakeup returns the earliest time a pending step becomes ready or a
// lease expires.
func (s *Store) NextWakeup(ctx context.Context) (time.Time, bool, error) {
	var ready, expiry []time.Time
	// Gated steps are left out: one held back by its limit is "ready" and
	// would make every idle claimer spin on it; a group's slot frees with a
	// completion, which wakes the claimers, and the claim that found a
	// bucket dry noted when its next token is due (nextToken).
	if err := s.ro.NewRaw(`SELECT next_attempt_at FROM tasker_steps WHERE state = 'pending' AND pending_deps = 0
		AND conc_group IS NULL AND rate_system IS NULL
		ORDER BY next_attempt_at LIMIT 1`).Scan(ctx, &ready); err != nil {
		return time.Time{}, false, s.wrap("finding next ready step", err)
	}
	if err := s.ro.NewRaw(`SELECT lease_expires_at FROM tasker_steps WHERE state = 'in_progress'
		ORDER BY lease_expires_at LIMIT 1`).Scan(ctx, &expiry); err != nil {
		return time.Time{}, false, s.wrap("finding next lease expiry", err)
	}
	var next time.Time
	if at, ok := s.HeldUntil(); ok {
		// A step held back by a rate limit: claimable when its token is.
		ready = append(ready, at)
	}
	for _, t := range append(ready, expiry...) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next, !next.IsZero(), nil
}
