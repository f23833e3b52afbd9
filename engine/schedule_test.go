package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/testkit"
)

// scheduleEnv is an engine on an SQLite file with a code-first workflow
// "t/tick" and a DAG "t/dag" (one step), neither run until asked.
func scheduleEnv(t *testing.T) *testkit.Env {
	t.Helper()
	env := testkit.NewEngine(t, &testkit.Options{File: true})
	must(t, engine.RegisterWorkflow(env.Engine, "t/tick", func(wctx *engine.WorkflowContext, in string) (string, error) { return in, nil }))
	must(t, env.HandleFunc("h", func(*engine.StepContext) (any, error) { return 1, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "dag", Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}}))
	return env
}

// ticksStarted maps each tick of schedule id to the tasks started for it.
func ticksStarted(t *testing.T, env *testkit.Env, id string) map[string][]*store.Task {
	t.Helper()
	page, err := env.Store.ListTasks(context.Background(), &store.ListTasksParams{Limit: 1000})
	must(t, err)
	out := map[string][]*store.Task{}
	for _, task := range page.Tasks {
		if _, tick, ok := strings.Cut(task.IdentityKey, ":schedule:"+id+"@"); ok {
			out[tick] = append(out[tick], task)
		}
	}
	return out
}

func fire(t *testing.T, env *testkit.Env) {
	t.Helper()
	must(t, env.FireSchedules(context.Background()))
}

func tickKey(tm time.Time) string { return tm.UTC().Format(time.RFC3339Nano) }

// Every tick starts one run, however many passes look at it and however
// many engines fire; the run gets the schedule's input.
func TestScheduleEveryTickOnce(t *testing.T) {
	env := scheduleEnv(t)
	ctx := context.Background()
	t0 := env.Clock.Now()
	info, err := env.Schedule(ctx, "ping", "@every 1m", "t/tick", "hello", engine.ScheduleOptions{Overlap: engine.OverlapAllowAll})
	must(t, err)
	if want := t0.Add(time.Minute); !info.NextFireAt.Equal(want) {
		t.Fatalf("next fire %s, want %s", info.NextFireAt, want)
	}
	// A second engine on the same file fires too (a leader that overlaps).
	other, err := engine.New(engine.Config{Store: env.Store, Clock: env.Clock, WorkerID: "other"})
	must(t, err)
	must(t, engine.RegisterWorkflow(other, "t/tick", func(wctx *engine.WorkflowContext, in string) (string, error) { return in, nil }))
	fire(t, env)
	if n := len(ticksStarted(t, env, "ping")); n != 0 {
		t.Fatalf("%d runs before the first tick", n)
	}
	for i := range 5 {
		env.Clock.Advance(30 * time.Second)
		fire(t, env)
		must(t, other.FireSchedules(ctx))
		fire(t, env)
		if got := len(ticksStarted(t, env, "ping")); got != (i+1)/2 {
			t.Fatalf("after %s: %d ticks started, want %d", env.Clock.Now().Sub(t0), got, (i+1)/2)
		}
	}
	started := ticksStarted(t, env, "ping")
	for m := 1; m <= 2; m++ {
		tasks := started[tickKey(t0.Add(time.Duration(m)*time.Minute))]
		if len(tasks) != 1 {
			t.Fatalf("tick %d: %d runs", m, len(tasks))
		}
		h := engine.GetWorkflow[string](env.Engine, tasks[0].ID)
		env.RunUntilDone(tasks[0].ID)
		if out, err := h.Result(ctx); err != nil || out != "hello" {
			t.Fatalf("run of tick %d: %q, %v", m, out, err)
		}
	}
	info, err = env.GetSchedule(ctx, "ping")
	must(t, err)
	if !info.LastFireAt.Equal(t0.Add(2*time.Minute)) || info.LastTaskID != started[tickKey(t0.Add(2*time.Minute))][0].ID || info.LastError != "" {
		t.Fatalf("schedule after two ticks: %+v", info)
	}
}

// The overlap policies, with the previous run held pending (nothing runs
// until RunUntilDone).
func TestScheduleOverlap(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		policy engine.OverlapPolicy
		// ticks started after the ticks at 1, 2 and 3 minutes (run 1
		// still going), then after run 1 finished and a pass
		during, after []int
		cancelled     bool
	}{
		{engine.OverlapSkip, []int{1}, []int{1}, false},
		{engine.OverlapBufferOne, []int{1}, []int{1, 2}, false},
		{engine.OverlapAllowAll, []int{1, 2, 3}, []int{1, 2, 3}, false},
		{engine.OverlapCancelPrevious, []int{1, 2, 3}, []int{1, 2, 3}, true},
	} {
		t.Run(string(c.policy), func(t *testing.T) {
			env := scheduleEnv(t)
			t0 := env.Clock.Now()
			_, err := env.Schedule(ctx, "s", "@every 1m", "t/dag", map[string]int{"n": 1}, engine.ScheduleOptions{Overlap: c.policy})
			must(t, err)
			env.Clock.Advance(time.Minute)
			fire(t, env)
			first := ticksStarted(t, env, "s")[tickKey(t0.Add(time.Minute))]
			if len(first) != 1 {
				t.Fatalf("tick 1: %d runs", len(first))
			}
			for range 2 {
				env.Clock.Advance(time.Minute)
				fire(t, env)
			}
			check := func(when string, want []int) {
				t.Helper()
				got := ticksStarted(t, env, "s")
				if len(got) != len(want) {
					t.Fatalf("%s: ticks started %v, want minutes %v", when, got, want)
				}
				for _, m := range want {
					if len(got[tickKey(t0.Add(time.Duration(m)*time.Minute))]) != 1 {
						t.Fatalf("%s: tick %d not started once: %v", when, m, got)
					}
				}
			}
			check("while run 1 goes on", c.during)
			if c.cancelled {
				if st := env.Task(first[0].ID).Task.State; st != store.TaskCancelled {
					t.Fatalf("the previous run is %s, want cancelled", st)
				}
			} else if c.policy != engine.OverlapAllowAll {
				env.RunUntilDone(first[0].ID)
			}
			fire(t, env)
			check("after run 1", c.after)
		})
	}
}

