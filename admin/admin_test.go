package admin_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/sqlite"
)

// env is an engine on an SQLite file with a fan-out workflow registered
// (no worker runs, so started tasks stay pending) and the admin API on a
// test server.
type env struct {
	t      *testing.T
	st     store.Store
	e      *engine.Engine
	srv    *httptest.Server
	tokens map[string]string // role → secret
}

func newEnv(t *testing.T, cfg admin.Config) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "admin.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m := engine.NewMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	e, err := engine.New(engine.Config{Store: st, Metrics: m, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() }) // the cache Report and Explain make
	err = e.Register(&engine.Template{Namespace: "shop", Name: "fanout", Steps: []engine.StepTemplate{
		{Name: "split", Handler: "h"},
		{Name: "a", Handler: "h", DependsOn: []string{"split"}},
		{Name: "b", Handler: "h", DependsOn: []string{"split"}},
		{Name: "join", Handler: "h", DependsOn: []string{"a", "b"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Engine, cfg.Metrics = e, reg
	h, err := admin.Handler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, st: st, e: e, srv: srv, tokens: map[string]string{}}
}

func (v *env) token(role string) string {
	v.t.Helper()
	secret, _, err := admin.CreateToken(context.Background(), v.st, "tok-"+role, role)
	if err != nil {
		v.t.Fatal(err)
	}
	v.tokens[role] = secret
	return secret
}

func (v *env) start(n int) int64 {
	v.t.Helper()
	h, err := v.e.Start(context.Background(), "shop/fanout", map[string]int{"n": n}, engine.WithIdempotencyKey(fmt.Sprintf("order-%d", n)))
	if err != nil {
		v.t.Fatal(err)
	}
	return h.TaskID
}

// do sends a request and returns the status and the decoded JSON body.
func (v *env) do(method, path, token, body string, headers ...string) (int, map[string]any) {
	v.t.Helper()
	req, err := http.NewRequest(method, v.srv.URL+path, strings.NewReader(body))
	if err != nil {
		v.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := v.srv.Client().Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			v.t.Fatalf("%s %s: body %q is not JSON: %v", method, path, raw, err)
		}
	}
	return res.StatusCode, out
}

// page sends a dashboard request as the session of token (a form body,
// or none) and returns the status and the page's text, unescaped; it
// follows no redirect.
func (v *env) page(method, path, token string, form io.Reader) (int, string) {
	v.t.Helper()
	req, err := http.NewRequest(method, v.srv.URL+path, form)
	if err != nil {
		v.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "tasker_session", Value: token})
	client := *v.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, html.UnescapeString(string(b))
}

func (v *env) state(id int64) store.TaskState {
	v.t.Helper()
	d, err := v.st.GetTask(context.Background(), id)
	if err != nil {
		v.t.Fatal(err)
	}
	return d.Task.State
}

// TestAuthMatrix: every endpoint × no token, a wrong token, a revoked
// token, viewer, operator and admin answers 401, 403 or success as the
// roles say, and a refused request changes nothing.
func TestAuthMatrix(t *testing.T) {
	v := newEnv(t, admin.Config{})
	for _, r := range []string{store.RoleViewer, store.RoleOperator, store.RoleAdmin} {
		v.token(r)
	}
	revoked, tok, err := admin.CreateToken(context.Background(), v.st, "gone", store.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.st.RevokeAdminToken(context.Background(), tok.ID, tok.CreatedAt); err != nil {
		t.Fatal(err)
	}
	id := v.start(1)
	endpoints := []struct {
		method, path, body, role string
	}{
		{"GET", "/metrics", "", store.RoleViewer},
		{"GET", "/api/tasks", "", store.RoleViewer},
		{"GET", fmt.Sprintf("/api/tasks/%d", id), "", store.RoleViewer},
		{"GET", fmt.Sprintf("/api/tasks/%d/history", id), "", store.RoleViewer},
		{"GET", fmt.Sprintf("/api/tasks/%d/explain", id), "", store.RoleViewer},
		{"GET", "/api/counts", "", store.RoleViewer},
		{"GET", "/api/workers", "", store.RoleViewer},
		{"GET", "/api/report?since=1h", "", store.RoleViewer},
		{"GET", "/api/workflows", "", store.RoleViewer},
		{"POST", fmt.Sprintf("/api/tasks/%d/events", id), `{"name":"go"}`, store.RoleOperator},
		{"POST", fmt.Sprintf("/api/tasks/%d/steps/split/resolve", id), `{"results":{"ok":true}}`, store.RoleOperator},
		{"POST", fmt.Sprintf("/api/tasks/%d/retry", id), "", store.RoleOperator},
		{"POST", fmt.Sprintf("/api/tasks/%d/cancel", id), `{"reason":"matrix"}`, store.RoleOperator},
		{"GET", "/api/tokens", "", store.RoleAdmin},
		{"POST", fmt.Sprintf("/api/tokens/%d/revoke", tok.ID), "", store.RoleAdmin},
	}
	callers := []struct {
		name, token, role string
	}{
		{"none", "", ""}, {"wrong", "tasker_notatoken", ""}, {"malformed", "Basic abc", ""}, {"revoked", revoked, ""},
		{"viewer", v.tokens[store.RoleViewer], store.RoleViewer},
		{"operator", v.tokens[store.RoleOperator], store.RoleOperator},
		{"admin", v.tokens[store.RoleAdmin], store.RoleAdmin},
	}
	rank := map[string]int{"": 0, store.RoleViewer: 1, store.RoleOperator: 2, store.RoleAdmin: 3}
	for _, ep := range endpoints {
		for _, c := range callers {
			before, err := v.st.History(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			code, body := v.do(ep.method, ep.path, c.token, ep.body)
			switch {
			case c.role == "":
				if code != http.StatusUnauthorized {
					t.Errorf("%s %s as %s: %d, want 401 (%v)", ep.method, ep.path, c.name, code, body)
				}
			case rank[c.role] < rank[ep.role]:
				if code != http.StatusForbidden {
					t.Errorf("%s %s as %s: %d, want 403 (%v)", ep.method, ep.path, c.name, code, body)
				}
			case ep.method == "GET" && code != http.StatusOK:
				t.Errorf("%s %s as %s: %d, want 200 (%v)", ep.method, ep.path, c.name, code, body)
			case ep.method == "POST" && (code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 500):
				t.Errorf("%s %s as %s: %d, want the action tried (%v)", ep.method, ep.path, c.name, code, body)
			}
			if rank[c.role] < rank[ep.role] || ep.method == "GET" {
				after, _ := v.st.History(context.Background(), id)
				if len(after.Task) != len(before.Task) || len(after.Steps) != len(before.Steps) {
					t.Errorf("%s %s as %s (refused or a read) wrote transitions", ep.method, ep.path, c.name)
				}
			}
		}
	}
	if got := v.state(id); got != store.TaskCancelled {
		t.Fatalf("after the operator's cancel the task is %s", got)
	}
}

// TestUnauthorizedSaysWhy: a 401 says what was wrong with the token sent
// (every one read "a bearer token is required", also to a client that
// sent one), a request with two Authorization headers is refused, and a
// 403 names the token's role without "a operator".
func TestUnauthorizedSaysWhy(t *testing.T) {
	v := newEnv(t, admin.Config{})
	v.token(store.RoleViewer)
	revoked, tok, err := admin.CreateToken(context.Background(), v.st, "gone", store.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.st.RevokeAdminToken(context.Background(), tok.ID, tok.CreatedAt); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, token string
		headers     []string
		want        string
	}{
		{"none", "", nil, "a bearer token is required"},
		{"another scheme", "", []string{"Authorization", "Token " + v.tokens[store.RoleViewer]}, `the Authorization header is not "Bearer tasker_…"`},
		{"not ours", "abc123", nil, "the bearer token is not a Tasker token (they start with tasker_"},
		{"unknown", "tasker_notatoken", nil, "the bearer token is unknown or revoked"},
		{"revoked", revoked, nil, "the bearer token is unknown or revoked"},
	} {
		code, body := v.do("GET", "/api/counts", c.token, "", c.headers...)
		if code != http.StatusUnauthorized || !strings.Contains(fmt.Sprint(body["error"]), c.want) {
			t.Errorf("%s: %d %v, want 401 saying %q", c.name, code, body, c.want)
		}
	}
	// Two Authorization headers (a proxy's and the client's, say): which
	// one counts is not the server's guess to make. The first was taken,
	// the second ignored, whatever it held.
	admin := v.token(store.RoleAdmin)
	for _, pair := range [][2]string{{admin, "tasker_notatoken"}, {"tasker_notatoken", admin}, {admin, admin}} {
		req, err := http.NewRequest("GET", v.srv.URL+"/api/counts", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Add("Authorization", "Bearer "+pair[0])
		req.Header.Add("Authorization", "Bearer "+pair[1])
		res, err := v.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if want := "the request has 2 Authorization headers: send one"; res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(raw), want) {
			t.Errorf("two Authorization headers (%.12s…, %.12s…): %d %s, want 401 saying %q", pair[0], pair[1], res.StatusCode, raw, want)
		}
	}
	code, body := v.do("GET", "/api/tokens", v.tokens[store.RoleViewer], "")
	if want := "this needs the admin role; token:tok-viewer has the viewer role"; code != http.StatusForbidden || body["error"] != want {
		t.Errorf("a viewer listing tokens: %d %v, want 403 %q", code, body, want)
	}
}

// TestSendEventSaysDuplicate: an event whose key was sent before changes
// nothing, and the answer says so ("duplicate":true; it was the same 200
// as a new event's, so a second decision looked taken); a blank name,
// which no WaitEvent waits for, is refused and nothing is recorded.
func TestSendEventSaysDuplicate(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	ctx := context.Background()
	h := approvalWaiting(t, v)
	path := fmt.Sprintf("/api/tasks/%d/events", h.TaskID)
	for i, want := range []bool{false, true} {
		code, body := v.do("POST", path, op, fmt.Sprintf(`{"name":"approval","key":"decision","payload":%t}`, i == 0))
		if code != http.StatusOK || body["duplicate"] != want {
			t.Fatalf("send %d: %d %v, want 200 with duplicate %t", i+1, code, body, want)
		}
	}
	code, body := v.do("POST", path, op, `{"name":" ","key":"k"}`)
	if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["error"]), `the event needs a name (got " ")`) {
		t.Fatalf("a blank name: %d %v, want 400 naming it", code, body)
	}
	if created, err := v.e.SendEvent(ctx, h.TaskID, " ", "k", nil); err != nil || !created {
		t.Fatalf("the refused blank event was recorded (probe: created %t, %v)", created, err)
	}
}

// TestPaddedEventNameRefused: an event name with spaces around it is
// refused (400, naming it), on the API and the dashboard's event form
// alike, as a padded filter is and `tasker events send` refuses it: it was
// recorded, and no WaitEvent of the unpadded name ever saw it.
func TestPaddedEventNameRefused(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	ctx := context.Background()
	h := approvalWaiting(t, v)
	code, body := v.do("POST", fmt.Sprintf("/api/tasks/%d/events", h.TaskID), op, `{"name":" approval","key":"k"}`)
	if want := `name " approval" has spaces around it: write "approval"`; code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["error"]), want) {
		t.Errorf("the API: %d %v, want 400 containing %q", code, body, want)
	}
	task := fmt.Sprintf("/ui/tasks/%d", h.TaskID)
	_, page := v.page("GET", task, op, nil)
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the task page:\n%s", page)
	}
	form := url.Values{"csrf": {m[1]}, "name": {"approval\t"}, "key": {"k2"}, "payload": {""}}
	code, page = v.page("POST", task+"/events", op, strings.NewReader(form.Encode()))
	if want := `name "approval\t" has spaces around it: write "approval"`; code != http.StatusBadRequest || !strings.Contains(page, want) {
		t.Errorf("the dashboard: %d, want 400 with a page containing %q; got:\n%s", code, want, page)
	}
	for name, key := range map[string]string{" approval": "k", "approval\t": "k2"} {
		if created, err := v.e.SendEvent(ctx, h.TaskID, name, key, nil); err != nil || !created {
			t.Errorf("the refused event %q was recorded (probe: created %t, %v)", name, created, err)
		}
	}
}

