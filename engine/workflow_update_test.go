package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
	"github.com/tasker-go/tasker/testkit"
)

const wfUpdateChildEnv = "TASKER_WF_UPDATE_CHILD"

// The child process of TestWorkflowUpdateAnsweredOnceAcrossKill9 runs from
// init and never returns: it is killed inside the update's step.
func init() {
	if v := os.Getenv(wfUpdateChildEnv); v != "" {
		dbPath, ledgerPath, _ := strings.Cut(v, "|")
		ctx := context.Background()
		s, err := sqlite.Open(ctx, dbPath, nil)
		if err == nil {
			var e *engine.Engine
			if e, err = engine.New(wfCrashConfig(s)); err == nil {
				err = accountFlow(e, ledgerPath, true)
			}
			if err == nil {
				go e.Run(ctx)
				select {} // until killed
			}
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// accountFlow registers "t/account": a balance published as query state,
// "deposit" updates applied by a durable step (which appends its
// idempotency key to the ledger file; with hang set it then prints
// "done <key>" and hangs, to be killed) and answered with the new balance, and a
// "close" update that ends the workflow. A negative deposit is answered
// with an error.
func accountFlow(e *engine.Engine, ledgerPath string, hang bool) error {
	var mu sync.Mutex
	return engine.RegisterWorkflow(e, "t/account", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		balance := 0
		if err := engine.SetQueryState(wctx, "balance", balance); err != nil {
			return 0, err
		}
		for {
			var dep, cls *engine.UpdateRequest[int]
			i, err := engine.Select(wctx, engine.OnUpdate("deposit", &dep), engine.OnUpdate("close", &cls))
			if err != nil {
				return 0, err
			}
			if i == 1 {
				return balance, cls.Reply(wctx, balance, nil)
			}
			if dep.Arg < 0 {
				if err := dep.Reply(wctx, nil, errors.New("a deposit must be positive")); err != nil {
					return 0, err
				}
				continue
			}
			v, err := engine.Step(wctx, "apply", func(ctx context.Context) (int, error) {
				info, _ := engine.StepInfoFrom(ctx)
				mu.Lock()
				f, err := os.OpenFile(ledgerPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
				if err == nil {
					_, err = f.WriteString(info.IdempotencyKey + "\n")
					f.Close()
				}
				mu.Unlock()
				if err != nil {
					return 0, err
				}
				if hang { // the child process: tell the parent, and wait to be killed
					fmt.Println("done", info.IdempotencyKey)
					<-make(chan struct{})
				}
				return balance + dep.Arg, nil
			})
			if err != nil {
				return 0, err
			}
			balance = v
			if err := engine.SetQueryState(wctx, "balance", balance); err != nil {
				return 0, err
			}
			if err := dep.Reply(wctx, balance, nil); err != nil {
				return 0, err
			}
		}
	})
}

// Updates are answered, once per update id, and published state is read
// without running the workflow.
func TestWorkflowQueryAndUpdate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "account.db"), nil)
	must(t, err)
	defer s.Close()
	e, err := engine.New(engine.Config{Store: s, Execution: engine.ExecutionConfig{PollInterval: 20 * time.Millisecond}})
	must(t, err)
	ledger := filepath.Join(dir, "ledger.txt")
	must(t, accountFlow(e, ledger, false))
	h, err := engine.StartWorkflow[struct{}, int](ctx, e, "t/account", struct{}{})
	must(t, err)
	if _, err := engine.Query[int](ctx, e, h.TaskID, "balance"); !errors.Is(err, engine.ErrNoQueryState) {
		t.Fatalf("query before the workflow ran: %v", err)
	}
	run(t, e)
	deposit := func(id string, n int) (int, error) { return engine.Update[int](ctx, e, h.TaskID, "deposit", id, n) }
	if v, err := deposit("u1", 10); err != nil || v != 10 {
		t.Fatalf("deposit u1: %d, %v", v, err)
	}
	if v, err := deposit("u1", 10); err != nil || v != 10 { // the same id: the same answer, applied once
		t.Fatalf("deposit u1 again: %d, %v", v, err)
	}
	var ue *engine.UpdateError
	if _, err := deposit("bad", -1); !errors.As(err, &ue) || !strings.Contains(ue.Message, "must be positive") {
		t.Fatalf("negative deposit: %v", err)
	}
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := deposit(fmt.Sprint("c", i), 1); err != nil {
				t.Errorf("concurrent deposit %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if v, err := engine.Query[int](ctx, e, h.TaskID, "balance"); err != nil || v != 15 {
		t.Fatalf("balance %d, %v", v, err)
	}
	for _, bad := range []string{"", "a\nb"} {
		if _, err := deposit(bad, 1); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("update id %q: %v", bad, err)
		}
	}
	if v, err := engine.Update[int](ctx, e, h.TaskID, "close", "end", nil); err != nil || v != 15 {
		t.Fatalf("close: %d, %v", v, err)
	}
	if v, err := h.Result(ctx); err != nil || v != 15 {
		t.Fatalf("result %d, %v", v, err)
	}
	// After the end: answered updates still answer, new ones are refused,
	// the state is still there, and the history replays.
	if v, err := deposit("u1", 10); err != nil || v != 10 {
		t.Fatalf("deposit u1 after the end: %d, %v", v, err)
	}
	if _, err := deposit("late", 1); !errors.Is(err, engine.ErrEventRefused) {
		t.Fatalf("deposit after the end: %v", err)
	}
	if v, err := engine.Query[int](ctx, e, h.TaskID, "balance"); err != nil || v != 15 {
		t.Fatalf("balance after the end %d, %v", v, err)
	}
	must(t, e.Replay(ctx, h.TaskID))
	data, err := os.ReadFile(ledger)
	must(t, err)
	if n := strings.Count(string(data), "\n"); n != 6 {
		t.Fatalf("%d deposits applied, want 6:\n%s", n, data)
	}
}

