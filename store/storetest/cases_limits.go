package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// Steps in a concurrency group are claimed only while fewer than its
// limit run, by any number of concurrent claimers; a finished step frees a
// slot, and so does an expired lease once rescued.
func testConcurrencyGroups(t *testing.T, b *bundle) {
	for range 6 {
		p := b.params([]store.NewStep{{Name: "charge", Handler: "pay", Retryable: true}})
		p.ConcGroup, p.ConcMax = "customer-7", 2
		if _, err := b.s.CreateTask(b.ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	b.create(t, []store.NewStep{{Name: "free", Handler: "pay"}})
	claim := func(now time.Time) []*store.ClaimedStep {
		t.Helper()
		got, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w", Limit: 10, LeaseTTL: time.Minute, Grouped: true, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// Eight claimers at once: the group's two slots are taken once.
	var mu sync.Mutex
	var held []*store.ClaimedStep
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got := claim(b.now)
			mu.Lock()
			held = append(held, got...)
			mu.Unlock()
		})
	}
	wg.Wait()
	grouped := 0
	for _, c := range held {
		if c.Step.ConcGroup != nil {
			grouped++
		}
	}
	if grouped != 2 || len(held) != 3 {
		t.Fatalf("claimed %d steps, %d of the group; want the free one and 2 of the group", len(held), grouped)
	}
	// Without Grouped a claimer takes none of them.
	if got, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w", Limit: 10, LeaseTTL: time.Minute, Now: b.now}); err != nil || len(got) != 0 {
		t.Fatalf("an ungrouped claim took %v (%v)", names(got), err)
	}
	if got := claim(b.now); len(got) != 0 {
		t.Fatalf("the group is full, yet %d more were claimed", len(got))
	}
	if running, err := b.s.RunningInGroup(b.ctx, "customer-7"); err != nil || len(running) != 2 || running[0].LeaseOwner == nil {
		t.Fatalf("RunningInGroup: %d steps (%v)", len(running), err)
	}
	var first *store.ClaimedStep
	for _, c := range held {
		if c.Step.ConcGroup != nil {
			first = c
			break
		}
	}
	b.finish(t, complete(first, `{}`))
	if got := claim(b.now); len(got) != 1 {
		t.Fatalf("a finished step freed a slot, yet %d were claimed", len(got))
	}
	// A holder that died: its slot frees when its lease expires.
	later := b.now.Add(2 * time.Minute)
	if _, err := b.s.RescueExpired(b.ctx, &store.RescueExpiredParams{Now: later}); err != nil {
		t.Fatal(err)
	}
	grouped = 0
	for _, c := range claim(later) { // the free step's lease expired too
		if c.Step.ConcGroup != nil {
			grouped++
		}
	}
	if grouped != 2 {
		t.Fatalf("after the leases expired %d of the group were claimed, want its 2 slots", grouped)
	}
	// A limit without a group, or a group without a limit, is refused.
	p := b.params([]store.NewStep{{Name: "x", Handler: "pay"}})
	p.ConcGroup = "g"
	if _, err := b.s.CreateTask(b.ctx, p); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a group without a limit: %v", err)
	}
	p.ConcGroup, p.ConcMax = "", 3
	if _, err := b.s.CreateTask(b.ctx, p); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a limit without a group: %v", err)
	}
}

// A rate limit is a token bucket in the database: a burst at once, then
// PerSecond a second; a step waiting for a token costs no attempt, and
// NextWakeup reports when the next token is due.
func testRateLimits(t *testing.T, b *bundle) {
	for range 6 {
		p := b.params([]store.NewStep{{Name: "call", Handler: "pay", RateSystem: "psp"}})
		p.RateLimits = []store.RateLimit{{System: "psp", PerSecond: 1, Burst: 2}}
		if _, err := b.s.CreateTask(b.ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(at time.Time) int {
		t.Helper()
		got, err := b.s.ClaimSteps(b.ctx, &store.ClaimStepsParams{Owner: "w", Limit: 10, LeaseTTL: time.Hour, Grouped: true, Now: at})
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	t0 := b.now
	if n := claim(t0); n != 2 {
		t.Fatalf("first claim took %d, want the burst of 2", n)
	}
	if n := claim(t0); n != 0 {
		t.Fatalf("an empty bucket gave %d", n)
	}
	if next, ok, err := b.s.NextWakeup(b.ctx); err != nil || !ok || next.After(t0.Add(time.Second)) {
		t.Fatalf("NextWakeup = %s, %v, %v; want the next token at %s", next, ok, err, t0.Add(time.Second))
	}
	if st, err := b.s.RateLimitState(b.ctx, "psp"); err != nil || st.PerSecond != 1 || st.Burst != 2 || st.TokensAt(t0) >= 1 {
		t.Fatalf("RateLimitState = %+v, %v", st, err)
	}
	if _, err := b.s.RateLimitState(b.ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unknown system: %v", err)
	}
	if n := claim(t0.Add(1500 * time.Millisecond)); n != 1 {
		t.Fatalf("after 1.5 s: %d claimed, want 1", n)
	}
	if n := claim(t0.Add(time.Hour)); n != 2 {
		t.Fatalf("after an hour: %d claimed, want the burst of 2 (tokens do not pile up past it)", n)
	}
	p := b.params([]store.NewStep{{Name: "call", Handler: "pay", RateSystem: "psp"}})
	p.RateLimits = []store.RateLimit{{System: "psp", PerSecond: 0, Burst: 0}}
	if _, err := b.s.CreateTask(b.ctx, p); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a zero rate: %v", err)
	}
}

// A step's RateSystem must name a bucket (declared by the start or
// already in the store): a step calling a system no one declared could
// never be claimed. Such a start is refused, naming the step's field and
// the system, and writes nothing; one whose bucket exists is taken.
func testUndeclaredRateSystem(t *testing.T, b *bundle) {
	p := b.params([]store.NewStep{{Name: "call", Handler: "pay", RateSystem: "ghost"}})
	_, err := b.s.CreateTask(b.ctx, p)
	wantErr(t, err, store.ErrInvalid, `steps["call"].rate_system`, "ghost")
	if tasks, steps := b.totals(t); tasks != 0 || steps != 0 {
		t.Fatalf("a refused start wrote %d tasks and %d steps", tasks, steps)
	}
	p.RateLimits = []store.RateLimit{{System: "ghost", PerSecond: 1, Burst: 1}}
	if _, err := b.s.CreateTask(b.ctx, p); err != nil {
		t.Fatalf("declaring the bucket: %v", err)
	}
	again := b.params([]store.NewStep{{Name: "call", Handler: "pay", RateSystem: "ghost"}})
	if _, err := b.s.CreateTask(b.ctx, again); err != nil {
		t.Fatalf("a bucket already in the store: %v", err)
	}
	items, err := b.s.CreateTasks(b.ctx, []*store.CreateTaskParams{
		b.params([]store.NewStep{{Name: "call", Handler: "pay", RateSystem: "ghost"}}),
		b.params([]store.NewStep{{Name: "call", Handler: "pay", RateSystem: "other"}}),
	})
	if err != nil || items[0].Err != nil {
		t.Fatalf("CreateTasks: %v, %v", err, items[0].Err)
	}
	wantErr(t, items[1].Err, store.ErrInvalid, "rate_system", "other")
}
