package storetest

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

func testCreateAndGet(t *testing.T, b *bundle) {
	d := b.create(t, diamond())
	if d.Task.State != store.TaskPending || d.Task.Kind != store.KindDAG || d.Task.Unfinished != 4 {
		t.Fatalf("task = %+v", d.Task)
	}
	if len(d.Steps) != 4 || len(d.Edges) != 4 {
		t.Fatalf("got %d steps and %d edges, want 4 and 4", len(d.Steps), len(d.Edges))
	}
	// GetTaskOutcomes: a running task's outcome fields alone, a finished
	// one's with its steps' names and results, in id order, as GetTask reads
	// them (TaskDetail.Outcome); ids of no task are left out.
	got, err := b.s.GetTaskOutcomes(b.ctx, []int64{d.Task.ID + 1000, d.Task.ID})
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], d.Outcome()) || len(got[0].Steps) != 0 {
		t.Fatalf("GetTaskOutcomes of a pending task and a missing one = %+v, %v; want the pending task's outcome, no steps (%+v)", got, err, d.Outcome())
	}
	other := b.create(t, diamond())
	if _, err := b.s.CancelTask(b.ctx, &store.CancelTaskParams{TaskID: other.Task.ID}); err != nil {
		t.Fatalf("CancelTask: %v", err)
	}
	whole, err := b.s.GetTask(b.ctx, other.Task.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err = b.s.GetTaskOutcomes(b.ctx, []int64{other.Task.ID, d.Task.ID})
	if err != nil || len(got) != 2 || !reflect.DeepEqual(got[0], d.Outcome()) || !reflect.DeepEqual(got[1], whole.Outcome()) {
		t.Fatalf("GetTaskOutcomes = %+v, %v; want %+v and %+v", got, err, d.Outcome(), whole.Outcome())
	}
	if c := got[1]; c.State != store.TaskCancelled || len(c.Steps) != 4 || c.Steps[3].Name != "d" || !c.Steps[3].Final || c.Steps[0].Final {
		t.Fatalf("the cancelled task's outcome = %+v; want its 4 steps, d alone final", c)
	}
	if got, err := b.s.GetTaskOutcomes(b.ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("GetTaskOutcomes(nil) = %v, %v; want nothing", got, err)
	}
	wantDeps := map[string]int{"a": 0, "b": 1, "c": 1, "d": 2}
	for _, s := range d.Steps {
		if s.PendingDeps != wantDeps[s.Name] || s.State != store.StepPending || s.RetryLimit != store.DefaultRetryLimit || s.Attempts != 0 {
			t.Errorf("step %s = deps %d state %s limit %d attempts %d", s.Name, s.PendingDeps, s.State, s.RetryLimit, s.Attempts)
		}
	}
	if d.Step("d") == nil || d.Step("zz") != nil {
		t.Fatal("TaskDetail.Step lookup is wrong")
	}
	if _, err := b.s.GetTask(b.ctx, d.Task.ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetTask(missing) = %v, want ErrNotFound", err)
	}
	if _, err := b.s.GetStep(b.ctx, 1<<40); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetStep(missing) = %v, want ErrNotFound", err)
	}
}

func testIdempotentCreate(t *testing.T, b *bundle) {
	p := b.params(chain("x", "y"))
	first, err := b.s.CreateTask(b.ctx, p)
	if err != nil || first.Existing {
		t.Fatalf("first create: %+v, %v", first, err)
	}
	again, err := b.s.CreateTask(b.ctx, p)
	if err != nil || !again.Existing || again.Task.ID != first.Task.ID {
		t.Fatalf("second create: %+v, %v; want the existing task %d", again, err, first.Task.ID)
	}
	p2 := *p
	p2.InputHash = "other"
	_, err = b.s.CreateTask(b.ctx, &p2)
	wantErr(t, err, store.ErrConflict, p.IdentityKey)
	if tasks, steps := b.totals(t); tasks != 1 || steps != 2 {
		t.Fatalf("rows after duplicates: %d tasks, %d steps; want 1 and 2", tasks, steps)
	}
	byKey, err := b.s.GetTaskByIdentity(b.ctx, p.IdentityKey)
	if err != nil || byKey.ID != first.Task.ID {
		t.Fatalf("GetTaskByIdentity = %v, %v", byKey, err)
	}
}

