package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/admin"
	"github.com/tasker-go/tasker/store"
)

// TestPaddedEventKeyRefused: an event's idempotency key with spaces
// around it, or of spaces alone, is refused (400, naming it) on the API
// and the dashboard's event form alike, as `tasker events send --key`
// refuses it: it was recorded as given, and the same decision sent again
// with the key typed without the spaces was another event. No key (absent
// or empty) is still an event sent every time.
func TestPaddedEventKeyRefused(t *testing.T) {
	v := newEnv(t, admin.Config{})
	op := v.token(store.RoleOperator)
	ctx := context.Background()
	h := approvalWaiting(t, v)
	path := fmt.Sprintf("/api/tasks/%d/events", h.TaskID)
	for key, want := range map[string]string{
		" decision":  `key " decision" has spaces around it: write "decision"`,
		"decision\t": `key "decision\t" has spaces around it: write "decision"`,
		"  ":         `key "  " is blank`,
	} {
		code, body := v.do("POST", path, op, fmt.Sprintf(`{"name":"approval","key":%q}`, key))
		if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["error"]), want) {
			t.Errorf("the API, key %q: %d %v, want 400 containing %q", key, code, body, want)
		}
	}
	task := fmt.Sprintf("/ui/tasks/%d", h.TaskID)
	_, page := v.page("GET", task, op, nil)
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the task page:\n%s", page)
	}
	form := url.Values{"csrf": {m[1]}, "name": {"approval"}, "key": {"form "}, "payload": {""}}
	code, page := v.page("POST", task+"/events", op, strings.NewReader(form.Encode()))
	if want := `key "form " has spaces around it: write "form"`; code != http.StatusBadRequest || !strings.Contains(page, want) {
		t.Errorf("the dashboard: %d, want 400 with a page containing %q; got:\n%s", code, want, page)
	}
	for _, key := range []string{" decision", "decision\t", "  ", "form "} {
		if created, err := v.e.SendEvent(ctx, h.TaskID, "approval", key, nil); err != nil || !created {
			t.Errorf("the refused event of key %q was recorded (probe: created %t, %v)", key, created, err)
		}
	}
	// No key: every send is an event.
	for i := range 2 {
		if code, body := v.do("POST", path, op, `{"name":"approval","key":""}`); code != http.StatusOK || body["duplicate"] != false {
			t.Fatalf("send %d without a key: %d %v, want 200, not a duplicate", i+1, code, body)
		}
	}
}