// Ticks missed while nothing ran fire within the catch-up window, per the
// overlap policy; older ones are dropped.
func TestScheduleCatchUp(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		policy engine.OverlapPolicy
		window time.Duration
		want   []int // minutes of the ticks started
	}{
		{engine.OverlapAllowAll, time.Hour, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{engine.OverlapAllowAll, 150 * time.Second, []int{8, 9, 10}},
		{engine.OverlapSkip, time.Hour, []int{1}},
		{engine.OverlapCancelPrevious, time.Hour, []int{10}},
	} {
		t.Run(string(c.policy)+"/"+c.window.String(), func(t *testing.T) {
			env := scheduleEnv(t)
			t0 := env.Clock.Now()
			_, err := env.Schedule(ctx, "s", "@every 1m", "t/tick", "x", engine.ScheduleOptions{Overlap: c.policy, CatchUpWindow: c.window})
			must(t, err)
			env.Clock.Advance(10*time.Minute + 10*time.Second) // down for ten minutes
			fire(t, env)
			got := ticksStarted(t, env, "s")
			if len(got) != len(c.want) {
				t.Fatalf("ticks started %v, want minutes %v", got, c.want)
			}
			for _, m := range c.want {
				if len(got[tickKey(t0.Add(time.Duration(m)*time.Minute))]) != 1 {
					t.Fatalf("tick %d not started once: %v", m, got)
				}
			}
			info, err := env.GetSchedule(ctx, "s")
			must(t, err)
			if want := t0.Add(11 * time.Minute); !info.NextFireAt.Equal(want) {
				t.Fatalf("next fire %s, want %s", info.NextFireAt, want)
			}
		})
	}
}

// A downtime whose backlog is longer than one firing pass takes (100
// ticks) still starts one run under OverlapSkip and OverlapCancelPrevious,
// however quickly that run ends: the pass that started it left the rest
// of the backlog to the next, which found the run finished and started
// another (Skip), or cancelled it for a later tick (CancelPrevious).
func TestScheduleCatchUpPastAPass(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []engine.OverlapPolicy{engine.OverlapSkip, engine.OverlapCancelPrevious} {
		t.Run(string(policy), func(t *testing.T) {
			env := scheduleEnv(t)
			_, err := env.Schedule(ctx, "s", "@every 1s", "t/tick", "x", engine.ScheduleOptions{Overlap: policy})
			must(t, err)
			env.Clock.Advance(5 * time.Minute) // down for 300 ticks
			for range 4 {                      // each run ends before the next pass
				fire(t, env)
				_, err := env.RunOnce(ctx)
				must(t, err)
			}
			started := ticksStarted(t, env, "s")
			page, err := env.Store.ListTasks(ctx, &store.ListTasksParams{Limit: 1000})
			must(t, err)
			cancelled := 0
			for _, task := range page.Tasks {
				if task.State == store.TaskCancelled {
					cancelled++
				}
			}
			if len(started) != 1 || cancelled != 0 {
				t.Fatalf("%d ticks started (%d runs cancelled) after a downtime of 300 ticks; want one run", len(started), cancelled)
			}
		})
	}
}

// A tick's run waits for its jitter, the same for every firing of the
// tick.
func TestScheduleJitter(t *testing.T) {
	env := scheduleEnv(t)
	ctx := context.Background()
	t0 := env.Clock.Now()
	_, err := env.Schedule(ctx, "j", "@every 1h", "t/tick", "x", engine.ScheduleOptions{Jitter: 10 * time.Minute})
	must(t, err)
	env.Clock.Advance(time.Hour)
	fire(t, env)
	runs := ticksStarted(t, env, "j")[tickKey(t0.Add(time.Hour))]
	if len(runs) != 1 {
		t.Fatalf("%d runs", len(runs))
	}
	id := runs[0].ID
	env.RunUntilDone(id)
	ran := env.Clock.Now().Sub(t0.Add(time.Hour))
	if ran <= 0 || ran >= 10*time.Minute {
		t.Fatalf("the run started %s after its tick, want within the 10m jitter", ran)
	}
	// Up to the interval (a run waits less than Jitter, so still before
	// the next tick's); longer is refused (TestScheduleOperations).
	_, err = env.Schedule(ctx, "k", "@every 1m", "t/tick", "x", engine.ScheduleOptions{Jitter: time.Minute})
	must(t, err)
}

