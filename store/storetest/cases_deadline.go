package storetest

import (
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// testDeadline: a task created with a Deadline carries DeadlineAt, that
// long after its creation by the store's clock (here the bundle's), in
// the start's result, GetTask, a claim and a start's own lease, whether
// it is created alone or with others (one statement or several); a task
// without one has none; a negative Deadline is refused and writes nothing.
func testDeadline(t *testing.T, b *bundle) {
	const d = 90 * time.Second
	want := b.now.Add(d)
	alone := b.params(chain("alone"))
	alone.Deadline = d
	res, err := b.s.CreateTask(b.ctx, alone)
	if err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	if got := res.Task.DeadlineAt; got == nil || !got.Equal(want) {
		t.Fatalf("CreateTask result deadline = %v, want %s", got, want)
	}
	plain, grouped := b.params(chain("plain")), b.params(chain("grouped"))
	grouped.Deadline = 2 * d
	leased := b.params(chain("leased"))
	leased.Deadline = 3 * d
	leased.Lease = &store.StartLease{Owner: "worker-1", Limit: 1, TTL: time.Minute, Handlers: []string{"h.leased"}}
	items, err := b.s.CreateTasks(b.ctx, []*store.CreateTaskParams{plain, grouped, leased})
	if err != nil || items[0].Err != nil || items[1].Err != nil || items[2].Err != nil {
		t.Fatalf("CreateTasks: %v %+v", err, items)
	}
	if got := items[0].Task.DeadlineAt; got != nil {
		t.Errorf("a task without a deadline got %s", got)
	}
	if got := items[1].Task.DeadlineAt; got == nil || !got.Equal(b.now.Add(2*d)) {
		t.Errorf("CreateTasks result deadline = %v, want %s", got, b.now.Add(2*d))
	}
	if len(items[2].Claimed) != 1 || items[2].Claimed[0].Task.DeadlineAt == nil || !items[2].Claimed[0].Task.DeadlineAt.Equal(b.now.Add(3*d)) {
		t.Errorf("the start's own lease: %+v, want its step with the task's deadline %s", items[2].Claimed, b.now.Add(3*d))
	}
	if got := b.get(t, res.Task.ID).Task.DeadlineAt; got == nil || !got.Equal(want) {
		t.Errorf("GetTask deadline = %v, want %s", got, want)
	}
	wantByStep := map[string]*time.Time{"alone": &want, "plain": nil, "grouped": ptr(b.now.Add(2 * d))}
	got := b.claim(t, 10)
	if len(got) != 3 {
		t.Fatalf("claimed %d steps, want 3", len(got))
	}
	for _, c := range got {
		w, have := wantByStep[c.Step.Name], c.Task.DeadlineAt
		if (w == nil) != (have == nil) || w != nil && !have.Equal(*w) {
			t.Errorf("claimed %s with deadline %v, want %v", c.Step.Name, have, w)
		}
	}

	bad := b.params(chain("bad"))
	bad.Deadline = -time.Second
	_, err = b.s.CreateTask(b.ctx, bad)
	wantErr(t, err, store.ErrInvalid, "deadline")
	if tasks, _ := b.totals(t); tasks != 4 {
		t.Fatalf("%d tasks after the refused create, want 4", tasks)
	}
}

func ptr[T any](v T) *T { return &v }