// TestWorkflowUpdateAnsweredOnceAcrossKill9 kills the worker between an
// update's receipt and its answer (inside the step that applies it), then
// resumes on the same database: the sender waiting meanwhile gets the
// answer, asking again gets the same one, the update was delivered once,
// and its step's side effect has one idempotency key.
func TestWorkflowUpdateAnsweredOnceAcrossKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs a child process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	dbPath, ledgerPath := filepath.Join(dir, "account.db"), filepath.Join(dir, "ledger.txt")
	s, err := sqlite.Open(ctx, dbPath, nil)
	must(t, err)
	defer s.Close()
	e, err := engine.New(wfCrashConfig(s))
	must(t, err)
	must(t, accountFlow(e, ledgerPath, false))
	h, err := engine.StartWorkflow[struct{}, int](ctx, e, "t/account", struct{}{})
	must(t, err)
	type answer struct {
		v   int
		err error
	}
	answered := make(chan answer, 1)
	go func() { // the sender waits across the kill
		v, err := engine.Update[int](ctx, e, h.TaskID, "deposit", "u1", 7)
		answered <- answer{v, err}
	}()
	killChildAfter(t, wfUpdateChildEnv+"="+dbPath+"|"+ledgerPath, 1)
	if _, err := s.GetWorkflowValue(ctx, h.TaskID, store.ValueReply, "deposit\nu1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the update was answered before the kill: %v", err)
	}
	run(t, e)
	a := <-answered
	if a.err != nil || a.v != 7 {
		t.Fatalf("answer after the kill: %d, %v", a.v, a.err)
	}
	if v, err := engine.Update[int](ctx, e, h.TaskID, "deposit", "u1", 7); err != nil || v != 7 {
		t.Fatalf("asking again: %d, %v", v, err)
	}
	if v, err := engine.Update[int](ctx, e, h.TaskID, "close", "end", nil); err != nil || v != 7 {
		t.Fatalf("close: %d, %v", v, err)
	}
	if v, err := h.Result(ctx); err != nil || v != 7 {
		t.Fatalf("result %d, %v", v, err)
	}
	var events []string
	must(t, s.DB().NewRaw(`SELECT name || '/' || key FROM tasker_events WHERE task_id = ? ORDER BY id`, h.TaskID).Scan(ctx, &events))
	if strings.Join(events, " ") != "update:deposit/u1 update:close/end" {
		t.Fatalf("events %v: the update was not delivered once", events)
	}
	var applies []string
	must(t, s.DB().NewRaw(`SELECT name FROM tasker_steps WHERE task_id = ? AND handler = 'workflow.step'`, h.TaskID).Scan(ctx, &applies))
	if len(applies) != 1 {
		t.Fatalf("the update was applied by %d steps: %v", len(applies), applies)
	}
	data, err := os.ReadFile(ledgerPath)
	must(t, err)
	keys := map[string]bool{}
	for _, l := range strings.Fields(string(data)) {
		keys[l] = true
	}
	if len(keys) != 1 {
		t.Fatalf("the step's side effect ran under %d idempotency keys: %s", len(keys), data)
	}
	t.Logf("the step ran %d times (the attempt killed, then the resumed one), under one key", len(strings.Fields(string(data))))
}