func testBadInput(t *testing.T, b *bundle) {
	long := strings.Repeat("n", store.MaxNameLen+1)
	cases := []struct {
		name  string
		edit  func(p *store.CreateTaskParams)
		field string
	}{
		{"invalid JSON context", func(p *store.CreateTaskParams) { p.Context = store.JSON(`{"a":`) }, "context"},
		{"non-object context", func(p *store.CreateTaskParams) { p.Context = store.JSON(`[1,2]`) }, "context"},
		{"NUL in context", func(p *store.CreateTaskParams) { p.Context = store.JSON(`{"a":"\u0000"}`) }, "context"},
		{"NUL in name", func(p *store.CreateTaskParams) { p.Name = "a\x00b" }, "name"},
		{"invalid UTF-8 in a step name", func(p *store.CreateTaskParams) { p.Steps[2].Name = "c\xff" }, "is not valid UTF-8"},
		{"invalid UTF-8 in the identity key", func(p *store.CreateTaskParams) { p.IdentityKey = "k\xc3" }, "identity_key: is not valid UTF-8"},
		{"long namespace", func(p *store.CreateTaskParams) { p.Namespace = long }, "namespace"},
		{"long step name", func(p *store.CreateTaskParams) { p.Steps[0].Name = long }, "name"},
		{"missing identity", func(p *store.CreateTaskParams) { p.IdentityKey = "" }, "identity_key"},
		{"self dependency", func(p *store.CreateTaskParams) { p.Steps[1].DependsOn = []string{"b"} }, "depends on itself"},
		{"foreign dependency", func(p *store.CreateTaskParams) { p.Steps[1].DependsOn = []string{"step-of-another-task"} }, "unknown step"},
		{"negative retry limit", func(p *store.CreateTaskParams) { p.Steps[0].RetryLimit = -1 }, "retry_limit"},
		// 32-bit columns: Postgres refused these at the insert, SQLite stored them.
		{"retry limit past 32 bits", func(p *store.CreateTaskParams) { p.Steps[0].RetryLimit = store.MaxCount + 1 }, "retry_limit: must be at least 1 (0 means the default 3) and at most 2147483647, got 2147483648"},
		{"concurrency max past 32 bits", func(p *store.CreateTaskParams) { p.ConcGroup, p.ConcMax = "g", store.MaxCount+1 }, "conc_max"},
		{"burst past 32 bits", func(p *store.CreateTaskParams) {
			p.RateLimits = []store.RateLimit{{System: "api", PerSecond: 1, Burst: store.MaxCount + 1}}
		}, "rate_limits[0].burst"},
		{"duplicate step", func(p *store.CreateTaskParams) { p.Steps[1].Name = "a"; p.Steps[1].DependsOn = nil }, "duplicate"},
		{"cycle", func(p *store.CreateTaskParams) { p.Steps[0].DependsOn = []string{"c"} }, "a → c → b → a"},
		{"no steps", func(p *store.CreateTaskParams) { p.Steps = nil }, "steps"},
		{"bad kind", func(p *store.CreateTaskParams) { p.Kind = "robot" }, "kind"},
		{"invalid step config", func(p *store.CreateTaskParams) { p.Steps[0].Config = store.JSON(`nope`) }, "config"},
		{"invalid UTF-8 in context", func(p *store.CreateTaskParams) { p.Context = store.JSON("{\"a\":\"\xff\"}") }, "context: is not valid UTF-8"},
		{"lone surrogate in context", func(p *store.CreateTaskParams) { p.Context = store.JSON(`{"a":"\ud800"}`) }, "context: escapes half of a UTF-16 surrogate pair"},
		{"parent id 0", func(p *store.CreateTaskParams) { zero := int64(0); p.ParentID = &zero }, "parent_id: must be a task id (1 or more), got 0"},
		{"negative step sequence", func(p *store.CreateTaskParams) { seq := -1; p.Steps[0].Sequence = &seq }, `steps["a"].sequence: must be at least 1`},
		{"repeated step sequence", func(p *store.CreateTaskParams) {
			seq := 2
			p.Steps[0].Sequence, p.Steps[1].Sequence = &seq, &seq
		}, `steps["b"].sequence: 2 is also step "a"'s`},
		{"NUL in a rate system", func(p *store.CreateTaskParams) { p.Steps[0].RateSystem = "a\x00b" }, `steps["a"].rate_system: contains a NUL byte`},
		{"dependency listed twice", func(p *store.CreateTaskParams) { p.Steps[2].DependsOn = []string{"b", "a", "b"} }, `steps["c"].depends_on: dependency "b" listed twice`},
		{"step without a handler", func(p *store.CreateTaskParams) { p.Steps[1].Handler = "" }, `steps["b"].handler: is required`},
		{"unnamed step", func(p *store.CreateTaskParams) { p.Steps[2].Name = "" }, `steps[2].name: is required`},
		{"empty handler in a lease", func(p *store.CreateTaskParams) {
			p.Lease = &store.StartLease{Owner: "w", TTL: time.Minute, Limit: 1, Handlers: []string{"h", ""}}
		}, `lease.handlers[1]: is required`},
	}
	for _, c := range cases {
		p := b.params(chain("a", "b", "c"))
		c.edit(p)
		_, err := b.s.CreateTask(b.ctx, p)
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: error = %v; want ErrInvalid naming %q", c.name, err, c.field)
		}
	}
	if tasks, steps := b.totals(t); tasks != 0 || steps != 0 {
		t.Fatalf("refused creates wrote %d tasks and %d steps", tasks, steps)
	}
	d := b.create(t, chain("a"))
	_, err := b.s.TransitionStep(b.ctx, &store.TransitionStepParams{StepID: d.Steps[0].ID, From: store.StepPending, To: store.StepCancelled, Metadata: store.JSON("{")})
	wantErr(t, err, store.ErrInvalid, "metadata")
	if got := stepState(t, b, d.Steps[0].ID); got != store.StepPending {
		t.Fatalf("refused transition changed the step to %s", got)
	}
	_, err = b.s.ListTasks(b.ctx, &store.ListTasksParams{States: []store.TaskState{"bogus"}})
	wantErr(t, err, store.ErrInvalid, "states[0]")
	_, err = b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w", Limit: 0, LeaseTTL: 0})
	wantErr(t, err, store.ErrInvalid, "limit", "lease_ttl")
}

