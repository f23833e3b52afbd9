package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/testkit"
)

func noop(*engine.StepContext) (any, error) { return nil, nil }

// assertNothingWritten fails when the store holds any task or step.
func assertNothingWritten(t *testing.T, env *testkit.Env) {
	t.Helper()
	counts, err := env.Store.CountByState(context.Background())
	must(t, err)
	if len(counts.Tasks) != 0 || len(counts.Steps) != 0 {
		t.Fatalf("a refused call wrote rows: %+v", counts)
	}
}

func TestHandlerRegistrationMistakes(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	if err := env.HandleFunc("nil_func", nil); !errors.Is(err, engine.ErrInvalidTemplate) || !strings.Contains(err.Error(), `"nil_func"`) {
		t.Errorf("HandleFunc with a nil function: %v, want ErrInvalidTemplate naming the handler", err)
	}
	if err := env.Handle("nil_handler", nil); !errors.Is(err, engine.ErrInvalidTemplate) {
		t.Errorf("Handle with a nil handler: %v, want ErrInvalidTemplate", err)
	}
	var nilFunc engine.HandlerFunc
	if err := env.Handle("nil_typed", nilFunc); !errors.Is(err, engine.ErrInvalidTemplate) {
		t.Errorf("Handle with a nil HandlerFunc: %v, want ErrInvalidTemplate", err)
	}
	must(t, env.HandleFunc("charge", noop))
	err := env.HandleFunc("charge", noop)
	if !errors.Is(err, engine.ErrDuplicate) || !strings.Contains(err.Error(), `"charge"`) {
		t.Errorf("second handler under one name: %v, want ErrDuplicate naming it", err)
	}
	if err := env.HandleFunc(engine.WorkflowHandlerPrefix+"x/y", noop); !errors.Is(err, engine.ErrInvalidTemplate) {
		t.Errorf("a handler under the workflow prefix: %v, want ErrInvalidTemplate", err)
	}
	for _, name := range []string{"nil_func", "nil_handler", "nil_typed", engine.WorkflowHandlerPrefix + "x/y"} {
		for _, h := range env.Handlers() {
			if h == name {
				t.Errorf("refused handler %q was registered", name)
			}
		}
	}
	must(t, env.Handle("a", engine.HandlerFunc(noop)))
	if err := env.Handle("a", engine.HandlerFunc(noop)); !errors.Is(err, engine.ErrDuplicate) {
		t.Errorf("Handle twice: %v, want ErrDuplicate", err)
	}
}

func TestTemplateRegisteredTwice(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("ok", noop))
	must(t, env.HandleFunc("other", noop))
	tmpl := func(handler string, desc string) *engine.Template {
		return &engine.Template{Namespace: "shop", Name: "order", Version: "1", Description: desc,
			InputSchema: []byte(`{"type": "object"}`),
			Steps:       []engine.StepTemplate{{Name: "a", Handler: "ok"}, {Name: "b", Handler: handler, DependsOn: []string{"a"}, Config: map[string]any{"x": 1}}}}
	}
	must(t, env.Register(tmpl("ok", "first")))
	// The same definition again (a new value, another description, the
	// schema spelled differently) is allowed and changes nothing.
	same := tmpl("ok", "second")
	same.InputSchema = []byte(`{ "type" : "object" }`)
	if err := env.Register(same); err != nil {
		t.Fatalf("identical re-registration: %v", err)
	}
	err := env.Register(tmpl("other", "changed"))
	if !errors.Is(err, engine.ErrDuplicate) || !strings.Contains(err.Error(), "shop/order@1") {
		t.Fatalf("same version with another definition: %v, want ErrDuplicate naming shop/order@1", err)
	}
	// The first definition is the one that runs.
	h, err := env.Start(context.Background(), "shop/order@1", nil)
	must(t, err)
	d := env.Task(h.TaskID)
	if s := d.Step("b"); s == nil || s.Handler != "ok" {
		t.Fatalf("step b = %+v, want the first registration's handler", s)
	}
	// Another version is a new registration.
	v2 := tmpl("other", "")
	v2.Version = "2"
	must(t, env.Register(v2))
}

