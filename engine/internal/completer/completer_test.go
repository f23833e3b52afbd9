package completer_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/tasker-go/tasker/engine/internal/completer"
	"github.com/tasker-go/tasker/engine/internal/dispatch"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// One commit group with an oversized result: that step fails, the others
// are recorded, in one transaction.
func TestOversizedResultFailsAloneInItsGroup(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Memory, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	for i := range 5 {
		if _, err := st.CreateTask(ctx, &store.CreateTaskParams{Namespace: "t", Name: "n", Version: "1", Kind: store.KindDAG,
			IdentityKey: fmt.Sprint("k", i), Steps: []store.NewStep{{Name: "s", Handler: "h", RetryLimit: 1}}, Now: clk.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	claimed, err := st.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: "w", Limit: 10, LeaseTTL: time.Minute, Now: clk.Now()})
	if err != nil || len(claimed) != 5 {
		t.Fatalf("claimed %d: %v", len(claimed), err)
	}
	var group []completer.Outcome
	for i, c := range claimed {
		o := completer.Outcome{Claimed: c, Log: zap.NewNop()}
		o.Lease, o.Kind, o.Results = c.Step.Lease(), store.OutcomeComplete, store.JSON(`"small"`)
		if i == 2 {
			o.Results = store.JSON(`"` + strings.Repeat("x", 100) + `"`)
		}
		group = append(group, o)
	}
	var committed, txs int
	c := completer.New(completer.Config{Owner: "w", BatchSize: 10, LeaseTTL: time.Minute, MaxPayloadBytes: 50}, st, clk, zap.NewNop(), nil, completer.Hooks{
		Committed:   func(finish []completer.Outcome, _ *store.FinishStepsResult) { committed += len(finish) },
		Transaction: func() { txs++ },
		Oversized: func(o completer.Outcome, limit int) completer.Outcome {
			o.Kind, o.Results, o.Error = store.OutcomeFail, nil, store.MustJSON(map[string]any{"error": fmt.Sprintf("%d over %d", len(o.Results), limit)})
			return o
		},
	})
	c.Commit(ctx, group)
	if committed != 5 || txs != 1 {
		t.Fatalf("committed %d outcomes in %d transactions, want 5 in 1", committed, txs)
	}
	for i, cl := range claimed {
		d, err := st.GetTask(ctx, cl.Step.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		want := store.TaskComplete
		if i == 2 {
			want = store.TaskError
			if !strings.Contains(string(d.Task.LastError), "102 over 50") {
				t.Fatalf("oversized step's error %s", d.Task.LastError)
			}
		}
		if d.Task.State != want {
			t.Fatalf("task %d is %s, want %s", i, d.Task.State, want)
		}
	}
}

// A failed commit is retried on the completer's clock with a backoff that
// doubles up to RetryMax, a bounded number of times.
func TestFailedCommitRetriesOnTheClockWithABoundedBackoff(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Memory, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Close() // every commit fails
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	txs := make(chan struct{}, 10)
	c := completer.New(completer.Config{Attempts: 4, RetryBase: 10 * time.Millisecond, RetryMax: 25 * time.Millisecond}, st, clk, zap.NewNop(), nil,
		completer.Hooks{Transaction: func() { txs <- struct{}{} }})
	o := completer.Outcome{Claimed: &store.ClaimedStep{Step: &store.Step{ID: 1, Name: "s"}}, Log: zap.NewNop()}
	o.Lease, o.Kind = store.Lease{StepID: 1, Token: 7}, store.OutcomeComplete
	done := make(chan struct{})
	go func() { defer close(done); c.Commit(ctx, []completer.Outcome{o}) }()
	var waits []time.Duration
	for range 3 {
		<-txs
		// The completer now waits on the fake clock: find its timer.
		var next time.Time
		for ok := false; !ok; next, ok = clk.Next() {
			select {
			case <-done:
				t.Fatalf("Commit gave up after %d waits", len(waits))
			case <-time.After(time.Millisecond):
			}
		}
		waits = append(waits, next.Sub(clk.Now()))
		clk.Set(next)
	}
	<-txs
	<-done
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 25 * time.Millisecond}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	select {
	case <-txs:
		t.Fatal("more than 4 attempts")
	default:
	}
}

// While the claim loop reports no backlog, a commit claims only the steps
// it unblocks; with a backlog (or no Backlog hook) it claims any ready
// step, oldest first.
func TestCommitClaimsWhatItUnblocksUnlessBacklog(t *testing.T) {
	for _, backlog := range []bool{false, true} {
		t.Run(fmt.Sprint("backlog=", backlog), func(t *testing.T) {
			ctx := context.Background()
			st, clk := memStore(t)
			create := func(key string, steps ...store.NewStep) { createTask(t, st, clk, key, steps...) }
			create("chain", store.NewStep{Name: "a", Handler: "h"}, store.NewStep{Name: "b", Handler: "h", DependsOn: []string{"a"}})
			first, err := st.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: "w", Limit: 1, LeaseTTL: time.Minute, Now: clk.Now()})
			if err != nil || len(first) != 1 {
				t.Fatalf("claimed %d: %v", len(first), err)
			}
			create("older", store.NewStep{Name: "x", Handler: "h"}) // ready before b
			started := make(chan string, 4)
			d := dispatch.New(4, func(c *store.ClaimedStep) func() { started <- c.Step.Name; return nil })
			c := completer.New(completer.Config{Owner: "w", BatchSize: 4, LeaseTTL: time.Minute, Backlog: func() bool { return backlog }},
				st, clk, zap.NewNop(), d, completer.Hooks{})
			o := completer.Outcome{Claimed: first[0], Log: zap.NewNop()}
			o.Lease, o.Kind, o.Results = first[0].Step.Lease(), store.OutcomeComplete, store.JSON(`1`)
			c.Commit(ctx, []completer.Outcome{o})
			got := drain(d, started)
			want := "b"
			if backlog {
				want = "b,x"
			}
			if strings.Join(got, ",") != want {
				t.Fatalf("the commit started %v, want %s", got, want)
			}
		})
	}
}

