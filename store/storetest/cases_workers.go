package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// testWorkerRegistry: a worker's row is inserted, refreshed (replacing what
// it serves), listed while live, hidden once expired unless asked for (and
// then too once expired for longer than store.WorkerRetention), deleted on
// deregistration, and purged once expired for longer than the retention.
func testWorkerRegistry(t *testing.T, b *bundle) {
	const ttl = 30 * time.Second
	at := func(s int) time.Time { return b.now.Add(time.Duration(s) * time.Second) }
	register := func(id string, now time.Time, handlers ...string) *store.Worker {
		t.Helper()
		w, err := b.s.RegisterWorker(b.ctx, &store.RegisterWorkerParams{ID: id, Queues: []string{"default"}, Handlers: handlers,
			Version: "v1.2.3", Concurrency: 8, StartedAt: b.now, TTL: ttl, Now: now})
		if err != nil {
			t.Fatalf("RegisterWorker(%s): %v", id, err)
		}
		return w
	}
	list := func(now time.Time, expired bool) []string {
		t.Helper()
		ws, err := b.s.ListWorkers(b.ctx, &store.ListWorkersParams{Now: now, IncludeExpired: expired})
		if err != nil {
			t.Fatalf("ListWorkers: %v", err)
		}
		var ids []string
		for _, w := range ws {
			ids = append(ids, w.ID)
		}
		return ids
	}

	if got := list(at(0), true); len(got) != 0 {
		t.Fatalf("a fresh store lists workers %v", got)
	}
	w := register("host-1", at(0), "h.a", "workflow:shop/order")
	if w.ID != "host-1" || w.Version != "v1.2.3" || w.Concurrency != 8 || !slices.Equal(w.Queues, []string{"default"}) ||
		!slices.Equal(w.Handlers, []string{"h.a", "workflow:shop/order"}) {
		t.Fatalf("registered %+v, not what was asked", w)
	}
	if !w.StartedAt.Equal(b.now) || !w.HeartbeatAt.Equal(at(0)) || !w.ExpiresAt.Equal(at(30)) {
		t.Fatalf("registered started %s heartbeat %s expires %s; want %s, %s, %s", w.StartedAt, w.HeartbeatAt, w.ExpiresAt, b.now, at(0), at(30))
	}
	if !w.Serves("h.a") || w.Serves("h.b") {
		t.Fatalf("Serves is wrong for %v", w.Handlers)
	}
	register("host-0", at(1), "h.b")

	// A refresh replaces what the worker serves and extends its life.
	w = register("host-1", at(20), "h.c")
	if !slices.Equal(w.Handlers, []string{"h.c"}) || !w.ExpiresAt.Equal(at(50)) || !w.StartedAt.Equal(b.now) {
		t.Fatalf("refreshed %+v; want handlers [h.c], expiry %s, start unchanged", w, at(50))
	}
	if got := list(at(20), false); !slices.Equal(got, []string{"host-0", "host-1"}) {
		t.Fatalf("live at 20 s: %v, want both by id", got)
	}
	// host-0 expired at 31 s; host-1 lives until 50 s.
	if got := list(at(40), false); !slices.Equal(got, []string{"host-1"}) {
		t.Fatalf("live at 40 s: %v, want [host-1] (host-0 expired at 31 s)", got)
	}
	if got := list(at(40), true); !slices.Equal(got, []string{"host-0", "host-1"}) {
		t.Fatalf("with expired at 40 s: %v, want both", got)
	}
	ws, err := b.s.ListWorkers(b.ctx, &store.ListWorkersParams{Now: at(40)})
	if err != nil || len(ws) != 1 || !slices.Equal(ws[0].Handlers, []string{"h.c"}) || !ws[0].Live(at(40)) || ws[0].Live(at(50)) {
		t.Fatalf("listed %+v (%v); want host-1 serving h.c, live until 50 s", ws, err)
	}

	// Deregistering deletes the row; deregistering again is a no-op.
	for range 2 {
		if err := b.s.DeregisterWorker(b.ctx, &store.DeregisterWorkerParams{ID: "host-1"}); err != nil {
			t.Fatalf("DeregisterWorker: %v", err)
		}
	}
	if got := list(at(40), true); !slices.Equal(got, []string{"host-0"}) {
		t.Fatalf("after deregistering host-1: %v, want [host-0]", got)
	}
	// Expired for longer than the retention, host-0 is not listed even
	// before a registration purges its row (tasker workers --all, which
	// says "expired within the last day", listed rows of any age).
	late := b.now.Add(store.WorkerRetention + time.Minute)
	if got := list(late, true); len(got) != 0 {
		t.Fatalf("with expired, a retention after host-0 expired: %v, want none", got)
	}
	// A registration long after host-0 expired purges its row.
	register("host-2", late)
	if got := list(late, true); !slices.Equal(got, []string{"host-2"}) {
		t.Fatalf("after the retention: %v, want only host-2 (host-0's row purged)", got)
	}

	// Another run under host-2's ID (two processes given one ID): its
	// refresh does not replace host-2's live row, and its deregistration
	// leaves it; a registration without a start (a run starting) does.
	other := &store.RegisterWorkerParams{ID: "host-2", Handlers: []string{"h.x"}, StartedAt: b.now.Add(-time.Hour), TTL: ttl, Now: late}
	if _, err := b.s.RegisterWorker(b.ctx, other); !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "host-2") {
		t.Fatalf("refreshing host-2's live row as another run: %v; want ErrConflict naming it", err)
	}
	if err := b.s.DeregisterWorker(b.ctx, &store.DeregisterWorkerParams{ID: "host-2", StartedAt: other.StartedAt}); err != nil {
		t.Fatalf("DeregisterWorker as another run: %v", err)
	}
	ws, err = b.s.ListWorkers(b.ctx, &store.ListWorkersParams{Now: late})
	if err != nil || len(ws) != 1 || len(ws[0].Handlers) != 0 || !ws[0].StartedAt.Equal(b.now) {
		t.Fatalf("after another run's refresh and deregistration: %+v (%v); want host-2's row unchanged", ws, err)
	}
	other.StartedAt = time.Time{}
	w = must1(t, func() (*store.Worker, error) { return b.s.RegisterWorker(b.ctx, other) })
	if !slices.Equal(w.Handlers, []string{"h.x"}) || w.StartedAt.Equal(b.now) {
		t.Fatalf("a run starting under host-2's ID recorded %+v; want its own row", w)
	}
	if err := b.s.DeregisterWorker(b.ctx, &store.DeregisterWorkerParams{ID: "host-2", StartedAt: w.StartedAt}); err != nil {
		t.Fatalf("DeregisterWorker: %v", err)
	}
	if got := list(late, true); len(got) != 0 {
		t.Fatalf("after the run deregistered with its start: %v, want none", got)
	}
}

