package admin_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/store"
)

// TestReportSinceWithASignRefused: ?since=+1h is refused (400, naming the
// parameter and the value), on the API and the performance page alike, as
// the configuration refuses +30s; time.ParseDuration read it as 1h, while
// ?cursor=+5 is refused. A negative since keeps its error.
func TestReportSinceWithASignRefused(t *testing.T) {
	v := newEnv(t, admin.Config{})
	vw := v.token(store.RoleViewer)
	want := `since "+1h" has a sign: write "1h"`
	if code, body := v.do("GET", "/api/report?since=%2B1h", vw, ""); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["error"]), want) {
		t.Errorf("GET /api/report?since=+1h: %d %v, want 400 containing %q", code, body, want)
	}
	if code, page := v.page("GET", "/ui/performance?since=%2B1h", vw, nil); code != http.StatusBadRequest || !strings.Contains(page, want) {
		t.Errorf("GET /ui/performance?since=+1h: %d, want 400 containing %q", code, want)
	}
	if code, body := v.do("GET", "/api/report?since=-1h", vw, ""); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["error"]), `since "-1h" is not a duration between 1m and`) {
		t.Errorf("GET /api/report?since=-1h: %d %v, want 400 saying it is out of range", code, body)
	}
	if code, body := v.do("GET", "/api/report?since=1h", vw, ""); code != http.StatusOK {
		t.Errorf("GET /api/report?since=1h: %d %v, want 200", code, body)
	}
}