// TestSendEventRefusesTheUpdatePrefix: SendEvent refuses an event name
// beginning with "update:", reserved for updates, naming the prefix, and
// records nothing; it sent it, and the workflow's ReceiveUpdate took it
// for an update whose answer no Update call would ever read.
func TestSendEventRefusesTheUpdatePrefix(t *testing.T) {
	ctx := context.Background()
	env, h := waitingForGo(t, ctx)
	created, err := env.Engine.SendEvent(ctx, h.TaskID, "update:bump", "u1", 1)
	if created || !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), `"update:"`) {
		t.Fatalf("SendEvent(update:bump): %v, %v; want store.ErrInvalid naming the prefix", created, err)
	}
	n, err := env.Store.DB().NewSelect().Table("tasker_events").Where("task_id = ?", h.TaskID).Count(ctx)
	if err != nil || n != 0 {
		t.Fatalf("events recorded after the refusal: %d, %v", n, err)
	}
}

// TestSendEventRefusesABadNameOnce: SendEvent with an empty name read
// "sending event  to task N: sending event: name: is required" (a blank
// name, the action twice, the store's field name); a name or key the store
// refuses read likewise. The refusal is now one message naming the
// problem, store.ErrInvalid, and records nothing.
func TestSendEventRefusesABadNameOnce(t *testing.T) {
	ctx := context.Background()
	env, h := waitingForGo(t, ctx)
	for _, c := range []struct{ name, key, want string }{
		{"", "k", fmt.Sprintf("sending an event to task %d: %s: event name is required", h.TaskID, store.ErrInvalid)},
		{"a\x00b", "k", `event name "a\x00b" contains a NUL byte`},
		{"go", strings.Repeat("k", 300), `sending event "go" to task`},
	} {
		created, err := env.Engine.SendEvent(ctx, h.TaskID, c.name, c.key, 1)
		if created || !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) || strings.Count(err.Error(), "sending") != 1 {
			t.Errorf("SendEvent(%q, %.10q): %v, %v; want store.ErrInvalid saying %q, once", c.name, c.key, created, err, c.want)
		}
	}
	n, err := env.Store.DB().NewSelect().Table("tasker_events").Where("task_id = ?", h.TaskID).Count(ctx)
	if err != nil || n != 0 {
		t.Fatalf("events recorded after the refusals: %d, %v", n, err)
	}
}

// TestQueryOfNoWorkflowSaysWhy: Query of a task id that names no task is
// store.ErrNotFound, and of a DAG task ErrNoQueryState saying it is one.
// Both read as "no query state", as if the workflow had not published yet,
// so a mistyped id looked like a workflow still to come.
func TestQueryOfNoWorkflowSaysWhy(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, env.HandleFunc("h", func(sc *engine.StepContext) (any, error) { return 1, nil }))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "dag", Steps: []engine.StepTemplate{{Name: "s", Handler: "h"}}}))
	dag, err := env.Start(ctx, "t/dag", nil)
	must(t, err)
	if _, err := engine.Query[int](ctx, env.Engine, dag.TaskID+100, "balance"); !errors.Is(err, store.ErrNotFound) || errors.Is(err, engine.ErrNoQueryState) {
		t.Fatalf("Query of no task = %v, want store.ErrNotFound", err)
	}
	_, err = engine.Query[int](ctx, env.Engine, dag.TaskID, "balance")
	if !errors.Is(err, engine.ErrNoQueryState) || !strings.Contains(err.Error(), "DAG template t/dag") {
		t.Fatalf("Query of a DAG task = %v, want ErrNoQueryState naming the template", err)
	}
}