// TestOperatorActionRecordsActor: a cancel through the API records the
// token's name as the actor in the transition's metadata.
func TestOperatorActionRecordsActor(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	code, body := v.do("POST", fmt.Sprintf("/api/tasks/%d/cancel", id), op, `{"reason":"customer asked"}`, "Content-Type", "application/json")
	if code != http.StatusOK || body["actor"] != "token:tok-operator" {
		t.Fatalf("cancel: %d %v", code, body)
	}
	h, err := v.st.History(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	last := h.Task[len(h.Task)-1]
	var meta map[string]any
	_ = json.Unmarshal(last.Metadata, &meta)
	if last.ToState != string(store.TaskCancelled) || meta["actor"] != "token:tok-operator" || meta["reason"] != "customer asked" {
		t.Fatalf("last transition to %s with %s; want cancelled by token:tok-operator", last.ToState, last.Metadata)
	}
	code, _ = v.do("POST", fmt.Sprintf("/api/tasks/%d/cancel", id), op, "")
	if code != http.StatusConflict {
		t.Fatalf("cancelling a cancelled task: %d, want 409", code)
	}
	code, _ = v.do("POST", "/api/tasks/999999/retry", op, "")
	if code != http.StatusNotFound {
		t.Fatalf("retrying a missing task: %d, want 404", code)
	}
}

// TestLimitsAndCrossOrigin: an oversized body is refused with 413 and a
// cross-site POST with 403, and neither changes the task.
func TestLimitsAndCrossOrigin(t *testing.T) {
	v := newEnv(t, admin.Config{MaxBodyBytes: 1024})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	big := `{"reason":"` + strings.Repeat("x", 4096) + `"}`
	if code, body := v.do("POST", fmt.Sprintf("/api/tasks/%d/cancel", id), op, big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d %v, want 413", code, body)
	}
	if code, _ := v.do("POST", fmt.Sprintf("/api/tasks/%d/cancel", id), op, `{"reason":"x"}`, "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d, want 403", code)
	}
	if code, _ := v.do("POST", fmt.Sprintf("/api/tasks/%d/cancel", id), op, `{"reason":"x"}`, "Origin", "https://evil.example"); code != http.StatusForbidden {
		t.Fatalf("POST from another origin: %d, want 403", code)
	}
	if code, _ := v.do("POST", fmt.Sprintf("/api/tasks/%d/cancel", id), op, `{"reasn":"typo"}`); code != http.StatusBadRequest {
		t.Fatalf("unknown field: %d, want 400", code)
	}
	if got := v.state(id); got != store.TaskPending {
		t.Fatalf("after refused requests the task is %s, want pending", got)
	}
	h, _ := v.st.History(context.Background(), id)
	if len(h.Task) != 1 {
		t.Fatalf("refused requests wrote %d task transitions", len(h.Task)-1)
	}
}

// TestOversizedChunkedBodySaysTheLimit: a body over Config.MaxBodyBytes
// sent without its length (chunked) is refused 413 naming the limit, as
// one with a Content-Length is, and nothing is done; it read only "http:
// request body too large".
func TestOversizedChunkedBodySaysTheLimit(t *testing.T) {
	v := newEnv(t, admin.Config{MaxBodyBytes: 100})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	path := fmt.Sprintf("/api/tasks/%d/cancel", id)
	// A reader of no known length: the client sends the body chunked.
	body := io.MultiReader(strings.NewReader(`{"reason":"` + strings.Repeat("x", 500) + `"}`))
	req, err := http.NewRequest("POST", v.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+op)
	res, err := v.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]string
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if want := "the body is over the limit of 100 bytes"; res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(out["error"], want) {
		t.Errorf("POST %s chunked, over the limit: %d %v, want 413 containing %q", path, res.StatusCode, out, want)
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused cancel left task %d %s", id, st)
	}
}

// TestCancelRefusesABlankReason: a cancel whose reason is only white
// space is refused (400, naming it) and the task stays as it was; the
// blank was recorded as the reason (the default one is for a reason left
// out), and the timeline said nothing of why.
func TestCancelRefusesABlankReason(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	path := fmt.Sprintf("/api/tasks/%d/cancel", id)
	want := `the reason is blank (got " \t"): give one, or leave reason out`
	if code, out := v.do("POST", path, op, `{"reason":" \t"}`); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), want) {
		t.Errorf("POST %s with a blank reason: %d %v, want 400 containing %q", path, code, out, want)
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused cancel left task %d %s", id, st)
	}
	if code, out := v.do("POST", path, op, `{}`); code != http.StatusOK || v.state(id) != store.TaskCancelled {
		t.Fatalf("a cancel without a reason: %d %v, task %s; want it cancelled", code, out, v.state(id))
	}
}

// TestCrossOriginRefusalIsJSON: a cross-origin POST to the API is
// answered 403 with the API's {"error":"…"} naming the header that
// refused it, as the package doc says every error is; it was the
// standard library's text/plain line, which a client reading the JSON
// error failed on.
func TestCrossOriginRefusalIsJSON(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	path := fmt.Sprintf("/api/tasks/%d/cancel", id)
	for _, c := range []struct{ header, value, want string }{
		{"Sec-Fetch-Site", "cross-site", `a POST from another site is refused (Sec-Fetch-Site: "cross-site")`},
		{"Origin", "https://evil.example", `a POST from another site is refused (Origin: "https://evil.example"`},
	} {
		code, out := v.do("POST", path, op, `{"reason":"x"}`, c.header, c.value)
		if code != http.StatusForbidden || !strings.Contains(fmt.Sprint(out["error"]), c.want) {
			t.Errorf("POST %s with %s: %s: %d %v, want 403 JSON containing %q", path, c.header, c.value, code, out, c.want)
		}
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused cancels left task %d %s", id, st)
	}
}

// TestBodyNullRefused: a body that is JSON null where the route takes an
// object is refused (400, saying so) and changes nothing, as "x", 5 or
// [1] are; encoding/json reads null into a struct as nothing, so it was
// taken as no body: the cancel, retry or revoke was done, answered 200.
func TestBodyNullRefused(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	ad := v.token(store.RoleAdmin)
	_, tok, err := admin.CreateToken(context.Background(), v.st, "ci", store.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	id := v.start(1)
	for _, c := range []struct{ path, token string }{
		{fmt.Sprintf("/api/tasks/%d/cancel", id), op},
		{fmt.Sprintf("/api/tokens/%d/revoke", tok.ID), ad},
	} {
		want := "the body is null: send a JSON object, or no body"
		if code, out := v.do("POST", c.path, c.token, " null "); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), want) {
			t.Errorf("POST %s null: %d %v, want 400 containing %q", c.path, code, out, want)
		}
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused cancel left task %d %s", id, st)
	}
	ts, err := v.st.ListAdminTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ts {
		if x.ID == tok.ID && x.RevokedAt != nil {
			t.Fatalf("the refused revoke revoked token %d", tok.ID)
		}
	}
}

