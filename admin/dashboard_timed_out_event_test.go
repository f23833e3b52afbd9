package admin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/clock"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// A code-first workflow that failed its WithWorkflowTimeout has no event
// form on its page: SendEvent refuses a new event for it (no run starts
// after its deadline), and every send from the form answered 409. One
// still waiting has the form.
func TestDashboardTimedOutWorkflowOffersNoEventForm(t *testing.T) {
	late, waiting, page := timedOutPages(t)
	form := func(id int64) string { return fmt.Sprintf(`action="tasks/%d/events"`, id) }
	if !strings.Contains(page(waiting), form(waiting)) {
		t.Fatalf("the waiting workflow's page has no event form")
	}
	if strings.Contains(page(late), form(late)) {
		t.Fatalf("the timed-out workflow's page offers an event form, which SendEvent refuses")
	}
}

// timedOutPages registers "t/wait" (an event wait of two days), starts a
// run of it with a one-minute WithWorkflowTimeout (late) and one without
// (waiting), runs both to their waits and sweeps the first past its
// deadline; page GETs a task's dashboard page.
func timedOutPages(t *testing.T) (late, waiting int64, page func(id int64) string) {
	t.Helper()
	ctx := context.Background()
	_, clk, e := clockedEngine(t)
	if err := engine.RegisterWorkflow(e, "t/wait", func(w *engine.WorkflowContext, in int) (int, error) {
		return engine.WaitEvent[int](w, "go", 48*time.Hour)
	}); err != nil {
		t.Fatal(err)
	}
	lateH, err := engine.StartWorkflow[int, int](ctx, e, "t/wait", 1, engine.WithWorkflowTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	waitingH, err := engine.StartWorkflow[int, int](ctx, e, "t/wait", 2)
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
	if _, err := lateH.Result(ctx); err == nil || !strings.Contains(err.Error(), "workflow timed out") {
		t.Fatalf("the workflow past its timeout: %v, want it timed out", err)
	}
	handler, err := admin.Handler(admin.Config{Engine: e, AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	page = func(id int64) string {
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
	return lateH.TaskID, waitingH.TaskID, page
}

// clockedEngine is an engine on a SQLite file of its own with a fake clock
// (moved to pass a task's WithWorkflowTimeout), both closed at the test's
// end.
func clockedEngine(t *testing.T) (store.Store, *clock.Fake, *engine.Engine) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "timeout.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(time.Now())
	e, err := engine.New(engine.Config{Store: st, Logger: zap.NewNop(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return st, clk, e
}
