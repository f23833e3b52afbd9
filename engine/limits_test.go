package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/store/sqlite"
)

// peak tracks how many handlers run at once, overall and per key.
type peak struct {
	mu      sync.Mutex
	running map[string]int
	peak    map[string]int
}

func (p *peak) enter(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running[key]++
	p.peak[key] = max(p.peak[key], p.running[key])
}

func (p *peak) leave(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running[key]--
}

// Three engines on one Postgres schema, a workflow limited to 5 running
// steps: the handlers never see more than 5 at once (and see at least 4:
// the limit is used).
func TestFleetWideWorkflowLimit(t *testing.T) {
	ctx := context.Background()
	url, schema := pgtest.URL(t), pgtest.NewSchema(t)
	p := &peak{running: map[string]int{}, peak: map[string]int{}}
	tmpl := func() *engine.Template {
		return &engine.Template{Namespace: "pay", Name: "charge", Concurrency: &engine.Concurrency{Max: 5},
			Steps: []engine.StepTemplate{{Name: "charge", Handler: "pay.charge"}}}
	}
	var engines []*engine.Engine
	for i := range 3 {
		s, err := postgres.Open(ctx, url, &postgres.Options{Schema: schema})
		must(t, err)
		t.Cleanup(func() { s.Close() })
		e := newEngine(t, engine.Config{Store: s, WorkerID: fmt.Sprint("w", i), Execution: engine.ExecutionConfig{PollInterval: 20 * time.Millisecond}})
		must(t, e.HandleFunc("pay.charge", func(sc *engine.StepContext) (any, error) {
			p.enter("all")
			defer p.leave("all")
			time.Sleep(50 * time.Millisecond) // the charge's work
			return nil, nil
		}))
		must(t, e.Register(tmpl()))
		engines = append(engines, e)
	}
	var hs []*engine.TaskHandle
	for i := range 40 {
		h, err := engines[0].Start(ctx, "pay/charge", map[string]int{"n": i})
		must(t, err)
		hs = append(hs, h)
	}
	for _, e := range engines {
		run(t, e)
	}
	for _, h := range hs {
		out, err := h.Wait(ctx)
		must(t, err)
		if out.State != store.TaskComplete {
			t.Fatalf("task %d: %s", h.TaskID, out.State)
		}
	}
	t.Logf("peak of running charges across 3 engines: %d (limit 5)", p.peak["all"])
	if got := p.peak["all"]; got > 5 || got < 4 {
		t.Fatalf("peak %d running at once, want at most the limit 5 (and at least 4)", got)
	}
}