// TestBodyOfWrongTypeSaysWhatItTakes: a body or body field of the wrong
// JSON type is refused (400) naming the field, the type sent and the one
// it takes, in JSON's words; it named Go's types instead: an array body
// read "cannot unmarshal array into Go value of type struct { Reason
// string "json:\"reason\""; … }", a field "Go struct field .reason".
func TestBodyOfWrongTypeSaysWhatItTakes(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	cancel := fmt.Sprintf("/api/tasks/%d/cancel", id)
	for _, c := range []struct{ path, body, want string }{
		{cancel, `[1]`, `the body is not the JSON expected: an array, where the route takes an object (fields: reason, force)`},
		{cancel, `"x"`, `the body is not the JSON expected: a string, where the route takes an object (fields: reason, force)`},
		{cancel, `{"reason":5}`, `the body is not the JSON expected: field "reason" is a number, where it takes a string`},
		{cancel, `{"force":"yes"}`, `field "force" is a string, where it takes true or false`},
		{fmt.Sprintf("/api/tasks/%d/events", id), `{"name":{"n":1}}`, `field "name" is an object, where it takes a string`},
		{fmt.Sprintf("/api/tasks/%d/retry", id), `7`, `a number, where the route takes an object (fields: none)`},
	} {
		code, out := v.do("POST", c.path, op, c.body)
		if msg := fmt.Sprint(out["error"]); code != http.StatusBadRequest || !strings.Contains(msg, c.want) || strings.Contains(msg, "Go ") {
			t.Errorf("POST %s %s: %d %v, want 400 containing %q, naming no Go type", c.path, c.body, code, out, c.want)
		}
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused requests left task %d %s", id, st)
	}
}

// TestBodyIsOneJSONValue: a body with something after its JSON value (a
// second object, stray text) is refused (400, saying so) and changes
// nothing; before, the first value was acted on and the rest ignored, so
// {"reason":"a"} {"force":true} cancelled without the force it asked for.
func TestBodyIsOneJSONValue(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	path := fmt.Sprintf("/api/tasks/%d/cancel", id)
	for _, body := range []string{`{"reason":"a"} {"force":true}`, `{"reason":"a"}, oops`, `{"reason":"a"}}`, `{} []`} {
		code, out := v.do("POST", path, op, body)
		if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), "more follows its value") {
			t.Errorf("POST %s %s: %d %v, want 400 saying more follows the value", path, body, code, out)
		}
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused cancels left task %d %s", id, st)
	}
	if code, out := v.do("POST", path, op, "{\"reason\":\"a\"}\n\t "); code != http.StatusOK || v.state(id) != store.TaskCancelled {
		t.Fatalf("a body with trailing white space: %d %v, task %s; want it cancelled", code, out, v.state(id))
	}
}

// approvalAndTask starts a code-first workflow waiting for the event
// "approval" (an hour) and a pending one-step task, whose id it returns:
// the targets of the body tests' events and cancels.
func approvalAndTask(t *testing.T, v *env) (*engine.WorkflowHandle[bool], int64) {
	t.Helper()
	if err := engine.RegisterWorkflow(v.e, "shop/approve", func(w *engine.WorkflowContext, _ string) (bool, error) {
		return engine.WaitEvent[bool](w, "approval", time.Hour)
	}); err != nil {
		t.Fatal(err)
	}
	h, err := engine.StartWorkflow[string, bool](context.Background(), v.e, "shop/approve", "x")
	if err != nil {
		t.Fatal(err)
	}
	return h, v.start(1)
}

// TestBodyNotUTF8Refused: a body with a byte that is not UTF-8 in a
// string is refused (400, naming the byte) and changes nothing. The
// decoder replaced it with U+FFFD, so {"name":"appr\xffoval"} sent an
// event of another name, a key was recorded as another key and a reason
// as another text, each answered 200; the same call in code is refused.
func TestBodyNotUTF8Refused(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	ctx := context.Background()
	h, id := approvalAndTask(t, v)
	events := fmt.Sprintf("/api/tasks/%d/events", h.TaskID)
	for _, c := range []struct{ path, body, want string }{
		{events, "{\"name\":\"approval\",\"key\":\"k\xff\"}", "the body is not valid UTF-8 (byte 27)"},
		{events, " {\"name\":\"appr\xffoval\",\"key\":\"n\"}", "the body is not valid UTF-8 (byte 14)"},
		{fmt.Sprintf("/api/tasks/%d/cancel", id), "{\"reason\":\"r\xe2\x82\"}", "the body is not valid UTF-8 (byte 12)"},
	} {
		if code, out := v.do("POST", c.path, op, c.body); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), c.want) {
			t.Errorf("POST %s %q: %d %v, want 400 containing %q", c.path, c.body, code, out, c.want)
		}
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused cancel left task %d %s", id, st)
	}
	// Probes: an event already recorded under a key answers created false.
	for _, e := range []struct{ name, key string }{{"approval", "k\ufffd"}, {"appr\ufffdoval", "n"}} {
		if created, err := v.e.SendEvent(ctx, h.TaskID, e.name, e.key, nil); err != nil || !created {
			t.Errorf("the refused event was recorded as %q key %q (probe: created %t, %v)", e.name, e.key, created, err)
		}
	}
}

// TestBodyLoneSurrogateRefused: a \uD800-\uDFFF escape that is not half
// of a pair, in a field of the body read as a string, is refused (400,
// naming the field) and changes nothing. The decoder replaced it with
// U+FFFD, so {"name":"a\ud800b"} sent the event "a\ufffdb" and a key was
// recorded as another key, answered 200. A pair, and an escaped
// backslash before "ud800", are taken.
func TestBodyLoneSurrogateRefused(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	ctx := context.Background()
	h, id := approvalAndTask(t, v)
	events := fmt.Sprintf("/api/tasks/%d/events", h.TaskID)
	for _, c := range []struct{ path, body, want string }{
		{events, `{"name":"approval","key":"k\udc00"}`, `field "key": \udc00 is half of a UTF-16 surrogate pair`},
		{events, `{"name":"a\ud800b","key":"n"}`, `field "name": \ud800 is half of a UTF-16 surrogate pair`},
		{events, `{"name":"a\\\ud800","key":"n"}`, `field "name": \ud800 is half`},
		{events, `{"name":"approval","key":"z","payload":{"a":["\ud800"]}}`, `field "payload": \ud800 is half`},
		{fmt.Sprintf("/api/tasks/%d/cancel", id), `{"reason":"r\uD83D"}`, `field "reason": \uD83D is half`},
	} {
		if code, out := v.do("POST", c.path, op, c.body); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), c.want) {
			t.Errorf("POST %s %s: %d %v, want 400 containing %q", c.path, c.body, code, out, c.want)
		}
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused cancel left task %d %s", id, st)
	}
	// Probes: an event already recorded under a key answers created false.
	for _, e := range []struct{ name, key string }{{"approval", "k\ufffd"}, {"a\ufffdb", "n"}, {"a\\\ufffd", "n"}} {
		if created, err := v.e.SendEvent(ctx, h.TaskID, e.name, e.key, nil); err != nil || !created {
			t.Errorf("the refused event was recorded as %q key %q (probe: created %t, %v)", e.name, e.key, created, err)
		}
	}
	for _, body := range []string{`{"name":"smile \ud83d\ude00","key":"p","payload":"\ud83d\ude00"}`, `{"name":"esc\\ud800","key":"q"}`} {
		if code, out := v.do("POST", events, op, body); code != http.StatusOK {
			t.Errorf("POST %s %s: %d %v, want 200", events, body, code, out)
		}
	}
}

// TestBodyFieldsSpeltAsDocumented: a body's field spelt otherwise than
// the route table says ({"Force":true}, {"REASON":"…"}) or given twice is
// refused (400, naming it) and changes nothing. encoding/json matches
// field names without regard to case and keeps the last of two, so
// {"name":"approval","Name":"cancel"} sent the event "cancel", and
// {"force":true,"force":false} cancelled without force: neither was
// seen by DisallowUnknownFields.
func TestBodyFieldsSpeltAsDocumented(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	path := fmt.Sprintf("/api/tasks/%d/cancel", id)
	for body, want := range map[string]string{
		`{"Force":true}`:                      `unknown field "Force" (did you mean "force"? the body takes reason, force)`,
		`{"reason":"a","REASON":"b"}`:         `unknown field "REASON" (did you mean "reason"? the body takes reason, force)`,
		`{"force":true,"force":false}`:        `field "force" given 2 times: give it once`,
		`{"reason":"a","note":"b","force":1}`: `unknown field "note" (the body takes reason, force)`,
		`{"reason":"a","force":1}`:            `field "force" is a number, where it takes true or false`,
		`{"reason":"a","reason":"a"}`:         `field "reason" given 2 times: give it once`,
		`{"reason":"a","Reason":"a","r":1}`:   `unknown field "Reason"`,
	} {
		code, out := v.do("POST", path, op, body)
		if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), want) {
			t.Errorf("POST %s %s: %d %v, want 400 containing %q", path, body, code, out, want)
		}
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused cancels left task %d %s", id, st)
	}
	// Retry takes no field at all: any is unknown, whatever its case.
	if code, out := v.do("POST", fmt.Sprintf("/api/tasks/%d/retry", id), op, `{"Force":true}`); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), `unknown field "Force"`) {
		t.Errorf("retry with a field: %d %v, want 400 naming it", code, out)
	}
	if code, out := v.do("POST", path, op, `{"reason":"spelt right","force":false}`); code != http.StatusOK || v.state(id) != store.TaskCancelled {
		t.Fatalf("a body spelt as documented: %d %v, task %s; want it cancelled", code, out, v.state(id))
	}
	// A payload is the caller's document: its fields are not the body's.
	if code, out := v.do("POST", fmt.Sprintf("/api/tasks/%d/events", id), op, `{"name":"n","payload":{"Name":1,"name":2,"name":3}}`); code == http.StatusBadRequest {
		t.Fatalf("an event whose payload has fields of any spelling: %d %v, want it past the body's check", code, out)
	}
}

