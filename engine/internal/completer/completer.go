// Package completer records the outcomes of attempts, grouping whatever has
// queued up while the previous commit ran into one transaction (group
// commit). The same transaction may claim the steps it released, for the
// room the dispatcher has, and the completer starts them.
package completer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/engine/internal/dispatch"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/store"
)

// Outcome is a finished attempt on its way to the store. Release means the
// attempt was interrupted by shutdown: its lease is given back.
type Outcome struct {
	store.StepOutcome
	Release bool
	Claimed *store.ClaimedStep
	Log     *zap.Logger
}

// Config is what the completer needs to know.
type Config struct {
	Owner     string        // lease owner for claims made in a commit
	BatchSize int           // the most steps claimed in a commit
	LeaseTTL  time.Duration // for claims made in a commit
	// Handlers and Queues restrict claims made in a commit (see
	// claimer.Config).
	Handlers    func() []string
	Queues      []string
	ByReadyTime func() bool
	// Backlog reports whether ready work may be waiting that the claim
	// loop has not taken; while it does not, a commit claims only the
	// steps it unblocks (store.FinishStepsParams.ClaimUnblockedOnly).
	// Nil: always claim any ready work.
	Backlog func() bool
	// Watched reports whether this process waits for a task: a commit
	// that finishes it may return it whole (store.FinishStepsParams.Watch).
	// Nil: none.
	Watched func(taskID int64) bool
	// Wanted reports whether a handle of this process may wait for the
	// task with an identity key (watched too).
	Wanted func(identity string) bool
	// MaxPayloadBytes: a result larger than this fails its own step with a
	// permanent error before the commit; the rest of the group is recorded.
	MaxPayloadBytes int
	// Attempts is how often a failed commit is tried (default 5), with a
	// backoff from RetryBase doubling up to RetryMax (defaults 50 ms, 1 s)
	// on the completer's clock.
	Attempts            int
	RetryBase, RetryMax time.Duration
}

// Hooks are told what happened. Each may be nil.
type Hooks struct {
	// Committed: the group's finish results (res.Steps[i] is finish[i]).
	Committed func(finish []Outcome, res *store.FinishStepsResult)
	// Claimed: steps claimed in a commit.
	Claimed func(n int)
	// Released: leases given back at shutdown.
	Released func(n int)
	// Transaction: a finish transaction was attempted.
	Transaction func()
	// Oversized turns an outcome whose result is over MaxPayloadBytes into
	// the failure to record (required when MaxPayloadBytes is set).
	Oversized func(o Outcome, limit int) Outcome
}

// Completer commits outcomes.
type Completer struct {
	cfg   Config
	st    store.Store
	clk   clock.Clock
	log   *zap.Logger
	disp  *dispatch.Dispatcher // nil: commits claim nothing
	hooks Hooks
}

// New returns a completer. disp may be nil (RunOnce: no claims in commits).
func New(cfg Config, st store.Store, clk clock.Clock, log *zap.Logger, disp *dispatch.Dispatcher, hooks Hooks) *Completer {
	if cfg.Attempts <= 0 {
		cfg.Attempts = 5
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 50 * time.Millisecond
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = time.Second
	}
	return &Completer{cfg: cfg, st: st, clk: clk, log: log, disp: disp, hooks: hooks}
}

// maxGroup bounds one commit.
const maxGroup = 1000

// Run commits what arrives on in until it is closed.
func (c *Completer) Run(in <-chan Outcome) {
	ctx := context.Background() // a completion is never abandoned half-way
	for first := range in {
		group := []Outcome{first}
	drain:
		for len(group) < maxGroup {
			select {
			case o, ok := <-in:
				if !ok {
					break drain
				}
				group = append(group, o)
			default:
				break drain
			}
		}
		c.Commit(ctx, group)
	}
}

// Commit records a group of outcomes in one transaction (leases to give
// back in another).
func (c *Completer) Commit(ctx context.Context, group []Outcome) {
	var finish []Outcome
	var release []store.Lease
	for _, o := range group {
		if o.Release {
			release = append(release, o.Lease)
		} else {
			finish = append(finish, c.bounded(o))
		}
	}
	if len(release) > 0 {
		n, err := c.st.ReleaseLeases(ctx, &store.ReleaseLeasesParams{Leases: release, Now: c.clk.StoreNow()})
		if err != nil {
			c.log.Warn("releasing leases at shutdown failed; they will expire", zap.Error(err))
		}
		if c.hooks.Released != nil {
			c.hooks.Released(n)
		}
	}
	if len(finish) > 0 {
		c.finish(ctx, finish)
	}
}

