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
	ctx, url, _ := longNamesTab(t)
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

// TestDashboardPerformanceNothingMeasured: where the report measured
// nothing the performance page shows "-", not a figure. A workflow with no
// complete task showed p50 and p95 "0s", a step with no complete run a
// mean "0s", and a trend with no previous value (0 tasks before, 1 now) a
// change of "0.0 %", as if nothing had changed.
func TestDashboardPerformanceNothingMeasured(t *testing.T) {
	ctx, url, _ := longNamesTab(t)
	do(t, ctx, chromedp.Navigate(url+"/ui/performance?workflow=lay/out"), chromedp.WaitVisible(chromedp.CSS("#report-summary")))
	screenshot(t, ctx, "performance-nothing-measured")
	cells := func(row string) []string {
		t.Helper()
		return eval[[]string](t, ctx, `[...(`+row+`)?.querySelectorAll("td") ?? []].map(td => td.textContent.trim())`)
	}
	// lay/out: 1 task, in error.
	if got := cells(`document.querySelector('#report-workflows tr[data-workflow="lay/out"]')`); strings.Join(got, "|") != "lay/out|1|0|1|-|-" {
		t.Errorf("the workflow's row reads %q; want p50 and p95 -", got)
	}
	// Step charge ran once and failed: no duration.
	if got := cells(`[...document.querySelectorAll("#report-steps tr")].find(r => r.cells[1]?.textContent === "charge")`); strings.Join(got, "|") != "lay/out|charge|1|0.0 %|1|-|-|-" {
		t.Errorf("step charge's row reads %q; want mean, p50 and p95 -", got)
	}
	if got := cells(`[...document.querySelectorAll("#report-trends tr")].find(r => r.cells[0]?.textContent === "tasks")`); strings.Join(got, "|") != "tasks|0.00|1.00|-" {
		t.Errorf("the tasks trend reads %q; want its change - (no previous value)", got)
	}
	// Each section's heading stands apart from the table above it (it sat
	// right under it, as if it were the table's last row).
	gaps := eval[[]float64](t, ctx, `[...document.querySelectorAll("main h2")].filter(h => h.previousElementSibling?.tagName === "TABLE").map(h => h.getBoundingClientRect().top - h.previousElementSibling.getBoundingClientRect().bottom)`)
	if len(gaps) == 0 {
		t.Fatal("no heading follows a table on the performance page")
	}
	for i, g := range gaps {
		if g < 12 {
			t.Errorf("heading %d after a table is %.0f px below it; want at least 12", i, g)
		}
	}
}

// TestDashboardPerformanceHealthSaysWhose: the health row's pool and
// running figures are the serving process's own (under `tasker serve`,
// which runs no workers: an idle pool, nothing running), the ready steps
// the database's; the page says so. It did not, as if the figures were
// the workers' (tasker report --json carried the same figures: it now
// leaves them out). And the pressure, one word ("not_assessed"), wrapped
// in two lines.
func TestDashboardPerformanceHealthSaysWhose(t *testing.T) {
	ctx, url, _ := longNamesTab(t)
	do(t, ctx, chromedp.Navigate(url+"/ui/performance"), chromedp.WaitVisible(chromedp.CSS("#report-health")))
	screenshot(t, ctx, "performance-health")
	whose := eval[string](t, ctx, `document.querySelector("#report-health-whose")?.textContent ?? ""`)
	for _, want := range []string{"Pool and running: the process serving this page", "tasker serve", "Ready steps: the database"} {
		if !strings.Contains(whose, want) {
			t.Errorf("the health section says %q; want it to say %q", whose, want)
		}
	}
	lines := eval[float64](t, ctx, `(() => { const r = document.createRange(); r.selectNodeContents(document.querySelector("#report-health td.word")); return r.getClientRects().length })()`)
	if lines != 1 {
		t.Errorf("the pool pressure cell's text spans %v lines; want 1", lines)
	}
}
