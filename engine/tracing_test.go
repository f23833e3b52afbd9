package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// traceChildEnv makes the test binary a second engine process (see
// traceChild): "db|spans file|task id".
const traceChildEnv = "TASKER_TRACE_CHILD"

// span is an exported span as the two processes compare them.
type span struct {
	Name, Trace, ID, Parent string
	Remote                  bool // the parent came from another process (the database)
	Kind                    string
	Start                   time.Time
	Attrs                   map[string]string
}

func spansOf(exp *tracetest.InMemoryExporter) []span {
	var out []span
	for _, s := range exp.GetSpans() {
		x := span{Name: s.Name, Trace: s.SpanContext.TraceID().String(), ID: s.SpanContext.SpanID().String(),
			Remote: s.Parent.IsRemote(), Kind: s.SpanKind.String(), Start: s.StartTime, Attrs: map[string]string{}}
		if s.Parent.IsValid() {
			x.Parent = s.Parent.SpanID().String()
		}
		for _, a := range s.Attributes {
			x.Attrs[string(a.Key)] = a.Value.String()
		}
		out = append(out, x)
	}
	return out
}

// only returns the one span named name.
func only(t *testing.T, spans []span, name string) span {
	t.Helper()
	var found []span
	for _, s := range spans {
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans named %q, want 1; spans: %v", len(found), name, spanNames(spans))
	}
	return found[0]
}

func named(spans []span, name string) []span {
	var out []span
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func spanNames(spans []span) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}

func wantAttrs(t *testing.T, s span, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if s.Attrs[k] != v {
			t.Errorf("span %s: %s = %q, want %q (attributes %v)", s.Name, k, s.Attrs[k], v, s.Attrs)
		}
	}
}

func newRecorder(t *testing.T) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, exp
}

func acrossTemplate() *engine.Template {
	return &engine.Template{Namespace: "t", Name: "across", Version: "1.2.0", Steps: []engine.StepTemplate{
		{Name: "a", Handler: "first"}, {Name: "b", Handler: "second", DependsOn: []string{"a"}},
	}}
}

// TestTraceAcrossProcesses: a task started under a span in this process
// runs step a here and step b in a child process (each engine serves one
// of the handlers, each process has its own tracer provider): the child's
// spans continue the trace through the database, and every span has the
// right parent.
func TestTraceAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	dbPath, spansPath := filepath.Join(dir, "trace.db"), filepath.Join(dir, "spans.json")
	tp, exp := newRecorder(t)
	st, err := sqlite.Open(ctx, dbPath, nil)
	must(t, err)
	t.Cleanup(func() { st.Close() })
	e := newEngine(t, engine.Config{Store: st, TracerProvider: tp, WorkerID: "parent"})
	must(t, e.HandleFunc("first", func(*engine.StepContext) (any, error) { return 1, nil }))
	must(t, e.Register(acrossTemplate()))

	cctx, caller := tp.Tracer("test").Start(ctx, "caller")
	h, err := e.Start(cctx, "t/across", map[string]int{"n": 1})
	must(t, err)
	caller.End()
	run(t, e)

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|%d", traceChildEnv, dbPath, spansPath, h.TaskID))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	must(t, cmd.Run()) // returns once the task has ended and the child has written its spans
	out, err := h.Wait(ctx)
	must(t, err)
	if out.State != store.TaskComplete {
		t.Fatalf("task %s", out.State)
	}
	raw, err := os.ReadFile(spansPath)
	must(t, err)
	var child []span
	must(t, json.Unmarshal(raw, &child))

	here := spansOf(exp)
	callerSpan := only(t, here, "caller")
	start := only(t, here, "tasker.start t/across")
	a := only(t, here, "tasker.step a")
	b := only(t, child, "tasker.step b")
	task := only(t, child, "tasker.task t/across")
	if len(named(child, "tasker.step a")) != 0 || len(named(here, "tasker.step b")) != 0 {
		t.Fatalf("a step ran in the wrong process: here %v, child %v", spanNames(here), spanNames(child))
	}
	for _, s := range []span{start, a, b, task} {
		if s.Trace != callerSpan.Trace {
			t.Errorf("span %s is in trace %s, want the caller's %s", s.Name, s.Trace, callerSpan.Trace)
		}
	}
	if start.Parent != callerSpan.ID || start.Kind != "producer" {
		t.Errorf("start span: parent %s kind %s, want the caller %s and producer", start.Parent, start.Kind, callerSpan.ID)
	}
	id := strconv.FormatInt(h.TaskID, 10)
	wantAttrs(t, start, map[string]string{"tasker.workflow": "t/across", "tasker.workflow.version": "1.2.0", "tasker.task.id": id})
	for _, s := range []span{a, b} {
		if s.Parent != start.ID || !s.Remote || s.Kind != "consumer" {
			t.Errorf("span %s: parent %s (remote %v) kind %s, want the start span %s through the database, consumer", s.Name, s.Parent, s.Remote, s.Kind, start.ID)
		}
		wantAttrs(t, s, map[string]string{"tasker.workflow": "t/across", "tasker.workflow.version": "1.2.0", "tasker.task.id": id,
			"tasker.attempt": "1", "tasker.queue": "default", "tasker.outcome": "complete"})
	}
	wantAttrs(t, a, map[string]string{"tasker.step": "a"})
	wantAttrs(t, b, map[string]string{"tasker.step": "b"})
	if task.Parent != start.ID {
		t.Errorf("task span's parent %s, want the start span %s", task.Parent, start.ID)
	}
	wantAttrs(t, task, map[string]string{"tasker.task.id": id, "tasker.outcome": "complete"})
	got, err := st.GetTask(ctx, h.TaskID)
	must(t, err)
	if !task.Start.Equal(got.Task.CreatedAt) {
		t.Errorf("task span starts at %v, want the task's creation %v", task.Start, got.Task.CreatedAt)
	}
}

