package admin_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDashboardPerformanceWindowKeepsFilter: on the performance page of
// one workflow, the 1h, 24h and 7d links change the window and keep the
// workflow. They linked to performance?since=… alone, so a click showed
// every workflow's report.
func TestDashboardPerformanceWindowKeepsFilter(t *testing.T) {
	tab := browser(t)
	url, _ := longNames(t)
	ctx := tab()
	do(t, ctx, chromedp.Navigate(url+"/ui/performance?workflow=lay/out"), chromedp.WaitVisible(chromedp.CSS("#report-summary")))
	for _, link := range []string{"7d", "24h", "1h"} {
		// The link's address, as a click would follow it.
		href := eval[string](t, ctx, `[...document.querySelectorAll("main p.muted a")].find(a => a.textContent === "`+link+`")?.href ?? ""`)
		if href == "" {
			t.Fatalf("no %s link on the performance page", link)
		}
		do(t, ctx, chromedp.Navigate(href), chromedp.WaitVisible(chromedp.CSS("#report-summary")))
		got := eval[[]string](t, ctx, `[location.search, document.querySelector("main p.muted").textContent]`)
		if !strings.Contains(got[0], "workflow=lay%2Fout") || !strings.Contains(got[1], "workflow lay/out") {
			t.Errorf("after the %s link the page is %s showing %q; want the workflow lay/out kept", link, got[0], got[1])
		}
	}
	screenshot(t, ctx, "performance-workflow")
}
