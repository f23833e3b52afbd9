package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// recorder is a query hook that keeps the statements it sees.
type recorder struct {
	mu    sync.Mutex
	query []string
}

func (r *recorder) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }
func (r *recorder) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.query = append(r.query, e.Query)
}

// take returns the statements seen since the last take.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.query
	r.query = nil
	return q
}

func anyContains(qs []string, s string) bool {
	for _, q := range qs {
		if strings.Contains(q, s) {
			return true
		}
	}
	return false
}

// Options.QueryHooks see the statements of the writer (migrations), of the
// read pool and of a read-only store.
func TestQueryHooksSeeEveryPool(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hooks.db")
	r := &recorder{}
	st, err := sqlite.Open(ctx, path, &sqlite.Options{QueryHooks: []bun.QueryHook{r}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if qs := r.take(); !anyContains(qs, "CREATE TABLE") {
		t.Fatalf("the writer's migrations were not seen: %q", qs)
	}
	st.GetStep(ctx, 1) // not found; what matters is the statement on the read pool
	if qs := r.take(); !anyContains(qs, "tasker_steps") {
		t.Fatalf("the read pool's SELECT was not seen: %q", qs)
	}

	ro, err := sqlite.Open(ctx, path, &sqlite.Options{ReadOnly: true, QueryHooks: []bun.QueryHook{r}})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if qs := r.take(); !anyContains(qs, "sqlite_master") {
		t.Fatalf("the read-only store's schema check was not seen: %q", qs)
	}
	// A bound statement (run outside bun) too: the read-only store was
	// given no hooks for them, so Wait's outcome reads went unseen.
	if _, err := ro.GetTaskOutcomes(ctx, []int64{1}); err != nil {
		t.Fatal(err)
	}
	if qs := r.take(); !anyContains(qs, "tasker_tasks") {
		t.Fatalf("the read-only store's bound SELECT was not seen: %q", qs)
	}
}

// A commit that completes only steps no step depends on runs no statement
// counting dependants down; one that completes a step with a dependant
// does, and the dependant becomes ready.
func TestLeafCompletionsSkipTheDependantsCountdown(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{}
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "leaf.db"), &sqlite.Options{QueryHooks: []bun.QueryHook{rec}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	steps := []store.NewStep{{Name: "a", Handler: "h"}, {Name: "b", Handler: "h", DependsOn: []string{"a"}}}
	if _, err := s.CreateTask(ctx, &store.CreateTaskParams{Namespace: "t", Name: "chain", Kind: store.KindDAG, IdentityKey: "chain", Steps: steps}); err != nil {
		t.Fatal(err)
	}
	finish := func(want string) {
		t.Helper()
		got, err := s.ClaimSteps(ctx, &store.ClaimStepsParams{Owner: "w", Limit: 10, LeaseTTL: time.Minute})
		if err != nil || len(got) != 1 || got[0].Step.Name != want {
			t.Fatalf("claimed %v (%v), want step %s alone", got, err, want)
		}
		rec.take()
		res, err := s.FinishSteps(ctx, &store.FinishStepsParams{Outcomes: []store.StepOutcome{{Lease: got[0].Step.Lease(), Kind: store.OutcomeComplete, Results: store.JSON("1")}}})
		if err != nil || res.Steps[0].Err != nil {
			t.Fatalf("finishing %s: %v %+v", want, err, res)
		}
	}
	const countdown = "SET pending_deps = pending_deps -"
	finish("a")
	if !anyContains(rec.take(), countdown) {
		t.Error("completing a, which b depends on, counted no dependant down")
	}
	finish("b") // claimable: a's completion counted it down
	if q := rec.take(); anyContains(q, countdown) {
		t.Errorf("completing b, on which nothing depends, ran the dependants' countdown:\n%s", strings.Join(q, "\n"))
	}
}

// A list of one value (a chain's completed step, the worker's one handler)
// is bound as an equality: `IN (SELECT value FROM json_each(?))` made
// SQLite parse a JSON array and read it as a table in each of a chain
// step's finish statements (tasker bench W5, alternated: p50 0.74 -> 0.69
// ms with equalities). The hand-off still claims the next step.
func TestOneValueIsBoundAsAnEquality(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{}
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "one.db"), &sqlite.Options{QueryHooks: []bun.QueryHook{rec}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	steps := []store.NewStep{{Name: "a", Handler: "h"}, {Name: "b", Handler: "h", DependsOn: []string{"a"}}}
	if _, err := s.CreateTask(ctx, &store.CreateTaskParams{Namespace: "t", Name: "chain", Kind: store.KindDAG, IdentityKey: "chain", Steps: steps}); err != nil {
		t.Fatal(err)
	}
	claim := &store.ClaimStepsParams{Owner: "w", Limit: 10, LeaseTTL: time.Minute, Handlers: []string{"h"}}
	got, err := s.ClaimSteps(ctx, claim)
	if err != nil || len(got) != 1 || got[0].Step.Name != "a" {
		t.Fatalf("claimed %v (%v), want step a alone", got, err)
	}
	rec.take()
	res, err := s.FinishSteps(ctx, &store.FinishStepsParams{
		Outcomes: []store.StepOutcome{{Lease: got[0].Step.Lease(), Kind: store.OutcomeComplete, Results: store.JSON("1")}},
		Claim:    claim, ClaimUnblockedOnly: true,
	})
	if err != nil || res.Steps[0].Err != nil {
		t.Fatalf("finishing a: %v %+v", err, res)
	}
	if len(res.Claimed) != 1 || res.Claimed[0].Step.Name != "b" {
		t.Fatalf("finishing a claimed %v, want b", res.Claimed)
	}
	if q := rec.take(); anyContains(q, "json_each(") {
		t.Errorf("a finish of one step, claiming for one handler, read a JSON list:\n%s", strings.Join(q, "\n"))
	}
}
