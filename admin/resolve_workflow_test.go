package admin_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