// A query state name the store would refuse fails the workflow at
// SetQueryState, naming it, and is refused by Query: one not UTF-8 was
// published on SQLite (PostgreSQL refuses it), an empty one or one with a
// NUL byte failed the workflow with the store's words ("name: is
// required").
func TestQueryStateNamesAreChecked(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	names := map[string]string{"empty": "", "nul": "bal\x00ance", "utf8": "bal\xffance"}
	must(t, engine.RegisterWorkflow(env.Engine, "t/qname", func(wctx *engine.WorkflowContext, in string) (int, error) {
		return 1, engine.SetQueryState(wctx, names[in], 1)
	}))
	for in, want := range map[string]string{"empty": "engine.SetQueryState: query state name is required", "nul": `engine.SetQueryState: query state name "bal\x00ance" contains a NUL byte`,
		"utf8": `engine.SetQueryState: query state name "bal\xffance" is not valid UTF-8`} {
		h, err := engine.StartWorkflow[string, int](ctx, env.Engine, "t/qname", in)
		must(t, err)
		env.RunUntilDone(h.TaskID)
		if _, err := h.Result(ctx); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("SetQueryState(%s): %v, want %q", in, err, want)
		}
		if _, err := engine.Query[int](ctx, env.Engine, h.TaskID, names[in]); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), strings.TrimPrefix(want, "engine.SetQueryState: ")) {
			t.Fatalf("Query(%s): %v, want store.ErrInvalid naming it", in, err)
		}
	}
}

// An update name or id the store would refuse is refused by Update naming
// it, and nothing is sent: a NUL byte or invalid UTF-8 failed in the
// store's words ("sending event: key: ..."), and a name and id too long
// together sent the update, whose answer could never be stored.
func TestUpdateNamesAreChecked(t *testing.T) {
	// A refusal is at once; an update sent would wait for an answer that
	// never comes, until this deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	env, h := waitingForGo(t, ctx)
	for _, c := range []struct{ name, id, want string }{
		{"", "u1", "update name is required"},
		{"bump", "", "update id is required"},
		{"bu\x00mp", "u1", `update name "bu\x00mp" contains a NUL byte`},
		{"bump", "u\xff1", `update id "u\xff1" is not valid UTF-8`},
		{"a\nb", "u1", `update name "a\nb" holds a newline`},
		{"bump", "u\n1", `update id "u\n1" holds a newline`},
		{strings.Repeat("n", 200), strings.Repeat("i", 60), "are too long together (261 bytes with their separator; the limit is 255)"},
		// ReceiveUpdate's limit (its wait's row is named update:name#seq):
		// an update no workflow could receive is not sent.
		{strings.Repeat("n", 240), "u1", fmt.Sprintf("is 240 bytes long; the limit is %d", engine.MaxUpdateNameLen)},
	} {
		_, err := engine.Update[int](ctx, env.Engine, h.TaskID, c.name, c.id, 1)
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Update(%.12q, %.12q): %v; want store.ErrInvalid saying %q", c.name, c.id, err, c.want)
		}
	}
	n, err := env.Store.DB().NewSelect().Table("tasker_events").Where("task_id = ?", h.TaskID).Count(ctx)
	if err != nil || n != 0 {
		t.Fatalf("events recorded after the refusals: %d, %v", n, err)
	}
}

// waitingForGo starts, in an engine of testkit's, a workflow that waits an hour
// for the event "go" (it answers no update).
func waitingForGo(t *testing.T, ctx context.Context) (*testkit.Env, *engine.WorkflowHandle[int]) {
	t.Helper()
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "t/waiting", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		return engine.WaitEvent[int](wctx, "go", time.Hour)
	}))
	h, err := engine.StartWorkflow[struct{}, int](ctx, env.Engine, "t/waiting", struct{}{})
	must(t, err)
	return env, h
}

// TestReceivingAnUpdateNoSenderCanSend: ReceiveUpdate and OnUpdate fail the
// workflow at once, naming the call and the problem, given an update name
// Update refuses. ReceiveUpdate took a name with a newline and waited its
// whole timeout for an update no one could send; OnUpdate took that, and a
// name with a NUL byte, which the store refused when Select recorded its
// wait, the driver retried for it ten times.
func TestReceivingAnUpdateNoSenderCanSend(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	for i, c := range []struct {
		name, want string
		selected   bool
	}{
		{"a\nb", `engine.ReceiveUpdate: update name "a\nb" holds a newline`, false},
		{"a\nb", `engine.Select: case 0, update name "a\nb" holds a newline`, true},
		{"a\x00b", `engine.Select: case 0, update name "a\x00b" contains a NUL byte`, true},
		{strings.Repeat("u", 249), `engine.Select: case 0, update name "uuuu`, true},
		// One limit for the three (Update, ReceiveUpdate, OnUpdate).
		{strings.Repeat("u", 240), fmt.Sprintf("update name is 240 bytes long; the limit is %d", engine.MaxUpdateNameLen), false},
		{strings.Repeat("u", 240), fmt.Sprintf("is 240 bytes long; the limit is %d", engine.MaxUpdateNameLen), true},
	} {
		wf := fmt.Sprintf("t/receive%d", i)
		must(t, engine.RegisterWorkflow(env.Engine, wf, func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
			if c.selected {
				var req *engine.UpdateRequest[int]
				return engine.Select(wctx, engine.OnUpdate(c.name, &req))
			}
			_, err := engine.ReceiveUpdate[int](wctx, c.name, time.Hour)
			return 0, err
		}))
		h, err := engine.StartWorkflow[struct{}, int](ctx, env.Engine, wf, struct{}{})
		must(t, err)
		env.RunUntilDone(h.TaskID)
		_, err = h.Result(ctx)
		var te *engine.TaskError
		if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), c.want) {
			t.Errorf("update name %.12q: %v; want the workflow failed at once with %s", c.name, err, c.want)
		}
	}
}