// Register keeps a copy: the next version built in the same value (a
// usual way to write versions) does not change the one registered. It
// kept the caller's pointer, so Start("t/v@1.0.0") created a task of
// version 2.0.0 with its steps and config, and a change Validate would
// refuse (an empty handler) reached the store unchecked.
func TestRegisterKeepsACopy(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	var seen []string
	must(t, env.HandleFunc("h", func(sc *engine.StepContext) (any, error) {
		var cfg struct{ URL string }
		must(t, sc.Config(&cfg))
		seen = append(seen, sc.Step+" "+cfg.URL)
		return nil, nil
	}))
	cfg := map[string]any{"url": "https://v1"}
	tpl := &engine.Template{Namespace: "t", Name: "v", Version: "1.0.0", InputSchema: []byte(`{"type": "object"}`),
		Steps: []engine.StepTemplate{{Name: "a", Handler: "h", Config: cfg}}}
	must(t, env.Register(tpl))
	tpl.Version = "2.0.0"
	tpl.Steps[0].DependsOn = append(tpl.Steps[0].DependsOn, "b")
	tpl.Steps = append(tpl.Steps, engine.StepTemplate{Name: "b", Handler: "h"})
	cfg["url"] = "https://v2"
	tpl.InputSchema[2] = 'X' // {"Xype": …}: another schema
	must(t, env.Register(tpl))
	tpl.Steps[1].Handler = "" // after both: Validate would refuse it

	h, err := env.Start(context.Background(), "t/v@1.0.0", map[string]int{"n": 1})
	must(t, err)
	env.RunUntilDone(h.TaskID)
	d := env.Task(h.TaskID)
	if d.Task.Version != "1.0.0" || len(d.Steps) != 1 || len(seen) != 1 || seen[0] != "a https://v1" {
		t.Fatalf("t/v@1.0.0 ran as version %s with %d steps, handlers saw %q; want 1.0.0, step a with its config as registered", d.Task.Version, len(d.Steps), seen)
	}
	h2, err := env.Start(context.Background(), "t/v@2.0.0", map[string]int{"n": 2})
	must(t, err)
	if s := env.Task(h2.TaskID).Step("b"); s == nil || s.Handler != "h" {
		t.Fatalf("t/v@2.0.0 step b = %+v, want handler h as registered", s)
	}
}

func TestWorkflowAndTemplateNamesDoNotClash(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("ok", noop))
	wf := func(*engine.WorkflowContext, int) (int, error) { return 0, nil }

	must(t, env.Register(&engine.Template{Namespace: "shop", Name: "dag", Steps: []engine.StepTemplate{{Name: "a", Handler: "ok"}}}))
	if err := engine.RegisterWorkflow(env.Engine, "shop/dag", wf); !errors.Is(err, engine.ErrDuplicate) || !strings.Contains(err.Error(), "shop/dag") {
		t.Errorf("workflow under a template's name: %v, want ErrDuplicate naming it", err)
	}

	must(t, engine.RegisterWorkflow(env.Engine, "shop/code", wf))
	if err := env.Register(&engine.Template{Namespace: "shop", Name: "code", Steps: []engine.StepTemplate{{Name: "a", Handler: "ok"}}}); !errors.Is(err, engine.ErrDuplicate) || !strings.Contains(err.Error(), "shop/code") {
		t.Errorf("template under a workflow's name: %v, want ErrDuplicate naming it", err)
	}
	if got := env.Templates(); len(got) != 1 {
		t.Errorf("templates = %v, want only shop/dag", got)
	}
	if err := engine.RegisterWorkflow(env.Engine, "shop/code", wf); !errors.Is(err, engine.ErrDuplicate) {
		t.Errorf("workflow registered twice: %v, want ErrDuplicate", err)
	}
	if err := engine.RegisterWorkflow[int, int](env.Engine, "shop/nilfn", nil); !errors.Is(err, engine.ErrInvalidTemplate) {
		t.Errorf("nil workflow function: %v, want ErrInvalidTemplate", err)
	}
}

func TestStartWorkflowWithOtherTypes(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, engine.RegisterWorkflow(env.Engine, "billing/renew", func(_ *engine.WorkflowContext, in renewIn) (receipt, error) {
		return receipt{Total: in.Amount}, nil
	}))
	ctx := context.Background()
	_, err := engine.StartWorkflow[int, receipt](ctx, env.Engine, "billing/renew", 5)
	if !errors.Is(err, engine.ErrTypeMismatch) || !strings.Contains(err.Error(), "input type") || !strings.Contains(err.Error(), "renewIn") {
		t.Errorf("wrong input type: %v, want ErrTypeMismatch naming both types", err)
	}
	_, err = engine.StartWorkflow[renewIn, string](ctx, env.Engine, "billing/renew", renewIn{Amount: 1})
	if !errors.Is(err, engine.ErrTypeMismatch) || !strings.Contains(err.Error(), "result type") {
		t.Errorf("wrong result type: %v, want ErrTypeMismatch", err)
	}
	assertNothingWritten(t, env)
	h, err := engine.StartWorkflow[renewIn, receipt](ctx, env.Engine, "billing/renew", renewIn{Amount: 7})
	must(t, err)
	env.RunUntilDone(h.TaskID)
	if r, err := h.Result(ctx); err != nil || r.Total != 7 {
		t.Fatalf("result = %+v, %v", r, err)
	}
}