// A per-key limit of 1: 20 customers × 10 orders, never two of one
// customer's orders running at once; every order completes.
func TestPerKeyLimit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	p := &peak{running: map[string]int{}, peak: map[string]int{}}
	var done atomic.Int32
	var engines []*engine.Engine
	for i := range 2 {
		s, err := sqlite.Open(ctx, path, nil)
		must(t, err)
		t.Cleanup(func() { s.Close() })
		e := newEngine(t, engine.Config{Store: s, WorkerID: fmt.Sprint("w", i), Execution: engine.ExecutionConfig{PollInterval: 20 * time.Millisecond}})
		must(t, e.HandleFunc("ship", func(sc *engine.StepContext) (any, error) {
			var in struct{ Customer int }
			must(t, sc.Input(&in))
			key := fmt.Sprint(in.Customer)
			p.enter(key)
			defer p.leave(key)
			time.Sleep(time.Millisecond) // the shipment's work
			done.Add(1)
			return nil, nil
		}))
		must(t, e.Register(&engine.Template{Namespace: "shop", Name: "ship", Concurrency: &engine.Concurrency{Max: 1, Key: "customer"},
			Steps: []engine.StepTemplate{{Name: "pick", Handler: "ship"}, {Name: "send", Handler: "ship", DependsOn: []string{"pick"}}}}))
		engines = append(engines, e)
	}
	var hs []*engine.TaskHandle
	for order := range 10 {
		for customer := range 20 {
			h, err := engines[0].Start(ctx, "shop/ship", map[string]int{"customer": customer, "order": order})
			must(t, err)
			hs = append(hs, h)
		}
	}
	for _, e := range engines {
		run(t, e)
	}
	for _, h := range hs {
		out, err := h.Wait(ctx)
		must(t, err)
		if out.State != store.TaskComplete {
			t.Fatalf("task %d: %s", h.TaskID, out.State)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, n := range p.peak {
		if n > 1 {
			t.Fatalf("customer %s had %d steps running at once", key, n)
		}
	}
	if done.Load() != 400 || len(p.peak) != 20 {
		t.Fatalf("%d steps of %d customers ran", done.Load(), len(p.peak))
	}
	// A start whose input lacks the key is refused, nothing written.
	if _, err := engines[0].Start(ctx, "shop/ship", map[string]int{"order": 1}); err == nil {
		t.Fatal("a start without the concurrency key was accepted")
	}
}

// Three engines on one Postgres schema calling a system limited to 50/s
// with a burst of 10: over any 1 s window, at most 50 + 10 steps are
// claimed (the steps' recorded start: a handler's own first line may run a
// few ms later under load, which the limit cannot govern).
func TestFleetWideRateLimit(t *testing.T) {
	ctx := context.Background()
	url, schema := pgtest.URL(t), pgtest.NewSchema(t)
	const steps, rate, burst = 250, 50, 10
	var mu sync.Mutex
	var starts []time.Time
	var engines []*engine.Engine
	for i := range 3 {
		s, err := postgres.Open(ctx, url, &postgres.Options{Schema: schema})
		must(t, err)
		t.Cleanup(func() { s.Close() })
		e := newEngine(t, engine.Config{Store: s, WorkerID: fmt.Sprint("w", i)})
		must(t, e.HandleFunc("psp.call", func(*engine.StepContext) (any, error) {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
			return nil, nil
		}))
		must(t, e.Register(&engine.Template{Namespace: "pay", Name: "call", RateLimits: map[string]engine.RateLimit{"psp": {PerSecond: rate, Burst: burst}},
			Steps: []engine.StepTemplate{{Name: "call", Handler: "psp.call", DependentSystem: "psp"}}}))
		engines = append(engines, e)
	}
	var hs []*engine.TaskHandle
	for i := range steps {
		h, err := engines[i%3].Start(ctx, "pay/call", map[string]int{"n": i})
		must(t, err)
		hs = append(hs, h)
	}
	for _, e := range engines {
		run(t, e)
	}
	var claimed []time.Time
	for _, h := range hs {
		out, err := h.Wait(ctx)
		must(t, err)
		if out.State != store.TaskComplete || out.Err() != nil {
			t.Fatalf("task %d: %s", h.TaskID, out.State)
		}
		d, err := engines[0].Store().GetTask(ctx, h.TaskID)
		must(t, err)
		if st := d.Step("call"); st.StartedAt != nil {
			claimed = append(claimed, *st.StartedAt)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(starts) != steps || len(claimed) != steps {
		t.Fatalf("%d handler starts and %d claims for %d steps", len(starts), len(claimed), steps)
	}
	starts = claimed
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	worst := 0
	for i, from := range starts { // every window starting at a start
		n := 0
		for _, at := range starts[i:] {
			if at.Sub(from) >= time.Second {
				break
			}
			n++
		}
		worst = max(worst, n)
	}
	took := starts[len(starts)-1].Sub(starts[0])
	t.Logf("%d starts over %s; the busiest 1 s window had %d (limit %d/s + burst %d)", len(starts), took, worst, rate, burst)
	if worst > rate+burst {
		t.Fatalf("%d steps started within one second, over %d/s + a burst of %d", worst, rate, burst)
	}
}

// A template's concurrency limit works whatever the lengths of its names
// and key: its group ("workflow:ns/name", "key:ns/name:key=value") is
// bounded as a task's identity is. A group over store.MaxNameLen bytes
// made every Start of the template fail ("conc_group: is 310 bytes long")
// though Register had accepted it.
func TestConcurrencyGroupOfLongNames(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"), nil)
	must(t, err)
	t.Cleanup(func() { st.Close() })
	e := newEngine(t, engine.Config{Store: st})
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	ns, name, key := strings.Repeat("n", 150), strings.Repeat("w", 150), strings.Repeat("k", 300)
	must(t, e.Register(&engine.Template{Namespace: ns, Name: name, Concurrency: &engine.Concurrency{Max: 1}, Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "key", Concurrency: &engine.Concurrency{Max: 1, Key: key}, Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	group := func(workflow string, input any) string {
		t.Helper()
		h, err := e.Start(ctx, workflow, input)
		if err != nil {
			t.Fatalf("starting %.20s…: %v", workflow, err)
		}
		d, err := st.GetTask(ctx, h.TaskID)
		must(t, err)
		if g := d.Steps[0].ConcGroup; g != nil && d.Steps[0].ConcMax == 1 {
			return *g
		}
		t.Fatalf("task %d's step has no group of 1", h.TaskID)
		return ""
	}
	if a, b := group(ns+"/"+name, map[string]int{"i": 1}), group(ns+"/"+name, map[string]int{"i": 2}); a != b {
		t.Fatalf("two tasks of one workflow in groups %q and %q", a, b)
	}
	a, b := group("t/key", map[string]int{key: 1, "i": 1}), group("t/key", map[string]int{key: 1, "i": 2})
	if c := group("t/key", map[string]int{key: 2}); a != b || a == c {
		t.Fatalf("groups by key value: %q, %q (same value), %q (another)", a, b, c)
	}
}

// A template's concurrency group is scoped by the workflow's name and the
// key's name, and both may hold ':': "t/a:b" with Key "k" and "t/a" with
// Key "b:k" were the one group "key:t/a:b:k=1", so each workflow's tasks
// counted against the other's limit. They are two groups now; tasks of
// one workflow and key value still share theirs.
func TestConcurrencyGroupsOfNamesWithAColonDoNotMeet(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"), nil)
	must(t, err)
	t.Cleanup(func() { st.Close() })
	e := newEngine(t, engine.Config{Store: st})
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "a:b", Concurrency: &engine.Concurrency{Max: 1, Key: "k"}, Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "a", Concurrency: &engine.Concurrency{Max: 1, Key: "b:k"}, Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	group := func(workflow string, input any) string {
		t.Helper()
		h, err := e.Start(ctx, workflow, input)
		must(t, err)
		d, err := st.GetTask(ctx, h.TaskID)
		must(t, err)
		if g := d.Steps[0].ConcGroup; g != nil && d.Steps[0].ConcMax == 1 {
			return *g
		}
		t.Fatalf("task %d's step has no group of 1", h.TaskID)
		return ""
	}
	a, b := group("t/a:b", map[string]int{"k": 1, "i": 1}), group("t/a", map[string]int{"b:k": 1})
	if a == b {
		t.Fatalf("t/a:b with key k and t/a with key b:k share the group %q", a)
	}
	if a2, c := group("t/a:b", map[string]int{"k": 1, "i": 2}), group("t/a:b", map[string]int{"k": 2}); a2 != a || c == a {
		t.Fatalf("t/a:b's groups by key value: %q, %q (same value), %q (another)", a, a2, c)
	}
}

// A per-key limit holds per value of the key: 7, 7.0 and 7e0 are one
// number (a producer in another language writes its float ids so), and
// were three groups, each running its own step of customer 7 at a limit
// of 1. Other values keep their own groups.
func TestConcurrencyKeyOfOneNumberWrittenTwoWays(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"), nil)
	must(t, err)
	t.Cleanup(func() { st.Close() })
	e := newEngine(t, engine.Config{Store: st})
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "k", Concurrency: &engine.Concurrency{Max: 1, Key: "customer"}, Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	group := func(input string) string {
		t.Helper()
		h, err := e.Start(ctx, "t/k", json.RawMessage(input))
		must(t, err)
		d, err := st.GetTask(ctx, h.TaskID)
		must(t, err)
		if g := d.Steps[0].ConcGroup; g != nil && d.Steps[0].ConcMax == 1 {
			return *g
		}
		t.Fatalf("task %d's step has no group of 1", h.TaskID)
		return ""
	}
	seven := group(`{"customer": 7}`)
	if seven != `key:t/k:customer=7` {
		t.Fatalf("group %q: a running task's group of an integer key changed", seven)
	}
	for _, in := range []string{`{"customer": 7.0, "i": 1}`, `{"customer": 7e0, "i": 2}`, `{"customer": 700E-2, "i": 3}`} {
		if g := group(in); g != seven {
			t.Fatalf("%s: group %q, want customer 7's %q", in, g, seven)
		}
	}
	for _, in := range []string{`{"customer": 7.5}`, `{"customer": "7"}`, `{"customer": 70}`, `{"customer": 12345678901234567891}`, `{"customer": 12345678901234567892}`} {
		if g := group(in); g == seven {
			t.Fatalf("%s: in customer 7's group", in)
		}
	}
	// Past a float's range either way: neither is taken for another number.
	if a, b := group(`{"customer": 0}`), group(`{"customer": 1e-999999999}`); a == b {
		t.Fatalf("1e-999999999 in 0's group %q", a)
	}
	if a, b := group(`{"customer": 1e999999999}`), group(`{"customer": 1e999999998}`); a == b {
		t.Fatalf("1e999999999 and 1e999999998 share the group %q", a)
	}
	if a, b := group(`{"customer": 12345678901234567891, "i": 1}`), group(`{"customer": 12345678901234567892, "i": 1}`); a == b {
		t.Fatalf("two large ids share the group %q", a)
	}
}
