package admin_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// TestDashboardFormAcrossReplicas: a form opened on one handler is taken
// by another (a restarted process, or another replica behind a balancer)
// for the same signed-in token. Each handler signed its forms with a
// random key of its own, so every open form was refused after a restart,
// and replicas refused each other's forms.
func TestDashboardFormAcrossReplicas(t *testing.T) {
	tab := browser(t)
	ctx := context.Background()
	st, e := openEngine(t, "replicas.db")
	if err := e.HandleFunc("boom", func(*engine.StepContext) (any, error) { return nil, engine.Permanent(errors.New("no")) }); err != nil {
		t.Fatal(err)
	}
	if err := e.Register(&engine.Template{Namespace: "f", Name: "ail", Steps: []engine.StepTemplate{{Name: "s", Handler: "boom"}}}); err != nil {
		t.Fatal(err)
	}
	task, err := e.Start(ctx, "f/ail", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	secret, _, err := admin.CreateToken(ctx, st, "ops", store.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	var replicas [2]http.Handler
	for i := range replicas {
		if replicas[i], err = admin.Handler(admin.Config{Engine: e}); err != nil {
			t.Fatal(err)
		}
	}
	var serving atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { replicas[serving.Load()].ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	c := tab()
	signIn(t, c, ts.URL+"/ui", secret)
	do(t, c, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", ts.URL, task.TaskID)), chromedp.WaitVisible(chromedp.CSS("#retry")))
	serving.Store(1)
	do(t, c, chromedp.Click(chromedp.CSS("#retry")))
	waitAcross(t, c, `document.querySelector("#task-state")?.textContent === "pending" || document.querySelector("#error") !== null`, "the retry was neither done nor refused")
	screenshot(t, c, "form-across-replicas")
	if msg := eval[string](t, c, `document.querySelector("#error")?.textContent ?? ""`); msg != "" {
		t.Errorf("the other replica refused the form: %s", msg)
	}
	if got := taskState(t, st, task.TaskID); got != store.TaskPending {
		t.Errorf("task %d is %s after the retry through the other replica, want pending", task.TaskID, got)
	}
}