// Pause, resume, trigger, delete and list; a redefinition moves the next
// tick, the same definition changes nothing; bad input is refused with
// nothing stored.
func TestScheduleOperations(t *testing.T) {
	env := scheduleEnv(t)
	ctx := context.Background()
	t0 := env.Clock.Now()
	_, err := env.Schedule(ctx, "a", "0 3 * * *", "t/dag", nil, engine.ScheduleOptions{Location: mustLoc(t, "Europe/Paris")})
	must(t, err)
	_, err = env.Schedule(ctx, "b", "@every 1m", "t/tick", "x", engine.ScheduleOptions{Paused: true})
	must(t, err)
	list, err := env.Schedules(ctx)
	must(t, err)
	if len(list) != 2 || list[0].ID != "a" || list[1].ID != "b" || !list[1].Paused || list[0].Location != "Europe/Paris" ||
		!list[0].NextFireAt.Equal(time.Date(2030, 1, 1, 2, 0, 0, 0, time.UTC)) { // 03:00 CET
		t.Fatalf("list %+v", list)
	}
	// Paused: no tick fires; declared again (a redeploy), it stays paused.
	env.Clock.Advance(3 * time.Minute)
	fire(t, env)
	if n := len(ticksStarted(t, env, "b")); n != 0 {
		t.Fatalf("a paused schedule started %d runs", n)
	}
	info, err := env.Schedule(ctx, "b", "@every 1m", "t/tick", "x", engine.ScheduleOptions{})
	must(t, err)
	if !info.Paused {
		t.Fatal("declaring a paused schedule again resumed it")
	}
	// A paused schedule has no next tick: the one stored, now past, read
	// as a schedule catching up (or no process running).
	if got, err := env.GetSchedule(ctx, "b"); err != nil || !got.NextFireAt.IsZero() || !info.NextFireAt.IsZero() {
		t.Fatalf("paused schedule: next tick %v (Schedule answered %v), %v; want none", got.NextFireAt, info.NextFireAt, err)
	}
	// Resumed: from the next tick on, nothing for the paused time.
	must(t, env.ResumeSchedule(ctx, "b"))
	fire(t, env)
	if n := len(ticksStarted(t, env, "b")); n != 0 {
		t.Fatalf("resuming fired %d ticks of the paused time", n)
	}
	env.Clock.Advance(time.Minute)
	fire(t, env)
	if got := ticksStarted(t, env, "b"); len(got[tickKey(t0.Add(4*time.Minute))]) != 1 || len(got) != 1 {
		t.Fatalf("after resuming: %v", got)
	}
	// Trigger: a run now, paused or not; the leader's pass finds it
	// started and starts no other.
	must(t, env.PauseSchedule(ctx, "b"))
	id, err := env.TriggerSchedule(ctx, "b")
	must(t, err)
	fire(t, env)
	if got := ticksStarted(t, env, "b"); len(got) != 2 || len(got["trigger:"+tickKey(env.Clock.Now())]) != 1 || got["trigger:"+tickKey(env.Clock.Now())][0].ID != id {
		t.Fatalf("after a trigger: %v", got)
	}
	env.RunUntilDone(id)
	if out, err := engine.GetWorkflow[string](env.Engine, id).Result(ctx); err != nil || out != "x" {
		t.Fatalf("triggered run: %q %v", out, err)
	}
	info, err = env.GetSchedule(ctx, "b")
	must(t, err)
	if info.LastTaskID != id || !info.Paused {
		t.Fatalf("after trigger: %+v", info)
	}
	// An engine without the workflow (a CLI) leaves the run to the
	// leader.
	bare, err := engine.New(engine.Config{Store: env.Store, Clock: env.Clock, WorkerID: "cli"})
	must(t, err)
	env.Clock.Advance(time.Second)
	queued, err := bare.TriggerSchedule(ctx, "b")
	must(t, err)
	if queued != 0 {
		t.Fatalf("an engine without the workflow started task %d", queued)
	}
	fire(t, env)
	info, err = env.GetSchedule(ctx, "b")
	must(t, err)
	if got := ticksStarted(t, env, "b")["trigger:"+tickKey(env.Clock.Now())]; len(got) != 1 || info.LastTaskID != got[0].ID {
		t.Fatalf("the leader did not start the queued trigger: %v, %+v", got, info)
	}
	// A new definition counts its next tick from now.
	info, err = env.Schedule(ctx, "a", "@every 1h", "t/dag", nil, engine.ScheduleOptions{})
	must(t, err)
	if want := t0.Add(time.Hour); info.Spec != "@every 1h" || !info.NextFireAt.Equal(want) {
		t.Fatalf("redefined: %+v, want next %s", info, want)
	}
	// Refused, with nothing stored.
	paris, err := time.LoadLocation("Europe/Paris")
	must(t, err)
	for _, c := range []struct {
		id, spec, workflow string
		input              any
		opts               engine.ScheduleOptions
		target             error
		msg                string
	}{
		{"", "@every 1m", "t/tick", "x", engine.ScheduleOptions{}, engine.ErrInvalidSchedule, "id"},
		{"c", "61 * * * *", "t/tick", "x", engine.ScheduleOptions{}, engine.ErrInvalidSchedule, "61"},
		{"c", "@every 1m", "t/tick", "x", engine.ScheduleOptions{Overlap: "sometimes"}, engine.ErrInvalidSchedule, "sometimes"},
		{"c", "@every 1m", "t/tick", "x", engine.ScheduleOptions{CatchUpWindow: time.Millisecond}, engine.ErrInvalidSchedule, "CatchUpWindow"},
		{"c", "@every 1m", "t/tick", "x", engine.ScheduleOptions{Jitter: -time.Second}, engine.ErrInvalidSchedule, "Jitter"},
		{"c", "@every 1m", "t/tick", "x", engine.ScheduleOptions{Jitter: 30}, engine.ErrInvalidSchedule, "Jitter 30ns is under a millisecond: a bare number is nanoseconds"},
		{"c", "@every 1m", "t/tick", "x", engine.ScheduleOptions{Location: time.Local}, engine.ErrInvalidSchedule, "time.Local"},
		// The same zone named in the spec (robfig/cron loads "Local" as
		// time.Local).
		{"c", "CRON_TZ=Local 0 3 * * *", "t/tick", "x", engine.ScheduleOptions{}, engine.ErrInvalidSchedule, `spec "CRON_TZ=Local 0 3 * * *" names the zone Local, which differs from machine to machine`},
		{"c", "TZ=Local 0 3 * * *", "t/tick", "x", engine.ScheduleOptions{}, engine.ErrInvalidSchedule, "names the zone Local"},
		// A prefix naming no zone was taken as UTC.
		{"c", "CRON_TZ= 0 3 * * *", "t/tick", "x", engine.ScheduleOptions{}, engine.ErrInvalidSchedule, "its CRON_TZ= prefix names no time zone"},
		// Jitter longer than the interval would start a tick's run after the
		// next tick's.
		{"c", "@every 1m", "t/tick", "x", engine.ScheduleOptions{Jitter: time.Minute + time.Millisecond}, engine.ErrInvalidSchedule,
			`Jitter 1m0.001s is longer than the interval of spec "@every 1m" (1m0s)`},
		{"a", "@every 1h", "t/dag", nil, engine.ScheduleOptions{Jitter: 2 * time.Hour}, engine.ErrInvalidSchedule, "Jitter 2h0m0s"}, // a redefinition
		// A cron spec's gaps vary: Jitter is held to the shortest.
		{"c", "0 9,10 * * *", "t/tick", "x", engine.ScheduleOptions{Jitter: 90 * time.Minute}, engine.ErrInvalidSchedule,
			`Jitter 1h30m0s is longer than the gap between the ticks of spec "0 9,10 * * *" at`},
		{"c", "0 0 30 2 *", "t/tick", "x", engine.ScheduleOptions{}, engine.ErrInvalidSchedule, "never fires"},
		// A signed interval, as a configured duration with a sign is.
		{"c", "@every +5m", "t/tick", "x", engine.ScheduleOptions{}, engine.ErrInvalidSchedule, `spec "@every +5m": the interval "+5m" has a sign: write "@every 5m"`},
		{"a", " @every  +1h", "t/dag", nil, engine.ScheduleOptions{}, engine.ErrInvalidSchedule, `the interval "+1h" has a sign: write "@every 1h"`}, // a redefinition
		// A step past its field's range: hourly, not every 90 minutes.
		{"c", "*/90 * * * *", "t/tick", "x", engine.ScheduleOptions{}, engine.ErrInvalidSchedule, `the minute field's "*/90" matches minute 0 alone`},
		// An empty item: 09:00 alone, the hour after the comma lost.
		{"c", "0 9, * * *", "t/tick", "x", engine.ScheduleOptions{}, engine.ErrInvalidSchedule, `the hour field "9," has an empty item`},
		{"c", "@every 1m", "t/tick", "x", engine.ScheduleOptions{Location: paris}, engine.ErrInvalidSchedule, "Location Europe/Paris"},
		// Two zones: refused for any Location, UTC too (the default, it
		// was dropped and the prefix won).
		{"c", "CRON_TZ=Europe/Paris 0 3 * * *", "t/tick", "x", engine.ScheduleOptions{Location: paris}, engine.ErrInvalidSchedule, "give one"},
		{"c", "CRON_TZ=Europe/Paris 0 3 * * *", "t/tick", "x", engine.ScheduleOptions{Location: time.UTC}, engine.ErrInvalidSchedule,
			`spec "CRON_TZ=Europe/Paris 0 3 * * *": it names a time zone and the Location option names "UTC": give one`},
		// A zone prefix sent @every to robfig/cron's interval, counted from
		// the definition (not on the hour) and taking 500ms; "a" is a
		// redefinition.
		{"c", "CRON_TZ=Europe/Paris @every 1h", "t/tick", "x", engine.ScheduleOptions{}, engine.ErrInvalidSchedule,
			`spec "CRON_TZ=Europe/Paris @every 1h": a time zone before an @every interval is refused: an interval counts from the Unix epoch and fires at the same moments in every zone (write "@every 1h")`},
		{"c", " TZ=UTC  @every 500ms", "t/tick", "x", engine.ScheduleOptions{}, engine.ErrInvalidSchedule, `a time zone before an @every interval is refused`},
		{"a", "TZ=UTC @every 1h", "t/dag", nil, engine.ScheduleOptions{}, engine.ErrInvalidSchedule, `(write "@every 1h")`},
		{"a", "0 0 30 2 *", "t/dag", nil, engine.ScheduleOptions{}, engine.ErrInvalidSchedule, "never fires"}, // a redefinition
		{"c", "@every 1m", "t/nope", "x", engine.ScheduleOptions{}, engine.ErrUnknownTemplate, "t/nope"},
		{"c", "@every 1m", "t/tick", 42, engine.ScheduleOptions{}, engine.ErrTypeMismatch, "string"},
		{"c", "@every 1m", "t/dag", "not an object", engine.ScheduleOptions{}, engine.ErrInvalidInput, "object"},
	} {
		_, err := env.Schedule(ctx, c.id, c.spec, c.workflow, c.input, c.opts)
		if !errors.Is(err, c.target) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Schedule(%q, %q, %q, %v, %+v) = %v, want %v mentioning %q", c.id, c.spec, c.workflow, c.input, c.opts, err, c.target, c.msg)
		}
	}
	if _, err := env.GetSchedule(ctx, "c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused schedule was stored: %v", err)
	}
	if a, err := env.GetSchedule(ctx, "a"); err != nil || a.Spec != "@every 1h" || !a.NextFireAt.Equal(info.NextFireAt) {
		t.Fatalf("a refused redefinition changed the schedule: %+v, %v", a, err)
	}
	// Delete; the runs it started stay.
	must(t, env.DeleteSchedule(ctx, "b"))
	if err := env.DeleteSchedule(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	for _, op := range []func(context.Context, string) error{env.PauseSchedule, env.ResumeSchedule} {
		if err := op(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("pause/resume of a deleted schedule: %v", err)
		}
	}
	if _, err := env.TriggerSchedule(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("trigger of a deleted schedule: %v", err)
	}
	if env.Task(id).Task.State != store.TaskComplete {
		t.Fatal("deleting the schedule touched its runs")
	}
}

