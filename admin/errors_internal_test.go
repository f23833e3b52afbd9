package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/store"
)

// lastErrors reads the engine's error documents, shows diagnostics from
// the document or from the step's transition metadata, keeps a document
// that is not one as its text, and lists the latest failure first.
func TestLastErrors(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	inProgress := string(store.StepInProgress)
	d := &store.TaskDetail{Task: &store.Task{ID: 1}, Steps: []*store.Step{
		{ID: 1, Name: "fetch", State: store.StepError, UpdatedAt: t0,
			LastError: store.JSON(`{"error":"timeout","attempt":3,"kind":"retries_exhausted","diagnostics":{"hint":"upstream slow"}}`)},
		{ID: 2, Name: "parse", State: store.StepPending, UpdatedAt: t0,
			LastError: store.JSON(`{"error":"bad row","attempt":1,"kind":"error"}`)},
		{ID: 3, Name: "legacy", State: store.StepResolvedManually, UpdatedAt: t0, LastError: store.JSON(`"plain text"`)},
		{ID: 4, Name: "fine", State: store.StepComplete, UpdatedAt: t0},
	}}
	h := &store.History{Steps: []*store.StepTransition{
		{StepID: 1, FromState: &inProgress, ToState: "error", CreatedAt: t0.Add(time.Minute)},
		{StepID: 2, FromState: &inProgress, ToState: "pending", CreatedAt: t0.Add(2 * time.Minute), Metadata: store.JSON(`{"diagnostics":{"rows":[7]}}`)},
	}}
	got := lastErrors(d, h)
	if len(got) != 3 {
		t.Fatalf("%d errors, want 3 (the complete step has none): %+v", len(got), got)
	}
	if got[0].Step != "parse" || !got[0].At.Equal(t0.Add(2*time.Minute)) || !strings.Contains(got[0].Diagnostics, `"rows"`) || got[0].Message != "bad row" {
		t.Errorf("first = %+v, want parse (the latest failure) with the diagnostics of its transition", got[0])
	}
	if got[1].Step != "fetch" || got[1].Kind != "retries_exhausted" || got[1].Attempt != 3 || !strings.Contains(got[1].Diagnostics, `"hint": "upstream slow"`) {
		t.Errorf("second = %+v, want fetch with the document's diagnostics, indented", got[1])
	}
	if got[2].Step != "legacy" || got[2].Message != `"plain text"` || got[2].Diagnostics != "" || !got[2].Resolved {
		t.Errorf("third = %+v, want legacy's document as text, no diagnostics, resolved", got[2])
	}
}

// A transition's metadata reads as words on the timeline: an error
// document's message, another object's fields as "key: value" in key
// order (strings unquoted), anything else as its text. The dashboard
// showed the stored JSON (`{"actor":"token:ops","reason":"…"}`).
func TestMetaText(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{``, ``},
		{`null`, ``},
		{`{"reason":"customer called","actor":"token:ops-oncall"}`, `actor: token:ops-oncall · reason: customer called`},
		{`{"error":"card declined","kind":"permanent","attempt":1}`, `card declined (permanent)`},
		{`{"error":"429","kind":"retryable","attempt":1,"retry_after_ms":30000}`, `429 (retryable, retry asked after 30s)`},
		{`{"reason":"lease expired","attempt":2,"worker":{"id":"w-1"},"note":null}`, `attempt: 2 · note: null · reason: lease expired · worker: {"id":"w-1"}`},
		{`"plain text"`, `"plain text"`},
		{`{}`, `{}`},
	} {
		if got := metaText(store.JSON(c.doc)); got != c.want {
			t.Errorf("metaText(%s) = %q, want %q", c.doc, got, c.want)
		}
	}
}

// A transient database failure met after the token was checked (a
// dropped connection, a server restarting, a serialization failure) is
// 503, as the package doc says of a database that cannot be reached and
// as the token's check answers it: it was 500, which a client reads as
// the server's fault, not one to try again.
func TestStatusOfATransientDatabaseError(t *testing.T) {
	err := fmt.Errorf("listing tasks: %w: %w", store.ErrRetryable, errors.New("connection reset by peer"))
	if got := status(err); got != http.StatusServiceUnavailable {
		t.Fatalf("status(%v) = %d, want 503", err, got)
	}
}