// TestRevokeTokenRefusesABody: POST /api/tokens/{id}/revoke takes no
// body; one ({"dry_run":true}) is refused 400 naming the field and the
// token stays live. Before, the body was never read and the token was
// revoked whatever it said.
func TestRevokeTokenRefusesABody(t *testing.T) {
	v := newEnv(t, admin.Config{})
	ad := v.token(store.RoleAdmin)
	vw, tok, err := admin.CreateToken(context.Background(), v.st, "ci", store.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	// An id no token can have is refused (400), not looked up (404).
	for _, id := range []string{"0", "-1"} {
		want := fmt.Sprintf("token id %q: want a positive number", id)
		if code, out := v.do("POST", "/api/tokens/"+id+"/revoke", ad, ""); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), want) {
			t.Errorf("POST /api/tokens/%s/revoke: %d %v, want 400 containing %q", id, code, out, want)
		}
	}
	path := fmt.Sprintf("/api/tokens/%d/revoke", tok.ID)
	for _, body := range []string{`{"dry_run":true}`, `"now"`} {
		if code, out := v.do("POST", path, ad, body); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), "the body is not the JSON expected") {
			t.Errorf("POST %s %s: %d %v, want 400", path, body, code, out)
		}
	}
	if code, out := v.do("GET", "/api/tasks", vw, ""); code != http.StatusOK {
		t.Fatalf("the token after refused revokes: %d %v, want it still live", code, out)
	}
	if code, out := v.do("POST", path, ad, ""); code != http.StatusOK {
		t.Fatalf("revoke without a body: %d %v", code, out)
	}
	if code, _ := v.do("GET", "/api/tasks", vw, ""); code != http.StatusUnauthorized {
		t.Fatalf("the revoked token: %d, want 401", code)
	}
}

// TestAnonymousOnlyWithoutTokens: AllowAnonymous serves a request without
// a token as admin until the first token exists.
func TestAnonymousOnlyWithoutTokens(t *testing.T) {
	v := newEnv(t, admin.Config{AllowAnonymous: true})
	id := v.start(1)
	if code, body := v.do("POST", fmt.Sprintf("/api/tasks/%d/cancel", id), "", ""); code != http.StatusOK || body["actor"] != "anonymous" {
		t.Fatalf("anonymous cancel without tokens: %d %v", code, body)
	}
	v.token(store.RoleViewer)
	if code, _ := v.do("GET", "/api/tasks", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("anonymous read once a token exists: %d, want 401", code)
	}
	// Revoking the last token does not bring anonymous access back (the
	// package doc: "until the first token is created"): it did, so
	// revoking a leaked token, the only one, made every request without
	// a token an admin, on the API and the dashboard.
	ctx := context.Background()
	ts, err := v.st.ListAdminTokens(ctx)
	if err != nil || len(ts) != 1 {
		t.Fatalf("tokens: %v, %v", ts, err)
	}
	if err := v.st.RevokeAdminToken(ctx, ts[0].ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if code, body := v.do("POST", fmt.Sprintf("/api/tasks/%d/retry", id), "", ""); code != http.StatusUnauthorized {
		t.Fatalf("anonymous retry once the only token is revoked: %d %v, want 401", code, body)
	}
	if code, _ := v.page("GET", "/ui/tasks", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("anonymous dashboard page once the only token is revoked: %d, want 401 (the sign-in page)", code)
	}
	if anon, err := admin.CheckListen(ctx, admin.Config{Engine: v.e}, "127.0.0.1:7007"); err != nil || anon {
		t.Fatalf("CheckListen(127.0.0.1) once the only token is revoked = %v, %v; want anonymous not allowed", anon, err)
	}
}

// TestListTasks: filters, keyset pagination over every task once, the
// idempotency-key lookup, bad parameters named.
func TestListTasks(t *testing.T) {
	v := newEnv(t, admin.Config{})
	vw := v.token(store.RoleViewer)
	var ids []int64
	for i := range 5 {
		ids = append(ids, v.start(i))
	}
	if err := v.e.Cancel(context.Background(), ids[0], "x"); err != nil {
		t.Fatal(err)
	}
	seen := map[float64]bool{}
	cursor := 0.0
	for pages := 0; ; pages++ {
		path := "/api/tasks?limit=2&workflow=shop/fanout"
		if cursor > 0 {
			path += fmt.Sprintf("&cursor=%d", int64(cursor))
		}
		code, body := v.do("GET", path, vw, "")
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, code, body)
		}
		for _, x := range body["tasks"].([]any) {
			id := x.(map[string]any)["id"].(float64)
			if seen[id] {
				t.Fatalf("task %v listed twice", id)
			}
			seen[id] = true
		}
		cursor = body["next_cursor"].(float64)
		if cursor == 0 {
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if len(seen) != 5 {
		t.Fatalf("paged through %d tasks, want 5", len(seen))
	}
	_, body := v.do("GET", "/api/tasks?state=cancelled", vw, "")
	if ts := body["tasks"].([]any); len(ts) != 1 || ts[0].(map[string]any)["id"].(float64) != float64(ids[0]) {
		t.Fatalf("state=cancelled lists %v", ts)
	}
	_, body = v.do("GET", "/api/tasks?workflow=shop/fanout&key=order-3", vw, "")
	if ts := body["tasks"].([]any); len(ts) != 1 || ts[0].(map[string]any)["id"].(float64) != float64(ids[3]) {
		t.Fatalf("key=order-3 lists %v, want task %d", ts, ids[3])
	}
	for path, want := range map[string]string{
		"/api/tasks?state=bogus":  "bogus",
		"/api/tasks?limit=0":      "limit",
		"/api/tasks?since=monday": "since",
		"/api/tasks?key=k":        "key needs workflow",
		"/api/tasks?workflow=x":   "namespace/name",
	} {
		code, body := v.do("GET", path, vw, "")
		if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["error"]), want) {
			t.Errorf("GET %s: %d %v, want 400 naming %q", path, code, body, want)
		}
	}
}

// TestListTasksWorkflowFilter: a workflow filter that is not
// namespace/name is refused (400, naming it) on the API and the task list
// page alike; before, "shop/" and "/fanout" listed a whole namespace or
// every namespace's fanout, and "shop/fanout@0.0.0" (as the task list
// shows a workflow) listed nothing, each answered 200.
func TestListTasksWorkflowFilter(t *testing.T) {
	v := newEnv(t, admin.Config{})
	vw := v.token(store.RoleViewer)
	v.start(1)
	for workflow, want := range map[string]string{
		"shop/":             `workflow "shop/": want namespace/name`,
		"/fanout":           `workflow "/fanout": want namespace/name`,
		"shop/fanout/x":     `workflow "shop/fanout/x": want namespace/name`,
		"shop/fanout@0.0.0": `workflow "shop/fanout@0.0.0": want namespace/name, without the version`,
		"shop@1/fanout":     `without the version`,
	} {
		path := "/api/tasks?workflow=" + url.QueryEscape(workflow)
		if code, body := v.do("GET", path, vw, ""); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["error"]), want) {
			t.Errorf("GET %s: %d %v, want 400 containing %q", path, code, body, want)
		}
		if code, page := v.page("GET", "/ui/tasks?workflow="+url.QueryEscape(workflow), vw, nil); code != http.StatusBadRequest || !strings.Contains(page, want) {
			t.Errorf("GET /ui/tasks?workflow=%s: %d, want 400 containing %q", workflow, code, want)
		}
	}
	if code, body := v.do("GET", "/api/tasks?workflow=shop/fanout", vw, ""); code != http.StatusOK || len(body["tasks"].([]any)) != 1 {
		t.Fatalf("workflow=shop/fanout: %d %v, want the task", code, body)
	}
}

