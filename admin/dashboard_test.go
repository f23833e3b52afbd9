package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/zap"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// chromium returns the browser the tests drive: TASKER_TEST_CHROMIUM
// (source scripts/chromium.sh, which installs Debian's chromium when
// missing). Without it the test skips, except in CI, where it fails.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TASKER_TEST_CHROMIUM"); p != "" {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("TASKER_TEST_CHROMIUM is not set: CI must run ./scripts/test.sh")
	}
	t.Skip("set TASKER_TEST_CHROMIUM (source scripts/chromium.sh) to run the browser tests")
	return ""
}

// seeded is an SQLite database with a known mix of tasks: 3 fan-out tasks
// complete, 1 task in error, 2 fan-out tasks pending and 1 cancelled; a
// worker serving another queue keeps a registry row alive.
type seeded struct {
	st      store.Store
	e       *engine.Engine
	done    int64 // a complete fan-out task
	pending int64 // a pending fan-out task
	failed  int64 // the task in error (its step charge failed)
}

var fanSteps = []string{"split", "a", "b", "c", "d", "e", "join"}

// openEngine opens an SQLite file of the test's and an engine on it (used
// without Run: closing it stops the report's cache), both closed at the
// test's end.
func openEngine(t *testing.T, file string) (store.Store, *engine.Engine) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), file), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e, err := engine.New(engine.Config{Store: st, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return st, e
}

func seed(t *testing.T) *seeded {
	t.Helper()
	ctx := context.Background()
	st, e := openEngine(t, "dashboard.db")
	for _, h := range []string{"ok", "boom"} {
		if err := e.HandleFunc(h, func(sc *engine.StepContext) (any, error) {
			if sc.Handler == "boom" {
				return nil, engine.Permanent(errors.New("card declined by the issuer"))
			}
			return map[string]string{"step": sc.Step}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	fan := []engine.StepTemplate{{Name: "split", Handler: "ok"}}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		fan = append(fan, engine.StepTemplate{Name: n, Handler: "ok", DependsOn: []string{"split"}})
	}
	fan = append(fan, engine.StepTemplate{Name: "join", Handler: "ok", DependsOn: []string{"a", "b", "c", "d", "e"}})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.Register(&engine.Template{Namespace: "shop", Name: "fanout", Version: "1.0.0", Steps: fan}))
	must(e.Register(&engine.Template{Namespace: "shop", Name: "charge", Version: "1.0.0", Steps: []engine.StepTemplate{{Name: "charge", Handler: "boom"}}}))
	s := &seeded{st: st, e: e}
	start := func(wf string, n int) int64 {
		t.Helper()
		h, err := e.Start(ctx, wf, map[string]int{"n": n})
		must(err)
		return h.TaskID
	}
	for i := range 3 {
		s.done = start("shop/fanout", i)
	}
	s.failed = start("shop/charge", 0)
	_, err := e.RunOnce(ctx)
	must(err)
	s.pending = start("shop/fanout", 10)
	start("shop/fanout", 11)
	must(e.Cancel(ctx, start("shop/fanout", 12), "duplicate order"))
	// A worker on another queue: its registry row shows on the workers
	// page, and it leaves the pending tasks alone.
	w, err := engine.New(engine.Config{Store: st, Logger: zap.NewNop(), WorkerID: "worker-reports", Version: "v1.4.2",
		Execution: engine.ExecutionConfig{Queues: []string{"reports"}}})
	must(err)
	must(w.HandleFunc("report", func(*engine.StepContext) (any, error) { return nil, nil }))
	done, err := w.RunBackground(ctx)
	must(err)
	t.Cleanup(func() { _ = w.Stop(context.Background()); <-done })
	return s
}

// browser starts headless chromium; each call of tab opens a tab with
// cookies of its own.
func browser(t *testing.T) func() context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	root, cancelRoot := chromedp.NewContext(alloc)
	t.Cleanup(cancelRoot)
	if err := chromedp.Do(root); err != nil { // starts the browser
		t.Fatalf("starting chromium: %v", err)
	}
	return func() context.Context {
		ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
		t.Cleanup(cancelT)
		return ctx
	}
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// waitAcross waits until js is true on the page, through the navigation a
// click or a submit started (a poll that starts while the old page goes
// away fails and is retried), and fails the test with what (formatted
// with args) when it never is.
func waitAcross(t *testing.T, ctx context.Context, js, what string, args ...any) {
	t.Helper()
	var err error
	for range 50 {
		if _, err = chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(10*time.Second))); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
}

// screenshot saves the page under the test's artifact directory (kept
// with go test -artifacts) and returns its path.
func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	var png []byte
	var err error
	for range 20 {
		// Right after a form's redirect or answer the new page may not be
		// laid out yet ("Cannot take screenshot with 0 width"): wait until
		// it has a width, and capture again.
		if _, err = chromedp.Run(ctx, chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
			continue
		}
		if _, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.readyState === "complete" && document.documentElement.scrollWidth > 0`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			continue
		}
		if png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
	return path
}

func signIn(t *testing.T, ctx context.Context, url, token string) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#whoami")))
}

// TestDashboardInBrowser drives the dashboard in chromium: the overview
// shows the seeded database's counts; a fan-out task's graph draws every
// step and edge; a viewer gets no cancel button and a forged POST is
// refused; an operator cancels a task through the page and the database
// records it cancelled by that token.
func TestDashboardInBrowser(t *testing.T) {
	tab := browser(t)
	s := seed(t)
	h, err := admin.Handler(admin.Config{Engine: s.e})
	if err != nil {
		t.Fatal(err)
	}
	// Mounted under a prefix, as an application would: every link and
	// redirect of the dashboard is relative.
	mux := http.NewServeMux()
	mux.Handle("/tasker/", http.StripPrefix("/tasker", h))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	srv := struct{ URL string }{ts.URL + "/tasker"}
	viewer, _, err := admin.CreateToken(context.Background(), s.st, "dana", store.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	operator, _, err := admin.CreateToken(context.Background(), s.st, "ops-oncall", store.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}

	v := tab()
	if got := eval[string](t, v, `1 && ""`); got != "" {
		t.Fatal("evaluate is broken")
	}
	do(t, v, chromedp.Navigate(srv.URL+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	screenshot(t, v, "login")
	signIn(t, v, srv.URL, viewer)

	t.Run("overview counts", func(t *testing.T) {
		counts := eval[map[string]string](t, v, `Object.fromEntries([...document.querySelectorAll("#task-counts [data-state]")].map(e => [e.dataset.state, e.textContent.trim()]))`)
		want := map[string]string{"total": "7", "complete": "3", "error": "1", "pending": "2", "cancelled": "1", "in_progress": "0", "resolved_manually": "0"}
		for k, w := range want {
			if counts[k] != w {
				t.Errorf("overview %s = %q, want %s (all: %v)", k, counts[k], w, counts)
			}
		}
		if got := eval[string](t, v, `document.querySelector("#workers-alive").textContent`); got != "1" {
			t.Errorf("workers alive = %q, want 1", got)
		}
		// The charts count the last hour's transitions: 3 tasks completed
		// and 1 failed, one bar a minute, the bars adding up to the totals.
		for id, want := range map[string]int{"throughput": 3, "failures": 1} {
			got := eval[[]int](t, v, fmt.Sprintf(`[Number(document.querySelector('[data-total=%q]').textContent),
				document.querySelectorAll("#chart-%s rect").length,
				[...document.querySelectorAll("#chart-%s rect")].reduce((n, r) => n + Number(r.dataset.n), 0),
				[...document.querySelectorAll("#chart-%s rect")].filter(r => r.getBBox().height > 0).length]`, id, id, id, id))
			if got[0] != want || got[1] != 60 || got[2] != want || got[3] < 1 {
				t.Errorf("chart %s: total %d, %d bars adding up to %d, %d drawn; want total %d, 60 bars adding up to it, at least one drawn", id, got[0], got[1], got[2], got[3], want)
			}
		}
		do(t, v, chromedp.Navigate(srv.URL+"/ui/?range=24h"), chromedp.WaitVisible(chromedp.CSS("#chart-throughput")))
		if n := eval[int](t, v, `document.querySelectorAll("#chart-throughput rect").length`); n != 48 {
			t.Errorf("the 24h chart has %d bars, want 48", n)
		}
		do(t, v, chromedp.Navigate(srv.URL+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#chart-throughput")))
		screenshot(t, v, "overview")
	})

	t.Run("performance", func(t *testing.T) {
		do(t, v, chromedp.Navigate(srv.URL+"/ui/performance"), chromedp.WaitVisible(chromedp.CSS("#report-summary")))
		got := eval[map[string]string](t, v, `Object.fromEntries([...document.querySelectorAll("#report-summary [data-k]")].map(e => [e.dataset.k, e.textContent.trim()]))`)
		// The seed's seven tasks were created in the last hour: 3 complete,
		// 1 in error, 1 cancelled, 2 not finished.
		want := map[string]string{"tasks": "7", "complete": "3", "failed": "1", "cancelled": "1", "resolved": "0", "running": "2"}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("report %s = %q, want %s (all: %v)", k, got[k], w, got)
			}
		}
		if n := eval[int](t, v, `document.querySelectorAll("#report-workflows tr[data-workflow]").length`); n == 0 {
			t.Error("the report lists no workflow")
		}
		screenshot(t, v, "performance")
		do(t, v, chromedp.Navigate(srv.URL+"/ui/performance?since=forever"), chromedp.WaitVisible(chromedp.CSS("main")))
		if msg := eval[string](t, v, `document.querySelector("main").textContent`); !strings.Contains(msg, `since "forever" is not a duration`) {
			t.Errorf("a bad window shows %q", msg)
		}
	})

	t.Run("misspelt parameter", func(t *testing.T) {
		do(t, v, chromedp.Navigate(srv.URL+"/ui/tasks?stat=error"), chromedp.WaitVisible(chromedp.CSS("main")))
		msg := eval[string](t, v, `document.querySelector("main").innerText`)
		if !strings.Contains(msg, `unknown query parameter "stat"`) || !strings.Contains(msg, "takes state, workflow, queue") {
			t.Errorf("/ui/tasks?stat=error shows %q; want the page to name stat and the parameters the list takes", msg)
		}
		if n := eval[int](t, v, `document.querySelectorAll("#task-list").length`); n != 0 {
			t.Error("the page refusing ?stat=error still lists tasks")
		}
		screenshot(t, v, "misspelt-parameter")
	})

	t.Run("task list", func(t *testing.T) {
		do(t, v, chromedp.Navigate(srv.URL+"/ui/tasks"), chromedp.WaitVisible(chromedp.CSS("#task-list")))
		if n := eval[int](t, v, `document.querySelectorAll("#task-list tr[data-task]").length`); n != 7 {
			t.Errorf("task list shows %d tasks, want 7", n)
		}
		do(t, v, chromedp.Navigate(srv.URL+"/ui/tasks?state=error"), chromedp.WaitVisible(chromedp.CSS("#task-list")))
		if n := eval[int](t, v, `document.querySelectorAll("#task-list tr[data-task]").length`); n != 1 {
			t.Errorf("filtered by error the list shows %d tasks, want 1", n)
		}
		do(t, v, chromedp.Navigate(srv.URL+"/ui/tasks"), chromedp.WaitVisible(chromedp.CSS("#task-list")))
		screenshot(t, v, "tasks")
	})

	t.Run("fan-out graph", func(t *testing.T) {
		do(t, v, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", srv.URL, s.done)), chromedp.WaitVisible(chromedp.CSS("#dag")))
		nodes := eval[[]string](t, v, `[...document.querySelectorAll("#dag g.node")].map(g => g.dataset.step + ":" + g.dataset.state)`)
		if len(nodes) != len(fanSteps) {
			t.Fatalf("graph nodes %v, want the %d steps", nodes, len(fanSteps))
		}
		for _, n := range fanSteps {
			if !strings.Contains(strings.Join(nodes, " "), n+":complete") {
				t.Errorf("step %s not drawn complete: %v", n, nodes)
			}
		}
		if n := eval[int](t, v, `document.querySelectorAll("#dag path.edge").length`); n != 10 {
			t.Errorf("%d edges drawn, want 10 (split→5, 5→join)", n)
		}
		// Every box is inside the drawing and none overlaps another.
		overlap := eval[bool](t, v, `(() => { const r = [...document.querySelectorAll("#dag rect")].map(e => e.getBBox());
			return r.some((a, i) => r.some((b, j) => i < j && a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height)); })()`)
		if overlap {
			t.Error("graph boxes overlap")
		}
		screenshot(t, v, "task-fanout")
	})

	t.Run("viewer cannot cancel", func(t *testing.T) {
		do(t, v, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", srv.URL, s.pending)), chromedp.WaitVisible(chromedp.CSS("#dag")))
		if eval[bool](t, v, `document.querySelector("#cancel") !== null`) {
			t.Fatal("a viewer sees the cancel button")
		}
		status := eval[int](t, v, fmt.Sprintf(`fetch("tasks/%d/cancel", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "csrf=forged&reason=x"}).then(r => r.status)`, s.pending))
		if status != 403 {
			t.Fatalf("a viewer's forged POST got %d, want 403", status)
		}
		screenshot(t, v, "task-viewer")
		do(t, v, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", srv.URL, s.failed)), chromedp.WaitVisible(chromedp.CSS("#last-errors")))
		if eval[bool](t, v, `document.querySelector("[data-resolve]") !== null`) {
			t.Fatal("a viewer sees a resolve button")
		}
		status = eval[int](t, v, fmt.Sprintf(`fetch("tasks/%d/resolve", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "csrf=forged&step=charge"}).then(r => r.status)`, s.failed))
		if status != 403 {
			t.Fatalf("a viewer's forged resolve got %d, want 403", status)
		}
	})

	t.Run("last errors", func(t *testing.T) {
		do(t, v, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", srv.URL, s.failed)), chromedp.WaitVisible(chromedp.CSS("#last-errors")))
		got := eval[[]string](t, v, `(() => { const e = document.querySelector('[data-error-step="charge"]');
			return e ? [e.querySelector("pre.error").textContent, e.querySelector(".kind").textContent, e.querySelector(".diagnostics").textContent.trim()] : []; })()`)
		if len(got) != 3 || !strings.Contains(got[0], "card declined by the issuer") || got[1] != "permanent" || got[2] != "No diagnostics recorded for this error." {
			t.Fatalf("last errors of the failed task show %q; want the message, kind permanent and the diagnostics' place", got)
		}
	})

	t.Run("operator cancels", func(t *testing.T) {
		o := tab()
		signIn(t, o, srv.URL, operator)
		do(t, o, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", srv.URL, s.pending)), chromedp.WaitVisible(chromedp.CSS("#cancel")))
		// A POST without the page's CSRF token is refused even for an operator.
		status := eval[int](t, o, fmt.Sprintf(`fetch("tasks/%d/cancel", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "csrf=forged"}).then(r => r.status)`, s.pending))
		if status != 403 {
			t.Fatalf("an operator's POST without the CSRF token got %d, want 403", status)
		}
		if st := taskState(t, s.st, s.pending); st != store.TaskPending {
			t.Fatalf("after refused POSTs the task is %s", st)
		}
		screenshot(t, o, "task-operator")
		eval[bool](t, o, `(window.confirm = () => true, true)`)
		do(t, o, chromedp.SendKeys(chromedp.CSS(`input[name="reason"]`), "customer called"), chromedp.Click(chromedp.CSS("#cancel")))
		// The form posts and the server redirects back to the task's
		// page; a poll that starts during the navigation is retried.
		waitAcross(t, o, `document.querySelector("#task-state")?.textContent === "cancelled"`, "the page never showed the task cancelled")
		if st := taskState(t, s.st, s.pending); st != store.TaskCancelled {
			t.Fatalf("the database has the task %s, want cancelled", st)
		}
		hist, err := s.st.History(context.Background(), s.pending)
		if err != nil {
			t.Fatal(err)
		}
		var meta map[string]any
		_ = json.Unmarshal(hist.Task[len(hist.Task)-1].Metadata, &meta)
		if meta["actor"] != "token:ops-oncall" || meta["reason"] != "customer called" {
			t.Fatalf("cancel transition metadata %v, want actor token:ops-oncall and the reason typed", meta)
		}
		// The timeline says who and why in words, not as the stored JSON.
		rows := eval[[]string](t, o, `[...document.querySelectorAll(".timeline td.meta")].map(td => td.textContent.trim()).filter(s => s)`)
		if !slices.Contains(rows, "actor: token:ops-oncall · reason: customer called") || slices.ContainsFunc(rows, func(r string) bool { return strings.HasPrefix(r, "{") }) {
			t.Fatalf("the timeline's metadata reads %q; want the cancel's actor and reason in words", rows)
		}
		path := screenshot(t, o, "task-cancelled")
		_ = path
	})

	t.Run("a refused action is answered on its task's page", func(t *testing.T) {
		// A second tab cancelled the task after this one drew its form: the
		// refusal (a conflict) says why, above the task's page as it is now.
		id, err := s.e.Start(context.Background(), "shop/fanout", map[string]int{"n": 20})
		if err != nil {
			t.Fatal(err)
		}
		o := tab()
		signIn(t, o, srv.URL, operator)
		do(t, o, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", srv.URL, id.TaskID)), chromedp.WaitVisible(chromedp.CSS("#cancel")))
		if err := s.e.Cancel(context.Background(), id.TaskID, "cancelled in another tab"); err != nil {
			t.Fatal(err)
		}
		eval[bool](t, o, `(window.confirm = () => true, true)`)
		do(t, o, chromedp.Click(chromedp.CSS("#cancel")))
		waitAcross(t, o, `document.querySelector("#error") !== null && document.querySelector("#task-state") !== null`, "the refusal never showed on the task's page")
		got := eval[[]string](t, o, `[document.querySelector("#error").textContent, document.querySelector("#task-state").textContent, document.title]`)
		if !strings.Contains(got[0], "cancelled") || got[1] != "cancelled" || got[2] != fmt.Sprintf("Task %d · Tasker", id.TaskID) {
			t.Fatalf("the refusal says %q on a page of title %q showing the task %s; want it to say the task is cancelled, on the task's page", got[0], got[2], got[1])
		}
		screenshot(t, o, "task-action-refused")
	})

	t.Run("operator resolves", func(t *testing.T) {
		o := tab()
		signIn(t, o, srv.URL, operator)
		do(t, o, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", srv.URL, s.failed)), chromedp.WaitVisible(chromedp.CSS(`[data-resolve="charge"]`)))
		screenshot(t, o, "task-failed-operator")
		// Results that are not JSON are refused, naming what is wrong, and
		// change nothing.
		bad := eval[[]string](t, o, fmt.Sprintf(`fetch("tasks/%d/resolve", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
			body: "csrf=" + encodeURIComponent(document.querySelector('input[name="csrf"]').value) + "&step=charge&results=" + encodeURIComponent("{nope")}).then(async r => [String(r.status), await r.text()])`, s.failed))
		if bad[0] != "400" || !strings.Contains(bad[1], "results that are JSON") {
			t.Fatalf("resolve with results that are not JSON got %s, want 400 naming the results", bad[0])
		}
		if d, err := s.st.GetTask(context.Background(), s.failed); err != nil || d.Step("charge").State != store.StepError {
			t.Fatalf("after a refused resolve the step is %v (%v), want error", d.Step("charge").State, err)
		}
		eval[bool](t, o, `(window.confirm = () => true, true)`)
		do(t, o, chromedp.SendKeys(chromedp.CSS(`input[name="results"]`), `{"charged": false}`), chromedp.Click(chromedp.CSS(`[data-resolve="charge"]`)))
		waitAcross(t, o, `document.querySelector('[data-step-state="charge"]')?.textContent === "resolved_manually"`, "the page never showed the step resolved")
		d, err := s.st.GetTask(context.Background(), s.failed)
		if err != nil {
			t.Fatal(err)
		}
		step := d.Step("charge")
		if step.State != store.StepResolvedManually || string(step.Results) != `{"charged":false}` {
			t.Fatalf("the database has step charge %s with results %s, want resolved_manually with {\"charged\":false}", step.State, step.Results)
		}
		hist, err := s.st.History(context.Background(), s.failed)
		if err != nil {
			t.Fatal(err)
		}
		var meta map[string]any
		for _, tr := range hist.Steps {
			if tr.StepID == step.ID && tr.ToState == string(store.StepResolvedManually) {
				_ = json.Unmarshal(tr.Metadata, &meta)
			}
		}
		if meta["actor"] != "token:ops-oncall" {
			t.Fatalf("resolve transition metadata %v, want actor token:ops-oncall", meta)
		}
		do(t, o, chromedp.WaitVisible(chromedp.CSS("#last-errors"))) // laid out, for the screenshot
		screenshot(t, o, "task-resolved")
		noBrokenWords(t, o)
	})

	t.Run("workers page", func(t *testing.T) {
		do(t, v, chromedp.Navigate(srv.URL+"/ui/workers"), chromedp.WaitVisible(chromedp.CSS("#workers")))
		if got := eval[string](t, v, `document.querySelector("#workers tbody td").textContent`); got != "worker-reports" {
			t.Fatalf("workers page first cell %q, want worker-reports", got)
		}
		screenshot(t, v, "workers")
	})

	if dst := os.Getenv("TASKER_UPDATE_DOCS_SCREENSHOT"); dst != "" {
		do(t, v, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", srv.URL, s.done)), chromedp.WaitVisible(chromedp.CSS("#dag")))
		png, err := chromedp.Run(v, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func taskState(t *testing.T, st store.Store, id int64) store.TaskState {
	t.Helper()
	d, err := st.GetTask(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d.Task.State
}
