package admin_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// TestResolveRouteClosesAFailedWorkflow: POST
// /api/tasks/{id}/steps/workflow/resolve on a code-first workflow in error
// closes it with the results as its return value (Engine.Resolve of its
// DriverStep); results its result type cannot hold are refused 400 and
// change nothing. The route answered 409: the driver was not resolved.
func TestResolveRouteClosesAFailedWorkflow(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	if err := engine.RegisterWorkflow(v.e, "shop/fails", func(*engine.WorkflowContext, int) (int, error) {
		return 0, engine.Permanent(errors.New("no"))
	}); err != nil {
		t.Fatal(err)
	}
	h, err := engine.StartWorkflow[int, int](ctx, v.e, "shop/fails", 1)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := v.e.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce ran %d attempts, %v; want the driver's one", n, err)
	}
	path := fmt.Sprintf("/api/tasks/%d/steps/%s/resolve", h.TaskID, engine.DriverStep)
	if code, out := v.do("POST", path, op, `{"results":"seven"}`); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), "int") {
		t.Fatalf("POST %s with a string: %d %v, want 400 naming the result type int", path, code, out)
	}
	if code, out := v.do("POST", path, op, `{"results":7}`); code >= 300 {
		t.Fatalf("POST %s: %d %v, want success", path, code, out)
	}
	if got, err := h.Result(ctx); err != nil || got != 7 {
		t.Fatalf("Result after the route's resolve = %d, %v; want 7", got, err)
	}
	if d, err := v.st.GetTask(ctx, h.TaskID); err != nil || d.Task.State != store.TaskResolvedManually {
		t.Fatalf("task after the resolve: %v; want resolved_manually", err)
	}
}

// A failed workflow's driver resolved through the API without results (no
// body, or no "results") is refused 400 naming them, and changes nothing:
// they are the workflow's return value, and null was recorded as it, the
// task closed with a zero result no one gave. `tasker tasks resolve`
// refuses it too. Results given as null are a value, and close it.
func TestResolveRouteNeedsADriversResults(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	if err := engine.RegisterWorkflow(v.e, "shop/fails", func(*engine.WorkflowContext, int) (*int, error) {
		return nil, engine.Permanent(errors.New("no"))
	}); err != nil {
		t.Fatal(err)
	}
	h, err := engine.StartWorkflow[int, *int](ctx, v.e, "shop/fails", 1)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := v.e.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce ran %d attempts, %v; want the driver's one", n, err)
	}
	path := fmt.Sprintf("/api/tasks/%d/steps/%s/resolve", h.TaskID, engine.DriverStep)
	for _, body := range []string{"", `{}`} {
		if code, out := v.do("POST", path, op, body); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), "results") {
			t.Fatalf("POST %s with body %q: %d %v, want 400 naming the results", path, body, code, out)
		}
		if d, err := v.st.GetTask(ctx, h.TaskID); err != nil || d.Task.State != store.TaskError {
			t.Fatalf("task after the refused resolve: %v %v; want error (unchanged)", d.Task.State, err)
		}
	}
	// The dashboard's form, its results field left empty, alike.
	task := fmt.Sprintf("/ui/tasks/%d", h.TaskID)
	_, page := v.page("GET", task, op, nil)
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the task page:\n%s", page)
	}
	form := url.Values{"csrf": {m[1]}, "step": {engine.DriverStep}, "results": {" "}}
	if code, body := v.page("POST", task+"/resolve", op, strings.NewReader(form.Encode())); code != http.StatusBadRequest || !strings.Contains(body, "return value") {
		t.Fatalf("the form with empty results: %d, want 400 naming the return value:\n%s", code, body)
	}
	if d, err := v.st.GetTask(ctx, h.TaskID); err != nil || d.Task.State != store.TaskError {
		t.Fatalf("task after the refused form: %v %v; want error (unchanged)", d.Task.State, err)
	}
	if code, out := v.do("POST", path, op, `{"results":null}`); code >= 300 {
		t.Fatalf("POST %s with null results: %d %v, want success", path, code, out)
	}
	if got, err := h.Result(ctx); err != nil || got != nil {
		t.Fatalf("Result after the resolve = %v, %v; want nil", got, err)
	}
}

// A failed code-first workflow's page offers a Resolve form for the
// durable step it failed on and its driver, not for a failure it caught and
// went on from, which Engine.Resolve refuses (the resolved result would
// stand where the workflow saw the failure), nor for one of a workflow
// still running. Each failed durable step had a form.
func TestDashboardOffersResolveOfTheStepAWorkflowFailedOn(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	if err := engine.RegisterWorkflow(v.e, "shop/twice", func(wctx *engine.WorkflowContext, _ int) (int, error) {
		if _, err := engine.Step(wctx, "call", func(context.Context) (int, error) { return 0, engine.Permanent(errors.New("first fails")) }); err == nil {
			return 0, nil
		}
		return engine.Step(wctx, "call", func(context.Context) (int, error) { return 0, engine.Permanent(errors.New("second fails")) })
	}); err != nil {
		t.Fatal(err)
	}
	h, err := engine.StartWorkflow[int, int](ctx, v.e, "shop/twice", 1)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := v.e.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := v.st.GetTask(ctx, h.TaskID); err != nil || d.Task.State != store.TaskError {
		t.Fatalf("the workflow did not fail: %v", err)
	}
	_, page := v.page("GET", fmt.Sprintf("/ui/tasks/%d", h.TaskID), op, nil)
	forms := regexp.MustCompile(`data-resolve="([^"]*)"`).FindAllStringSubmatch(page, -1)
	var got []string
	for _, f := range forms {
		got = append(got, f[1])
	}
	if len(got) != 2 || !slices.Contains(got, "call#2") || !slices.Contains(got, engine.DriverStep) {
		t.Fatalf("Resolve forms for %v; want call#2 (the failure returned) and %s", got, engine.DriverStep)
	}
}
