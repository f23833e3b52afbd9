package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

func testReportData(t *testing.T, b *bundle) {
	start := b.now
	at := func(min int) time.Time { return start.Add(time.Duration(min) * time.Minute) }
	// In the window [0, 60): two complete diamonds and one pending chain;
	// before it, one task; another namespace inside it.
	b.now = at(-10)
	b.create(t, chain("x"))
	b.finish(t, complete(b.claimOne(t, "x"), `{}`))
	var done []int64
	for i := range 2 {
		b.now = at(10 + i)
		d := b.create(t, diamond())
		done = append(done, d.Task.ID)
		for range 3 { // a, then b and c, then d
			for _, c := range b.claim(t, 10) {
				b.finish(t, complete(c, `{}`))
			}
		}
	}
	b.now = at(30)
	pending := b.create(t, chain("p", "q"))
	p := b.params(chain("o"))
	p.Namespace = "other"
	if _, err := b.s.CreateTask(b.ctx, p); err != nil {
		t.Fatal(err)
	}

	get := func(rp store.ReportParams) *store.ReportData {
		t.Helper()
		d, err := b.s.ReportData(b.ctx, &rp)
		if err != nil {
			t.Fatalf("ReportData: %v", err)
		}
		return d
	}
	d := get(store.ReportParams{From: at(0), To: at(60), Namespace: "test"})
	want := []store.ReportCount{{Namespace: "test", Name: "flow", State: store.TaskComplete, Count: 2},
		{Namespace: "test", Name: "flow", State: store.TaskPending, Count: 1}}
	if !slices.Equal(d.Counts, want) {
		t.Fatalf("counts %+v, want %+v", d.Counts, want)
	}
	if len(d.Tasks) != 3 || d.Tasks[0].ID != pending.Task.ID || d.Tasks[2].ID != done[0] {
		t.Fatalf("sampled tasks %+v, want newest first", d.Tasks)
	}
	if d.Tasks[2].CompletedAt == nil || d.Tasks[0].CompletedAt != nil {
		t.Fatalf("completion times %+v", d.Tasks)
	}
	if d.Tasks[0].Kind != store.KindDAG { // (a report walks a code-first task's steps otherwise)
		t.Fatalf("kind %q, want %q", d.Tasks[0].Kind, store.KindDAG)
	}
	if len(d.Steps) != 10 || len(d.Edges) != 9 {
		t.Fatalf("%d steps and %d edges, want 10 and 9", len(d.Steps), len(d.Edges))
	}
	for _, s := range d.Steps {
		if s.TaskID == done[0] && (s.State != store.StepComplete || s.Attempts != 1 || s.StartedAt == nil || s.CompletedAt == nil || s.Handler != "h."+s.Name) {
			t.Fatalf("step %+v", s)
		}
	}
	// Every namespace; a sample of one of one workflow; an empty window.
	if all := get(store.ReportParams{From: at(0), To: at(60)}); len(all.Counts) != 3 {
		t.Fatalf("all namespaces: %+v", all.Counts)
	}
	if one := get(store.ReportParams{From: at(0), To: at(60), Namespace: "test", Name: "flow", Sample: 1}); len(one.Tasks) != 1 || len(one.Steps) != 2 {
		t.Fatalf("sample of 1: %d tasks %d steps", len(one.Tasks), len(one.Steps))
	}
	if none := get(store.ReportParams{From: at(100), To: at(160)}); len(none.Counts)+len(none.Tasks)+len(none.Steps) != 0 {
		t.Fatalf("empty window: %+v", none)
	}
	_, err := b.s.ReportData(b.ctx, &store.ReportParams{From: at(5), To: at(1), Name: "flow", Sample: -1})
	wantErr(t, err, store.ErrInvalid, "to", "name", "sample")
	// A filter no task can match (a NUL byte, invalid UTF-8) is refused
	// naming it, on both backends alike (Postgres failed in its driver).
	_, err = b.s.ReportData(b.ctx, &store.ReportParams{From: at(0), To: at(60), Namespace: "te\x00st", Name: "fl\xffow"})
	wantErr(t, err, store.ErrInvalid, "reading report data", "namespace: contains a NUL byte", "name: is not valid UTF-8")
}
