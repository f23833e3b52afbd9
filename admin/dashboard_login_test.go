package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/store"
)

// TestDashboardSignInReturns: signing in on the page a link led to (a
// task's page, a filtered list) opens that page, also after a mistyped
// token. It opened the overview, and the person had to find the task
// again.
func TestDashboardSignInReturns(t *testing.T) {
	tab := browser(t)
	s := seed(t)
	h, err := admin.Handler(admin.Config{Engine: s.e})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	viewer, _, err := admin.CreateToken(context.Background(), s.st, "dana", store.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fmt.Sprintf("/ui/tasks/%d", s.failed), "/ui/tasks?state=error&limit=5"} {
		ctx := tab()
		do(t, ctx, chromedp.Navigate(ts.URL+path), chromedp.WaitVisible(chromedp.CSS("#token")),
			chromedp.SendKeys(chromedp.CSS("#token"), "tasker_mistyped"), chromedp.Click(chromedp.CSS("#signin")))
		// The refusal is a new page: wait for it whole, across the
		// navigation, before typing again (typing into the old page's
		// field as it went away failed now and then: "Could not find node
		// with given id").
		waitAcross(t, ctx, `document.readyState === "complete" && document.querySelector(".flash.error") !== null && document.querySelector("#token") !== null`,
			"the refusal of a mistyped token from %s", path)
		do(t, ctx, chromedp.SendKeys(chromedp.CSS("#token"), viewer), chromedp.Click(chromedp.CSS("#signin")))
		waitAcross(t, ctx, `document.querySelector("#whoami") !== null`, "signing in from %s", path)
		if got := eval[string](t, ctx, `location.pathname + location.search`); got != path {
			t.Errorf("signing in from %s opened %s", path, got)
		}
		screenshot(t, ctx, "signed-in-"+strings.NewReplacer("/", "-", "?", "-", "&", "-", "=", "-").Replace(path))
	}
	// A page to return to that is not one of the dashboard's (another
	// site, a path out of /ui/) is not followed: the overview opens.
	client := ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/api/tokens", "../api/tokens", `\evil.example`, "\t//evil.example"} {
		res, err := client.PostForm(ts.URL+"/ui/login", url.Values{"token": {viewer}, "next": {next}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "./" {
			t.Errorf("signing in with next %q: %d to %q, want 303 to ./", next, res.StatusCode, res.Header.Get("Location"))
		}
	}
}

// TestDashboardSignInAfterAFormsSessionEnded: a task's form sent after
// the session ended (its token revoked, the cookie expired) asks to sign
// in, says the form was not sent, and signing in opens the task's page,
// where the form is. It opened the overview, saying nothing of the form.
func TestDashboardSignInAfterAFormsSessionEnded(t *testing.T) {
	tab := browser(t)
	s := seed(t)
	h, err := admin.Handler(admin.Config{Engine: s.e})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	ctx := context.Background()
	first, tok, err := admin.CreateToken(ctx, s.st, "ops", store.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := admin.CreateToken(ctx, s.st, "ops-2", store.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	c := tab()
	signIn(t, c, ts.URL+"/ui", first)
	task := fmt.Sprintf("/ui/tasks/%d", s.failed)
	do(t, c, chromedp.Navigate(ts.URL+task), chromedp.WaitVisible(chromedp.CSS("#retry")))
	if err := s.st.RevokeAdminToken(ctx, tok.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	do(t, c, chromedp.Click(chromedp.CSS("#retry")))
	waitAcross(t, c, `document.readyState === "complete" && document.querySelector("#token") !== null`, "the form of an ended session did not ask to sign in")
	screenshot(t, c, "form-session-ended")
	if msg := eval[string](t, c, `document.querySelector(".flash.error")?.textContent ?? ""`); !strings.Contains(msg, "not sent") {
		t.Errorf("the sign-in page says %q; want it to say the form was not sent", msg)
	}
	do(t, c, chromedp.SendKeys(chromedp.CSS("#token"), second), chromedp.Click(chromedp.CSS("#signin")))
	waitAcross(t, c, `document.querySelector("#whoami") !== null`, "signing in again")
	if got := eval[string](t, c, `location.pathname`); got != task {
		t.Errorf("signing in after the form opened %s, want the task's page %s", got, task)
	}
	if got := taskState(t, s.st, s.failed); got != store.TaskError {
		t.Errorf("the form of the ended session left the task %s, want error (not retried)", got)
	}
}