// TestPaddedFiltersRefused: a workflow or queue filter of the task list, and a namespace or workflow filter of the report, with spaces
// around it is refused (400, naming the parameter), on the API and the
// dashboard alike, as a padded since, cursor or state item is; before,
// ?queue=%20default or ?workflow=shop/fanout%20 matched nothing, answered
// 200 with an empty list.
func TestPaddedFiltersRefused(t *testing.T) {
	v := newEnv(t, admin.Config{})
	vw := v.token(store.RoleViewer)
	v.start(1)
	for path, want := range map[string]string{
		"/api/tasks?queue=%20default":         `queue " default" has spaces around it: write "default"`,
		"/api/tasks?workflow=shop/fanout%20":  `workflow "shop/fanout " has spaces around it: write "shop/fanout"`,
		"/ui/tasks?queue=default%09":          `queue "default\t" has spaces around it: write "default"`,
		"/ui/tasks?workflow=%20shop/fanout":   `workflow " shop/fanout" has spaces around it: write "shop/fanout"`,
		"/ui/tasks?queue=%20":                 `queue " " is blank: leave it empty for any queue`,
		"/api/report?namespace=%20shop":       `namespace " shop" has spaces around it: write "shop"`,
		"/api/report?workflow=shop/fanout%20": `workflow "shop/fanout " has spaces around it: write "shop/fanout"`,
		"/ui/performance?namespace=shop%20":   `namespace "shop " has spaces around it: write "shop"`,
	} {
		if strings.HasPrefix(path, "/ui/") {
			if code, page := v.page("GET", path, vw, nil); code != http.StatusBadRequest || !strings.Contains(page, want) {
				t.Errorf("GET %s: %d, want 400 containing %q", path, code, want)
			}
		} else if code, body := v.do("GET", path, vw, ""); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["error"]), want) {
			t.Errorf("GET %s: %d %v, want 400 containing %q", path, code, body, want)
		}
	}
	if code, body := v.do("GET", "/api/tasks?queue=default&workflow=shop/fanout", vw, ""); code != http.StatusOK || len(body["tasks"].([]any)) != 1 {
		t.Fatalf("queue=default&workflow=shop/fanout: %d %v, want the task", code, body)
	}
}

// TestEmptyParametersRefused: limit, cursor, since and until on
// GET /api/tasks, and since on GET /api/report, given empty are refused
// (400, naming them), as are the same on the dashboard's pages and an
// empty range on the overview; before, each was taken as absent (the
// default limit, the first page, no bound, the last hour). So are an
// empty state, workflow, queue or key on GET /api/tasks (each was taken
// as absent: every task listed); on the dashboard's task list an empty
// state, workflow or queue stays "any" (its filter form sends them).
func TestEmptyParametersRefused(t *testing.T) {
	v := newEnv(t, admin.Config{})
	vw := v.token(store.RoleViewer)
	v.start(1)
	cases := map[string]string{
		"/api/tasks?limit=":    `limit "": want a number from 1 to 1000`,
		"/api/tasks?cursor=":   `cursor "": want a number`,
		"/api/tasks?since=":    `since "": want an RFC 3339 time`,
		"/api/tasks?until=":    `until "": want an RFC 3339 time`,
		"/api/report?since=":   `since "" is not a duration`,
		"/api/tasks?state=":    `state "" is empty: give a state (state=a,b for several), or leave state out`,
		"/api/tasks?workflow=": `workflow "" is empty: give namespace/name, or leave workflow out`,
		"/api/tasks?queue=%20": `queue " " is empty: give a queue's name, or leave queue out`,
		"/api/tasks?key=":      `key "" is empty: give an idempotency key, with workflow, or leave key out`,
		"/api/tasks?workflow=ecommerce/process_order&key=": `key "" is empty`,
		"/ui/tasks?limit=":       `limit "": want a number from 1 to 1000`,
		"/ui/performance?since=": `since "" is not a duration`,
		"/ui/?range=":            `range "" is not one of 1h, 24h and 7d`,
	}
	for path, want := range cases {
		req, _ := http.NewRequest("GET", v.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+vw)
		req.AddCookie(&http.Cookie{Name: "tasker_session", Value: vw})
		if strings.HasPrefix(path, "/ui/") {
			req.Header.Del("Authorization")
		}
		res, err := v.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		// A page's text, or the API's JSON with its quotes unescaped.
		text := strings.ReplaceAll(html.UnescapeString(string(body)), `\"`, `"`)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(text, want) {
			t.Errorf("GET %s: %d %s, want 400 containing %q", path, res.StatusCode, body, want)
		}
	}
	if code, body := v.do("GET", "/api/report", vw, ""); code != http.StatusOK {
		t.Errorf("GET /api/report: %d %v, want 200", code, body)
	}
	if code, body := v.page("GET", "/ui/tasks?state=&workflow=&queue=", vw, nil); code != http.StatusOK {
		t.Errorf("GET /ui/tasks?state=&workflow=&queue=: %d %s, want 200", code, body)
	}
}

// TestShowTask: a task's steps and edges by name, counts by state.
func TestShowTask(t *testing.T) {
	v := newEnv(t, admin.Config{})
	vw := v.token(store.RoleViewer)
	id := v.start(1)
	code, body := v.do("GET", fmt.Sprintf("/api/tasks/%d", id), vw, "")
	if code != http.StatusOK {
		t.Fatalf("%d %v", code, body)
	}
	if n := len(body["steps"].([]any)); n != 4 {
		t.Fatalf("%d steps, want 4", n)
	}
	edges := map[string]bool{}
	for _, e := range body["edges"].([]any) {
		m := e.(map[string]any)
		edges[m["from"].(string)+"→"+m["to"].(string)] = true
	}
	for _, want := range []string{"split→a", "split→b", "a→join", "b→join"} {
		if !edges[want] {
			t.Errorf("edge %s missing from %v", want, edges)
		}
	}
	if code, _ := v.do("GET", "/api/tasks/424242", vw, ""); code != http.StatusNotFound {
		t.Fatalf("missing task: %d, want 404", code)
	}
	for _, id := range []string{"abc", "0", "-1"} {
		code, body := v.do("GET", "/api/tasks/"+id, vw, "")
		if msg := fmt.Sprint(body["error"]); code != http.StatusBadRequest || !strings.Contains(msg, strconv.Quote(id)) {
			t.Fatalf("task id %s: %d %q, want 400 naming it", id, code, msg)
		}
	}
	_, body = v.do("GET", "/api/counts", vw, "")
	if body["tasks"].(map[string]any)["pending"].(float64) != 1 {
		t.Fatalf("counts %v, want 1 pending task", body)
	}
	if q := body["ready_by_queue"].(map[string]any)["default"].(map[string]any); q["ready"].(float64) != 1 {
		t.Fatalf("ready_by_queue %v, want 1 ready step in default", q)
	}
}

func TestHandlerRefusesBadConfig(t *testing.T) {
	if _, err := admin.Handler(admin.Config{}); err == nil || !strings.Contains(err.Error(), "Engine") {
		t.Fatalf("no engine: %v", err)
	}
}

// TestHandlerRefusesANilMetricsRegistry: Config.Metrics set to a nil
// registry (a *prometheus.Registry never made), or a nil
// prometheus.GathererFunc, is refused naming it; it was taken as set, and
// every scrape of /metrics panicked.
func TestHandlerRefusesANilMetricsRegistry(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "admin.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e, err := engine.New(engine.Config{Store: st, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	var reg *prometheus.Registry
	if _, err := admin.Handler(admin.Config{Engine: e, Metrics: reg}); err == nil || !strings.Contains(err.Error(), "Config.Metrics") {
		t.Fatalf("a nil registry: err = %v, want a refusal naming Config.Metrics", err)
	}
	var fn prometheus.GathererFunc
	if _, err := admin.Handler(admin.Config{Engine: e, Metrics: fn}); err == nil || !strings.Contains(err.Error(), "Config.Metrics is a nil prometheus.GathererFunc") {
		t.Fatalf("a nil GathererFunc: err = %v, want a refusal naming Config.Metrics", err)
	}
}

// TestCreateTokenRefusesANilStore: CreateToken without a store returns
// an error naming it; it panicked with a nil dereference.
func TestCreateTokenRefusesANilStore(t *testing.T) {
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("CreateToken(ctx, nil, …) panicked: %v", r)
			}
		}()
		_, _, err = admin.CreateToken(context.Background(), nil, "ops", store.RoleOperator)
	}()
	if err == nil || !strings.Contains(err.Error(), `creating admin token "ops": the store st is nil`) {
		t.Fatalf("CreateToken(ctx, nil, …) = %v; want an error naming the nil store", err)
	}
}

// TestNewServerRefusesNilHandler: a nil handler would make the server
// serve http.DefaultServeMux (pprof, expvar, whatever registered there);
// NewServer panics naming the parameter instead.
func TestNewServerRefusesNilHandler(t *testing.T) {
	var r any
	func() {
		defer func() { r = recover() }()
		srv := admin.NewServer("127.0.0.1:0", nil)
		t.Errorf("NewServer(addr, nil) returned a server (Handler %v): it would serve http.DefaultServeMux", srv.Handler)
	}()
	if msg, _ := r.(string); !strings.Contains(msg, "handler h is nil") || !strings.Contains(msg, "DefaultServeMux") {
		t.Fatalf("NewServer(addr, nil) panicked with %v; want a message naming the nil handler h and DefaultServeMux", r)
	}
	h := http.NotFoundHandler()
	srv := admin.NewServer("127.0.0.1:0", h)
	if srv.Handler == nil || srv.ReadHeaderTimeout == 0 || srv.MaxHeaderBytes == 0 {
		t.Fatalf("NewServer with a handler: Handler %v, ReadHeaderTimeout %v, MaxHeaderBytes %d; want the handler and limits set", srv.Handler, srv.ReadHeaderTimeout, srv.MaxHeaderBytes)
	}
}