// traceChild is the second process of TestTraceAcrossProcesses: it runs
// step b, waits for the task to end, stops (every commit made) and writes
// its spans.
func traceChild() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "trace child:", err)
		os.Exit(2)
	}
	parts := strings.Split(os.Getenv(traceChildEnv), "|")
	taskID, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	st, err := sqlite.Open(ctx, parts[0], nil)
	if err != nil {
		fail(err)
	}
	e, err := engine.New(engine.Config{Store: st, TracerProvider: tp, WorkerID: "child", Execution: engine.ExecutionConfig{PollInterval: 20 * time.Millisecond}})
	if err != nil {
		fail(err)
	}
	if err := e.HandleFunc("second", func(*engine.StepContext) (any, error) { return 2, nil }); err != nil {
		fail(err)
	}
	if err := e.Register(acrossTemplate()); err != nil {
		fail(err)
	}
	done, err := e.RunBackground(ctx)
	if err != nil {
		fail(err)
	}
	if _, err := e.Wait(ctx, taskID); err != nil {
		fail(err)
	}
	if err := e.Stop(ctx); err != nil {
		fail(err)
	}
	<-done
	raw, err := json.Marshal(spansOf(exp))
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile(parts[1], raw, 0o644); err != nil {
		fail(err)
	}
	_ = tp.Shutdown(ctx)
	_ = st.Close()
}