// bounded turns an outcome whose result is over the payload limit into a
// permanent failure of its own step, before the commit: one oversized
// result must not sink the group.
func (c *Completer) bounded(o Outcome) Outcome {
	if c.cfg.MaxPayloadBytes <= 0 || len(o.Results) <= c.cfg.MaxPayloadBytes || c.hooks.Oversized == nil {
		return o
	}
	if o.Log != nil { // info: a step's failure (see engine.Config.Logger)
		o.Log.Info("step result over the payload limit; the step fails", zap.Int("bytes", len(o.Results)), zap.Int("limit", c.cfg.MaxPayloadBytes))
	}
	return c.hooks.Oversized(o, c.cfg.MaxPayloadBytes)
}

func (c *Completer) finish(ctx context.Context, finish []Outcome) {
	params := &store.FinishStepsParams{Outcomes: make([]store.StepOutcome, len(finish)), Now: c.clk.StoreNow()}
	completes := map[int64]int{} // completions in the group, by task
	for i, o := range finish {
		params.Outcomes[i] = o.StepOutcome
		if o.Claimed != nil && o.Kind == store.OutcomeComplete {
			completes[o.Claimed.Step.TaskID]++
		}
	}
	for _, o := range finish {
		if o.Claimed == nil {
			continue
		}
		// A task is watched only if this commit may finish it: its
		// steps left, as its claim saw them, are all completed here
		// (a count grown stale the other way only costs a read after).
		// Returning it whole costs the statement when it cannot.
		id := o.Claimed.Step.TaskID
		if t := o.Claimed.Task; t != nil && t.Unfinished > completes[id] {
			continue
		}
		watched := c.cfg.Watched != nil && c.cfg.Watched(id) ||
			c.cfg.Wanted != nil && o.Claimed.Task != nil && c.cfg.Wanted(o.Claimed.Task.IdentityKey)
		if watched && !slices.Contains(params.Watch, id) {
			params.Watch = append(params.Watch, id)
		}
	}
	reserved := 0
	if c.disp != nil && (c.cfg.Handlers == nil || len(c.cfg.Handlers()) > 0) {
		unblockedOnly := c.cfg.Backlog != nil && !c.cfg.Backlog()
		want := c.cfg.BatchSize
		if unblockedOnly {
			want = min(want, unblockable(finish, completes))
		}
		if want > 0 {
			reserved = c.disp.Reserve(want)
		}
		if reserved > 0 {
			params.Claim = &store.ClaimStepsParams{Owner: c.cfg.Owner, Limit: reserved, LeaseTTL: c.cfg.LeaseTTL, Queues: c.cfg.Queues, Grouped: true, Now: params.Now}
			if c.cfg.Handlers != nil {
				params.Claim.Handlers = c.cfg.Handlers()
			}
			params.Claim.ByReadyTime = c.cfg.ByReadyTime != nil && c.cfg.ByReadyTime()
			params.ClaimUnblockedOnly = unblockedOnly
		}
	}
	res, ambiguous, err := c.tryFinish(ctx, params, len(finish))
	if err == nil && ambiguous {
		c.reconcile(ctx, params.Outcomes, res)
	}
	if reserved > 0 {
		var claimed []*store.ClaimedStep
		if err == nil {
			claimed = res.Claimed
			if c.hooks.Claimed != nil {
				c.hooks.Claimed(len(claimed))
			}
		}
		c.disp.Settle(reserved, claimed)
	}
	if errors.Is(err, store.ErrInvalid) && len(finish) > 1 {
		// One outcome the store refuses must not sink the others:
		// record each alone.
		c.log.Warn("the store refused a group of outcomes; recording them one by one", zap.Int("outcomes", len(finish)), zap.Error(err))
		for _, o := range finish {
			c.finish(ctx, []Outcome{o})
		}
		return
	}
	if err != nil {
		c.log.Error("recording step outcomes failed; their leases will expire and the steps run again", zap.Int("outcomes", len(finish)), zap.Error(err))
		return
	}
	if c.hooks.Committed != nil {
		c.hooks.Committed(finish, res)
	}
}