// TestNewServerWithoutAnAddress: a server NewServer made for "" refuses
// to listen by its address, saying why, where an http.Server with no Addr
// listens on port 80 of every interface (":http"), anonymous requests
// included when the Config allows them; given a listener of the caller's,
// it serves as any other.
func TestNewServerWithoutAnAddress(t *testing.T) {
	for _, listen := range []func(*http.Server) error{(*http.Server).ListenAndServe, func(s *http.Server) error { return s.ListenAndServeTLS("cert.pem", "key.pem") }} {
		srv := admin.NewServer("", http.NotFoundHandler())
		done := make(chan error, 1)
		go func() { done <- listen(srv) }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "admin.NewServer was given no address") {
				t.Errorf("listening by the address of NewServer(\"\", h): %v; want an error saying it was given none", err)
			}
		case <-time.After(10 * time.Second):
			_ = srv.Close()
			t.Fatalf("NewServer(\"\", h) listens on %q (every interface)", cmp.Or(srv.Addr, ":http"))
		}
	}
	srv := admin.NewServer("", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	res, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTeapot {
		t.Fatalf("NewServer(\"\", h) serving a listener of its own: %d, want h's 418", res.StatusCode)
	}
}

// TestCheckListen: loopback may be anonymous; any other address needs a
// token in the database; no address does without an Engine.
func TestCheckListen(t *testing.T) {
	v := newEnv(t, admin.Config{})
	cfg := admin.Config{Engine: v.e}
	ctx := context.Background()
	for _, addr := range []string{"127.0.0.1:7007", "[::1]:7007", "localhost:7007"} {
		if anon, err := admin.CheckListen(ctx, cfg, addr); err != nil || !anon {
			t.Errorf("CheckListen(%s) = %v, %v; want anonymous allowed", addr, anon, err)
		}
	}
	for _, addr := range []string{"0.0.0.0:7007", ":7007", "10.1.2.3:7007"} {
		if _, err := admin.CheckListen(ctx, cfg, addr); !errors.Is(err, admin.ErrInsecureListen) || !strings.Contains(err.Error(), "tasker tokens create") {
			t.Errorf("CheckListen(%s) without tokens: %v, want ErrInsecureListen saying how to make a token", addr, err)
		}
	}
	v.token(store.RoleViewer)
	if anon, err := admin.CheckListen(ctx, cfg, "0.0.0.0:7007"); err != nil || anon {
		t.Fatalf("CheckListen(0.0.0.0) with a token = %v, %v; want allowed, not anonymous", anon, err)
	}
	if _, err := admin.CheckListen(ctx, cfg, "7007"); err == nil {
		t.Fatal("an address without a port was accepted")
	}
	// A Config with AllowAnonymous beyond loopback is refused, tokens or
	// not: it was passed (false, nil), and a handler built from that
	// Config served anonymous requests as admin on every interface once
	// the last token was revoked. On loopback the field is not refused:
	// the answer says whether it applies.
	anonCfg := admin.Config{Engine: v.e, AllowAnonymous: true}
	if _, err := admin.CheckListen(ctx, anonCfg, "0.0.0.0:7007"); !errors.Is(err, admin.ErrInsecureListen) || !strings.Contains(err.Error(), "Config.AllowAnonymous is set") {
		t.Errorf("CheckListen(0.0.0.0) with AllowAnonymous set: %v, want ErrInsecureListen naming Config.AllowAnonymous", err)
	}
	if anon, err := admin.CheckListen(ctx, anonCfg, "127.0.0.1:7007"); err != nil || anon {
		t.Errorf("CheckListen(127.0.0.1) with AllowAnonymous set and a token = %v, %v; want allowed, not anonymous", anon, err)
	}
	// A Config without an Engine is refused on every address; on
	// loopback it was allowed (anonymous, even).
	for _, addr := range []string{"127.0.0.1:7007", "0.0.0.0:7007"} {
		if anon, err := admin.CheckListen(ctx, admin.Config{}, addr); err == nil || anon || !strings.Contains(err.Error(), "Config.Engine is required") {
			t.Errorf("CheckListen(%s) without an Engine = %v, %v; want refused naming Config.Engine", addr, anon, err)
		}
	}
}

// TestHealthAndMetrics: /healthz and /readyz need no token; /metrics
// serves the engine's metrics.
func TestHealthAndMetrics(t *testing.T) {
	v := newEnv(t, admin.Config{})
	vw := v.token(store.RoleViewer)
	v.start(1)
	if code, body := v.do("GET", "/healthz", "", ""); code != http.StatusOK || body["status"] != "ok" {
		t.Fatalf("healthz: %d %v", code, body)
	}
	if code, body := v.do("GET", "/readyz", "", ""); code != http.StatusOK || body["status"] != "ready" {
		t.Fatalf("readyz: %d %v", code, body)
	}
	req, _ := http.NewRequest("GET", v.srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+vw)
	res, err := v.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(raw), `tasker_tasks_started_total{workflow="shop/fanout"} 1`) {
		t.Fatalf("/metrics lacks the started task:\n%s", raw)
	}
}

func httptestRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func mustRequest(t *testing.T, path string) *http.Request {
	t.Helper()
	return httptest.NewRequest("GET", path, nil)
}