// A leader that cannot start the workflow (not registered in its
// process) records why and starts the tick once it can.
func TestScheduleFiringFailureIsRecorded(t *testing.T) {
	env := scheduleEnv(t)
	ctx := context.Background()
	t0 := env.Clock.Now()
	_, err := env.Schedule(ctx, "s", "@every 1m", "t/tick", "x", engine.ScheduleOptions{})
	must(t, err)
	bare, err := engine.New(engine.Config{Store: env.Store, Clock: env.Clock, WorkerID: "bare"})
	must(t, err)
	env.Clock.Advance(time.Minute)
	must(t, bare.FireSchedules(ctx))
	info, err := env.GetSchedule(ctx, "s")
	must(t, err)
	if !strings.Contains(info.LastError, "t/tick") || !info.NextFireAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after a failed firing: %+v", info)
	}
	fire(t, env)
	info, err = env.GetSchedule(ctx, "s")
	must(t, err)
	if got := ticksStarted(t, env, "s"); len(got[tickKey(t0.Add(time.Minute))]) != 1 || info.LastError != "" {
		t.Fatalf("after a good firing: %v %+v", got, info)
	}
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	must(t, err)
	return l
}

// A running engine fires its schedules on its own: the runner wakes at
// the next tick of the (fake) clock, without FireSchedules.
func TestScheduleFiresWhileRunning(t *testing.T) {
	env := scheduleEnv(t)
	ctx := context.Background()
	t0 := env.Clock.Now()
	_, err := env.Schedule(ctx, "run", "@every 1m", "t/tick", "auto", engine.ScheduleOptions{})
	must(t, err)
	done, err := env.RunBackground(ctx)
	must(t, err)
	defer func() { must(t, env.Stop(ctx)); <-done }()
	for m := 1; m <= 3; m++ {
		env.Clock.Advance(time.Minute)
		key := tickKey(t0.Add(time.Duration(m) * time.Minute))
		deadline := time.Now().Add(30 * time.Second)
		for {
			if runs := ticksStarted(t, env, "run")[key]; len(runs) == 1 && env.Task(runs[0].ID).Task.State == store.TaskComplete {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("tick %d: no completed run within 30s: %v", m, ticksStarted(t, env, "run"))
			}
			time.Sleep(10 * time.Millisecond) // polling the database for the condition
		}
	}
	if n := len(ticksStarted(t, env, "run")); n != 3 {
		t.Fatalf("%d runs for three ticks", n)
	}
}