// TestTraceCodeFirst: a code-first workflow's runs, durable steps, sleep,
// event wait and child are spans under their workflow, in the starter's
// trace; a child workflow's spans continue the parent's trace. Each carries
// tasker.workflow.version, as the run's does (durable steps and waits had
// none).
func TestTraceCodeFirst(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tp, exp := newRecorder(t)
	e := newEngine(t, engine.Config{TracerProvider: tp})
	must(t, engine.RegisterWorkflow(e, "t/leaf", func(wctx *engine.WorkflowContext, in int) (int, error) {
		if _, err := engine.WaitEvent[string](wctx, "release", time.Minute); err != nil {
			return 0, err
		}
		return engine.Step(wctx, "inc", func(context.Context) (int, error) { return in + 1, nil })
	}))
	must(t, engine.RegisterWorkflow(e, "t/traced", func(wctx *engine.WorkflowContext, in int) (int, error) {
		v, err := engine.Step(wctx, "double", func(context.Context) (int, error) { return 2 * in, nil })
		if err != nil {
			return 0, err
		}
		if err := engine.Sleep(wctx, time.Millisecond); err != nil {
			return 0, err
		}
		if _, err := engine.WaitEvent[string](wctx, "go", time.Minute); err != nil {
			return 0, err
		}
		return engine.Child[int](wctx, "t/leaf", v)
	}))
	run(t, e)
	cctx, caller := tp.Tracer("test").Start(ctx, "caller")
	h, err := engine.StartWorkflow[int, int](cctx, e, "t/traced", 20)
	must(t, err)
	caller.End()
	_, err = e.SendEvent(ctx, h.TaskID, "go", "k", "now")
	must(t, err)
	// The child finishes once its parent waits for it (a child that ends
	// while its parent's run is still committing is another test's
	// matter: see TestChild*).
	var child int64
	waitFor(t, "the parent waiting for its child", func() bool {
		d, err := e.Store().GetTask(ctx, h.TaskID)
		if err != nil || d.Step(engine.DriverStep).State != store.StepPending {
			return false
		}
		kids, err := e.Store().ListTasks(ctx, &store.ListTasksParams{ParentID: &h.TaskID})
		if err != nil || len(kids.Tasks) != 1 {
			return false
		}
		child = kids.Tasks[0].ID
		return true
	})
	_, err = e.SendEvent(ctx, child, "release", "k", "now")
	must(t, err)
	got, err := h.Result(ctx)
	must(t, err)
	if got != 41 {
		t.Fatalf("result %d, want 41", got)
	}
	must(t, e.Stop(ctx)) // every commit made, so every span ended

	spans := spansOf(exp)
	callerSpan := only(t, spans, "caller")
	for _, s := range spans {
		if s.Trace != callerSpan.Trace {
			t.Errorf("span %s is in trace %s, want the caller's %s", s.Name, s.Trace, callerSpan.Trace)
		}
	}
	start := only(t, spans, "tasker.start t/traced")
	runs := named(spans, "tasker.workflow t/traced")
	if len(runs) < 2 { // the sleep suspends it at least once
		t.Fatalf("%d runs of the workflow, want at least 2: %v", len(runs), spanNames(spans))
	}
	isRun := map[string]bool{}
	for _, r := range runs {
		isRun[r.ID] = true
		if r.Parent != start.ID {
			t.Errorf("workflow run's parent %s, want the start span %s", r.Parent, start.ID)
		}
		wantAttrs(t, r, map[string]string{"tasker.step": engine.DriverStep, "tasker.workflow": "t/traced", "tasker.workflow.version": "code"})
	}
	double := only(t, spans, "tasker.step double") // once: replays run nothing
	wantAttrs(t, double, map[string]string{"tasker.step.sequence": "1", "tasker.attempt": "1", "tasker.outcome": "complete", "tasker.workflow": "t/traced",
		"tasker.workflow.version": "code"})
	for _, name := range []string{"tasker.step double", "tasker.sleep", "tasker.wait_event go", "tasker.child t/leaf"} {
		if s := only(t, spans, name); !isRun[s.Parent] {
			t.Errorf("span %s's parent %s is not a run of its workflow", name, s.Parent)
		}
	}
	wantAttrs(t, only(t, spans, "tasker.sleep"), map[string]string{"tasker.step.sequence": "2", "tasker.workflow.version": "code"})
	// Each run that waits for the child starts it again, idempotently
	// (tasker.existing): the first start made it.
	var leafStart span
	for _, s := range named(spans, "tasker.start t/leaf") {
		if !isRun[s.Parent] {
			t.Errorf("child start's parent %s is not a run of its workflow", s.Parent)
		}
		if s.Attrs["tasker.existing"] == "false" {
			leafStart = s
		}
	}
	leafRuns := map[string]bool{}
	for _, r := range named(spans, "tasker.workflow t/leaf") {
		leafRuns[r.ID] = true
		if r.Parent != leafStart.ID {
			t.Errorf("child's run parent %s, want its start span %s", r.Parent, leafStart.ID)
		}
	}
	for _, name := range []string{"tasker.wait_event release", "tasker.step inc"} {
		if s := only(t, spans, name); !leafRuns[s.Parent] {
			t.Errorf("child's span %s has parent %s, not one of the child's runs", name, s.Parent)
		}
	}
	wantAttrs(t, only(t, spans, "tasker.task t/traced"), map[string]string{"tasker.outcome": "complete"})
	if task := only(t, spans, "tasker.task t/leaf"); task.Parent != leafStart.ID {
		t.Errorf("child's task span parent %s, want its start span %s", task.Parent, leafStart.ID)
	}
}