// TestDashboardSession: without a session the pages answer the sign-in
// form (401); a bad token is refused; a good one sets an HttpOnly,
// SameSite=Strict cookie; a form POST without the page's CSRF token is
// refused (403) and changes nothing; the API never reads the cookie.
func TestDashboardSession(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	client := v.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(path string, cookies ...*http.Cookie) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", v.srv.URL+path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	post := func(path, form string, cookies ...*http.Cookie) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", v.srv.URL+path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res, _ := get("/"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "ui/" {
		t.Fatalf("GET / = %d to %q, want 303 to ui/", res.StatusCode, res.Header.Get("Location"))
	}
	if res, body := get("/ui/"); res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `name="token"`) {
		t.Fatalf("GET /ui/ without a session = %d, want 401 with the sign-in form", res.StatusCode)
	}
	if res := post("/ui/login", "token=tasker_wrong"); res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 {
		t.Fatalf("a wrong token signs in: %d %v", res.StatusCode, res.Cookies())
	}
	res := post("/ui/login", "token="+op)
	cookies := res.Cookies()
	if res.StatusCode != http.StatusSeeOther || len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("login = %d with cookies %+v, want 303 and one HttpOnly SameSite=Strict cookie", res.StatusCode, cookies)
	}
	res, body := get(fmt.Sprintf("/ui/tasks/%d", id), cookies...)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="cancel"`) {
		t.Fatalf("an operator's task page = %d, want 200 with the cancel button", res.StatusCode)
	}
	if res := post(fmt.Sprintf("/ui/tasks/%d/cancel", id), "reason=x", cookies...); res.StatusCode != http.StatusForbidden {
		t.Fatalf("a POST without the CSRF token = %d, want 403", res.StatusCode)
	}
	if code, _ := v.do("GET", "/api/tasks", "", "", "Cookie", cookies[0].Name+"="+cookies[0].Value); code != http.StatusUnauthorized {
		t.Fatalf("the API accepted the dashboard's cookie: %d", code)
	}
	if got := v.state(id); got != store.TaskPending {
		t.Fatalf("the task is %s after refused requests", got)
	}
}

// TestReport: GET /api/report serves engine.Report, computed once a
// minute and cached in between.
func TestReport(t *testing.T) {
	v := newEnv(t, admin.Config{})
	tok := v.token(store.RoleViewer)
	v.start(1)
	v.start(2)
	code, body := v.do("GET", "/api/report?since=2h&namespace=shop", tok, "")
	if code != http.StatusOK {
		t.Fatalf("status %d: %v", code, body)
	}
	sum, _ := body["summary"].(map[string]any)
	if sum["tasks"] != float64(2) || sum["running"] != float64(2) || body["generated_at"] == nil || body["cached"] != false {
		t.Fatalf("report %v", body)
	}
	code, again := v.do("GET", "/api/report?since=2h&namespace=shop", tok, "")
	// The second request hits the cache unless a minute ended in between.
	if code != http.StatusOK || again["cached"] != true && again["to"] == body["to"] {
		t.Fatalf("second report: %d cached=%v to %v (first to %v)", code, again["cached"], again["to"], body["to"])
	}
	for _, q := range []string{"since=0s", "since=59s", "since=forever", "since=1000h", "workflow=nope"} {
		if code, body := v.do("GET", "/api/report?"+q, tok, ""); code != http.StatusBadRequest {
			t.Errorf("%s: status %d %v, want 400", q, code, body)
		}
	}
}

// TestReportNamespaceFilter: a namespace filter with '/' or '@', which no
// namespace has, is refused (400, naming it) by GET /api/report and the
// performance page; before, namespace=shop/fanout (a workflow given as
// namespace) answered 200 with an empty report.
func TestReportNamespaceFilter(t *testing.T) {
	v := newEnv(t, admin.Config{})
	tok := v.token(store.RoleViewer)
	v.start(1)
	for _, ns := range []string{"shop/fanout", "shop@1"} {
		want := fmt.Sprintf(`namespace %q: a namespace has no '/' or '@'`, ns)
		if code, body := v.do("GET", "/api/report?namespace="+url.QueryEscape(ns), tok, ""); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["error"]), want) {
			t.Errorf("GET /api/report?namespace=%s: %d %v, want 400 containing %q", ns, code, body, want)
		}
		if code, page := v.page("GET", "/ui/performance?namespace="+url.QueryEscape(ns), tok, nil); code != http.StatusBadRequest || !strings.Contains(page, want) {
			t.Errorf("GET /ui/performance?namespace=%s: %d, want 400 containing %q", ns, code, want)
		}
	}
	code, body := v.do("GET", "/api/report?namespace=shop", tok, "")
	if sum, _ := body["summary"].(map[string]any); code != http.StatusOK || sum["tasks"] != float64(1) {
		t.Fatalf("namespace=shop: %d %v, want the task", code, body)
	}
}

// TestReportFiltersChecked: GET /api/report and the performance page
// refuse an empty namespace or workflow (400, naming it), and a workflow
// that is not namespace/name or disagrees with namespace, naming the
// parameters; before, an empty one was taken as absent (the report of
// every workflow), and the engine's refusal named neither.
func TestReportFiltersChecked(t *testing.T) {
	v := newEnv(t, admin.Config{})
	tok := v.token(store.RoleViewer)
	for query, want := range map[string]string{
		"namespace=":                       `namespace "" is empty: give a namespace, or leave namespace out for every workflow`,
		"workflow=%20":                     `workflow " " is empty: give namespace/name, or leave workflow out for every workflow`,
		"workflow=nope":                    `workflow "nope": want namespace/name`,
		"workflow=shop/fanout@1":           `workflow "shop/fanout@1": want namespace/name, without the version`,
		"namespace=x&workflow=shop/fanout": `namespace "x" and workflow "shop/fanout" disagree (its namespace is "shop"): give workflow alone`,
	} {
		if code, body := v.do("GET", "/api/report?"+query, tok, ""); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["error"]), want) {
			t.Errorf("GET /api/report?%s: %d %v, want 400 containing %q", query, code, body, want)
		}
		if code, page := v.page("GET", "/ui/performance?"+query, tok, nil); code != http.StatusBadRequest || !strings.Contains(page, want) {
			t.Errorf("GET /ui/performance?%s: %d, want 400 containing %q", query, code, want)
		}
	}
	if code, body := v.do("GET", "/api/report?namespace=shop&workflow=shop/fanout", tok, ""); code != http.StatusOK {
		t.Errorf("namespace=shop&workflow=shop/fanout: %d %v, want 200", code, body)
	}
}

// TestGetRefusesABody: a GET of the API with a body is refused (400,
// saying its filters are query parameters); before, the body was never
// read, so a filter sent there (curl -X GET -d '{"state":"error"}') was
// ignored and every task listed, answered 200.
func TestGetRefusesABody(t *testing.T) {
	v := newEnv(t, admin.Config{})
	vw := v.token(store.RoleViewer)
	v.start(1)
	for path, want := range map[string]string{
		"/api/tasks":           `GET /api/tasks takes no body: give its filters as query parameters (state, workflow, queue, since, until, key, cursor, limit)`,
		"/api/report":          `GET /api/report takes no body: give its filters as query parameters (since, namespace, workflow)`,
		"/api/tasks/1/history": `GET /api/tasks/1/history takes no body`,
		"/api/counts":          `GET /api/counts takes no body`,
	} {
		if code, out := v.do("GET", path, vw, `{"state":"error"}`); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), want) {
			t.Errorf("GET %s with a body: %d %v, want 400 containing %q", path, code, out, want)
		}
	}
	if code, out := v.do("GET", "/api/tasks", vw, ""); code != http.StatusOK || len(out["tasks"].([]any)) != 1 {
		t.Fatalf("GET /api/tasks without a body: %d %v, want the task", code, out)
	}
}

// TestQueryParametersChecked: a query parameter the endpoint does not read
// (a misspelt filter, a POST's option put in the query), one given twice,
// filters that contradict each other, are answered 400 naming them, and a
// refused POST changes nothing; before, each was ignored and the request
// served as if it were not there.
func TestQueryParametersChecked(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/api/tasks?stat=error", `unknown query parameter "stat" (GET /api/tasks takes state, workflow, queue`},
		{"GET", "/api/tasks?state=error&state=pending", `query parameter "state" given 2 times: give it once (state=a,b`},
		{"GET", "/api/tasks?limit=1&limit=1000", `"limit" given 2 times`},
		{"GET", "/api/tasks?since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z", "since 2030-01-02T00:00:00Z is not before until"},
		// The same instant: no task is created at or after it and before
		// it. The store's refusal named its own fields (created_before
		// must be after created_after), not the parameters.
		{"GET", "/api/tasks?since=2030-01-01T00:00:00Z&until=2030-01-01T00:00:00Z", "since 2030-01-01T00:00:00Z is not before until 2030-01-01T00:00:00Z"},
		{"GET", "/api/tasks?workflow=shop/fanout&key=order-1&state=error", "state does not apply"},
		{"GET", "/api/report?sinc=24h", `unknown query parameter "sinc"`},
		{"GET", fmt.Sprintf("/api/tasks/%d?verbose=1", id), `takes no query parameter, got "verbose"`},
		{"POST", fmt.Sprintf("/api/tasks/%d/cancel?force=true", id), `takes no query parameter, got "force"`},
	} {
		code, body := v.do(c.method, c.path, op, "")
		if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["error"]), c.want) {
			t.Errorf("%s %s: %d %v, want 400 containing %q", c.method, c.path, code, body, c.want)
		}
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused cancel left task %d %s", id, st)
	}
	// What the endpoints do read still works.
	if code, body := v.do("GET", "/api/tasks?state=pending,error&limit=5&workflow=shop/fanout", op, ""); code != http.StatusOK || len(body["tasks"].([]any)) != 1 {
		t.Fatalf("a valid listing: %d %v", code, body)
	}
	if code, body := v.do("GET", "/api/report?since=24h&workflow=shop/fanout", op, ""); code != http.StatusOK {
		t.Fatalf("a valid report: %d %v", code, body)
	}
}

// TestWrongMethodSaysWhich: an endpoint asked with a method it does not
// take is answered 405 with Allow naming the one it takes; an address
// that is no endpoint stays 404. The catch-all for /api/ answered both
// "no such endpoint", so GET /api/tasks/1/retry (curl without -X POST)
// read as a mistyped path.
func TestWrongMethodSaysWhich(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	for _, c := range []struct{ method, path, allow string }{
		{"GET", fmt.Sprintf("/api/tasks/%d/retry", id), "POST"},
		{"GET", fmt.Sprintf("/api/tasks/%d/cancel", id), "POST"},
		{"POST", "/api/tasks", "GET"},
		{"DELETE", fmt.Sprintf("/api/tasks/%d", id), "GET"},
	} {
		req, err := http.NewRequest(c.method, v.srv.URL+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+op)
		res, err := v.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		want := fmt.Sprintf("%s %s: the endpoint takes %s", c.method, c.path, c.allow)
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != c.allow || !strings.Contains(string(raw), want) {
			t.Errorf("%s %s: %d Allow %q %s, want 405 Allow %q saying %q", c.method, c.path, res.StatusCode, res.Header.Get("Allow"), raw, c.allow, want)
		}
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused requests left task %d %s", id, st)
	}
	if code, out := v.do("GET", "/api/taks", op, ""); code != http.StatusNotFound || !strings.Contains(fmt.Sprint(out["error"]), "no such endpoint: GET /api/taks") {
		t.Fatalf("GET /api/taks: %d %v, want 404", code, out)
	}
}

// TestCancelFinishedSaysForce: cancelling a complete task without force is
// refused (409) with how to withdraw it (the state machine's own words,
// "only an operator may force it", read as a role problem to the operator
// who sent it); with {"force":true} it is withdrawn.
func TestCancelFinishedSaysForce(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	if err := v.e.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	id := v.start(1)
	for range 10 {
		if _, err := v.e.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if st := v.state(id); st != store.TaskComplete {
		t.Fatalf("task %d is %s, want complete", id, st)
	}
	path := fmt.Sprintf("/api/tasks/%d/cancel", id)
	code, body := v.do("POST", path, op, "")
	if code != http.StatusConflict || !strings.Contains(fmt.Sprint(body["error"]), `the task is complete, and a finished task is withdrawn only with {"force":true} in the body`) {
		t.Fatalf("POST %s: %d %v", path, code, body)
	}
	if st := v.state(id); st != store.TaskComplete {
		t.Fatalf("the refused cancel left task %d %s", id, st)
	}
	if code, body := v.do("POST", path, op, `{"force":true}`); code != http.StatusOK || v.state(id) != store.TaskCancelled {
		t.Fatalf("forced cancel: %d %v, task %s", code, body, v.state(id))
	}
}

// TestWorkflowsListsNeverNull: with no handler registered (as under
// `tasker serve`), GET /api/workflows answered "handlers": null.
func TestWorkflowsListsNeverNull(t *testing.T) {
	v := newEnv(t, admin.Config{})
	code, body := v.do("GET", "/api/workflows", v.token(store.RoleViewer), "")
	if code != http.StatusOK {
		t.Fatalf("%d %v", code, body)
	}
	if h, ok := body["handlers"].([]any); !ok || len(h) != 0 {
		t.Fatalf("handlers = %#v, want []", body["handlers"])
	}
	if tm, ok := body["templates"].([]any); !ok || len(tm) != 1 || tm[0] != "shop/fanout@0.0.0" {
		t.Fatalf("templates = %#v", body["templates"])
	}
}

// TestResolveRefusesAnImpossibleStepName: POST
// /api/tasks/{id}/steps/{step}/resolve with a step name no step can have
// (a NUL byte, not UTF-8, longer than store.MaxNameLen) is refused 400
// naming what is wrong with it, not answered 404 "the task has no step",
// as if such a step could exist (store.CheckName); the task is unchanged.
func TestResolveRefusesAnImpossibleStepName(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	for step, want := range map[string]string{
		"%00":                        `step: contains a NUL byte`,
		"a%FF":                       `step: is not valid UTF-8`,
		strings.Repeat("s", 256):     `step: is 256 bytes long; the limit is 255`,
		url.PathEscape("split\x00x"): `step: contains a NUL byte`,
	} {
		path := fmt.Sprintf("/api/tasks/%d/steps/%s/resolve", id, step)
		if code, out := v.do("POST", path, op, `{"results":1}`); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), want) {
			t.Errorf("POST %.60s: %d %v, want 400 containing %q", path, code, out, want)
		}
	}
	d, err := v.st.GetTask(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range d.Steps {
		if s.State != store.StepPending {
			t.Errorf("step %s is %s after the refused resolves, want pending", s.Name, s.State)
		}
	}
}

// TestHistoryListsNeverNull: a task no step of which has moved yet (just
// started) answered GET /api/tasks/{id}/history with "steps": null, which
// a client iterating over the steps' transitions fails on.
func TestHistoryListsNeverNull(t *testing.T) {
	v := newEnv(t, admin.Config{})
	id := v.start(1)
	code, body := v.do("GET", fmt.Sprintf("/api/tasks/%d/history", id), v.token(store.RoleViewer), "")
	if code != http.StatusOK {
		t.Fatalf("%d %v", code, body)
	}
	if s, ok := body["steps"].([]any); !ok || len(s) != 0 {
		t.Errorf("steps = %#v, want []", body["steps"])
	}
	if tr, ok := body["task"].([]any); !ok || len(tr) != 1 {
		t.Errorf("task = %#v, want its one transition (to pending)", body["task"])
	}
}

// GET /api/workers gives every worker the same keys: one whose engine has
// no Version has "version": "" (engine.WorkerInfo's omitempty dropped it).
func TestWorkersAPIKeepsItsShape(t *testing.T) {
	v := newEnv(t, admin.Config{})
	tok := v.token(store.RoleViewer)
	if _, err := v.st.RegisterWorker(context.Background(), &store.RegisterWorkerParams{ID: "bare-1", Queues: []string{"default"}, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	code, body := v.do("GET", "/api/workers", tok, "")
	ws, _ := body["workers"].([]any)
	if code != http.StatusOK || len(ws) != 1 {
		t.Fatalf("GET /api/workers = %d %v; want one worker", code, body)
	}
	w, _ := ws[0].(map[string]any)
	for _, key := range []string{"id", "queues", "handlers", "version", "concurrency", "started_at", "heartbeat_at", "expires_at"} {
		if _, ok := w[key]; !ok {
			t.Errorf("the worker has no %q: %v", key, w)
		}
	}
}

// TestNonCanonicalIDsRefused: an id in a path or a query is read only as
// the API writes it, a positive number in decimal digits. ParseInt read
// "+1" and "01" as task 1 (and "%2B2" as cursor 2), so a request for an
// id the API never gives acted on another; each is now refused (400)
// naming the parameter and what was sent, and nothing changes.
func TestNonCanonicalIDsRefused(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op, ad := v.token(store.RoleOperator), v.token(store.RoleAdmin)
	id := v.start(1)
	if id != 1 {
		t.Fatalf("the first task is %d, want 1", id)
	}
	for _, c := range []struct{ method, path, token, want string }{
		{"GET", "/api/tasks/+1", op, `task id "+1"`},
		{"GET", "/api/tasks/01", op, `task id "01"`},
		{"GET", "/api/tasks/%201", op, `task id " 1"`},
		{"GET", "/api/tasks/1e0", op, `task id "1e0"`},
		{"GET", "/api/tasks/01/history", op, `task id "01"`},
		{"POST", "/api/tasks/01/cancel", op, `task id "01"`},
		{"POST", "/api/tasks/+1/cancel", op, `task id "+1"`},
		{"GET", "/api/tasks?cursor=%2B2", op, `cursor "+2"`},
		{"GET", "/api/tasks?cursor=02", op, `cursor "02"`},
		{"POST", "/api/tokens/01/revoke", ad, `token id "01"`},
	} {
		code, body := v.do(c.method, c.path, c.token, "")
		if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["error"]), c.want) {
			t.Errorf("%s %s: %d %v, want 400 containing %q", c.method, c.path, code, body, c.want)
		}
	}
	if code, page := v.page("GET", "/ui/tasks/01", op, nil); code != http.StatusBadRequest || !strings.Contains(page, `task id "01"`) {
		t.Errorf("GET /ui/tasks/01: %d, want 400 naming the id", code)
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused cancels left task %d %s", id, st)
	}
	if code, body := v.do("GET", "/api/tasks", op, ""); code != http.StatusOK {
		t.Fatalf("the tokens after refused revokes: %d %v, want them live", code, body)
	}
	if code, body := v.do("GET", "/api/tasks/1", op, ""); code != http.StatusOK {
		t.Fatalf("GET /api/tasks/1: %d %v", code, body)
	}
}

// approvalWaiting registers "shop/approve" (a wait for the event
// "approval") on v's engine and starts a run of it.
func approvalWaiting(t *testing.T, v *env) *engine.WorkflowHandle[bool] {
	t.Helper()
	if err := engine.RegisterWorkflow(v.e, "shop/approve", func(w *engine.WorkflowContext, _ string) (bool, error) {
		return engine.WaitEvent[bool](w, "approval", time.Hour)
	}); err != nil {
		t.Fatal(err)
	}
	h, err := engine.StartWorkflow[string, bool](context.Background(), v.e, "shop/approve", "x")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestMalformedQueryRefused: a query Go's parser cannot read in part (a ';'
// between parameters, a '%' not followed by two hex digits) is answered
// 400 naming the part, by the API and the dashboard alike, and a refused
// POST changes nothing. url.Values dropped that part without a word, so
// ?state=error;limit=5 listed every task, answered 200.
func TestMalformedQueryRefused(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/api/tasks?state=error;limit=5", `query "state=error;limit=5": invalid semicolon separator in query`},
		{"GET", "/api/tasks?state=%zz", `query "state=%zz": invalid URL escape "%zz"`},
		{"GET", "/api/tasks?state=error&limit=%zz", `query "limit=%zz"`},
		{"GET", "/api/counts?x;y", `query "x;y"`},
		{"POST", fmt.Sprintf("/api/tasks/%d/cancel?force=true;x", id), `query "force=true;x"`},
	} {
		code, body := v.do(c.method, c.path, op, "")
		if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["error"]), c.want) {
			t.Errorf("%s %s: %d %v, want 400 containing %q", c.method, c.path, code, body, c.want)
		}
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused cancel left task %d %s", id, st)
	}
	for _, path := range []string{"/ui/tasks?state=error;limit=5", "/ui/tasks?state=%zz", "/ui/performance?since=%zz"} {
		if code, page := v.page("GET", path, op, nil); code != http.StatusBadRequest || !strings.Contains(page, `query "`) {
			t.Errorf("GET %s: %d, want 400 naming the part of the query", path, code)
		}
	}
}