func must1[T any](t *testing.T, f func() (T, error)) T {
	t.Helper()
	v, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// testWorkerRegistryBadInput: refused registrations name the field and
// write nothing.
func testWorkerRegistryBadInput(t *testing.T, b *bundle) {
	long := strings.Repeat("w", store.MaxNameLen+1)
	ok := func() *store.RegisterWorkerParams {
		return &store.RegisterWorkerParams{ID: "w", Queues: []string{"default"}, Handlers: []string{"h"}, Concurrency: 1, TTL: time.Second, Now: b.now}
	}
	cases := []struct {
		name  string
		edit  func(p *store.RegisterWorkerParams)
		field string
	}{
		{"empty id", func(p *store.RegisterWorkerParams) { p.ID = "" }, "id: is required"},
		{"long id", func(p *store.RegisterWorkerParams) { p.ID = long }, "id"},
		{"zero ttl", func(p *store.RegisterWorkerParams) { p.TTL = 0 }, "ttl"},
		{"negative concurrency", func(p *store.RegisterWorkerParams) { p.Concurrency = -1 }, "concurrency"},
		{"empty queue", func(p *store.RegisterWorkerParams) { p.Queues = []string{""} }, "queues[0]"},
		{"NUL in handler", func(p *store.RegisterWorkerParams) { p.Handlers = []string{"h", "a\x00b"} }, "handlers[1]"},
		{"duplicate handler", func(p *store.RegisterWorkerParams) { p.Handlers = []string{"h", "h"} }, "listed twice"},
		{"long version", func(p *store.RegisterWorkerParams) { p.Version = long }, "version"},
		{"started after now", func(p *store.RegisterWorkerParams) { p.StartedAt = b.now.Add(time.Minute) }, "started_at: is after now"},
	}
	for _, c := range cases {
		p := ok()
		c.edit(p)
		_, err := b.s.RegisterWorker(b.ctx, p)
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: error = %v; want ErrInvalid naming %q", c.name, err, c.field)
		}
	}
	err := b.s.DeregisterWorker(b.ctx, &store.DeregisterWorkerParams{})
	wantErr(t, err, store.ErrInvalid, "id")
	// A listing with no params is refused, not a panic.
	ws, err := b.s.ListWorkers(b.ctx, nil)
	wantErr(t, err, store.ErrInvalid, "listing workers: params: is nil")
	if ws != nil {
		t.Fatalf("refused listing returned %v", ws)
	}
	ws, err = b.s.ListWorkers(b.ctx, &store.ListWorkersParams{Now: b.now, IncludeExpired: true})
	if err != nil || len(ws) != 0 {
		t.Fatalf("refused registrations left %d rows (%v)", len(ws), err)
	}
	// The valid one goes through, so the cases above failed for their edit.
	if _, err := b.s.RegisterWorker(b.ctx, ok()); err != nil {
		t.Fatalf("a valid registration: %v", err)
	}
}
