package storetest

import (
	"testing"

	"github.com/tasker-go/tasker/store"
)

// testHasEvent: HasEvent finds an event by task, name and key, consumed or
// not, where it is after a move; it refuses what no held event can be (an
// empty key, whose every send is a new event; an id no task has).
func testHasEvent(t *testing.T, b *bundle) {
	from, to := b.create(t, chain("a")).Task.ID, b.create(t, chain("a")).Task.ID
	for _, key := range []string{"read", "unread"} {
		if _, _, err := b.s.SendEvent(b.ctx, &store.SendEventParams{TaskID: from, Name: "tick", Key: key, Now: b.now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.s.ConsumeEvent(b.ctx, &store.ConsumeEventParams{TaskID: from, Name: "tick", Now: b.now}); err != nil {
		t.Fatal(err) // "read": consumed, stays with from
	}
	if _, err := b.s.MoveEvents(b.ctx, &store.MoveEventsParams{From: from, To: to}); err != nil {
		t.Fatal(err) // "unread" goes to to
	}
	for _, c := range []struct {
		task      int64
		name, key string
		want      bool
	}{
		{from, "tick", "read", true}, {from, "tick", "unread", false}, {to, "tick", "unread", true},
		{to, "tick", "read", false}, {from, "tock", "read", false}, {to + 1000, "tick", "unread", false},
	} {
		if got, err := b.s.HasEvent(b.ctx, c.task, c.name, c.key); err != nil || got != c.want {
			t.Errorf("HasEvent(%d, %q, %q) = %v, %v; want %v", c.task, c.name, c.key, got, err, c.want)
		}
	}
	for _, c := range []struct {
		task      int64
		name, key string
		field     string
	}{{from, "tick", "", "key"}, {from, "", "read", "name"}, {0, "tick", "read", "task_id"}} {
		_, err := b.s.HasEvent(b.ctx, c.task, c.name, c.key)
		wantErr(t, err, store.ErrInvalid, c.field)
	}
}