// unblockable bounds the steps a group's completions can make ready: the
// steps their tasks have left once the group completes its own (as their
// claims counted them; a count that has shrunk since only over-reserves).
// Only a completion unblocks anything, and only in its own task. A claim
// limited to those steps (ClaimUnblockedOnly) so reserves the dispatcher's
// room it may use, not a whole batch: a group of one-step workflows'
// completions reserves none, and a Start committing meanwhile finds the
// room to claim its own steps (eager dispatch) instead of finding every
// slot reserved by a claim that cannot use them. A completion whose task
// is unknown bounds nothing (the whole batch).
func unblockable(finish []Outcome, completes map[int64]int) int {
	n := 0
	seen := map[int64]bool{}
	for _, o := range finish {
		if o.Kind != store.OutcomeComplete {
			continue
		}
		if o.Claimed == nil || o.Claimed.Task == nil {
			return math.MaxInt
		}
		id := o.Claimed.Step.TaskID
		if !seen[id] {
			seen[id] = true
			n += max(0, o.Claimed.Task.Unfinished-completes[id])
		}
	}
	return n
}

// tryFinish commits, retrying a failed commit with a bounded backoff on the
// completer's clock. A refusal (store.ErrInvalid) is not retried. ambiguous
// reports that an earlier try failed: it may have committed all the same
// (its reply was lost), see reconcile.
func (c *Completer) tryFinish(ctx context.Context, params *store.FinishStepsParams, n int) (res *store.FinishStepsResult, ambiguous bool, err error) {
	wait := c.cfg.RetryBase
	for attempt := 1; ; attempt++ {
		res, err := c.commit(ctx, params)
		if c.hooks.Transaction != nil {
			c.hooks.Transaction()
		}
		if err == nil || errors.Is(err, store.ErrInvalid) || attempt >= c.cfg.Attempts {
			return res, attempt > 1, err
		}
		c.log.Warn("recording step outcomes failed; retrying", zap.Int("outcomes", n), zap.Int("attempt", attempt), zap.Duration("retry_in", wait), zap.Error(err))
		select {
		case <-ctx.Done():
			return nil, attempt > 1, ctx.Err()
		case <-c.clk.After(wait):
		}
		wait = min(2*wait, c.cfg.RetryMax)
	}
}

// commit records params. A group whose held durable step records the
// store refused as a conflict (a row an earlier try or another process
// wrote) records them each alone first, as Engine.recordGrouped does, then
// the outcomes without them.
func (c *Completer) commit(ctx context.Context, params *store.FinishStepsParams) (*store.FinishStepsResult, error) {
	res, err := c.st.FinishSteps(ctx, params)
	if err == nil || !errors.Is(err, store.ErrConflict) {
		return res, err
	}
	apart := *params
	apart.Outcomes = slices.Clone(params.Outcomes)
	held := false
	for i := range apart.Outcomes {
		for _, p := range apart.Outcomes[i].Records {
			held = true
			if _, rerr := c.st.RecordStep(ctx, p); rerr != nil && !errors.Is(rerr, store.ErrLeaseLost) {
				return nil, fmt.Errorf("recording durable step %s of task %d: %w", p.Name, p.TaskID, rerr)
			}
		}
		apart.Outcomes[i].Records = nil
	}
	if !held {
		return res, err
	}
	return c.st.FinishSteps(ctx, &apart)
}

// reconcile looks again at the outcomes a retried commit reports as lease
// lost: an earlier try may have committed them and lost its reply, and
// then the step is in the state the outcome asked for. A completion or a
// permanent failure found recorded is reported as recorded (not as a
// discarded result), with its task's move when the task finished, so the
// engine counts it, tells its waiters and emits its events once. (The
// step could also have been rescued and finished by another worker in the
// backoff between the tries — far shorter than a lease — and then both
// report it.)
func (c *Completer) reconcile(ctx context.Context, outcomes []store.StepOutcome, res *store.FinishStepsResult) {
	seen := map[int64]bool{}
	for _, t := range res.Tasks {
		seen[t.TaskID] = true
	}
	for i, r := range res.Steps {
		o := outcomes[i]
		if !errors.Is(r.Err, store.ErrLeaseLost) || (o.Kind != store.OutcomeComplete && o.Kind != store.OutcomeFail) {
			continue
		}
		st, err := c.st.GetStep(ctx, o.Lease.StepID)
		if err != nil {
			continue
		}
		want := store.StepComplete
		if o.Kind == store.OutcomeFail {
			want = store.StepError
		}
		if st.State != want || st.LeaseToken != nil {
			continue
		}
		res.Steps[i] = store.FinishedStep{StepID: st.ID, TaskID: st.TaskID, State: st.State}
		if seen[st.TaskID] {
			continue
		}
		d, err := c.st.GetTask(ctx, st.TaskID)
		if err == nil && (d.Task.State == store.TaskComplete || d.Task.State == store.TaskError) {
			seen[st.TaskID] = true
			res.Tasks = append(res.Tasks, store.TaskChange{TaskID: st.TaskID, From: store.TaskInProgress, To: d.Task.State})
		}
	}
}
