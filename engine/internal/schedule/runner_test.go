package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tasker-go/tasker/store"
)

// A firing's error is kept as the schedule's LastError only as a name the
// store takes: a NUL byte or invalid UTF-8 in the message (a workflow's
// input quoted in it, say) would have the schedule's update refused, and
// a long one is cut within the limit, on a character boundary.
func TestLastErrorIsANameTheStoreTakes(t *testing.T) {
	for _, err := range []error{
		errors.New("input \"a\x00b\" refused"),
		errors.New("input \"a\xffb\" refused"),
		errors.New(strings.Repeat("é", store.MaxNameLen)),
	} {
		msg := lastError(err)
		if sc := (&store.Schedule{ID: "s", Workflow: "w/x", Spec: "@every 1m", Overlap: "skip", Input: store.JSON(`{}`), NextFireAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), LastError: msg}); sc.Validate() != nil {
			t.Errorf("lastError(%.20q) = %.20q, which the store refuses: %v", err, msg, sc.Validate())
		}
		if !utf8.ValidString(msg) || strings.ContainsRune(msg, 0) || len(msg) > store.MaxNameLen || msg == "" {
			t.Errorf("lastError(%.20q) = %.20q", err, msg)
		}
	}
}