// recording is a store that keeps the Watch of each FinishSteps.
type recording struct {
	store.Store
	watch [][]int64
}

func (r *recording) FinishSteps(ctx context.Context, p *store.FinishStepsParams) (*store.FinishStepsResult, error) {
	r.watch = append(r.watch, slices.Clone(p.Watch))
	return r.Store.FinishSteps(ctx, p)
}

// A commit asks for a watched task whole only when it may finish it: not
// for a chain's first step, for its last.
func TestWatchOnlyWhatTheCommitMayFinish(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Memory, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := &recording{Store: st}
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	created, err := st.CreateTask(ctx, &store.CreateTaskParams{Namespace: "t", Name: "n", Version: "1", Kind: store.KindDAG, IdentityKey: "chain",
		Steps: []store.NewStep{{Name: "a", Handler: "h"}, {Name: "b", Handler: "h", DependsOn: []string{"a"}}}, Now: clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	c := completer.New(completer.Config{Owner: "w", BatchSize: 10, LeaseTTL: time.Minute, Watched: func(int64) bool { return true }}, rec, clk, zap.NewNop(), nil, completer.Hooks{})
	for _, step := range []string{"a", "b"} {
		claimed, err := st.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: "w", Limit: 10, LeaseTTL: time.Minute, Now: clk.Now()})
		if err != nil || len(claimed) != 1 || claimed[0].Step.Name != step {
			t.Fatalf("claiming %s: %d steps, %v", step, len(claimed), err)
		}
		o := completer.Outcome{Claimed: claimed[0], Log: zap.NewNop()}
		o.Lease, o.Kind, o.Results = claimed[0].Step.Lease(), store.OutcomeComplete, store.JSON(`1`)
		c.Commit(ctx, []completer.Outcome{o})
	}
	if len(rec.watch) != 2 || len(rec.watch[0]) != 0 || !slices.Equal(rec.watch[1], []int64{created.Task.ID}) {
		t.Fatalf("watched %v, want nothing for a and task %d for b", rec.watch, created.Task.ID)
	}
}

// memStore opens an in-memory store, closed when the test ends, and a
// fake clock.
func memStore(t *testing.T) (*sqlite.Store, *clock.Fake) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Memory, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
}