// blankError is an error whose message is empty.
type blankError struct{}

func (blankError) Error() string { return "" }

// TestUpdateAnsweredWithABlankErrorFails: Reply with a failure whose
// message is empty answers the update with an error, as its doc says of
// any failure that is not nil. The answer was stored as a success, and the
// sender's Update returned the zero value and no error.
func TestUpdateAnsweredWithABlankErrorFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := newEngine(t, engine.Config{Execution: engine.ExecutionConfig{PollInterval: 20 * time.Millisecond}})
	must(t, engine.RegisterWorkflow(e, "t/blank", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		req, err := engine.ReceiveUpdate[int](wctx, "bump", time.Hour)
		if err != nil {
			return 0, err
		}
		return 1, req.Reply(wctx, 5, blankError{})
	}))
	h, err := engine.StartWorkflow[struct{}, int](ctx, e, "t/blank", struct{}{})
	must(t, err)
	run(t, e)
	v, err := engine.Update[int](ctx, e, h.TaskID, "bump", "u1", 1)
	var ue *engine.UpdateError
	if !errors.As(err, &ue) || ue.Message == "" || !strings.Contains(ue.Message, "blankError") {
		t.Fatalf("Update answered with a blank error: %d, %v; want an *UpdateError naming the error's type", v, err)
	}
}

// TestWaitingForAnEventNamedAsAnUpdate: WaitEvent and OnEvent refuse a
// name beginning with "update:", failing the workflow at once naming the
// call and ReceiveUpdate, as SendEvent refuses to send one. Such a wait
// received updates as bare events, which it could not answer: the sender's
// Update waited until the workflow ended and got ErrUpdateUnanswered.
func TestWaitingForAnEventNamedAsAnUpdate(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	for i, selected := range []bool{false, true} {
		wf := fmt.Sprintf("t/asupdate%d", i)
		must(t, engine.RegisterWorkflow(env.Engine, wf, func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
			if selected {
				var v int
				return engine.Select(wctx, engine.OnEvent("update:bump", &v))
			}
			return engine.WaitEvent[int](wctx, "update:bump", time.Hour)
		}))
		h, err := engine.StartWorkflow[struct{}, int](ctx, env.Engine, wf, struct{}{})
		must(t, err)
		env.RunUntilDone(h.TaskID)
		_, err = h.Result(ctx)
		want := `engine.WaitEvent("update:bump", 1h0m0s): the name begins with "update:", reserved for updates: receive one with engine.ReceiveUpdate, which can answer it`
		if selected {
			want = `engine.Select: case 0, OnEvent("update:bump"): the name begins with "update:", reserved for updates: receive one with engine.OnUpdate, which can answer it`
		}
		var te *engine.TaskError
		if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), want) {
			t.Errorf("selected %v: %v; want the workflow failed at once with %s", selected, err, want)
		}
	}
}

