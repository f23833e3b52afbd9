package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/store"
)

func TestPrintDiagnoses(t *testing.T) {
	doc := `{"error":"status 503 Service Unavailable","attempt":1,"kind":"error",
		"diagnosis":{"class":"http_5xx","rules":["http_5xx"],"insights":["the server failed (HTTP 503): usually passing"],
			"suggestions":["name the step's DependentSystem"],"system":{"pool_in_use":3,"pool_max":10,"pool_utilisation":0.3,"pressure":"low","running":2,"max_concurrency":32}},
		"backoff":{"base_ms":2000,"error_class":"http_5xx","error_factor":1.3,"pressure":"low","pressure_factor":0.8,"history_attempts":40,"history_succeeded":30,"history_factor":1,"final_ms":2080}}`
	var out bytes.Buffer
	printDiagnoses(&out, []*store.Step{{Name: "ok"}, {Name: "call", LastError: store.JSON(doc)}, {Name: "old", LastError: store.JSON(`{"error":"x","kind":"error"}`)}})
	got := out.String()
	for _, want := range []string{"DIAGNOSIS", "call (attempt 1, error)", "rules:    http_5xx", "insight:  the server failed (HTTP 503)",
		"suggest:  name the step's DependentSystem", "pool 3/10 in use (low pressure), 2 handlers running of 32",
		"backoff:  retry in 2080ms = base 2000ms × error http_5xx 1.3 × pressure low 0.8 × history 30/40 1"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "old (") || strings.Contains(got, "ok (") {
		t.Errorf("steps without a diagnosis printed:\n%s", got)
	}
	// The history prints every retry's decision, however long the error.
	var hist bytes.Buffer
	from := "in_progress"
	long := strings.Replace(doc, "status 503", strings.Repeat("x", 200)+" status 503", 1)
	if err := printHistory(&hist, &store.History{Steps: []*store.StepTransition{{StepID: 1, FromState: &from, ToState: "pending", Metadata: store.JSON(long)}}}, map[int64]string{1: "call"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hist.String(), "; retry in 2080ms = base 2000ms") {
		t.Errorf("history lacks the decision:\n%s", hist.String())
	}
}
