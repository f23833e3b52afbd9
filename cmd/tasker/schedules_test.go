package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store/sqlite"
)

// schedules list shows what an application declared; pause, resume,
// trigger and delete change the stored schedule (the trigger is left to
// the leader, which the CLI is not); unknown ids are refused by name.
func TestSchedulesCommands(t *testing.T) {
	ctx := context.Background()
	db, e := scheduleEngine(t)
	if out := mustExecute(t, "schedules", "list", "--db", db); !strings.Contains(out, "no schedules") {
		t.Fatalf("empty list:\n%s", out)
	}
	if _, err := e.Schedule(ctx, "nightly", "0 3 * * *", "ops/report", "full", engine.ScheduleOptions{Location: mustLocation(t, "Europe/Paris")}); err != nil {
		t.Fatal(err)
	}
	out := mustExecute(t, "schedules", "list", "--db", db)
	for _, want := range []string{"nightly", "ops/report", "0 3 * * * (Europe/Paris)", "skip", "active"} {
		if !strings.Contains(out, want) {
			t.Fatalf("list does not show %q:\n%s", want, out)
		}
	}
	if out := mustExecute(t, "schedules", "pause", "nightly", "--db", db); !strings.Contains(out, "paused") {
		t.Fatalf("pause:\n%s", out)
	}
	if info, _ := e.GetSchedule(ctx, "nightly"); info == nil || !info.Paused {
		t.Fatalf("pause did not pause: %+v", info)
	}
	// Pausing a paused schedule changes nothing, and says so.
	if out := mustExecute(t, "schedules", "pause", "nightly", "--db", db); out != "schedule nightly was already paused; nothing changed\n" {
		t.Fatalf("pause again:\n%s", out)
	}
	if out := mustExecute(t, "schedules", "trigger", "nightly", "--db", db); !strings.Contains(out, "leader starts the run") {
		t.Fatalf("trigger:\n%s", out)
	}
	// Asked again before the leader started it: the one request stands
	// (TriggerSchedule does not double it), and it says so.
	if out := mustExecute(t, "schedules", "trigger", "nightly", "--db", db); !strings.HasPrefix(out, "schedule nightly: the run asked for at ") ||
		!strings.HasSuffix(out, " still waits for the schedules' leader; nothing changed\n") {
		t.Fatalf("trigger again:\n%s", out)
	}
	if out := mustExecute(t, "schedules", "list", "--db", db); !strings.Contains(out, "paused, triggered") {
		t.Fatalf("list after pause and trigger:\n%s", out)
	}
	// The leader (the application) starts the triggered run.
	if err := e.FireSchedules(ctx); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Schedules []struct {
			ID         string `json:"id"`
			Paused     bool   `json:"paused"`
			LastTaskID int64  `json:"last_task_id"`
		} `json:"schedules"`
	}
	if err := json.Unmarshal([]byte(mustExecute(t, "schedules", "list", "--json", "--db", db)), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Schedules) != 1 || doc.Schedules[0].LastTaskID == 0 || !doc.Schedules[0].Paused {
		t.Fatalf("JSON after the triggered run: %+v", doc)
	}
	if out := mustExecute(t, "schedules", "resume", "nightly", "--db", db); !strings.Contains(out, "resumed; next tick") {
		t.Fatalf("resume:\n%s", out)
	}
	// Resuming an active schedule changes nothing, and says so.
	if out := mustExecute(t, "schedules", "resume", "nightly", "--db", db); !strings.HasPrefix(out, "schedule nightly is not paused; nothing changed (next tick ") {
		t.Fatalf("resume again:\n%s", out)
	}
	mustFail(t, `no schedule "weekly"`, "schedules", "pause", "weekly", "--db", db)
	mustFail(t, "accepts 1 arg", "schedules", "delete", "--db", db)
	mustExecute(t, "schedules", "delete", "nightly", "--db", db)
	mustFail(t, `no schedule "nightly"`, "schedules", "delete", "nightly", "--db", db)
}

func mustLocation(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// With no schedule, list --json printed {"schedules": null}: jq
// '.schedules[]' failed on it. It prints [] as tasks ls and workers do.
func TestSchedulesListJSONEmpty(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	mustExecute(t, "migrate", "--db", db)
	out := mustExecute(t, "schedules", "list", "--json", "--db", db)
	if strings.Join(strings.Fields(out), "") != `{"schedules":[]}` {
		t.Fatalf("schedules list --json:\n%s", out)
	}
}

// Every field `schedules list --json` names in its help, and the other
// fields of a schedule, are in the output of one that never fired: null or
// "" until it does. omitempty dropped last_fire_at, last_task_id and
// last_error (and buffered_at, trigger_at), so a consumer reading them saw
// two shapes of schedule.
func TestSchedulesListJSONNamesEveryField(t *testing.T) {
	ctx := context.Background()
	db, e := scheduleEngine(t)
	if _, err := e.Schedule(ctx, "nightly", "0 3 * * *", "ops/report", "full", engine.ScheduleOptions{}); err != nil {
		t.Fatal(err)
	}
	var out struct{ Schedules []map[string]any }
	if err := json.Unmarshal([]byte(mustExecute(t, "schedules", "list", "--json", "--db", db)), &out); err != nil || len(out.Schedules) != 1 {
		t.Fatalf("schedules list --json: %+v (%v)", out, err)
	}
	keys := append(jsonHelpKeys(t, "schedules", "list"), "catch_up_window", "jitter", "buffered_at", "trigger_at", "revision", "created_at", "updated_at")
	for _, key := range keys {
		if _, ok := out.Schedules[0][key]; !ok {
			t.Errorf("schedules list --json has no %q: %v", key, out.Schedules[0])
		}
	}
}

// scheduleEngine opens a SQLite file and an engine on it with the workflow
// ops/report registered (the schedules' target), closed at the test's end.
func scheduleEngine(t *testing.T) (string, *engine.Engine) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "sched.db")
	st, err := sqlite.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e, err := engine.New(engine.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.RegisterWorkflow(e, "ops/report", func(wctx *engine.WorkflowContext, in string) (string, error) { return in, nil }); err != nil {
		t.Fatal(err)
	}
	return db, e
}

// An id with spaces around it (a pasted or padded variable) was looked up
// as given and answered `no schedule " nightly"`, the schedule being
// there: it is refused naming the padding, before the database is opened
// (a --db that does not exist is not reached), and an empty id alike.
func TestSchedulesRefusePaddedID(t *testing.T) {
	ctx := context.Background()
	db, e := scheduleEngine(t)
	if _, err := e.Schedule(ctx, "nightly", "0 3 * * *", "ops/report", "full", engine.ScheduleOptions{}); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.db")
	for _, op := range []string{"pause", "resume", "trigger", "delete"} {
		for _, target := range []string{db, missing} {
			mustFail(t, `schedule id " nightly" has spaces around it: write "nightly"`, "schedules", op, " nightly", "--db", target)
			mustFail(t, `schedule id "nightly\n" has spaces around it: write "nightly"`, "schedules", op, "nightly\n", "--db", target)
			mustFail(t, `schedule id is empty`, "schedules", op, "", "--db", target)
		}
	}
	if info, err := e.GetSchedule(ctx, "nightly"); err != nil || info.Paused {
		t.Fatalf("after the refusals: %+v, %v; want the schedule there, active", info, err)
	}
}
