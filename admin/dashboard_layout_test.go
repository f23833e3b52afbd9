package admin_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// longNames serves the dashboard (anonymous admin) over a database with
// one task of workflow lay/out in error: its first step, with a name of
// 100 letters and no space, complete; its second failed for good with an
// error of long unbroken words.
func longNames(t *testing.T) (url string, task int64) {
	t.Helper()
	ctx := context.Background()
	_, e := openEngine(t, "layout.db")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.HandleFunc("ok", func(*engine.StepContext) (any, error) { return nil, nil }))
	must(e.HandleFunc("boom", func(*engine.StepContext) (any, error) {
		return nil, engine.Permanent(errors.New("upstream said " + strings.Repeat("0123456789abcdef", 20)))
	}))
	long := strings.Repeat("averyverylongstepname", 5)
	must(e.Register(&engine.Template{Namespace: "lay", Name: "out", Steps: []engine.StepTemplate{
		{Name: long, Handler: "ok"}, {Name: "charge", Handler: "boom", DependsOn: []string{long}}}}))
	h, err := e.Start(ctx, "lay/out", nil)
	must(err)
	for range 3 {
		_, err := e.RunOnce(ctx)
		must(err)
	}
	handler, err := admin.Handler(admin.Config{Engine: e, AllowAnonymous: true})
	must(err)
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	return ts.URL, h.TaskID
}

// longNamesTab serves longNames' store and opens a browser tab, returning
// the tab, the server's address and the failed task's id.
func longNamesTab(t *testing.T) (context.Context, string, int64) {
	t.Helper()
	tab := browser(t)
	url, id := longNames(t)
	return tab(), url, id
}