// A paused schedule whose stored spec no longer parses here (its zone is
// missing from this machine's time zone database) is refused by
// ResumeSchedule with ErrInvalidSchedule naming why, and stays paused.
// ResumeSchedule used to call Next on the empty spec Parse returned with
// its error: an integer divide by zero.
func TestResumeRefusesASpecThatNoLongerParses(t *testing.T) {
	env := scheduleEnv(t)
	ctx := context.Background()
	_, err := env.Schedule(ctx, "z", "0 3 * * *", "t/dag", nil, engine.ScheduleOptions{Paused: true, Location: mustLoc(t, "Europe/Paris")})
	must(t, err)
	sc, err := env.Store.GetSchedule(ctx, "z")
	must(t, err)
	sc.Timezone = "Nowhere/Atlantis" // as a machine without Europe/Paris would read it
	if ok, err := env.Store.UpdateSchedule(ctx, sc); err != nil || !ok {
		t.Fatalf("storing the zone: %v %v", ok, err)
	}
	err = env.ResumeSchedule(ctx, "z")
	if !errors.Is(err, engine.ErrInvalidSchedule) || !strings.Contains(err.Error(), "Nowhere/Atlantis") {
		t.Fatalf("ResumeSchedule: %v, want ErrInvalidSchedule naming the zone", err)
	}
	if got, err := env.Store.GetSchedule(ctx, "z"); err != nil || !got.Paused {
		t.Fatalf("after the refusal: %+v %v, want it still paused", got, err)
	}
}

// A schedule whose stored spec does not parse in the leader's process
// (its zone missing from this machine's time zone database) cannot fire:
// LastError says why, as for any firing that fails. The leader only
// logged it, every pass, and Schedules showed nothing wrong.
func TestScheduleThatDoesNotParseHereRecordsWhy(t *testing.T) {
	env := scheduleInZoneNotHere(t)
	ctx := context.Background()
	env.Clock.Advance(24 * time.Hour)
	fire(t, env)
	info, err := env.GetSchedule(ctx, "z")
	must(t, err)
	if !strings.Contains(info.LastError, "Nowhere/Atlantis") {
		t.Fatalf("LastError %q, want it to name the zone that does not load", info.LastError)
	}
}

// A Location is stored by its name and loaded again by each leader: one
// whose name loads as another zone (time.FixedZone("", h) or
// time.FixedZone("UTC", h)) is refused, naming it; its schedule ran in
// UTC, the offset dropped without a word.
func TestScheduleRefusesALocationItCannotStore(t *testing.T) {
	env := scheduleEnv(t)
	ctx := context.Background()
	for _, loc := range []*time.Location{time.FixedZone("", 3600), time.FixedZone("UTC", 2*3600)} {
		_, err := env.Schedule(ctx, "fx", "0 3 * * *", "t/dag", nil, engine.ScheduleOptions{Location: loc})
		if !errors.Is(err, engine.ErrInvalidSchedule) || !strings.Contains(err.Error(), "Location") {
			t.Errorf("Location %q (fixed offset): %v, want ErrInvalidSchedule naming Location", loc, err)
		}
	}
	if _, err := env.GetSchedule(ctx, "fx"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused schedule was stored: %v", err)
	}
	// A zone loaded by name is taken.
	_, err := env.Schedule(ctx, "ok", "0 3 * * *", "t/dag", nil, engine.ScheduleOptions{Location: mustLoc(t, "Asia/Tokyo")})
	must(t, err)
}