// TestReplyToANilRequestFails: Reply on a nil *UpdateRequest (a Select
// whose timer won, read as if the update had) fails the workflow at once
// naming the mistake, as Future.Get of a nil future does. It panicked on
// the nil request, and the panic was retried as the driver's failure ten
// times.
func TestReplyToANilRequestFails(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	ctx := context.Background()
	must(t, engine.RegisterWorkflow(env.Engine, "t/nilreply", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		var req *engine.UpdateRequest[int]
		if _, err := engine.Select(wctx, engine.OnUpdate("bump", &req), engine.OnTimer(engine.NewTimer(wctx, time.Hour))); err != nil {
			return 0, err
		}
		return 1, req.Reply(wctx, 1, nil) // the timer won: req is nil
	}))
	h, err := engine.StartWorkflow[struct{}, int](ctx, env.Engine, "t/nilreply", struct{}{})
	must(t, err)
	env.RunUntilDone(h.TaskID)
	_, err = h.Result(ctx)
	var te *engine.TaskError
	want := "UpdateRequest.Reply: the request is nil"
	if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), want) {
		t.Fatalf("Reply on a nil request: %v; want the workflow failed at once saying %q", err, want)
	}
	if d := env.Task(h.TaskID).Step(engine.DriverStep); d.Attempts != 1 {
		t.Fatalf("the driver ran %d times, want 1", d.Attempts)
	}
}

// TestQueryStateAndReplyInsideAStepFailTheWorkflow: SetQueryState and
// UpdateRequest.Reply called inside a durable step's function fail the
// workflow at once, naming the call and the step, as the other durable
// calls do there. They published: the value or answer was written at the
// step's place in the history, and a replay, which returns the step's
// record without calling its function, published nothing there.
func TestQueryStateAndReplyInsideAStepFailTheWorkflow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := newEngine(t, engine.Config{Execution: engine.ExecutionConfig{PollInterval: 20 * time.Millisecond}})
	must(t, engine.RegisterWorkflow(e, "t/stepquery", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		return engine.Step(wctx, "publish", func(context.Context) (int, error) {
			return 1, engine.SetQueryState(wctx, "balance", 1)
		})
	}))
	must(t, engine.RegisterWorkflow(e, "t/stepreply", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		req, err := engine.ReceiveUpdate[int](wctx, "bump", time.Hour)
		if err != nil {
			return 0, err
		}
		return engine.Step(wctx, "answer", func(context.Context) (int, error) {
			return 1, req.Reply(wctx, req.Arg+1, nil)
		})
	}))
	q, err := engine.StartWorkflow[struct{}, int](ctx, e, "t/stepquery", struct{}{})
	must(t, err)
	r, err := engine.StartWorkflow[struct{}, int](ctx, e, "t/stepreply", struct{}{})
	must(t, err)
	run(t, e)
	if v, err := engine.Update[int](ctx, e, r.TaskID, "bump", "u1", 1); !errors.Is(err, engine.ErrUpdateUnanswered) {
		t.Errorf("Update answered inside a step: %d, %v; want ErrUpdateUnanswered (the workflow failed)", v, err)
	}
	for h, want := range map[*engine.WorkflowHandle[int]]string{
		q: `engine.SetQueryState("balance") called inside the function of durable step "publish"`,
		r: `UpdateRequest.Reply (update "bump", id "u1") called inside the function of durable step "answer"`,
	} {
		_, err := h.Result(ctx)
		var te *engine.TaskError
		if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), want) {
			t.Errorf("task %d: %v; want the workflow failed at once saying %s", h.TaskID, err, want)
		}
	}
	if v, err := engine.Query[int](ctx, e, q.TaskID, "balance"); !errors.Is(err, engine.ErrNoQueryState) {
		t.Errorf("Query = %d, %v; want ErrNoQueryState (nothing published)", v, err)
	}
}

// TestUpdateWithAnAnswerTypeJSONCannotCarryIsRefused: Update with a result
// type JSON cannot carry (a func, a channel) is refused before anything is
// sent (store.ErrInvalid naming the type): the update was delivered, the
// workflow acted on it and answered, and only then did the answer fail to
// decode.
func TestUpdateWithAnAnswerTypeJSONCannotCarryIsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := newEngine(t, engine.Config{Execution: engine.ExecutionConfig{PollInterval: 20 * time.Millisecond}})
	must(t, engine.RegisterWorkflow(e, "t/answer", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		req, err := engine.ReceiveUpdate[int](wctx, "bump", time.Hour)
		if err != nil {
			return 0, err
		}
		return req.Arg, req.Reply(wctx, req.Arg, nil)
	}))
	h, err := engine.StartWorkflow[struct{}, int](ctx, e, "t/answer", struct{}{})
	must(t, err)
	run(t, e)
	_, err = engine.Update[func()](ctx, e, h.TaskID, "bump", "u1", 1)
	if want := "its answer type func() cannot be carried as JSON"; !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Update[func()] = %v; want store.ErrInvalid saying %q", err, want)
	}
	// Nothing was sent: the workflow receives the next update.
	if v, err := engine.Update[int](ctx, e, h.TaskID, "bump", "u2", 2); v != 2 || err != nil {
		t.Fatalf("Update u2 = %d, %v; want 2 (the refused u1 never delivered)", v, err)
	}
	if v, err := h.Result(ctx); v != 2 || err != nil {
		t.Fatalf("result %d, %v; want 2", v, err)
	}
}

