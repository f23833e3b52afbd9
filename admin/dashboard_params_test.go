package admin_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/store"
)

// TestDashboardQueryParametersChecked: each dashboard page answers an
// unknown or repeated query parameter with a 400 page naming it (the
// check the JSON API makes, with the page's own list), a form POST with a
// query parameter is refused and changes nothing, and what the pages and
// their own links send still works. The task list refuses key (the API's
// idempotency-key lookup), which it accepted and ignored.
func TestDashboardQueryParametersChecked(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	send := func(method, path, form string) (int, string) {
		t.Helper()
		return v.page(method, path, op, strings.NewReader(form))
	}
	task := fmt.Sprintf("/ui/tasks/%d", id)
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/ui/?rang=24h", `unknown query parameter "rang" (GET /ui/ takes range)`},
		{"GET", "/ui/?range=24h&range=7d", `query parameter "range" given 2 times`},
		{"GET", "/ui/tasks?stat=error", `unknown query parameter "stat" (GET /ui/tasks takes state, workflow, queue`},
		// The API's key lookup: the page does not make it, and listed every
		// task as if key were not there.
		{"GET", "/ui/tasks?workflow=shop/fanout&key=order-9", `unknown query parameter "key" (GET /ui/tasks takes state, workflow, queue, since, until, cursor, limit)`},
		{"GET", "/ui/tasks?state=error&state=pending", `query parameter "state" given 2 times: give it once (state=a,b`},
		{"GET", task + "?tab=steps", `unknown query parameter "tab" (GET ` + task + ` takes sent, before, sig)`},
		// What the send-event form reports, signed: not made by hand.
		{"GET", task + "?sent=approval", `sent, before and sig report an event the task's send-event form sent`},
		{"GET", task + "?sent=approval&before=k&sig=00", `sent, before and sig report an event the task's send-event form sent`},
		{"GET", "/ui/workers?queue=mail", `GET /ui/workers takes no query parameter, got "queue"`},
		{"GET", "/ui/performance?sinse=24h", `unknown query parameter "sinse" (GET /ui/performance takes since, namespace, workflow)`},
		{"GET", "/ui/performance?since=1h&since=24h", `query parameter "since" given 2 times`},
	} {
		code, body := send(c.method, c.path, "")
		if code != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("%s %s: %d, want 400 with a page containing %q; got:\n%s", c.method, c.path, code, c.want, body)
		}
	}
	// A form whose action carries a query parameter is refused before it
	// acts (the CSRF token is not even read).
	if code, body := send("POST", task+"/cancel?force=true", "reason=x"); code != http.StatusBadRequest || !strings.Contains(body, `takes no query parameter, got "force"`) {
		t.Errorf("POST %s/cancel?force=true: %d, want 400 naming force; got:\n%s", task, code, body)
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused cancel left task %d %s", id, st)
	}
	// The pages' own links and forms.
	for _, path := range []string{"/ui/", "/ui/?range=7d", "/ui/tasks", "/ui/tasks?state=&workflow=&queue=", "/ui/tasks?state=pending,error&workflow=shop/fanout&limit=5",
		task, "/ui/workers", "/ui/performance?since=24h&workflow=shop/fanout"} {
		if code, body := send("GET", path, ""); code != http.StatusOK {
			t.Errorf("GET %s: %d, want 200; got:\n%s", path, code, body)
		}
	}
}

// TestDashboardFormBodyErrors: a form body that is not a form (a bad
// %-escape) is answered 400 with a page saying so, one over MaxBodyBytes
// 413, and neither acts; before, both were 413 "Request Entity Too
// Large", the malformed one too.
func TestDashboardFormBodyErrors(t *testing.T) {
	v := newEnv(t, admin.Config{MaxBodyBytes: 1024})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	for _, c := range []struct {
		path string
		body io.Reader
		code int
		want string
	}{
		{fmt.Sprintf("/ui/tasks/%d/cancel", id), strings.NewReader("reason=%zz"), http.StatusBadRequest, `the form's body is not a form: invalid URL escape "%zz"`},
		{"/ui/login", strings.NewReader("token=%zz"), http.StatusBadRequest, `the form's body is not a form: invalid URL escape "%zz"`},
		// Sent without a length, so that the form's reader meets the limit.
		{fmt.Sprintf("/ui/tasks/%d/cancel", id), io.MultiReader(strings.NewReader("reason=" + strings.Repeat("x", 4096))), http.StatusRequestEntityTooLarge, "request body too large"},
	} {
		if code, page := v.page("POST", c.path, op, c.body); code != c.code || !strings.Contains(page, c.want) {
			t.Errorf("POST %s: %d, want %d with a page containing %q; got:\n%s", c.path, code, c.code, c.want, page)
		}
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused forms left task %d %s", id, st)
	}
}