func TestNamesAreCheckedAtRegistration(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("ok", noop))
	huge := strings.Repeat("n", 10_000)
	check := func(what string, err error, wants ...string) {
		t.Helper()
		if !errors.Is(err, engine.ErrInvalidTemplate) {
			t.Errorf("%s: %v, want ErrInvalidTemplate", what, err)
			return
		}
		msg := err.Error()
		if len(msg) > 300 {
			t.Errorf("%s: the error repeats the value (%d bytes): %.200s…", what, len(msg), msg)
		}
		if strings.Contains(msg, "identity_key") {
			t.Errorf("%s: the error names an internal field: %s", what, msg)
		}
		for _, w := range wants {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q does not mention %q", what, msg, w)
			}
		}
	}
	step := []engine.StepTemplate{{Name: "a", Handler: "ok"}}
	check("long name", env.Register(&engine.Template{Namespace: "shop", Name: huge, Steps: step}),
		"name", `"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"…`, "10000 bytes", "255")
	check("NUL in namespace", env.Register(&engine.Template{Namespace: "sh\x00op", Name: "x", Steps: step}),
		"namespace", `"sh\x00op"`, "NUL")
	check("long version", env.Register(&engine.Template{Namespace: "shop", Name: "x", Version: huge, Steps: step}), "version")
	check("long step name", env.Register(&engine.Template{Namespace: "shop", Name: "x", Steps: []engine.StepTemplate{{Name: huge, Handler: "ok"}}}), "step name")
	check("bad UTF-8 step name", env.Register(&engine.Template{Namespace: "shop", Name: "x", Steps: []engine.StepTemplate{{Name: "a\xff", Handler: "ok"}}}), "UTF-8")
	check("long handler", env.Register(&engine.Template{Namespace: "shop", Name: "x", Steps: []engine.StepTemplate{{Name: "a", Handler: huge}}}), "handler")
	check("long handler name", env.HandleFunc(huge, noop), "handler name")
	check("NUL in handler name", env.HandleFunc("a\x00b", noop), "NUL")
	wf := func(*engine.WorkflowContext, int) (int, error) { return 0, nil }
	check("long workflow name", engine.RegisterWorkflow(env.Engine, "w/"+huge, wf), "name")
	// A workflow's driver handler is "workflow:" + its name: that must fit too.
	check("workflow name too long for its driver", engine.RegisterWorkflow(env.Engine, strings.Repeat("w", 120)+"/"+strings.Repeat("x", 130), wf), "251 bytes", "246")
	if got := env.Templates(); len(got) != 0 {
		t.Fatalf("refused templates were registered: %v", got)
	}
}

// TestLongNamesStillStart: names each within the limit make identities
// longer than the store's limit; they are hashed, so Start works, and
// stays idempotent.
func TestLongNamesStillStart(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("ok", noop))
	ns, name := strings.Repeat("s", store.MaxNameLen), strings.Repeat("n", store.MaxNameLen)
	must(t, env.Register(&engine.Template{Namespace: ns, Name: name, Version: strings.Repeat("v", store.MaxNameLen),
		Steps: []engine.StepTemplate{{Name: "a", Handler: "ok"}}}))
	ctx := context.Background()
	h1, err := env.Start(ctx, ns+"/"+name, map[string]int{"n": 1})
	must(t, err)
	h2, err := env.Start(ctx, ns+"/"+name, map[string]int{"n": 1})
	must(t, err)
	if !h2.Existing || h2.TaskID != h1.TaskID {
		t.Fatalf("the same input started twice: %+v %+v", h1, h2)
	}
	longKey := strings.Repeat("k", 5000)
	k1, err := env.Start(ctx, ns+"/"+name, map[string]int{"n": 2}, engine.WithIdempotencyKey(longKey))
	must(t, err)
	k2, err := env.Start(ctx, ns+"/"+name, map[string]int{"n": 2}, engine.WithIdempotencyKey(longKey))
	must(t, err)
	other, err := env.Start(ctx, ns+"/"+name, map[string]int{"n": 2}, engine.WithIdempotencyKey(longKey+"!"))
	must(t, err)
	if !k2.Existing || k2.TaskID != k1.TaskID || other.Existing || other.TaskID == k1.TaskID {
		t.Fatalf("long idempotency keys: %+v %+v %+v", k1, k2, other)
	}
	nul, err := env.Start(ctx, ns+"/"+name, map[string]int{"n": 3}, engine.WithIdempotencyKey("a\x00b"))
	must(t, err)
	if len(env.Task(nul.TaskID).Task.IdentityKey) > store.MaxNameLen {
		t.Fatal("identity over the limit")
	}

	// A code-first workflow whose name uses most of its limit.
	wfName := strings.Repeat("w", 120) + "/" + strings.Repeat("x", 125)
	must(t, engine.RegisterWorkflow(env.Engine, wfName, func(_ *engine.WorkflowContext, n int) (int, error) { return n * 2, nil }))
	wh, err := engine.StartWorkflow[int, int](ctx, env.Engine, wfName, 21)
	must(t, err)
	env.RunUntilDone(wh.TaskID)
	if v, err := wh.Result(ctx); err != nil || v != 42 {
		t.Fatalf("workflow result = %d, %v", v, err)
	}
}