type pointerError struct{ msg string }

func (e *pointerError) Error() string { return e.msg }

// TestReplyWithATypedNilFailureFailsTheWorkflow: Reply given as its
// failure a nil pointer in an error (the typed nil of a function that
// returns *MyError) fails the workflow at once, naming the type, as Reply
// on a nil request does. Reply called its Error method, which panicked on
// the nil pointer: the driver's run failed as a panic and was retried ten
// times while the sender waited.
func TestReplyWithATypedNilFailureFailsTheWorkflow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := newEngine(t, engine.Config{Execution: engine.ExecutionConfig{PollInterval: 20 * time.Millisecond}})
	must(t, engine.RegisterWorkflow(e, "t/typednil", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		req, err := engine.ReceiveUpdate[int](wctx, "bump", time.Hour)
		if err != nil {
			return 0, err
		}
		var failure *pointerError // nothing went wrong
		return 1, req.Reply(wctx, req.Arg, failure)
	}))
	h, err := engine.StartWorkflow[struct{}, int](ctx, e, "t/typednil", struct{}{})
	must(t, err)
	run(t, e)
	if v, err := engine.Update[int](ctx, e, h.TaskID, "bump", "u1", 1); !errors.Is(err, engine.ErrUpdateUnanswered) {
		t.Fatalf("Update = %d, %v; want ErrUpdateUnanswered (the workflow failed)", v, err)
	}
	_, err = h.Result(ctx)
	var te *engine.TaskError
	want := "UpdateRequest.Reply (update \"bump\", id \"u1\"): the failure is a nil *engine_test.pointerError"
	if !errors.As(err, &te) || te.Failure == nil || te.Failure.Kind != engine.KindPermanent || !strings.Contains(err.Error(), want) {
		t.Fatalf("result error %v; want the workflow failed at once saying %q", err, want)
	}
	d, err := e.Store().GetTask(ctx, h.TaskID)
	must(t, err)
	if n := d.Step(engine.DriverStep).Attempts; n != 1 {
		t.Fatalf("the driver ran %d times, want 1", n)
	}
}

// An update whose argument cannot be sent (JSON cannot carry it, or it is
// over Config.MaxPayloadBytes) is refused naming the update and its
// argument, as store.ErrInvalid (as an answer type JSON cannot carry is)
// or ErrPayloadTooLarge; nothing is sent. The errors spoke of the event
// "update:bump" and its payload, a name the caller never wrote.
func TestUpdateWithAnArgumentThatCannotBeSentNamesTheArgument(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := newEngine(t, engine.Config{MaxPayloadBytes: 1000, Execution: engine.ExecutionConfig{PollInterval: 20 * time.Millisecond}})
	must(t, engine.RegisterWorkflow(e, "t/answer", func(wctx *engine.WorkflowContext, in struct{}) (int, error) {
		req, err := engine.ReceiveUpdate[int](wctx, "bump", time.Hour)
		if err != nil {
			return 0, err
		}
		return req.Arg, req.Reply(wctx, req.Arg, nil)
	}))
	h, err := engine.StartWorkflow[struct{}, int](ctx, e, "t/answer", struct{}{})
	must(t, err)
	run(t, e)
	for _, c := range []struct {
		arg  any
		want error
	}{{func() {}, store.ErrInvalid}, {strings.Repeat("x", 2000), engine.ErrPayloadTooLarge}} {
		_, err = engine.Update[int](ctx, e, h.TaskID, "bump", "u1", c.arg)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), `the argument of update "bump" (id "u1")`) || strings.Contains(err.Error(), "update:") {
			t.Errorf("Update with argument %T = %v; want %v naming the update's argument", c.arg, err, c.want)
		}
	}
	if v, err := engine.Update[int](ctx, e, h.TaskID, "bump", "u2", 2); v != 2 || err != nil {
		t.Fatalf("Update u2 = %d, %v; want 2 (the refused u1 never delivered)", v, err)
	}
}