// createTask creates a DAG task of steps with identity key.
func createTask(t *testing.T, st store.Store, clk *clock.Fake, key string, steps ...store.NewStep) {
	t.Helper()
	if _, err := st.CreateTask(context.Background(), &store.CreateTaskParams{Namespace: "t", Name: "n", Version: "1", Kind: store.KindDAG,
		IdentityKey: key, Steps: steps, Now: clk.Now()}); err != nil {
		t.Fatal(err)
	}
}

// drain waits for d's handlers, then returns the names they were started
// for (sent on started), sorted.
func drain(d *dispatch.Dispatcher, started chan string) []string {
	d.Close()
	d.Wait()
	close(started)
	var got []string
	for n := range started {
		got = append(got, n)
	}
	slices.Sort(got)
	return got
}

// reserving is a store that keeps, for each FinishSteps, the claim's limit
// (0: no claim) and the dispatcher's free slots while the commit runs.
type reserving struct {
	store.Store
	d      *dispatch.Dispatcher
	limits []int
	free   []int
}

func (r *reserving) FinishSteps(ctx context.Context, p *store.FinishStepsParams) (*store.FinishStepsResult, error) {
	limit := 0
	if p.Claim != nil {
		limit = p.Claim.Limit
	}
	r.limits = append(r.limits, limit)
	r.free = append(r.free, r.d.Free())
	return r.Store.FinishSteps(ctx, p)
}

// A commit that may claim only what it unblocks reserves the dispatcher's
// room for at most the steps its completions' tasks have left, not a whole
// batch: completing a one-step workflow reserves nothing, so a Start
// committing meanwhile still finds room to claim its own steps; completing
// the root of a fan-out of two reserves two. With a backlog it reserves a
// batch, as it may claim any ready step.
func TestCommitReservesOnlyWhatItCanUnblock(t *testing.T) {
	for _, backlog := range []bool{false, true} {
		t.Run(fmt.Sprint("backlog=", backlog), func(t *testing.T) {
			ctx := context.Background()
			st, clk := memStore(t)
			claim := func(key string, steps ...store.NewStep) *store.ClaimedStep {
				t.Helper()
				createTask(t, st, clk, key, steps...)
				c, err := st.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: "w", Limit: 1, LeaseTTL: time.Minute, Now: clk.Now()})
				if err != nil || len(c) != 1 {
					t.Fatalf("claimed %d: %v", len(c), err)
				}
				return c[0]
			}
			started := make(chan string, 8)
			d := dispatch.New(8, func(c *store.ClaimedStep) func() { started <- c.Step.Name; return nil })
			rec := &reserving{Store: st, d: d}
			c := completer.New(completer.Config{Owner: "w", BatchSize: 6, LeaseTTL: time.Minute, Backlog: func() bool { return backlog }},
				rec, clk, zap.NewNop(), d, completer.Hooks{})
			complete := func(cl *store.ClaimedStep) {
				o := completer.Outcome{Claimed: cl, Log: zap.NewNop()}
				o.Lease, o.Kind, o.Results = cl.Step.Lease(), store.OutcomeComplete, store.JSON(`1`)
				c.Commit(ctx, []completer.Outcome{o})
			}
			complete(claim("one", store.NewStep{Name: "only", Handler: "h"}))
			complete(claim("fan", store.NewStep{Name: "root", Handler: "h"},
				store.NewStep{Name: "l", Handler: "h", DependsOn: []string{"root"}}, store.NewStep{Name: "r", Handler: "h", DependsOn: []string{"root"}}))
			got := drain(d, started)
			wantLimits, wantFree := []int{0, 2}, []int{8, 6}
			if backlog {
				wantLimits, wantFree = []int{6, 6}, []int{2, 2}
			}
			if !slices.Equal(rec.limits, wantLimits) || !slices.Equal(rec.free, wantFree) {
				t.Fatalf("claim limits %v with %v slots free during the commits, want %v and %v", rec.limits, rec.free, wantLimits, wantFree)
			}
			if strings.Join(got, ",") != "l,r" {
				t.Fatalf("the commits started %v, want l,r", got)
			}
		})
	}
}