// taskIn returns a task brought into state st through the store's own paths.
func taskIn(t *testing.T, b *bundle, st store.TaskState) *store.Task {
	t.Helper()
	d := b.create(t, []store.NewStep{{Name: "only", Handler: "h", Retryable: true, RetryLimit: 1}})
	id := d.Task.ID
	move := func(from, to store.TaskState) {
		if _, err := b.s.TransitionTask(b.ctx, &store.TransitionTaskParams{TaskID: id, From: from, To: to, Force: true, Now: b.now}); err != nil {
			t.Fatalf("bringing task to %s: %v", to, err)
		}
	}
	switch st {
	case store.TaskPending:
	case store.TaskInProgress:
		move(store.TaskPending, store.TaskInProgress)
	case store.TaskComplete:
		move(store.TaskPending, store.TaskInProgress)
		for _, to := range []store.StepState{store.StepInProgress, store.StepComplete} {
			from := store.StepPending
			if to == store.StepComplete {
				from = store.StepInProgress
			}
			if _, err := b.s.TransitionStep(b.ctx, &store.TransitionStepParams{StepID: d.Steps[0].ID, From: from, To: to}); err != nil {
				t.Fatal(err)
			}
		}
	case store.TaskError:
		move(store.TaskPending, store.TaskError)
	case store.TaskCancelled:
		move(store.TaskPending, store.TaskCancelled)
	case store.TaskResolvedManually:
		move(store.TaskPending, store.TaskError)
		move(store.TaskError, store.TaskResolvedManually)
	}
	got := b.get(t, id).Task
	if got.State != st {
		t.Fatalf("task in %s, want %s", got.State, st)
	}
	return got
}