func TestUnknownNamesAreTruncatedInErrors(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	huge := "a/" + strings.Repeat("b", 10_000)
	_, err := env.Start(context.Background(), huge, nil)
	if !errors.Is(err, engine.ErrUnknownTemplate) || len(err.Error()) > 200 {
		t.Errorf("Start of an unknown huge name: %.300v", err)
	}
	_, err = engine.StartWorkflow[int, int](context.Background(), env.Engine, huge, 1)
	if !errors.Is(err, engine.ErrUnknownWorkflow) || len(err.Error()) > 200 {
		t.Errorf("StartWorkflow of an unknown huge name: %.300v", err)
	}
}

// A start that names a workflow not registered says what was meant when it
// can: a registered name one or two typing slips away ("shop/ordr",
// "shop.order"), or the same name registered as the other kind (Start of a
// code-first workflow, StartWorkflow of a DAG template). Schedule goes
// through the same checks.
func TestUnknownWorkflowNamesSuggest(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("ok", noop))
	must(t, env.Register(&engine.Template{Namespace: "shop", Name: "order", Steps: []engine.StepTemplate{{Name: "a", Handler: "ok"}}}))
	must(t, env.Register(&engine.Template{Namespace: "shop", Name: "order", Version: "2.0.0", Steps: []engine.StepTemplate{{Name: "a", Handler: "ok"}}}))
	must(t, engine.RegisterWorkflow(env.Engine, "billing/renew", func(w *engine.WorkflowContext, in int) (int, error) { return in, nil }))
	ctx := context.Background()
	for _, c := range []struct {
		name string
		err  error
		want string
		call func(string) error
	}{
		{"shop/ordr", engine.ErrUnknownTemplate, `did you mean "shop/order"?`, func(n string) error { _, err := env.Start(ctx, n, nil); return err }},
		{"shop.order", engine.ErrUnknownTemplate, `did you mean "shop/order"?`, func(n string) error { _, err := env.Start(ctx, n, nil); return err }},
		{"billing/renew", engine.ErrUnknownTemplate, `"billing/renew" is a code-first workflow: start it with StartWorkflow`, func(n string) error { _, err := env.Start(ctx, n, 1); return err }},
		{"billing/renw", engine.ErrUnknownWorkflow, `did you mean "billing/renew"?`, func(n string) error { _, err := engine.StartWorkflow[int, int](ctx, env.Engine, n, 1); return err }},
		{"shop/order", engine.ErrUnknownWorkflow, `"shop/order" is a DAG template: start it with Start`, func(n string) error { _, err := engine.StartWorkflow[int, int](ctx, env.Engine, n, 1); return err }},
		{"shop/ordr", engine.ErrUnknownTemplate, `did you mean "shop/order"?`, func(n string) error {
			_, err := env.Schedule(ctx, "s", "@every 10s", n, nil, engine.ScheduleOptions{})
			return err
		}},
		// A version not registered names those that are: the name is
		// right, so no slip is suggested (the old message named neither).
		{"shop/order@1.0.0", engine.ErrUnknownTemplate, `shop/order is registered in this process in versions "0.0.0", "2.0.0" (leave the version out`, func(n string) error { _, err := env.Start(ctx, n, nil); return err }},
	} {
		err := c.call(c.name)
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %v saying %s", c.name, err, c.err, c.want)
		}
	}
	_, err := env.Start(ctx, "crm/contact", nil)
	if !errors.Is(err, engine.ErrUnknownTemplate) || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("a name close to nothing: %v, want ErrUnknownTemplate and no suggestion", err)
	}
	assertNothingWritten(t, env)
}

