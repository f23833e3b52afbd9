package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

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
