package admin_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"

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