func TestSchemaErrorsNameTheWorkflow(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("ok", noop))
	must(t, env.Register(&engine.Template{Namespace: "shop", Name: "order", Version: "1.0.0",
		InputSchema: []byte(`{"type":"object","required":["order_id"],"properties":{"order_id":{"type":"integer"},"lines":{"type":"array","items":{"type":"string"}}}}`),
		Steps:       []engine.StepTemplate{{Name: "a", Handler: "ok"}}}))
	_, err := env.Start(context.Background(), "shop/order", map[string]any{"order_id": "seven", "lines": []any{"x", 2}})
	if !errors.Is(err, engine.ErrInvalidInput) {
		t.Fatalf("start: %v, want ErrInvalidInput", err)
	}
	msg := err.Error()
	for _, w := range []string{"shop/order@1.0.0", `"/order_id"`, `"/lines/1"`} {
		if !strings.Contains(msg, w) {
			t.Errorf("%q does not mention %s", msg, w)
		}
	}
	if strings.Contains(msg, "file://") || strings.Contains(msg, "input.json") {
		t.Errorf("%q names a file that does not exist", msg)
	}
	// A schema that does not compile names the workflow too.
	err = env.Register(&engine.Template{Namespace: "shop", Name: "bad", Version: "2", InputSchema: []byte(`{"$ref": "#/nowhere"}`),
		Steps: []engine.StepTemplate{{Name: "a", Handler: "ok"}}})
	if !errors.Is(err, engine.ErrInvalidTemplate) || strings.Contains(err.Error(), "file://") || !strings.Contains(err.Error(), "shop/bad@2") {
		t.Errorf("bad schema: %v", err)
	}
}

// A version registered again with other task settings (queue, priority,
// concurrency, a rate limit's numbers, retention) is another definition:
// the first was kept without a word, so the change did nothing.
func TestTemplateRegisteredTwiceWithOtherSettings(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("ok", noop))
	base := func() *engine.Template {
		return &engine.Template{Namespace: "shop", Name: "order", Version: "1",
			RateLimits: map[string]engine.RateLimit{"pay": {PerSecond: 5, Burst: 1}},
			Steps:      []engine.StepTemplate{{Name: "a", Handler: "ok", DependentSystem: "pay"}}}
	}
	must(t, env.Register(base()))
	for what, change := range map[string]func(*engine.Template){
		"queue":       func(t *engine.Template) { t.Queue = "orders" },
		"priority":    func(t *engine.Template) { t.Priority = 5 },
		"concurrency": func(t *engine.Template) { t.Concurrency = &engine.Concurrency{Max: 1} },
		"rate limit":  func(t *engine.Template) { t.RateLimits["pay"] = engine.RateLimit{PerSecond: 50, Burst: 1} },
		"retention":   func(t *engine.Template) { t.Retention = time.Hour },
	} {
		tpl := base()
		change(tpl)
		if err := env.Register(tpl); !errors.Is(err, engine.ErrDuplicate) || !strings.Contains(err.Error(), "shop/order@1") {
			t.Errorf("same version with another %s: %v, want ErrDuplicate naming shop/order@1", what, err)
		}
	}
	must(t, env.Register(base())) // the same again is still allowed
}

// Handler and Template read what is registered; the template is a copy.
func TestHandlerAndTemplateLookups(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("charge", noop))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "one", Version: "1", Steps: []engine.StepTemplate{{Name: "charge", Handler: "charge", RetryLimit: 5}}}))
	if _, ok := env.Handler("charge"); !ok {
		t.Errorf(`Handler("charge"): not found`)
	}
	if h, ok := env.Handler("chrage"); ok || h != nil {
		t.Errorf(`Handler("chrage") = %v, %v; want nil, false`, h, ok)
	}
	for _, name := range []string{"t/one@1", "t/one"} {
		tpl, ok := env.Template(name)
		if !ok || tpl.Version != "1" || len(tpl.Steps) != 1 || tpl.Steps[0].RetryLimit != 5 {
			t.Fatalf("Template(%q) = %+v, %v; want version 1 with step charge (retry limit 5)", name, tpl, ok)
		}
		tpl.Steps[0].Handler = "changed"
	}
	if tpl, _ := env.Template("t/one@1"); tpl.Steps[0].Handler != "charge" {
		t.Errorf("changing a copy changed the registered template: handler %q", tpl.Steps[0].Handler)
	}
	if _, ok := env.Template("t/two"); ok {
		t.Errorf(`Template("t/two"): found, want not`)
	}
}