// TestDashboardTaskPageFitsLongNames: a task's page stays as wide as the
// window when a step's name or its error is one long word. The steps
// table grew past its card and the window (a 100-letter name beside a
// failed step's error and resolve form made the page 1866 pixels wide at
// 1280), so the header ended mid-page and the page scrolled sideways.
func TestDashboardTaskPageFitsLongNames(t *testing.T) {
	ctx, url, id := longNamesTab(t)
	do(t, ctx, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", url, id)), chromedp.WaitVisible(chromedp.CSS(`[data-resolve="charge"]`)))
	screenshot(t, ctx, "task-long-names")
	got := eval[[]int](t, ctx, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
	if got[0] > got[1] {
		t.Errorf("the task page is %d pixels wide in a window of %d: it scrolls sideways", got[0], got[1])
	}
	// Every table stays inside its card.
	out := eval[[]string](t, ctx, `[...document.querySelectorAll(".card table")].filter(t => t.getBoundingClientRect().right > t.closest(".card").getBoundingClientRect().right + 1).map(t => t.closest(".card").querySelector("h2")?.textContent)`)
	if len(out) > 0 {
		t.Errorf("tables wider than their card: %q", out)
	}
	noBrokenWords(t, ctx)
}

// noBrokenWords fails the test if a table cell of the page holding one
// short word (a step's name, a state) shows it over two lines: wrapping
// long words anywhere broke short ones where a long cell took the room,
// step charge in the timeline (a table without a header row) drawn as
// "charg" over "e".
func noBrokenWords(t *testing.T, ctx context.Context) {
	t.Helper()
	broken := eval[[]string](t, ctx, `[...document.querySelectorAll("td")].filter(td => td.childNodes.length === 1 && td.firstChild.nodeType === Node.TEXT_NODE && /^\S{1,20}$/.test(td.textContent)).filter(td => {
		const r = document.createRange(); r.selectNodeContents(td); return r.getClientRects().length > 1; }).map(td => td.textContent)`)
	if len(broken) > 0 {
		t.Errorf("short words broken over lines: %q", broken)
	}
}

// TestDashboardTaskErrorReadable: a task's page shows a failure's message,
// not the JSON document the engine records. The task's error and the
// steps table showed {"error":"upstream said …","step":…,"diagnosis":…}
// as stored, < and & as \u003c and \u0026.
func TestDashboardTaskErrorReadable(t *testing.T) {
	ctx, url, id := longNamesTab(t)
	do(t, ctx, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", url, id)), chromedp.WaitVisible(chromedp.CSS(`[data-resolve="charge"]`)))
	screenshot(t, ctx, "task-error")
	got := eval[[]string](t, ctx, `[document.querySelector(".summary pre.error").textContent, document.querySelector('[data-step-row="charge"] code').textContent]`)
	if want := "step charge: upstream said 0123456789abcdef"; !strings.HasPrefix(got[0], want) || strings.Contains(got[0], `"error"`) {
		t.Errorf("the task's error reads %q; want it to start %q, without the JSON around it", got[0], want)
	}
	if want := "upstream said 0123456789abcdef"; !strings.HasPrefix(got[1], want) || strings.Contains(got[1], `"error"`) {
		t.Errorf("step charge's last error reads %q; want it to start %q, without the JSON around it", got[1], want)
	}
}

// TestDashboardRetriedTaskShowsNoError: once a failed task is retried its
// page shows no error beside its state (Last errors keeps the failure).
// The summary went on showing the failure in red over the pending task,
// as it did over a task complete after its step was resolved.
func TestDashboardRetriedTaskShowsNoError(t *testing.T) {
	ctx, url, id := longNamesTab(t)
	do(t, ctx, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", url, id)), chromedp.WaitVisible(chromedp.CSS("#retry")))
	if !eval[bool](t, ctx, `document.querySelector(".summary pre.error") !== null`) {
		t.Fatal("the failed task's page shows no error")
	}
	do(t, ctx, chromedp.Click(chromedp.CSS("#retry")))
	waitAcross(t, ctx, `document.querySelector("#task-state")?.textContent === "pending"`, "the page never showed the task pending")
	screenshot(t, ctx, "task-retried")
	if got := eval[string](t, ctx, `document.querySelector(".summary pre.error")?.textContent ?? ""`); got != "" {
		t.Errorf("the retried, pending task's summary shows the error %q", got)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('#last-errors [data-error-step="charge"]').length`); n != 1 {
		t.Errorf("Last errors lists charge's failure %d times, want once", n)
	}
}

// TestDashboardResolveChecksJSONInPlace: results that are not JSON are
// refused on the task's page, the field keeping what was typed and saying
// what is wrong, before the confirmation and the POST. The form posted
// them and the answer was a 400 page, the typed results gone from the
// field (the pages are not cached, so going back reloads them empty).
func TestDashboardResolveChecksJSONInPlace(t *testing.T) {
	ctx, url, id := longNamesTab(t)
	task := fmt.Sprintf("%s/ui/tasks/%d", url, id)
	do(t, ctx, chromedp.Navigate(task), chromedp.WaitVisible(chromedp.CSS(`[data-resolve="charge"]`)))
	eval[bool](t, ctx, `(window.confirmed = 0, window.confirm = () => (window.confirmed++, true), true)`)
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`input[name="results"]`), `{"charged": nope}`), chromedp.Click(chromedp.CSS(`[data-resolve="charge"]`)))
	// The page's submit handler sets the field's message and cancels the
	// submission in one go: once the message is there, no POST was sent.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(document.querySelector('input[name="results"]')?.validationMessage ?? "").includes("JSON")`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the results field never said its results are not JSON: %v", err)
	}
	screenshot(t, ctx, "resolve-bad-json")
	got := eval[[]string](t, ctx, `[location.href, document.querySelector('input[name="results"]')?.value ?? "", document.querySelector('input[name="results"]')?.validationMessage ?? "", String(window.confirmed)]`)
	if got[0] != task || got[1] != `{"charged": nope}` || !strings.Contains(got[2], "JSON") || got[3] != "0" {
		t.Fatalf("after Resolve with results that are not JSON: page %s, field %q, message %q, confirmations %s; want the task's page, the field as typed, a message naming JSON, no confirmation", got[0], got[1], got[2], got[3])
	}
	// Corrected, the same field resolves the step.
	do(t, ctx, chromedp.SetValue(chromedp.CSS(`input[name="results"]`), `{"charged": false}`), chromedp.Click(chromedp.CSS(`[data-resolve="charge"]`)))
	waitAcross(t, ctx, `document.querySelector('[data-step-state="charge"]')?.textContent === "resolved_manually"`, "the corrected results did not resolve the step")
}

// TestDashboardTaskFilterErrorKeepsForm: a filter the list refuses (a
// workflow without its name) is answered on the task list's page, the
// form keeping what was typed, with the reason above it. The answer was
// an error page without the form, and what was typed was gone.
func TestDashboardTaskFilterErrorKeepsForm(t *testing.T) {
	ctx, url, _ := longNamesTab(t)
	do(t, ctx, chromedp.Navigate(url+"/ui/tasks"), chromedp.WaitVisible(chromedp.CSS("#task-list")),
		chromedp.SetValue(chromedp.CSS("#filter-state"), "error"),
		chromedp.SendKeys(chromedp.CSS(`input[name="workflow"]`), "lay"),
		chromedp.SendKeys(chromedp.CSS(`input[name="queue"]`), "default"),
		chromedp.Click(chromedp.CSS(`form.filters button`)))
	waitAcross(t, ctx, `location.search.includes("workflow=lay")`, "the filter form did not submit")
	do(t, ctx, chromedp.WaitReady(chromedp.CSS("main")))
	screenshot(t, ctx, "tasks-bad-filter")
	got := eval[[]string](t, ctx, `[document.querySelector("#error")?.textContent ?? "", document.querySelector("#filter-state")?.value ?? "-", document.querySelector('input[name="workflow"]')?.value ?? "-", document.querySelector('input[name="queue"]')?.value ?? "-", String(document.querySelectorAll("#task-list tr[data-task]").length)]`)
	if !strings.Contains(got[0], `workflow "lay": want namespace/name`) || got[1] != "error" || got[2] != "lay" || got[3] != "default" || got[4] != "0" {
		t.Errorf("after filtering by workflow lay the page shows error %q, state %q, workflow %q, queue %q and %s tasks; want the reason, the form as filled in, no task", got[0], got[1], got[2], got[3], got[4])
	}
}

// TestDashboardUnknownPage: an address under /ui/ that is no page (a
// mistyped link, a page of another version) is answered 404 with a page
// of the dashboard naming it, its header's links leading back. The answer
// was Go's plain-text "404 page not found".
func TestDashboardUnknownPage(t *testing.T) {
	ctx, url, _ := longNamesTab(t)
	do(t, ctx, chromedp.Navigate(url+"/ui/schedules"), chromedp.WaitReady(chromedp.CSS("body")))
	screenshot(t, ctx, "unknown-page")
	got := eval[[]string](t, ctx, `[document.title, document.querySelector("#error")?.textContent ?? "", String(document.querySelectorAll("header nav a").length)]`)
	if got[0] != "Not Found · Tasker" || !strings.Contains(got[1], "/ui/schedules") || got[2] != "4" {
		t.Errorf("/ui/schedules shows title %q, message %q and %s header links; want Not Found, naming the address, and the header", got[0], got[1], got[2])
	}
	if code := eval[int](t, ctx, `fetch("tasks/1/nope").then(r => r.status)`); code != 404 {
		t.Errorf("/ui/tasks/1/nope answered %d, want 404", code)
	}
	// with a query too (its parameters were checked first: a 400 saying
	// the page takes none)
	if code := eval[int](t, ctx, `fetch("schedules?x=1").then(r => r.status)`); code != 404 {
		t.Errorf("/ui/schedules?x=1 answered %d, want 404", code)
	}
}

// TestDashboardTimesSayTheirZone: every time the task list and a task's
// page show (created, the timeline, Last errors) says it is UTC. They were
// UTC with no zone beside them, so an operator east or west of Greenwich
// read a failure at 09:00 as one at 09:00 of their own clock.
func TestDashboardTimesSayTheirZone(t *testing.T) {
	ctx, url, id := longNamesTab(t)
	stamps := `[...document.querySelectorAll("td, .summary p, .lasterror p")].map(e => e.textContent).filter(s => /\d{4}-\d\d-\d\d \d\d:\d\d/.test(s))`
	do(t, ctx, chromedp.Navigate(url+"/ui/tasks"), chromedp.WaitVisible(chromedp.CSS("#task-list")))
	screenshot(t, ctx, "tasks-times")
	list := eval[[]string](t, ctx, stamps)
	do(t, ctx, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", url, id)), chromedp.WaitVisible(chromedp.CSS("#last-errors")))
	screenshot(t, ctx, "task-times")
	task := eval[[]string](t, ctx, stamps)
	if len(list) == 0 || len(task) < 3 {
		t.Fatalf("found %d times on the task list and %d on the task's page; want the task's creation on the list and its creation, timeline and error on its page", len(list), len(task))
	}
	for _, s := range append(list, task...) {
		if !regexp.MustCompile(`\d\d:\d\d:\d\d\.\d{3} UTC`).MatchString(s) {
			t.Errorf("%q shows a time without its zone", s)
		}
	}
	// A time in a table cell keeps to one line (the timeline's wrapped
	// mid-number, "08:54:51.13" over "0").
	if broken := eval[[]string](t, ctx, `[...document.querySelectorAll("td.time")].filter(td => {
		const r = document.createRange(); r.selectNodeContents(td); return r.getClientRects().length > 1; }).map(td => td.textContent)`); len(broken) > 0 {
		t.Errorf("times broken over lines: %q", broken)
	}
}

// TestDashboardTimelineKeepsStatesWhole: a timeline row's move (pending →
// in_progress) keeps each state whole beside a long step name. The cell
// wrapped anywhere, so it read "in_progre" over "ss".
func TestDashboardTimelineKeepsStatesWhole(t *testing.T) {
	ctx, url, id := longNamesTab(t)
	do(t, ctx, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", url, id)), chromedp.WaitVisible(chromedp.CSS(".timeline")))
	screenshot(t, ctx, "timeline-states")
	broken := eval[[]string](t, ctx, `[...document.querySelectorAll(".timeline td:nth-child(3)")].filter(td => {
		const r = document.createRange(); r.selectNodeContents(td); return r.getClientRects().length > 1; }).map(td => td.textContent)`)
	if len(broken) > 0 {
		t.Errorf("timeline moves broken over lines: %q", broken)
	}
}

// TestDashboardFieldsHaveLabels: every field of the dashboard's forms (the
// sign-in token, the task list's filters, a task's cancel reason) has a
// name a screen reader reads out. They had a placeholder alone, which is
// no label and goes once something is typed.
func TestDashboardFieldsHaveLabels(t *testing.T) {
	tab := browser(t)
	st, e := openEngine(t, "labels.db")
	if err := e.HandleFunc("ok", func(*engine.StepContext) (any, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.Register(&engine.Template{Namespace: "lab", Name: "els", Steps: []engine.StepTemplate{{Name: "s", Handler: "ok"}}}); err != nil {
		t.Fatal(err)
	}
	started, err := e.Start(context.Background(), "lab/els", nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := admin.Handler(admin.Config{Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	token, _, err := admin.CreateToken(context.Background(), st, "ops", store.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	unlabelled := `[...document.querySelectorAll("input:not([type=hidden]), select, textarea")].filter(f => f.labels.length === 0 && !f.getAttribute("aria-label") && !f.getAttribute("aria-labelledby")).map(f => f.name)`
	ctx := tab()
	do(t, ctx, chromedp.Navigate(ts.URL+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	got := map[string][]string{"sign-in": eval[[]string](t, ctx, unlabelled)}
	signIn(t, ctx, ts.URL, token)
	do(t, ctx, chromedp.Navigate(ts.URL+"/ui/tasks"), chromedp.WaitVisible(chromedp.CSS("#task-list")))
	got["task list"] = eval[[]string](t, ctx, unlabelled)
	do(t, ctx, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", ts.URL, started.TaskID)), chromedp.WaitVisible(chromedp.CSS("#cancel")))
	screenshot(t, ctx, "task-pending-operator")
	got["task"] = eval[[]string](t, ctx, unlabelled)
	for page, fields := range got {
		if len(fields) > 0 {
			t.Errorf("the %s page's fields %q have no label", page, fields)
		}
	}
}

// TestDashboardTaskFilterKeepsTheAddresssFilters: the task list's form,
// submitted, keeps the filters its address had that the form has no
// field for (since, until, several states) and its page size. It dropped
// them: a list of the day's tasks, refined by queue, listed every day's,
// and state=error,pending showed "any state" while it listed those two.
func TestDashboardTaskFilterKeepsTheAddresssFilters(t *testing.T) {
	ctx, url, _ := longNamesTab(t)
	do(t, ctx, chromedp.Navigate(url+"/ui/tasks?state=error,pending&since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z&limit=5"), chromedp.WaitVisible(chromedp.CSS("#task-list")))
	if got := eval[string](t, ctx, `document.querySelector("#filter-state").value`); got != "error,pending" {
		t.Errorf("the list of states error,pending shows state %q in its form", got)
	}
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`input[name="queue"]`), "default"), chromedp.Click(chromedp.CSS(`form.filters button`)))
	waitAcross(t, ctx, `location.search.includes("queue=default")`, "the filter form did not submit")
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#task-list")))
	screenshot(t, ctx, "tasks-kept-filters")
	q := eval[map[string]string](t, ctx, `Object.fromEntries(new URLSearchParams(location.search))`)
	want := map[string]string{"state": "error,pending", "since": "2000-01-01T00:00:00Z", "until": "2999-01-01T00:00:00Z", "limit": "5", "queue": "default", "workflow": ""}
	for k, w := range want {
		if q[k] != w {
			t.Errorf("after Filter the list's %s is %q, want %q (address %v)", k, q[k], w, q)
		}
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#task-list tr[data-task]").length`); n != 1 {
		t.Errorf("the list shows %d tasks, want the one in error", n)
	}
	// A page size refused is not kept: the form, sent again, lists.
	do(t, ctx, chromedp.Navigate(url+"/ui/tasks?limit=0"), chromedp.WaitVisible(chromedp.CSS("#error")), chromedp.Click(chromedp.CSS(`form.filters button`)))
	waitAcross(t, ctx, `!location.search.includes("limit=0")`, "the filter form did not submit")
	do(t, ctx, chromedp.WaitReady(chromedp.CSS("main")))
	if got := eval[string](t, ctx, `document.querySelector("#error")?.textContent ?? location.search`); got != "?state=&workflow=&queue=" {
		t.Errorf("the form sent again after limit=0 was refused answers %q", got)
	}
	// A since or until cleared is no filter (it was refused as no time).
	do(t, ctx, chromedp.Navigate(url+"/ui/tasks?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z"), chromedp.WaitVisible(chromedp.CSS("#task-list")))
	eval[bool](t, ctx, `(document.querySelector('input[name="since"]').value = document.querySelector('input[name="until"]').value = "", true)`)
	do(t, ctx, chromedp.Click(chromedp.CSS(`form.filters button`)))
	waitAcross(t, ctx, `!location.search.includes("since=2000")`, "the filter form did not submit")
	do(t, ctx, chromedp.WaitReady(chromedp.CSS("main")))
	if got := eval[string](t, ctx, `document.querySelector("#error")?.textContent ?? ""`); got != "" {
		t.Errorf("with since and until cleared the list says %q", got)
	}
}

// TestDashboardTimelineKeepsAnErrorsKind: a timeline row of a long error
// keeps its kind after the shortened message ("upstream said 0123…
// (permanent)"). The row was cut at 160 characters as a whole, so the
// kind and the requested delay, written after the message, were cut off
// any message longer than that.
func TestDashboardTimelineKeepsAnErrorsKind(t *testing.T) {
	ctx, url, id := longNamesTab(t)
	do(t, ctx, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", url, id)), chromedp.WaitVisible(chromedp.CSS(".timeline")))
	rows := eval[[]string](t, ctx, `[...document.querySelectorAll(".timeline td.meta")].map(td => td.textContent).filter(s => s.includes("upstream said"))`)
	if len(rows) != 2 {
		t.Fatalf("the timeline shows charge's error in %d rows, want 2 (the step's and the task's): %q", len(rows), rows)
	}
	for _, r := range rows {
		if !strings.HasSuffix(r, "… (permanent)") || len([]rune(r)) > 200 {
			t.Errorf("the timeline shows the error as %q; want its message shortened and its kind after it", r)
		}
	}
}

// TestDashboardStaleFormKeepsWhatWasTyped: a task's form refused before
// it is read (its CSRF token from before an anonymous dashboard's
// process restarted, which makes a new key) is answered with the task's
// page, the reason above it and the form as typed, with a token that
// works: sent again, it is done. The 403 page said to reload the page,
// with a link back to it, and what was typed was gone.
func TestDashboardStaleFormKeepsWhatWasTyped(t *testing.T) {
	ctx, url, id := longNamesTab(t)
	task := fmt.Sprintf("%s/ui/tasks/%d", url, id)
	do(t, ctx, chromedp.Navigate(task), chromedp.WaitVisible(chromedp.CSS(`[data-resolve="charge"]`)))
	eval[bool](t, ctx, `(document.querySelectorAll('input[name="csrf"]').forEach(e => e.value = "from-before-the-restart"), window.confirm = () => true, true)`)
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`input[name="results"]`), `{"by": "hand"}`), chromedp.Click(chromedp.CSS(`[data-resolve="charge"]`)))
	waitAcross(t, ctx, `document.querySelector("#error") !== null`, "the stale form was not refused")
	screenshot(t, ctx, "stale-form")
	got := eval[[]string](t, ctx, `[document.querySelector("#error").textContent, document.querySelector('input[name="results"]')?.value ?? "-",
		document.querySelector('[data-step-state="charge"]')?.textContent ?? "-"]`)
	if !strings.Contains(got[0], "CSRF") || got[1] != `{"by": "hand"}` || got[2] != "error" {
		t.Fatalf("the stale form: message %q, results field %q, step %s; want the reason on the task's page, the field as typed, the step in error", got[0], got[1], got[2])
	}
	eval[bool](t, ctx, `(window.confirm = () => true, true)`)
	do(t, ctx, chromedp.Click(chromedp.CSS(`[data-resolve="charge"]`)))
	waitAcross(t, ctx, `document.querySelector('[data-step-state="charge"]')?.textContent === "resolved_manually"`, "the form sent again was not done")
}

// TestDashboardOverviewTasksInError: the overview lists the latest
// failures, the tasks in error that failed last first, and links to all of
// them when it shows some. It listed the tasks created last: the oldest
// task, retried and failed again a moment ago, was left out once ten
// newer tasks were in error.
func TestDashboardOverviewTasksInError(t *testing.T) {
	tab := browser(t)
	_, e := openEngine(t, "failures.db")
	ctx := context.Background()
	if err := e.HandleFunc("boom", func(*engine.StepContext) (any, error) { return nil, engine.Permanent(errors.New("no")) }); err != nil {
		t.Fatal(err)
	}
	if err := e.Register(&engine.Template{Namespace: "f", Name: "ail", Steps: []engine.StepTemplate{{Name: "s", Handler: "boom"}}}); err != nil {
		t.Fatal(err)
	}
	var oldest int64
	for i := range 11 {
		h, err := e.Start(ctx, "f/ail", map[string]int{"n": i})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			oldest = h.TaskID
		}
	}
	if _, err := e.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Retry(ctx, oldest); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := taskState(t, e.Store(), oldest); got != store.TaskError {
		t.Fatalf("the retried task is %s, want error", got)
	}
	h, err := admin.Handler(admin.Config{Engine: e, AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	c := tab()
	do(t, c, chromedp.Navigate(ts.URL+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#in-error")))
	screenshot(t, c, "overview-in-error")
	got := eval[[]string](t, c, `[document.querySelector("#in-error h2").textContent, document.querySelector("#in-error a#all-in-error")?.textContent ?? "",
		String(document.querySelectorAll("#in-error tbody tr").length), document.querySelector("#in-error tbody tr a")?.textContent ?? ""]`)
	want := []string{"Latest failures (tasks in error, the last failed first)", "All 11 tasks in error →", "10", fmt.Sprintf("#%d", oldest)}
	if !slices.Equal(got, want) {
		t.Errorf("the overview's latest failures: heading, link, rows, first task %q; want %q", got, want)
	}
}

// TestDashboardRefusedFormKeepsWhatWasTyped: results the server refuses
// (JSON, so the page's own check lets them through, but with a NUL
// character the store refuses) are answered on the task's page, the
// reason above it and the field keeping what was typed. The answer was a
// page of its own, with a link back to the task's page and its field
// empty.
func TestDashboardRefusedFormKeepsWhatWasTyped(t *testing.T) {
	ctx, url, id := longNamesTab(t)
	do(t, ctx, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", url, id)), chromedp.WaitVisible(chromedp.CSS(`[data-resolve="charge"]`)))
	eval[bool](t, ctx, `(window.confirm = () => true, true)`)
	typed := `{"note": "a\u0000b"}`
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`input[name="results"]`), typed), chromedp.Click(chromedp.CSS(`[data-resolve="charge"]`)))
	waitAcross(t, ctx, `document.querySelector("#error") !== null`, "the refused results were not answered")
	screenshot(t, ctx, "resolve-refused")
	got := eval[[]string](t, ctx, `[document.querySelector("#error").textContent, document.querySelector('input[name="results"]')?.value ?? "-",
		document.querySelector('[data-step-state="charge"]')?.textContent ?? "-"]`)
	if !strings.Contains(got[0], "NUL") || got[1] != typed || got[2] != "error" {
		t.Errorf("the refused resolve: message %q, results field %q, step %s; want the reason (a NUL character) on the task's page, the field as typed, the step in error", got[0], got[1], got[2])
	}
	// Corrected in place, the same form resolves the step.
	eval[bool](t, ctx, `(window.confirm = () => true, true)`)
	do(t, ctx, chromedp.SetValue(chromedp.CSS(`input[name="results"]`), `{"note": "ab"}`), chromedp.Click(chromedp.CSS(`[data-resolve="charge"]`)))
	waitAcross(t, ctx, `document.querySelector('[data-step-state="charge"]')?.textContent === "resolved_manually"`, "the corrected results did not resolve the step")
}

// TestDashboardTimedOutTaskOffersNoRetry: a task that failed its
// WithWorkflowTimeout has no Retry button, which Retry always refuses
// (its deadline has passed, and no step starts after it); the page says
// so and what to do instead, and its pending steps can be resolved there.
// The button was there, every press answered 409, and only failed steps
// had a Resolve form.
func TestDashboardTimedOutTaskOffersNoRetry(t *testing.T) {
	tab := browser(t)
	ctx := context.Background()
	st, clk, e := clockedEngine(t)
	if err := e.HandleFunc("ok", func(*engine.StepContext) (any, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.Register(&engine.Template{Namespace: "t", Name: "late", Steps: []engine.StepTemplate{{Name: "s", Handler: "ok"}}}); err != nil {
		t.Fatal(err)
	}
	h, err := e.Start(ctx, "t/late", nil, engine.WithWorkflowTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	if _, err := e.Rescue(ctx); err != nil {
		t.Fatal(err)
	}
	if got := taskState(t, st, h.TaskID); got != store.TaskError {
		t.Fatalf("the task past its timeout is %s, want error", got)
	}
	if err := e.Retry(ctx, h.TaskID); !errors.Is(err, engine.ErrRefused) {
		t.Fatalf("Retry of the timed-out task: %v, want ErrRefused", err)
	}
	handler, err := admin.Handler(admin.Config{Engine: e, AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	c := tab()
	do(t, c, chromedp.Navigate(fmt.Sprintf("%s/ui/tasks/%d", ts.URL, h.TaskID)), chromedp.WaitVisible(chromedp.CSS("#task-state")))
	screenshot(t, c, "timed-out-task")
	got := eval[[]string](t, c, `[String(document.querySelector("#retry") !== null), document.querySelector("#no-retry")?.textContent ?? ""]`)
	if got[0] != "false" || !strings.Contains(got[1], "WithWorkflowTimeout") {
		t.Errorf("the timed-out task's page: retry button %s, note %q; want no button and a note naming the timeout", got[0], got[1])
	}
	// What the note says to do can be done there: its pending step
	// resolved, the task completes.
	eval[bool](t, c, `(window.confirm = () => true, true)`)
	do(t, c, chromedp.Click(chromedp.CSS(`[data-resolve="s"]`)))
	waitAcross(t, c, `document.querySelector("#task-state")?.textContent === "complete"`, "resolving the pending step did not complete the timed-out task")
}
