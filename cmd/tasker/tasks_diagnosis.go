package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// recordedFailure is the part of a recorded failure (a step's last_error)
// that tasks show prints below the steps: the engine's diagnosis and the
// predictive retry's decision.
type recordedFailure struct {
	Attempt   int               `json:"attempt"`
	Kind      string            `json:"kind"`
	Diagnosis *engine.Diagnosis `json:"diagnosis"`
	Backoff   *struct {
		BaseMS          int64   `json:"base_ms"`
		ErrorClass      string  `json:"error_class"`
		ErrorFactor     float64 `json:"error_factor"`
		Pressure        string  `json:"pressure"`
		PressureFactor  float64 `json:"pressure_factor"`
		HistoryAttempts int     `json:"history_attempts"`
		HistorySuccess  int     `json:"history_succeeded"`
		HistoryFactor   float64 `json:"history_factor"`
		Bounded         string  `json:"bounded"`
		FinalMS         int64   `json:"final_ms"`
	} `json:"backoff"`
}

// printDiagnoses prints, for each step whose last failure was diagnosed,
// what the engine made of it.
func printDiagnoses(out io.Writer, steps []*store.Step) {
	header := false
	for _, s := range steps {
		var f recordedFailure
		if len(s.LastError) == 0 || json.Unmarshal(s.LastError, &f) != nil || f.Diagnosis == nil && f.Backoff == nil {
			continue
		}
		if !header {
			fmt.Fprintln(out, "\nDIAGNOSIS")
			header = true
		}
		fmt.Fprintf(out, "%s (attempt %d, %s)\n", s.Name, f.Attempt, f.Kind)
		if d := f.Diagnosis; d != nil {
			if len(d.Rules) > 0 {
				fmt.Fprintf(out, "  rules:    %s\n", strings.Join(d.Rules, ", "))
			}
			for _, i := range d.Insights {
				fmt.Fprintf(out, "  insight:  %s\n", i)
			}
			for _, s := range d.Suggestions {
				fmt.Fprintf(out, "  suggest:  %s\n", s)
			}
			sys := d.System
			fmt.Fprintf(out, "  system:   pool %d/%d in use (%s pressure), %d handlers running of %d\n",
				sys.PoolInUse, sys.PoolMax, sys.Pressure, sys.Running, sys.MaxConcurrency)
		}
		if b := backoffText(s.LastError); b != "" {
			fmt.Fprintf(out, "  backoff:  %s\n", b)
		}
	}
}

// backoffText is a recorded failure's predictive retry decision in one
// line ("" when there is none).
func backoffText(doc store.JSON) string {
	var f recordedFailure
	if len(doc) == 0 || json.Unmarshal(doc, &f) != nil || f.Backoff == nil {
		return ""
	}
	b := f.Backoff
	bounded := ""
	if b.Bounded != "" {
		bounded = " (bounded to " + b.Bounded + ")"
	}
	return fmt.Sprintf("retry in %dms = base %dms × error %s %.2g × pressure %s %.2g × history %d/%d %.2g%s",
		b.FinalMS, b.BaseMS, b.ErrorClass, b.ErrorFactor, b.Pressure, b.PressureFactor, b.HistorySuccess, b.HistoryAttempts, b.HistoryFactor, bounded)
}