// The run a tick started goes on, for the overlap policy, in the run that
// continues it (ContinueAsNew): a long-lived workflow that continues as
// new to keep its history short is one run. The schedule looked only at
// the first task, which ended "continued", and OverlapSkip started
// another run beside the one still going.
func TestScheduleOverlapFollowsContinueAsNew(t *testing.T) {
	env := scheduleEnv(t)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/long", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if in == 0 {
			return 0, engine.ContinueAsNew(wctx, 1)
		}
		return engine.WaitEvent[int](wctx, "stop", 24*time.Hour)
	}))
	t0 := env.Clock.Now()
	_, err := env.Schedule(ctx, "long", "@every 1m", "t/long", 0, engine.ScheduleOptions{})
	must(t, err)
	env.Clock.Advance(time.Minute)
	fire(t, env)
	first := ticksStarted(t, env, "long")[tickKey(t0.Add(time.Minute))]
	if len(first) != 1 {
		t.Fatalf("first tick: %v", first)
	}
	for range 3 { // the first run continues as new; the next waits for "stop"
		_, err := env.RunOnce(ctx)
		must(t, err)
	}
	links, err := env.Runs(ctx, first[0].ID)
	must(t, err)
	if links.ContinuedAs == 0 || env.Task(links.ContinuedAs).Task.State.Done() {
		t.Fatalf("the first run %+v should have continued as a run still going", links)
	}
	env.Clock.Advance(time.Minute)
	fire(t, env)
	if got := ticksStarted(t, env, "long"); len(got) != 1 {
		t.Fatalf("under OverlapSkip a tick started a run beside the continued one: %v", got)
	}
	info, err := env.GetSchedule(ctx, "long")
	must(t, err)
	if info.LastTaskID != links.ContinuedAs {
		t.Fatalf("LastTaskID %d, want the run that continues the first (%d)", info.LastTaskID, links.ContinuedAs)
	}
	// OverlapCancelPrevious cancels the run that goes on, not the first.
	_, err = env.Schedule(ctx, "long", "@every 1m", "t/long", 0, engine.ScheduleOptions{Overlap: engine.OverlapCancelPrevious})
	must(t, err)
	env.Clock.Advance(time.Minute)
	fire(t, env)
	if st := env.Task(links.ContinuedAs).Task.State; st != store.TaskCancelled {
		t.Fatalf("the continued run is %s, want cancelled by the next tick", st)
	}
	if info, err := env.GetSchedule(ctx, "long"); err != nil || info.LastError != "" || len(ticksStarted(t, env, "long")) != 2 {
		t.Fatalf("after cancelling the continued run: %+v %v %v", info, err, ticksStarted(t, env, "long"))
	}
}

// A nil input for a code-first workflow whose input cannot be nil (a
// string here) is refused, as ContinueAsNew and Child refuse it: it was
// stored as null and every run got the zero value.
func TestScheduleRefusesANilInputTheWorkflowCannotTake(t *testing.T) {
	env := scheduleEnv(t)
	ctx := context.Background()
	_, err := env.Schedule(ctx, "n", "@every 1m", "t/tick", nil, engine.ScheduleOptions{})
	if !errors.Is(err, engine.ErrTypeMismatch) || !strings.Contains(err.Error(), "string") {
		t.Fatalf("Schedule with a nil input for a string: %v, want ErrTypeMismatch naming string", err)
	}
	if _, err := env.GetSchedule(ctx, "n"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused schedule was stored: %v", err)
	}
	// A workflow whose input may be nil takes it.
	must(t, engine.RegisterWorkflow(env.Engine, "t/opt", func(wctx *engine.WorkflowContext, in *string) (int, error) { return 0, nil }))
	_, err = env.Schedule(ctx, "o", "@every 1m", "t/opt", nil, engine.ScheduleOptions{})
	must(t, err)
}

// A run asked for by hand starts even when the schedule's spec does not
// parse in the leader's process: the request needs no tick. It waited
// for ever, the leader reading the spec first.
func TestTriggerOfAScheduleThatDoesNotParseHere(t *testing.T) {
	env := scheduleInZoneNotHere(t)
	ctx := context.Background()
	bare, err := engine.New(engine.Config{Store: env.Store, Clock: env.Clock, WorkerID: "cli"})
	must(t, err)
	if id, err := bare.TriggerSchedule(ctx, "z"); err != nil || id != 0 {
		t.Fatalf("TriggerSchedule from a process without the workflow: %d, %v", id, err)
	}
	fire(t, env)
	info, err := env.GetSchedule(ctx, "z")
	must(t, err)
	if got := ticksStarted(t, env, "z"); len(got) != 1 || info.LastTaskID == 0 || !strings.Contains(info.LastError, "Nowhere/Atlantis") {
		t.Fatalf("after the pass: runs %v, schedule %+v; want the triggered run started and the spec's problem recorded", got, info)
	}
}

// scheduleInZoneNotHere is a scheduleEnv with schedule "z" of t/dag stored
// in a zone this machine's time zone database lacks, as a machine without
// its zone would read it.
func scheduleInZoneNotHere(t *testing.T) *testkit.Env {
	t.Helper()
	env := scheduleEnv(t)
	ctx := context.Background()
	_, err := env.Schedule(ctx, "z", "0 3 * * *", "t/dag", nil, engine.ScheduleOptions{Location: mustLoc(t, "Europe/Paris")})
	must(t, err)
	sc, err := env.Store.GetSchedule(ctx, "z")
	must(t, err)
	sc.Timezone = "Nowhere/Atlantis"
	if ok, err := env.Store.UpdateSchedule(ctx, sc); err != nil || !ok {
		t.Fatalf("storing the zone: %v %v", ok, err)
	}
	return env
}

