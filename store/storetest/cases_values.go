package storetest

import (
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// testWorkflowValues: query state keeps the value of the highest sequence
// (an older one written by a replay changes nothing), a reply is written
// once, writes are fenced on the driver's lease, and bad input is refused
// with nothing written.
func testWorkflowValues(t *testing.T, b *bundle) {
	d, driver := codeTask(t, b)
	id, lease := d.Task.ID, driver.Step.Lease()
	set := func(kind, name string, seq int, value string) error {
		return b.s.SetWorkflowValue(b.ctx, &store.SetWorkflowValueParams{Driver: lease, TaskID: id, Kind: kind, Name: name, Seq: seq, Value: store.JSON(value), Now: b.now})
	}
	get := func(kind, name string) string {
		t.Helper()
		v, err := b.s.GetWorkflowValue(b.ctx, id, kind, name)
		if err != nil {
			t.Fatalf("GetWorkflowValue(%s %s): %v", kind, name, err)
		}
		return string(v.Value)
	}
	_, err := b.s.GetWorkflowValue(b.ctx, id, store.ValueQuery, "progress")
	wantErr(t, err, store.ErrNotFound)
	for _, step := range []struct {
		seq  int
		v    string
		want string
	}{{3, `{"done":3}`, `{"done":3}`}, {5, `{"done":5}`, `{"done":5}`}, {4, `{"done":4}`, `{"done":5}`}, {5, `{"done":6}`, `{"done":6}`}} {
		if err := set(store.ValueQuery, "progress", step.seq, step.v); err != nil {
			t.Fatal(err)
		}
		if got := get(store.ValueQuery, "progress"); !sameJSON([]byte(got), step.want) {
			t.Fatalf("after seq %d: %s, want %s", step.seq, got, step.want)
		}
	}
	if err := set(store.ValueReply, "approve:u1", 7, `"first"`); err != nil {
		t.Fatal(err)
	}
	if err := set(store.ValueReply, "approve:u1", 9, `"second"`); err != nil {
		t.Fatal(err)
	}
	if got := get(store.ValueReply, "approve:u1"); !sameJSON([]byte(got), `"first"`) {
		t.Fatalf("reply %s, want the first", got)
	}
	// Kinds are separate name spaces.
	if _, err := b.s.GetWorkflowValue(b.ctx, id, store.ValueReply, "progress"); err == nil {
		t.Fatal("a query value read as a reply")
	}
	// A stale lease writes nothing; bad input is refused.
	err = b.s.SetWorkflowValue(b.ctx, &store.SetWorkflowValueParams{Driver: store.Lease{StepID: lease.StepID, Token: lease.Token + 1}, TaskID: id,
		Kind: store.ValueQuery, Name: "progress", Seq: 99, Value: store.JSON(`1`), Now: b.now})
	wantErr(t, err, store.ErrLeaseLost)
	wantErr(t, set("other", "x", 1, `1`), store.ErrInvalid, "kind")
	wantErr(t, set(store.ValueQuery, "", 1, `1`), store.ErrInvalid, "name")
	wantErr(t, set(store.ValueQuery, "x", 1, `{bad`), store.ErrInvalid, "value")
	if got := get(store.ValueQuery, "progress"); !sameJSON([]byte(got), `{"done":6}`) {
		t.Fatalf("a refused write changed the value: %s", got)
	}
	// A read of a value no write could have set is refused, not "not yet".
	_, err = b.s.GetWorkflowValue(b.ctx, id, "Query", "progress")
	wantErr(t, err, store.ErrInvalid, "kind", `"Query"`)
	_, err = b.s.GetWorkflowValue(b.ctx, id, store.ValueQuery, "")
	wantErr(t, err, store.ErrInvalid, "name", "required")
	// (a NUL byte made SQLite's statement fail with "unrecognized token")
	_, err = b.s.GetWorkflowValue(b.ctx, id, store.ValueReply, "a\x00b")
	wantErr(t, err, store.ErrInvalid, "name: contains a NUL byte")
	_, err = b.s.GetWorkflowValue(b.ctx, id, store.ValueReply, "a\xffb")
	wantErr(t, err, store.ErrInvalid, "name: is not valid UTF-8")
	wantErr(t, set(store.ValueQuery, "a\xffb", 1, `1`), store.ErrInvalid, "name: is not valid UTF-8")
}

// testRetireIdentity: a task in one of the given states gives up its
// identity key (a new task may then take it); one in another state, or
// whose key changed meanwhile, keeps it; bad input is refused.
func testRetireIdentity(t *testing.T, b *bundle) {
	p := b.params([]store.NewStep{{Name: "a", Handler: "h"}})
	res, err := b.s.CreateTask(b.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	id, key := res.Task.ID, p.IdentityKey
	retire := func(states ...store.TaskState) bool {
		t.Helper()
		ok, err := b.s.RetireIdentity(b.ctx, &store.RetireIdentityParams{TaskID: id, IdentityKey: key, Retired: "retired:" + key, States: states, Now: b.now})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if retire(store.TaskComplete, store.TaskError) {
		t.Fatal("a pending task gave up its identity to a policy for finished ones")
	}
	if !retire(store.TaskPending) {
		t.Fatal("the identity was not retired")
	}
	if retire(store.TaskPending) {
		t.Fatal("an identity was retired twice")
	}
	if got, err := b.s.GetTaskByIdentity(b.ctx, "retired:"+key); err != nil || got.ID != id {
		t.Fatalf("the retired task under its new identity: %v, %v", got, err)
	}
	again, err := b.s.CreateTask(b.ctx, p)
	if err != nil || again.Existing || again.Task.ID == id {
		t.Fatalf("a new task with the freed key: %+v, %v", again, err)
	}
	_, err = b.s.RetireIdentity(b.ctx, &store.RetireIdentityParams{TaskID: id, IdentityKey: key, Retired: key, Now: b.now})
	wantErr(t, err, store.ErrInvalid, "states", "retired")
	// An id no task can have is refused, not answered "not retired".
	_, err = b.s.RetireIdentity(b.ctx, &store.RetireIdentityParams{TaskID: 0, IdentityKey: "retired:" + key, Retired: "again:" + key,
		States: []store.TaskState{store.TaskPending}, Now: b.now})
	wantErr(t, err, store.ErrInvalid, "retiring the identity of task 0", "task_id: must be a task id (1 or more), got 0")
	// A retired key that is not text is refused, as CreateTask refuses
	// such an identity key (invalid UTF-8 was stored).
	_, err = b.s.RetireIdentity(b.ctx, &store.RetireIdentityParams{TaskID: id, IdentityKey: "retired:" + key, Retired: "r\xff",
		States: []store.TaskState{store.TaskPending}, Now: b.now})
	wantErr(t, err, store.ErrInvalid, "retired: is not valid UTF-8")
}

// testWorkflowHistory: GetWorkflowHistory returns the task and, of each
// step, the columns a replay reads, equal to GetTask's.
func testWorkflowHistory(t *testing.T, b *bundle) {
	d, driver := codeTask(t, b)
	id, lease := d.Task.ID, driver.Step.Lease()
	b.record(t, store.RecordStepParams{Driver: lease, TaskID: id, Sequence: 1, Name: "a#1", Kind: store.OutcomeComplete, Results: store.JSON(`{"v":1}`)})
	b.record(t, store.RecordStepParams{Driver: lease, TaskID: id, Sequence: 2, Name: "b#2", Kind: store.OutcomeRetry, Retryable: true, RetryLimit: 3,
		RetryAfter: time.Minute, Error: store.JSON(`{"error":"x"}`)})
	full := b.get(t, id)
	h, err := b.s.GetWorkflowHistory(b.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if h.Task.ID != id || h.Task.IdentityKey != full.Task.IdentityKey || len(h.Steps) != len(full.Steps) {
		t.Fatalf("history task %+v with %d steps, want %d", h.Task, len(h.Steps), len(full.Steps))
	}
	for i, s := range h.Steps {
		f := full.Steps[i]
		same := s.ID == f.ID && s.Name == f.Name && s.Handler == f.Handler && s.State == f.State && s.Attempts == f.Attempts &&
			(s.Sequence == nil) == (f.Sequence == nil) && string(s.Results) == string(f.Results) && string(s.LastError) == string(f.LastError) &&
			s.NextAttemptAt.Equal(f.NextAttemptAt)
		if !same {
			t.Fatalf("step %d: history %+v, GetTask %+v", i, s, f)
		}
	}
	_, err = b.s.GetWorkflowHistory(b.ctx, id+1000)
	wantErr(t, err, store.ErrNotFound)
}