func testTaskStateMachine(t *testing.T, b *bundle) {
	for _, from := range store.TaskStates {
		for _, to := range store.TaskStates {
			for _, force := range []bool{false, true} {
				task := taskIn(t, b, from)
				legal := store.CheckTaskTransition(task.ID, from, to, force) == nil
				_, err := b.s.TransitionTask(b.ctx, &store.TransitionTaskParams{TaskID: task.ID, From: from, To: to, Force: force, Now: b.now})
				after := b.get(t, task.ID).Task.State
				switch {
				case legal && to == store.TaskComplete && task.Unfinished > 0:
					var te *store.TransitionError
					if !errors.As(err, &te) || after != from {
						t.Errorf("%s→%s with unfinished steps: err %v, state %s; want refusal", from, to, err, after)
					}
				case legal && (err != nil || after != to):
					t.Errorf("legal %s→%s (force %v): err %v, state %s", from, to, force, err, after)
				case !legal:
					if !errors.Is(err, store.ErrIllegalTransition) || after != from {
						t.Errorf("illegal %s→%s (force %v): err %v, state %s", from, to, force, err, after)
					} else if !strings.Contains(err.Error(), string(from)) || !strings.Contains(err.Error(), string(to)) {
						t.Errorf("error %q does not name %s and %s", err, from, to)
					}
				}
			}
		}
	}
	// A stale From is a lost compare-and-set, not an illegal move.
	task := taskIn(t, b, store.TaskInProgress)
	_, err := b.s.TransitionTask(b.ctx, &store.TransitionTaskParams{TaskID: task.ID, From: store.TaskPending, To: store.TaskCancelled})
	wantErr(t, err, store.ErrConflict)
	_, err = b.s.TransitionTask(b.ctx, &store.TransitionTaskParams{TaskID: 1 << 40, From: store.TaskPending, To: store.TaskCancelled})
	wantErr(t, err, store.ErrNotFound)
}

// stepIn returns the id of a step (of a fresh two-step chain: the first
// step) brought into state st.
func stepIn(t *testing.T, b *bundle, st store.StepState) (*store.TaskDetail, int64) {
	t.Helper()
	d := b.create(t, chain("first", "second"))
	id := d.Steps[0].ID
	move := func(from, to store.StepState) {
		if _, err := b.s.TransitionStep(b.ctx, &store.TransitionStepParams{StepID: id, From: from, To: to, Now: b.now}); err != nil {
			t.Fatalf("bringing step to %s: %v", to, err)
		}
	}
	switch st {
	case store.StepPending:
	case store.StepInProgress:
		move(store.StepPending, store.StepInProgress)
	case store.StepComplete:
		move(store.StepPending, store.StepInProgress)
		move(store.StepInProgress, store.StepComplete)
	case store.StepError:
		move(store.StepPending, store.StepError)
	case store.StepCancelled:
		move(store.StepPending, store.StepCancelled)
	case store.StepResolvedManually:
		move(store.StepPending, store.StepResolvedManually)
	}
	return d, id
}

