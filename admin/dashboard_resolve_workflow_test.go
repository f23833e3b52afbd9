package admin_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
)

// A code-first workflow that failed its WithWorkflowTimeout has one Resolve
// form on its page, its driver's, which closes it with the workflow's
// return value, and its note says so. The page offered a form for its
// pending event wait instead, whose resolve sent the task back to run into
// its deadline again, and none for the driver; the note said only to
// start the workflow anew. A workflow still waiting has no driver form.
func TestDashboardTimedOutWorkflowOffersItsDriver(t *testing.T) {
	late, waiting, page := timedOutPages(t)
	driverForm := fmt.Sprintf(`data-resolve="%s"`, engine.DriverStep)
	p := page(late)
	if n := strings.Count(p, `data-resolve=`); n != 1 || !strings.Contains(p, driverForm) {
		t.Fatalf("the timed-out workflow's page has %d Resolve forms (driver's: %v), want its driver's only", n, strings.Contains(p, driverForm))
	}
	if !strings.Contains(p, "resolving its driver") {
		t.Errorf("the timed-out workflow's note does not say to resolve its driver")
	}
	if strings.Contains(page(waiting), driverForm) {
		t.Fatalf("the waiting workflow's page offers to resolve its driver, which Resolve refuses")
	}
}