// TestTimeWithAPlusSaysToEscapeIt: an offset written with '+' in the query
// (?since=2030-01-01T10:00:00+02:00, as curl sends it) arrives as a space;
// the refusal says so, where it quoted a time the client never wrote.
func TestTimeWithAPlusSaysToEscapeIt(t *testing.T) {
	v := newEnv(t, admin.Config{})
	vw := v.token(store.RoleViewer)
	for _, p := range []string{"since", "until"} {
		code, body := v.do("GET", "/api/tasks?"+p+"=2030-01-01T10:00:00+02:00", vw, "")
		want := p + ` "2030-01-01T10:00:00 02:00": want an RFC 3339 time (a + in a query is read as a space: write it %2B`
		if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["error"]), want) {
			t.Errorf("%s with an unescaped +: %d %v, want 400 containing %q", p, code, body, want)
		}
	}
	if code, body := v.do("GET", "/api/tasks?since=2030-01-01T10:00:00%2B02:00", vw, ""); code != http.StatusOK {
		t.Fatalf("since with %%2B: %d %v, want 200", code, body)
	}
}

// TestFormBodySaysItIsNotJSON: a body sent as a form (reason=x&force=true,
// Content-Type application/x-www-form-urlencoded or multipart/form-data)
// is refused naming its Content-Type, and changes nothing; the refusal
// read "invalid character 'r' looking for beginning of value". JSON sent
// with curl -d's form type stays taken (its text is the API's).
func TestFormBodySaysItIsNotJSON(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	id := v.start(1)
	path := fmt.Sprintf("/api/tasks/%d/cancel", id)
	for _, ct := range []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		code, out := v.do("POST", path, op, "reason=x&force=true", "Content-Type", ct)
		want := fmt.Sprintf("the body is sent as a form (Content-Type: %s): send it as JSON, an object with the fields reason, force", ct)
		if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), want) {
			t.Errorf("POST %s as %s: %d %v, want 400 containing %q", path, ct, code, out, want)
		}
	}
	if st := v.state(id); st != store.TaskPending {
		t.Fatalf("the refused cancels left task %d %s", id, st)
	}
	if code, out := v.do("POST", path, op, `{"reason":"x"}`, "Content-Type", "application/x-www-form-urlencoded"); code != http.StatusOK || v.state(id) != store.TaskCancelled {
		t.Fatalf("JSON sent as curl -d sends it: %d %v, task %s; want it cancelled", code, out, v.state(id))
	}
}