// TestTraceFailureAndCancel: a failed attempt's span says so with its
// error kind; the run span of a failed task and of a cancelled one carry
// the outcome.
func TestTraceFailureAndCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tp, exp := newRecorder(t)
	e := newEngine(t, engine.Config{TracerProvider: tp})
	must(t, e.HandleFunc("boom", func(*engine.StepContext) (any, error) { return nil, engine.Permanent(fmt.Errorf("no")) }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "boom", Steps: []engine.StepTemplate{{Name: "x", Handler: "boom"}}}))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "idle", Steps: []engine.StepTemplate{{Name: "y", Handler: "nobody"}}}))
	run(t, e)
	cctx, caller := tp.Tracer("test").Start(ctx, "caller")
	h, err := e.Start(cctx, "t/boom", nil)
	must(t, err)
	idle, err := e.Start(cctx, "t/idle", nil)
	must(t, err)
	caller.End()
	out, err := h.Wait(ctx)
	must(t, err)
	if out.State != store.TaskError {
		t.Fatalf("task %s, want error", out.State)
	}
	must(t, e.Cancel(ctx, idle.TaskID, "not needed"))
	must(t, e.Stop(ctx))
	spans := spansOf(exp)
	wantAttrs(t, only(t, spans, "tasker.step x"), map[string]string{"tasker.outcome": "permanent", "tasker.error.kind": "permanent"})
	wantAttrs(t, only(t, spans, "tasker.task t/boom"), map[string]string{"tasker.outcome": "error", "tasker.error.kind": "permanent"})
	wantAttrs(t, only(t, spans, "tasker.task t/idle"), map[string]string{"tasker.outcome": "cancelled"})
	for _, s := range exp.GetSpans() {
		if s.Name == "tasker.step x" && s.Status.Code.String() != "Error" {
			t.Errorf("failed attempt's status %v, want Error", s.Status)
		}
	}
}

// TestTracingOffStoresNothing: with no tracer provider set (the global
// no-op) a task stores no trace context.
func TestTracingOffStoresNothing(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, engine.Config{})
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "plain", Steps: []engine.StepTemplate{{Name: "x", Handler: "h"}}}))
	h, err := e.Start(ctx, "t/plain", nil)
	must(t, err)
	d, err := e.Store().GetTask(ctx, h.TaskID)
	must(t, err)
	if d.Task.TraceContext != "" {
		t.Fatalf("trace context %q stored with tracing off", d.Task.TraceContext)
	}
}

// TestTraceStartMany: the tasks of one StartMany share its span, under the
// caller's, and their attempts continue it.
func TestTraceStartMany(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tp, exp := newRecorder(t)
	e := newEngine(t, engine.Config{TracerProvider: tp})
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(t, e.Register(&engine.Template{Namespace: "t", Name: "many", Steps: []engine.StepTemplate{{Name: "x", Handler: "h"}}}))
	run(t, e)
	cctx, caller := tp.Tracer("test").Start(ctx, "caller")
	res, err := e.StartMany(cctx, []engine.StartRequest{{Workflow: "t/many", Input: map[string]int{"n": 1}}, {Workflow: "t/many", Input: map[string]int{"n": 2}}, {Workflow: "t/many", Input: map[string]int{"n": 3}}})
	must(t, err)
	caller.End()
	for _, r := range res {
		must(t, r.Err)
		if _, err := r.Handle.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	must(t, e.Stop(ctx))
	spans := spansOf(exp)
	start := only(t, spans, "tasker.start_many")
	if start.Parent != only(t, spans, "caller").ID {
		t.Errorf("start_many's parent %s, want the caller", start.Parent)
	}
	attempts := named(spans, "tasker.step x")
	if len(attempts) != 3 {
		t.Fatalf("%d attempts traced, want 3", len(attempts))
	}
	for _, a := range attempts {
		if a.Parent != start.ID || a.Trace != start.Trace {
			t.Errorf("attempt of task %s has parent %s, want the start_many span %s", a.Attrs["tasker.task.id"], a.Parent, start.ID)
		}
	}
}
