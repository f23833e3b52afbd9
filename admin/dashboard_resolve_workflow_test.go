package admin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/engine"
)

// A code-first workflow that failed its WithWorkflowTimeout has one Resolve
// form on its page, its driver's, which closes it with the workflow's
// return value, and its note says so. The page offered a form for its
// pending event wait instead, whose resolve sent the task back to run into
// its deadline again, and none for the driver; the note said only to
// start the workflow anew. A workflow still waiting has no driver form.
func TestDashboardTimedOutWorkflowOffersItsDriver(t *testing.T) {
	ctx := context.Background()
	_, clk, e := clockedEngine(t)
	if err := engine.RegisterWorkflow(e, "t/wait", func(w *engine.WorkflowContext, in int) (int, error) {
		return engine.WaitEvent[int](w, "go", 48*time.Hour)
	}); err != nil {
		t.Fatal(err)
	}
	late, err := engine.StartWorkflow[int, int](ctx, e, "t/wait", 1, engine.WithWorkflowTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	waiting, err := engine.StartWorkflow[int, int](ctx, e, "t/wait", 2)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("RunOnce ran %d drivers, %v; want both to reach their waits", n, err)
	}
	clk.Advance(2 * time.Minute)
	if _, err := e.Rescue(ctx); err != nil {
		t.Fatal(err)
	}
	handler, err := admin.Handler(admin.Config{Engine: e, AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	page := func(id int64) string {
		res, err := http.Get(fmt.Sprintf("%s/ui/tasks/%d", ts.URL, id))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET the page of task %d: %d, %v", id, res.StatusCode, err)
		}
		return string(body)
	}
	driverForm := fmt.Sprintf(`data-resolve="%s"`, engine.DriverStep)
	p := page(late.TaskID)
	if n := strings.Count(p, `data-resolve=`); n != 1 || !strings.Contains(p, driverForm) {
		t.Fatalf("the timed-out workflow's page has %d Resolve forms (driver's: %v), want its driver's only", n, strings.Contains(p, driverForm))
	}
	if !strings.Contains(p, "resolving its driver") {
		t.Errorf("the timed-out workflow's note does not say to resolve its driver")
	}
	if strings.Contains(page(waiting.TaskID), driverForm) {
		t.Fatalf("the waiting workflow's page offers to resolve its driver, which Resolve refuses")
	}
}