// TestDashboardFormStatusAsAPI: a dashboard form's refused action answers
// the status the API gives for the same error: results the store refuses
// (a NUL character) 400, as POST …/resolve does, where every error but
// not-found was answered 409 Conflict; an unknown step stays 404 and a
// state machine refusal 409.
func TestDashboardFormStatusAsAPI(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	send := func(method, path string, form url.Values) (int, string) {
		t.Helper()
		return v.page(method, path, op, strings.NewReader(form.Encode()))
	}
	task := fmt.Sprintf("/ui/tasks/%d", id)
	_, page := send("GET", task, nil)
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the task page:\n%s", page)
	}
	csrf := m[1]
	apiCode, apiBody := v.do("POST", fmt.Sprintf("/api/tasks/%d/steps/split/resolve", id), op, `{"results":"a\u0000b"}`)
	for _, c := range []struct {
		path string
		form url.Values
		code int
		want string
	}{
		{task + "/resolve", url.Values{"csrf": {csrf}, "step": {"split"}, "results": {`"a\u0000b"`}}, apiCode, "contains a NUL character"},
		{task + "/resolve", url.Values{"csrf": {csrf}, "step": {"nope"}, "results": {"1"}}, http.StatusNotFound, `the task has no step "nope"`},
	} {
		if code, body := send("POST", c.path, c.form); code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("POST %s %v: %d, want %d (the API: %d %v) with a page containing %q; got:\n%s", c.path, c.form, code, c.code, apiCode, apiBody, c.want, body)
		}
	}
	if apiCode != http.StatusBadRequest {
		t.Fatalf("the API answered %d %v to results with a NUL, want 400", apiCode, apiBody)
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused forms left task %d %s", id, st)
	}
	if code, body := send("POST", task+"/cancel", url.Values{"csrf": {csrf}}); code != http.StatusSeeOther {
		t.Fatalf("cancel: %d\n%s", code, body)
	}
	if code, body := send("POST", task+"/cancel", url.Values{"csrf": {csrf}}); code != http.StatusConflict {
		t.Fatalf("cancelling a cancelled task: %d, want 409\n%s", code, body)
	}
}

// TestDashboardFormFieldsChecked: a form's field the form does not have,
// or one given twice, is refused (400, naming it) and nothing is done,
// as the API refuses a body's unknown or repeated field. They were
// ignored: cancel with force=true cancelled without force, and of two
// results the first was taken silently.
func TestDashboardFormFieldsChecked(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	task := fmt.Sprintf("/ui/tasks/%d", id)
	_, page := v.page("GET", task, op, nil)
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the task page:\n%s", page)
	}
	for _, c := range []struct {
		path string
		form url.Values
		want string
	}{
		{task + "/cancel", url.Values{"csrf": {m[1]}, "reason": {"dup"}, "force": {"true"}}, `the form has no field "force" (POST ` + task + `/cancel takes csrf, reason)`},
		{task + "/resolve", url.Values{"csrf": {m[1]}, "step": {"split"}, "results": {"1", "2"}}, `form field "results" given 2 times: give it once`},
		{task + "/retry", url.Values{"csrf": {m[1]}, "step": {"split"}}, `the form has no field "step" (POST ` + task + `/retry takes csrf)`},
	} {
		if code, body := v.page("POST", c.path, op, strings.NewReader(c.form.Encode())); code != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("POST %s %v: %d, want 400 with a page containing %q; got:\n%s", c.path, c.form, code, c.want, body)
		}
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused forms left task %d %s", id, st)
	}
}
