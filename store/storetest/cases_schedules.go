package storetest

import (
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// testSchedules: a schedule round-trips every field (times in UTC, null
// and set), an ID is created once, updates are a compare and set on the
// revision, delete and reads of a missing schedule say ErrNotFound, and
// bad input is refused with nothing written.
func testSchedules(t *testing.T, b *bundle) {
	next := b.now.Add(time.Minute)
	sc := &store.Schedule{ID: "nightly/report", Workflow: "ops/report", Spec: "0 3 * * *", Timezone: "Europe/Paris",
		Input: store.JSON(`{"a":1}`), Overlap: "skip", CatchUpWindow: time.Hour, Jitter: 90 * time.Second,
		NextFireAt: next, LastError: "", CreatedAt: b.now}
	if err := b.s.CreateSchedule(b.ctx, sc); err != nil {
		t.Fatal(err)
	}
	if sc.Revision != 1 {
		t.Fatalf("revision after create = %d, want 1", sc.Revision)
	}
	dup := *sc
	dup.Spec = "@every 1s"
	wantErr(t, b.s.CreateSchedule(b.ctx, &dup), store.ErrConflict, "nightly/report")

	got, err := b.s.GetSchedule(b.ctx, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Workflow != "ops/report" || got.Spec != "0 3 * * *" || got.Timezone != "Europe/Paris" || !sameJSON(got.Input, `{"a":1}`) ||
		got.Overlap != "skip" || got.CatchUpWindow != time.Hour || got.Jitter != 90*time.Second || got.Paused ||
		!got.NextFireAt.Equal(next) || got.BufferedAt != nil || got.TriggerAt != nil || got.LastFireAt != nil || got.LastTaskID != nil || got.Revision != 1 {
		t.Fatalf("read back %+v", got)
	}

	// A compare and set: the first update wins, a second from the same
	// revision writes nothing.
	stale := *got
	fired, task := next, int64(42)
	got.Paused, got.BufferedAt, got.TriggerAt, got.LastFireAt, got.LastTaskID, got.LastError = true, &fired, &fired, &fired, &task, "boom"
	got.NextFireAt = next.Add(time.Minute)
	if ok, err := b.s.UpdateSchedule(b.ctx, got); err != nil || !ok {
		t.Fatalf("update: %v %v", ok, err)
	}
	if got.Revision != 2 {
		t.Fatalf("revision after update = %d, want 2", got.Revision)
	}
	stale.Spec = "@every 5s"
	if ok, err := b.s.UpdateSchedule(b.ctx, &stale); err != nil || ok {
		t.Fatalf("stale update: %v %v, want false, nil", ok, err)
	}
	again, err := b.s.GetSchedule(b.ctx, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.Spec != "0 3 * * *" || !again.Paused || again.BufferedAt == nil || !again.BufferedAt.Equal(fired) || again.TriggerAt == nil || !again.TriggerAt.Equal(fired) ||
		again.LastTaskID == nil || *again.LastTaskID != 42 || again.LastError != "boom" || !again.NextFireAt.Equal(next.Add(time.Minute)) {
		t.Fatalf("after update %+v", again)
	}

	// Bad input is refused and changes nothing.
	bad := *again
	bad.Jitter, bad.Workflow = -time.Second, ""
	_, err = b.s.UpdateSchedule(b.ctx, &bad)
	wantErr(t, err, store.ErrInvalid, "jitter", "workflow")
	wantErr(t, b.s.CreateSchedule(b.ctx, &store.Schedule{ID: "x", Workflow: "a/b", Spec: "* * * * *", Overlap: "skip", Input: store.JSON(`{bad`), NextFireAt: next}),
		store.ErrInvalid, "input")
	missing := *again
	missing.ID = "missing"
	_, err = b.s.UpdateSchedule(b.ctx, &missing)
	wantErr(t, err, store.ErrNotFound)
	// No stored schedule has a revision below 1: an update that expects
	// one is a caller's mistake (a Schedule built by hand, not read), not
	// a write that came second.
	unread := *again
	unread.Revision, unread.Paused = 0, false
	ok, err := b.s.UpdateSchedule(b.ctx, &unread)
	wantErr(t, err, store.ErrInvalid, "revision", "0")
	if ok {
		t.Fatal("a refused update reported success")
	}
	if got, _ := b.s.GetSchedule(b.ctx, sc.ID); !got.Paused || got.Revision != again.Revision {
		t.Fatalf("a refused update changed the schedule: %+v", got)
	}

	other := &store.Schedule{ID: "a-first", Workflow: "ops/ping", Spec: "@every 1s", Input: store.JSON(`{}`), Overlap: "allow_all", NextFireAt: next}
	if err := b.s.CreateSchedule(b.ctx, other); err != nil {
		t.Fatal(err)
	}
	list, err := b.s.ListSchedules(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "a-first" || list[1].ID != "nightly/report" || list[1].Revision != 2 {
		t.Fatalf("list %+v", list)
	}
	if err := b.s.DeleteSchedule(b.ctx, "a-first"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, b.s.DeleteSchedule(b.ctx, "a-first"), store.ErrNotFound, "a-first")
	_, err = b.s.GetSchedule(b.ctx, "a-first")
	wantErr(t, err, store.ErrNotFound)
}
