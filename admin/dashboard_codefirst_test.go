package admin_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// TestDashboardCodeFirstStepNames: a code-first workflow's durable steps
// are named on its page as the code names them, after their sequence
// ("2. charge"), in the steps table, the graph, Last errors and the
// timeline. They showed the row's name, charge#2 ("2. charge#2" in the
// steps table, the sequence twice; "charge#" over "2" in the timeline),
// while the task's error said "durable step charge (sequence 2)".
func TestDashboardCodeFirstStepNames(t *testing.T) {
	tab := browser(t)
	_, e := openEngine(t, "probe.db")
	ctx := context.Background()
	if err := engine.RegisterWorkflow(e, "shop/code", func(w *engine.WorkflowContext, _ string) (string, error) {
		a, err := engine.Step(w, "reserve", func(context.Context) (string, error) { return "ok", nil })
		if err != nil {
			return "", err
		}
		_, err = engine.Step(w, "charge", func(context.Context) (string, error) { return "", engine.Permanent(errors.New("declined")) }, engine.WithStepNoRetry())
		return a, err
	}); err != nil {
		t.Fatal(err)
	}
	h, err := engine.StartWorkflow[string, string](ctx, e, "shop/code", "x")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := e.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	handler, _ := admin.Handler(admin.Config{Engine: e, AllowAnonymous: true})
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	c := tab()
	do(t, c, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", ts.URL, h.TaskID)), chromedp.WaitVisible(chromedp.CSS(".timeline")))
	screenshot(t, c, "code-first")
	got := eval[map[string][]string](t, c, `({
		steps: [...document.querySelectorAll("[data-step-row] td:first-child")].map(e => e.textContent),
		graph: [...document.querySelectorAll("#dag .node text")].map(e => e.textContent),
		errors: [...document.querySelectorAll(".lasterror strong")].map(e => e.textContent),
		timeline: [...new Set([...document.querySelectorAll(".timeline td:nth-child(2)")].map(e => e.textContent))],
	})`)
	want := map[string][]string{"steps": {"workflow", "1. reserve", "2. charge"}, "graph": {"workflow", "1. reserve", "2. charge"},
		"errors": {"workflow", "2. charge"}, "timeline": {"task", "workflow", "1. reserve", "2. charge"}}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("the %s name the steps %q, want %q", k, got[k], w)
		}
	}
	// The resolve form still names the step's row, which Resolve takes.
	eval[bool](t, c, `(window.confirm = () => true, true)`)
	do(t, c, chromedp.Click(chromedp.CSS(`[data-resolve="charge#2"]`)))
	waitAcross(t, c, `document.querySelector('[data-step-state="charge#2"]')?.textContent === "resolved_manually"`, "resolving charge did not resolve it")
}