func testStepStateMachine(t *testing.T, b *bundle) {
	for _, from := range store.StepStates {
		for _, to := range store.StepStates {
			_, id := stepIn(t, b, from)
			legal := store.CheckStepTransition(id, from, to) == nil
			_, err := b.s.TransitionStep(b.ctx, &store.TransitionStepParams{StepID: id, From: from, To: to, Now: b.now})
			after := stepState(t, b, id)
			if legal && (err != nil || after != to) {
				t.Errorf("legal %s→%s: err %v, state %s", from, to, err, after)
			}
			if !legal && (!errors.Is(err, store.ErrIllegalTransition) || after != from) {
				t.Errorf("illegal %s→%s: err %v, state %s", from, to, err, after)
			}
		}
	}
	// The dependency guard: the second step cannot start before the first.
	d, _ := stepIn(t, b, store.StepPending)
	second := d.Step("second").ID
	_, err := b.s.TransitionStep(b.ctx, &store.TransitionStepParams{StepID: second, From: store.StepPending, To: store.StepInProgress})
	wantErr(t, err, store.ErrIllegalTransition, "dependencies")
	if got := stepState(t, b, second); got != store.StepPending {
		t.Fatalf("guarded step moved to %s", got)
	}
	// Once the first is resolved by hand, the second may start.
	if _, err := b.s.ResolveStep(b.ctx, &store.ResolveStepParams{StepID: d.Step("first").ID, Results: store.JSON(`{"by":"hand"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.TransitionStep(b.ctx, &store.TransitionStepParams{StepID: second, From: store.StepPending, To: store.StepInProgress}); err != nil {
		t.Fatalf("step with resolved dependency: %v", err)
	}
}

func testStepRace(t *testing.T, b *bundle) {
	d := b.create(t, chain("contested"))
	id := d.Steps[0].ID
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = b.s.TransitionStep(b.ctx, &store.TransitionStepParams{StepID: id, From: store.StepPending, To: store.StepInProgress})
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("loser error = %v, want ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d goroutines won the transition, want exactly 1", wins)
	}
	h, err := b.s.History(b.ctx, d.Task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Steps) != 1 || h.Steps[0].ToState != string(store.StepInProgress) {
		t.Fatalf("step history = %d rows, want exactly one in_progress row", len(h.Steps))
	}
	if st, _ := b.s.GetStep(b.ctx, id); st.Attempts != 1 {
		t.Fatalf("attempts = %d, want 1", st.Attempts)
	}
}

func testTaskRace(t *testing.T, b *bundle) {
	d := b.create(t, chain("x"))
	const n = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range n {
		wg.Go(func() {
			_, err := b.s.TransitionTask(b.ctx, &store.TransitionTaskParams{TaskID: d.Task.ID, From: store.TaskPending, To: store.TaskCancelled})
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, store.ErrConflict) {
				t.Errorf("loser error = %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d winners, want 1", wins)
	}
}

// TransitionTaskParams.Sequence names a durable step to retry, which only
// an error → pending move does: on any other move it is refused, naming
// it and the move, and the task stays where it was (the move was made
// and the sequence dropped). A negative sequence is refused too.
func testTransitionTaskSequence(t *testing.T, b *bundle) {
	d := b.create(t, chain("a"))
	_, err := b.s.TransitionTask(b.ctx, &store.TransitionTaskParams{TaskID: d.Task.ID, From: store.TaskPending, To: store.TaskInProgress, Sequence: 3, Now: b.now})
	wantErr(t, err, store.ErrInvalid, "sequence", "3", "pending → in_progress")
	_, err = b.s.TransitionTask(b.ctx, &store.TransitionTaskParams{TaskID: d.Task.ID, From: store.TaskPending, To: store.TaskCancelled, Sequence: -1, Now: b.now})
	wantErr(t, err, store.ErrInvalid, "sequence", "-1")
	if st := b.get(t, d.Task.ID).Task.State; st != store.TaskPending {
		t.Fatalf("refused moves left the task %s", st)
	}
}
