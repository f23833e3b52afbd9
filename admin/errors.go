package admin

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tasker-go/tasker/store"
)

// lastError is one recorded failure as the task page shows it: the step's
// last error document (see engine.StepError) and, when the failure
// carries them, its diagnostics.
type lastError struct {
	Step     string // the row's name (data-error-step)
	Label    string // stepLabel
	Attempt  int
	Kind     string
	Code     string
	Message  string
	Stack    string
	Context  string // JSON, indented
	At       time.Time
	Resolved bool // the step was resolved since
	// Diagnostics are what the engine's error diagnostics attach to a
	// failure, under "diagnostics" in the error document or in the
	// metadata of the step's latest transition that has them: shown as
	// recorded (indented JSON); empty when none was recorded.
	Diagnostics string
}

// errorDoc is the error document the engine records (engine's failureDoc),
// read loosely: a document that is not one shows as its text.
type errorDoc struct {
	Message     string          `json:"error"`
	Step        string          `json:"step"`
	Attempt     int             `json:"attempt"`
	Kind        string          `json:"kind"`
	Code        string          `json:"code"`
	Stack       string          `json:"stack"`
	Context     json.RawMessage `json:"context"`
	Diagnostics json.RawMessage `json:"diagnostics"`
}

// errorText is a recorded error as a person reads it: an error document's
// message, after "step NAME: " when withStep and the document names its
// step; anything else (not a document) as its text, clipped.
func errorText(doc store.JSON, withStep bool) string {
	var d errorDoc
	if json.Unmarshal(doc, &d) != nil || d.Message == "" {
		return string(clip(doc))
	}
	if withStep && d.Step != "" {
		return "step " + d.Step + ": " + d.Message
	}
	return d.Message
}

// maxLastErrors bounds the errors the task page lists.
const maxLastErrors = 10

// lastErrors lists the steps' recorded failures, the latest first.
func lastErrors(d *store.TaskDetail, h *store.History) []lastError {
	// The metadata of each step's latest transition with diagnostics.
	// and the time of its latest failure (a move to error, or back to
	// pending from a failed attempt).
	moved := map[int64]store.JSON{}
	failedAt := map[int64]time.Time{}
	if h != nil {
		for _, t := range h.Steps { // oldest first: the latest wins
			if bytes.Contains(t.Metadata, []byte(`"diagnostics"`)) {
				moved[t.StepID] = t.Metadata
			}
			if t.ToState == string(store.StepError) || t.ToState == string(store.StepPending) && t.FromState != nil && *t.FromState == string(store.StepInProgress) {
				failedAt[t.StepID] = t.CreatedAt
			}
		}
	}
	var out []lastError
	for _, s := range d.Steps {
		if len(s.LastError) == 0 || string(s.LastError) == "null" {
			continue
		}
		e := lastError{Step: s.Name, Label: stepLabel(s), At: s.UpdatedAt, Resolved: s.State == store.StepResolvedManually}
		if at, ok := failedAt[s.ID]; ok {
			e.At = at
		}
		var doc errorDoc
		if err := json.Unmarshal(s.LastError, &doc); err != nil || (doc.Message == "" && doc.Kind == "") {
			e.Message = string(clip(s.LastError))
		} else {
			e.Attempt, e.Kind, e.Code, e.Message, e.Stack = doc.Attempt, doc.Kind, doc.Code, doc.Message, doc.Stack
			e.Context = indent(doc.Context)
			e.Diagnostics = indent(doc.Diagnostics)
		}
		if e.Diagnostics == "" {
			var meta struct {
				Diagnostics json.RawMessage `json:"diagnostics"`
			}
			if json.Unmarshal(moved[s.ID], &meta) == nil {
				e.Diagnostics = indent(meta.Diagnostics)
			}
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b lastError) int { return b.At.Compare(a.At) })
	if len(out) > maxLastErrors {
		out = out[:maxLastErrors]
	}
	return out
}

// indent is a JSON document indented for reading ("" for none or null),
// clipped like the rest of the page's documents.
func indent(doc json.RawMessage) string {
	if len(doc) == 0 || string(doc) == "null" {
		return ""
	}
	var b bytes.Buffer
	if json.Indent(&b, doc, "", "  ") != nil {
		return string(clip(store.JSON(doc)))
	}
	return string(clip(store.JSON(b.Bytes())))
}

// metaRunes is as much of a message or value as a timeline row shows.
const metaRunes = 160

// metaText is a transition's metadata as a person reads it: an error
// document's message (see errorText) with its kind and requested delay;
// another object's fields as "key: value" joined by " · ", in key order,
// strings unquoted and other values as compact JSON; anything else as its
// text. The raw document is in the API's history (GET /api/tasks/{id}).
// The message and each value are cut to metaRunes, so what is said after
// them (an error's kind) stays.
func metaText(doc store.JSON) string {
	if len(doc) == 0 || string(doc) == "null" {
		return ""
	}
	var e struct {
		errorDoc
		RetryAfterMS int64 `json:"retry_after_ms"`
	}
	if json.Unmarshal(doc, &e) == nil && e.Message != "" {
		text := short(errorText(doc, false), metaRunes)
		var about []string
		if e.Kind != "" {
			about = append(about, e.Kind)
		}
		if e.RetryAfterMS > 0 {
			about = append(about, "retry asked after "+(time.Duration(e.RetryAfterMS)*time.Millisecond).String())
		}
		if len(about) > 0 {
			text += " (" + strings.Join(about, ", ") + ")"
		}
		return text
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(doc, &fields) != nil || len(fields) == 0 {
		return short(string(clip(doc)), metaRunes)
	}
	parts := make([]string, 0, len(fields))
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		v := fields[k]
		var s string
		if string(v) == "null" || json.Unmarshal(v, &s) != nil {
			var b bytes.Buffer
			if json.Compact(&b, v) == nil {
				v = b.Bytes()
			}
			s = string(v)
		}
		parts = append(parts, k+": "+short(s, metaRunes))
	}
	return strings.Join(parts, " · ")
}