// A schedule redefined to run another workflow starts afresh: its overlap
// policy no longer looks at the run of the workflow it ran before, which
// a skip waited on and a cancel-previous cancelled; its last run is none
// yet. Redefined with the same workflow, it still looks at its last run.
func TestScheduleRedefinedToAnotherWorkflow(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []engine.OverlapPolicy{engine.OverlapSkip, engine.OverlapCancelPrevious} {
		t.Run(string(policy), func(t *testing.T) {
			env := scheduleEnv(t)
			t0 := env.Clock.Now()
			_, err := env.Schedule(ctx, "s", "@every 1m", "t/dag", map[string]int{"n": 1}, engine.ScheduleOptions{Overlap: policy})
			must(t, err)
			env.Clock.Advance(time.Minute)
			fire(t, env)
			old := ticksStarted(t, env, "s")[tickKey(t0.Add(time.Minute))]
			if len(old) != 1 {
				t.Fatalf("tick 1: %d runs, want 1", len(old))
			}
			info, err := env.Schedule(ctx, "s", "@every 1m", "t/tick", "x", engine.ScheduleOptions{Overlap: policy})
			must(t, err)
			if info.LastTaskID != 0 || !info.LastFireAt.IsZero() {
				t.Errorf("redefined to another workflow: last run %d at %s, want none yet", info.LastTaskID, info.LastFireAt)
			}
			env.Clock.Advance(time.Minute)
			fire(t, env)
			if n := len(ticksStarted(t, env, "s")[tickKey(t0.Add(2*time.Minute))]); n != 1 {
				t.Errorf("tick 2, the first of t/tick: %d runs, want 1 (the t/dag run is not its previous one)", n)
			}
			if st := env.Task(old[0].ID).Task.State; st != store.TaskPending {
				t.Errorf("the t/dag run is %s, want left pending", st)
			}
			last := ticksStarted(t, env, "s")[tickKey(t0.Add(2*time.Minute))]
			info, err = env.Schedule(ctx, "s", "@every 1m", "t/tick", "y", engine.ScheduleOptions{Overlap: policy})
			must(t, err)
			if len(last) != 1 || info.LastTaskID != last[0].ID {
				t.Errorf("redefined with the same workflow: last run %d, want %v's", info.LastTaskID, last)
			}
		})
	}
}

// A zone prefix with nothing after it ("TZ=UTC", a spec cut short) made
// Schedule panic: robfig/cron cuts the zone at the first space and sliced
// at -1. It is refused, naming the spec, with nothing stored.
func TestScheduleRefusesAZonePrefixWithoutASpec(t *testing.T) {
	env := scheduleEnv(t)
	ctx := context.Background()
	for _, spec := range []string{"TZ=UTC", "CRON_TZ=Europe/Paris", " CRON_TZ=UTC  "} {
		_, err := env.Schedule(ctx, "z", spec, "t/tick", "x", engine.ScheduleOptions{})
		if !errors.Is(err, engine.ErrInvalidSchedule) || !strings.Contains(err.Error(), "no spec after the time zone") {
			t.Errorf("Schedule(%q) = %v, want ErrInvalidSchedule saying the spec is missing", spec, err)
		}
	}
	if _, err := env.GetSchedule(ctx, "z"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused schedule was stored: %v", err)
	}
}

// A spec that fires, however rarely, is taken and its next tick stored;
// one that never fires is still refused. robfig/cron looks five years
// ahead only, so "0 0 29 2 *" defined (or resumed) after 29 February 2096
// was refused as "never fires": its next tick is in 2104, 2100 being no
// leap year.
func TestScheduleFiringPastFiveYears(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, engine.Config{Clock: clock.NewFake(time.Date(2096, 3, 1, 0, 0, 0, 0, time.UTC))})
	must(t, engine.RegisterWorkflow(e, "t/tick", func(wctx *engine.WorkflowContext, in string) (string, error) { return in, nil }))
	info, err := e.Schedule(ctx, "leap", "0 0 29 2 *", "t/tick", "x", engine.ScheduleOptions{})
	if err != nil {
		t.Fatalf("a spec that fires in 2104: %v", err)
	}
	if want := time.Date(2104, 2, 29, 0, 0, 0, 0, time.UTC); !info.NextFireAt.Equal(want) {
		t.Fatalf("next tick %s, want %s", info.NextFireAt, want)
	}
	must(t, e.PauseSchedule(ctx, "leap"))
	must(t, e.ResumeSchedule(ctx, "leap"))
	if got, err := e.GetSchedule(ctx, "leap"); err != nil || got.Paused || !got.NextFireAt.Equal(info.NextFireAt) {
		t.Fatalf("resumed: %+v, %v; want it active, next tick %s", got, err, info.NextFireAt)
	}
	if _, err := e.Schedule(ctx, "never", "0 0 30 2 *", "t/tick", "x", engine.ScheduleOptions{}); !errors.Is(err, engine.ErrInvalidSchedule) || !strings.Contains(err.Error(), `spec "0 0 30 2 *" never fires`) {
		t.Fatalf("a spec no date matches: %v, want ErrInvalidSchedule saying it never fires", err)
	}
}

