package storetest

import (
	"testing"

	"github.com/tasker-go/tasker/store"
)

// testTraceContext: a task created with a trace context hands it to the
// claim (in CreateTask and in a CreateTasks group with untraced tasks);
// one created without has none; a malformed one is refused and writes
// nothing.
func testTraceContext(t *testing.T, b *bundle) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	traced := b.params(chain("traced"))
	traced.TraceContext = tp
	if _, err := b.s.CreateTask(b.ctx, traced); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	plain := b.params(chain("plain"))
	group := b.params(chain("grouped"))
	group.TraceContext = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
	items, err := b.s.CreateTasks(b.ctx, []*store.CreateTaskParams{plain, group})
	if err != nil || items[0].Err != nil || items[1].Err != nil {
		t.Fatalf("CreateTasks: %v %+v", err, items)
	}
	if got := b.get(t, items[1].Task.ID).Task.TraceContext; got != group.TraceContext {
		t.Fatalf("GetTask trace context = %q, want %q", got, group.TraceContext)
	}
	want := map[string]string{"traced": tp, "plain": "", "grouped": group.TraceContext}
	got := b.claim(t, 10)
	if len(got) != 3 {
		t.Fatalf("claimed %d steps, want 3", len(got))
	}
	for _, c := range got {
		if c.Task.TraceContext != want[c.Step.Name] {
			t.Errorf("claimed %s with trace context %q, want %q", c.Step.Name, c.Task.TraceContext, want[c.Step.Name])
		}
	}

	for _, bad := range []string{"00-xyz", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", tp + "x"} {
		p := b.params(chain("bad"))
		p.TraceContext = bad
		_, err := b.s.CreateTask(b.ctx, p)
		wantErr(t, err, store.ErrInvalid, "trace_context")
	}
	if tasks, _ := b.totals(t); tasks != 3 {
		t.Fatalf("%d tasks after the refused creates, want 3", tasks)
	}
}