// TestDashboardChildLinksToItsParent: a child workflow's page says whose
// child it is, with a link to the parent's page. It showed nothing of
// it: the task looked started on its own, and the parent that waits for
// it (or cancels it) was not to be found from it.
func TestDashboardChildLinksToItsParent(t *testing.T) {
	tab := browser(t)
	st, e := openEngine(t, "child.db")
	ctx := context.Background()
	if err := engine.RegisterWorkflow(e, "shop/child", func(*engine.WorkflowContext, string) (string, error) {
		return "", engine.Permanent(errors.New("out of stock"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := engine.RegisterWorkflow(e, "shop/parent", func(w *engine.WorkflowContext, in string) (string, error) {
		return engine.Child[string](w, "shop/child", in)
	}); err != nil {
		t.Fatal(err)
	}
	h, err := engine.StartWorkflow[string, string](ctx, e, "shop/parent", "x")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := e.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	page, err := st.ListTasks(ctx, &store.ListTasksParams{Name: "child", Namespace: "shop"})
	if err != nil || len(page.Tasks) != 1 {
		t.Fatalf("the child task: %v, %v", page, err)
	}
	child := page.Tasks[0].ID
	handler, _ := admin.Handler(admin.Config{Engine: e, AllowAnonymous: true})
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	c := tab()
	do(t, c, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", ts.URL, child)), chromedp.WaitVisible(chromedp.CSS(".summary")))
	screenshot(t, c, "child-task")
	if got, want := eval[string](t, c, `document.querySelector(".summary a#parent")?.href ?? ""`), fmt.Sprintf("%s/ui/tasks/%d", ts.URL, h.TaskID); got != want {
		t.Errorf("the child task's page links to its parent at %q, want %s", got, want)
	}
}

// TestDashboardSendEvent: an operator sends a waiting workflow its event
// from the task's page (name, key, payload as JSON), as POST
// …/events does; a payload that is not JSON is refused on the page, the
// fields as typed; the same key again is said to change nothing; a
// viewer has no form. The API could send events, the dashboard could not.
func TestDashboardSendEvent(t *testing.T) {
	tab := browser(t)
	st, e := openEngine(t, "events.db")
	ctx := context.Background()
	if err := engine.RegisterWorkflow(e, "shop/approve", func(w *engine.WorkflowContext, _ string) (string, error) {
		v, err := engine.WaitEvent[map[string]string](w, "approval", time.Hour)
		return v["by"], err
	}); err != nil {
		t.Fatal(err)
	}
	h, err := engine.StartWorkflow[string, string](ctx, e, "shop/approve", "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	operator, _, err := admin.CreateToken(ctx, st, "ops", store.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	viewer, _, err := admin.CreateToken(ctx, st, "dana", store.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	handler, err := admin.Handler(admin.Config{Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	page := fmt.Sprintf("%s/ui/tasks/%d", ts.URL, h.TaskID)

	v := tab()
	signIn(t, v, ts.URL+"/ui", viewer)
	do(t, v, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(".summary")))
	if eval[bool](t, v, `document.querySelector("#send-event") !== null`) {
		t.Error("a viewer is shown the send-event form")
	}

	c := tab()
	signIn(t, c, ts.URL+"/ui", operator)
	do(t, c, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#send-event")))
	fields := `[...document.querySelectorAll("form.event input:not([type=hidden])")].map(e => e.value)`
	do(t, c, chromedp.SendKeys(chromedp.CSS(`form.event input[name="name"]`), "approval"), chromedp.SendKeys(chromedp.CSS(`form.event input[name="key"]`), "ticket-7"),
		chromedp.SendKeys(chromedp.CSS(`form.event input[name="payload"]`), `{"by": nope}`), chromedp.Click(chromedp.CSS("#send-event")))
	waitAcross(t, c, `document.querySelector("#error") !== null`, "the payload that is not JSON was not refused")
	screenshot(t, c, "send-event-refused")
	if got, want := eval[[]string](t, c, fields), []string{"approval", "ticket-7", `{"by": nope}`}; !slices.Equal(got, want) {
		t.Errorf("after the refusal the form holds %q, want %q", got, want)
	}
	if msg := eval[string](t, c, `document.querySelector("#error").textContent`); !strings.Contains(msg, "payload") {
		t.Errorf("the refusal says %q; want it to name the payload", msg)
	}
	do(t, c, chromedp.SetValue(chromedp.CSS(`form.event input[name="payload"]`), `{"by": "ops"}`), chromedp.Click(chromedp.CSS("#send-event")))
	waitAcross(t, c, `document.querySelector("#sent") !== null`, "the event was not said sent")
	screenshot(t, c, "send-event-sent")
	if got := eval[string](t, c, `document.querySelector("#sent").textContent`); got != `Event "approval" sent.` {
		t.Errorf("after sending the page says %q", got)
	}
	// The form a page drew before the workflow finished (this one's).
	csrf := eval[string](t, c, `document.querySelector('form.event input[name="csrf"]')?.value ?? ""`)
	if _, err := e.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := taskState(t, st, h.TaskID); got != store.TaskComplete {
		t.Fatalf("the workflow is %s after its event was sent, want complete", got)
	}
	if got, err := h.Result(ctx); err != nil || got != "ops" {
		t.Fatalf("the workflow's result is %q (%v), want the event's payload's \"ops\"", got, err)
	}
	// A complete task takes no new event: no form. The same key again
	// (from a page drawn before it finished) changes nothing, and the
	// page says so.
	do(t, c, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(".summary")))
	if eval[bool](t, c, `document.querySelector("#send-event") !== null`) {
		t.Error("a complete task's page has the send-event form")
	}
	dup := eval[[]string](t, c, fmt.Sprintf(`fetch("tasks/%d/events", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
		body: new URLSearchParams({csrf: %q, name: "approval", key: "ticket-7", payload: ""})}).then(async r => [r.url, await r.text()])`, h.TaskID, csrf))
	if !strings.Contains(dup[1], `id="sent"`) || !strings.Contains(dup[1], "was sent before with key ticket-7: nothing changed") {
		t.Errorf("sending the same key again answered %s:\n%.2000s", dup[0], dup[1])
	}
}

// TestDashboardFinishedTaskOffersNoResolve: a finished task's failed
// step (a code-first workflow's durable step whose failure the workflow
// handled, then completed) has no Resolve form. It had one, and the
// resolve was answered 409 with the store's "UNIQUE constraint failed".
func TestDashboardFinishedTaskOffersNoResolve(t *testing.T) {
	tab := browser(t)
	st, e := openEngine(t, "handled.db")
	ctx := context.Background()
	if err := engine.RegisterWorkflow(e, "shop/handled", func(w *engine.WorkflowContext, _ string) (string, error) {
		_, err := engine.Step(w, "charge", func(context.Context) (string, error) { return "", engine.Permanent(errors.New("declined")) }, engine.WithStepNoRetry())
		return "handled: " + err.Error(), nil
	}); err != nil {
		t.Fatal(err)
	}
	h, err := engine.StartWorkflow[string, string](ctx, e, "shop/handled", "x")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := e.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	d, err := st.GetTask(ctx, h.TaskID)
	if err != nil || d.Task.State != store.TaskComplete || d.Step("charge#1") == nil || d.Step("charge#1").State != store.StepError {
		t.Fatalf("the workflow: %+v, %v; want it complete with its step charge#1 in error", d, err)
	}
	handler, _ := admin.Handler(admin.Config{Engine: e, AllowAnonymous: true})
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	c := tab()
	do(t, c, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", ts.URL, h.TaskID)), chromedp.WaitVisible(chromedp.CSS(`[data-step-state="charge#1"]`)))
	screenshot(t, c, "handled-failure")
	if n := eval[int](t, c, `document.querySelectorAll("[data-resolve]").length`); n != 0 {
		t.Errorf("the complete task's page has %d Resolve forms, want none", n)
	}
}