// A spec is stored as Parse reads it, trimmed and its fields one space
// apart: " @every 1m" and "@every 1m" are one definition, and declaring
// either again keeps the next tick. It was stored as written, so a
// redeploy that wrote it otherwise was a redefinition, and the ticks it
// was catching up on were dropped. A row stored before, as written, is
// the same definition too.
func TestScheduleSpecStoredCanonical(t *testing.T) {
	env := scheduleEnv(t)
	ctx := context.Background()
	t0 := env.Clock.Now()
	for _, c := range []struct{ id, spec, want string }{
		{"every", " @every 1m\t", "@every 1m"},
		{"cron", "0  3 * *\t*", "0 3 * * *"},
		{"zoned", "CRON_TZ=Europe/Paris 0  3 * * * ", "CRON_TZ=Europe/Paris 0 3 * * *"},
	} {
		info, err := env.Schedule(ctx, c.id, c.spec, "t/tick", "x", engine.ScheduleOptions{})
		must(t, err)
		if info.Spec != c.want {
			t.Errorf("Schedule(%q): spec %q, want %q", c.spec, info.Spec, c.want)
		}
	}
	// Not fired for two minutes: the schedule is catching up from t0+1m.
	env.Clock.Advance(2 * time.Minute)
	for _, spec := range []string{"@every 1m", " @every  1m"} {
		info, err := env.Schedule(ctx, "every", spec, "t/tick", "x", engine.ScheduleOptions{})
		must(t, err)
		if want := t0.Add(time.Minute); !info.NextFireAt.Equal(want) {
			t.Errorf("declared again as %q: next tick %s, want %s (unchanged)", spec, info.NextFireAt, want)
		}
	}
	// A row stored as written before.
	sc, err := env.Store.GetSchedule(ctx, "every")
	must(t, err)
	sc.Spec = " @every 1m"
	if ok, err := env.Store.UpdateSchedule(ctx, sc); err != nil || !ok {
		t.Fatalf("padding the stored spec: %v, %v", ok, err)
	}
	info, err := env.Schedule(ctx, "every", "@every 1m", "t/tick", "x", engine.ScheduleOptions{})
	must(t, err)
	if want := t0.Add(time.Minute); !info.NextFireAt.Equal(want) {
		t.Errorf("a row stored as written, declared again: next tick %s, want %s (unchanged)", info.NextFireAt, want)
	}
}

// TriggerSchedule that cannot start the run it asks for (the input is
// over this process's payload limit) returns the error and leaves no
// request behind: it stored one first, which the leader — another
// process, whose limit takes the input — would start after the caller was
// told the trigger failed.
func TestTriggerThatFailsLeavesNoRequest(t *testing.T) {
	env := scheduleEnv(t)
	ctx := context.Background()
	_, err := env.Schedule(ctx, "s", "@every 1h", "t/tick", strings.Repeat("x", 2000), engine.ScheduleOptions{})
	must(t, err)
	changed, err := engine.New(engine.Config{Store: env.Store, Clock: env.Clock, WorkerID: "new", MaxPayloadBytes: 1000})
	must(t, err)
	must(t, engine.RegisterWorkflow(changed, "t/tick", func(wctx *engine.WorkflowContext, in string) (string, error) { return in, nil }))
	if _, err := changed.TriggerSchedule(ctx, "s"); err == nil {
		t.Fatal("TriggerSchedule started a run of an input over the payload limit")
	}
	sc, err := env.Store.GetSchedule(ctx, "s")
	must(t, err)
	if sc.TriggerAt != nil {
		t.Fatalf("the failed trigger left a request for the leader (trigger_at %s)", sc.TriggerAt)
	}
	fire(t, env) // the leader, on the code that takes the input
	if n := len(ticksStarted(t, env, "s")); n != 0 {
		t.Fatalf("the leader started %d runs after the trigger failed", n)
	}
	// A request another caller made stands when this one fails.
	bare, err := engine.New(engine.Config{Store: env.Store, Clock: env.Clock, WorkerID: "cli"})
	must(t, err)
	_, err = bare.TriggerSchedule(ctx, "s")
	must(t, err)
	if _, err := changed.TriggerSchedule(ctx, "s"); err == nil {
		t.Fatal("TriggerSchedule started a run of an input over the payload limit")
	}
	if sc, err := env.Store.GetSchedule(ctx, "s"); err != nil || sc.TriggerAt == nil {
		t.Fatalf("the other caller's request was dropped: %+v %v", sc, err)
	}
}

// A run asked for by TriggerSchedule in a process that starts it is the
// run the leader finds for the request, on a store that keeps times to
// the microsecond (PostgreSQL) as on one that keeps nanoseconds: the
// request's identity was made of the clock's reading, nanoseconds and
// all, and the leader made it again of the stored time, rounded, so it
// started a second run.
func TestTriggeredRunIsOneOnEveryStore(t *testing.T) {
	ctx := context.Background()
	pg := func(t *testing.T) store.Store {
		s, err := postgres.Open(ctx, pgtest.URL(t), &postgres.Options{Schema: pgtest.NewSchema(t)})
		must(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	for name, open := range map[string]func(*testing.T) store.Store{"sqlite": openSQLite, "postgres": pg} {
		t.Run(name, func(t *testing.T) {
			clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 123456789, time.UTC))
			e, err := engine.New(engine.Config{Store: open(t), Clock: clk})
			must(t, err)
			must(t, engine.RegisterWorkflow(e, "t/tick", func(wctx *engine.WorkflowContext, in string) (string, error) { return in, nil }))
			_, err = e.Schedule(ctx, "s", "@every 1h", "t/tick", "x", engine.ScheduleOptions{})
			must(t, err)
			id, err := e.TriggerSchedule(ctx, "s")
			must(t, err)
			must(t, e.FireSchedules(ctx)) // the leader starts the request
			info, err := e.GetSchedule(ctx, "s")
			must(t, err)
			page, err := e.Store().ListTasks(ctx, &store.ListTasksParams{Limit: 10})
			must(t, err)
			if len(page.Tasks) != 1 || info.LastTaskID != id {
				t.Fatalf("%d runs for one trigger (TriggerSchedule started %d, the leader recorded %d)", len(page.Tasks), id, info.LastTaskID)
			}
		})
	}
}
