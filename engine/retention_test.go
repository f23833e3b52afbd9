package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/pgtest"
	"github.com/tasker-go/tasker/store"
	"github.com/tasker-go/tasker/store/postgres"
	"github.com/tasker-go/tasker/store/sqlite"
)

// A template's and a code-first workflow's retention reach their tasks'
// rows (and so the deleter), on both databases; a template without one
// leaves the engine's default (NULL).
func TestRetentionPerWorkflow(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			ctx := context.Background()
			var s store.Store
			var err error
			if db == "sqlite" {
				s, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "r.db"), nil)
			} else {
				s, err = postgres.Open(ctx, pgtest.URL(t), &postgres.Options{Schema: pgtest.NewSchema(t), MaxConns: 4})
			}
			must(t, err)
			t.Cleanup(func() { s.Close() })
			e, err := engine.New(engine.Config{Store: s, Execution: engine.ExecutionConfig{Retention: 24 * time.Hour}})
			must(t, err)
			must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return "ok", nil }))
			steps := []engine.StepTemplate{{Name: "a", Handler: "h"}}
			must(t, e.Register(&engine.Template{Namespace: "r", Name: "short", Retention: time.Hour, Steps: steps}))
			must(t, e.Register(&engine.Template{Namespace: "r", Name: "kept", Retention: engine.KeepForever, Steps: steps}))
			must(t, e.Register(&engine.Template{Namespace: "r", Name: "plain", Steps: steps}))
			must(t, engine.RegisterWorkflow(e, "r/code", func(*engine.WorkflowContext, int) (int, error) { return 1, nil },
				engine.WithRetention(2*time.Hour)))
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- e.Run(runCtx) }()
			t.Cleanup(func() { stop(); <-done })

			ids := map[string]int64{}
			for _, name := range []string{"short", "kept", "plain"} {
				h, err := e.Start(ctx, "r/"+name, nil)
				must(t, err)
				o, err := h.Wait(ctx)
				must(t, err)
				if o.State != store.TaskComplete {
					t.Fatalf("%s ended %s", name, o.State)
				}
				ids[name] = h.TaskID
			}
			wh, err := engine.StartWorkflow[int, int](ctx, e, "r/code", 1)
			must(t, err)
			_, err = wh.Result(ctx)
			must(t, err)
			ids["code"] = wh.TaskID
			for name, want := range map[string]int64{"short": 3_600_000, "kept": -1, "plain": 0, "code": 7_200_000} {
				d, err := s.GetTask(ctx, ids[name])
				must(t, err)
				if d.Task.RetentionMS != want {
					t.Errorf("%s: retention_ms %d, want %d", name, d.Task.RetentionMS, want)
				}
			}
			// Three hours on, with the default a day: the hour's and the
			// two hours' tasks are due, the others not.
			now := time.Now()
			n, err := s.DeleteFinished(ctx, &store.DeleteFinishedParams{Now: now.Add(3 * time.Hour), Before: now.Add(3*time.Hour - 24*time.Hour)})
			must(t, err)
			if n != 2 {
				t.Fatalf("deleted %d, want 2", n)
			}
			for name, gone := range map[string]bool{"short": true, "code": true, "kept": false, "plain": false} {
				_, err := s.GetTask(ctx, ids[name])
				if got := errors.Is(err, store.ErrNotFound); got != gone {
					t.Errorf("%s: deleted %v, want %v (%v)", name, got, gone, err)
				}
			}
		})
	}
}

// A bad retention is refused where it is declared, naming the workflow.
func TestRetentionRefused(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "r.db"), nil)
	must(t, err)
	t.Cleanup(func() { s.Close() })
	e, err := engine.New(engine.Config{Store: s})
	must(t, err)
	must(t, e.HandleFunc("h", func(*engine.StepContext) (any, error) { return nil, nil }))
	for _, d := range []time.Duration{-2 * time.Second, time.Microsecond} {
		err := e.Register(&engine.Template{Namespace: "r", Name: "bad", Retention: d, Steps: []engine.StepTemplate{{Name: "a", Handler: "h"}}})
		if !errors.Is(err, engine.ErrInvalidTemplate) || !strings.Contains(err.Error(), "r/bad") || !strings.Contains(err.Error(), "retention") {
			t.Errorf("template retention %s: %v", d, err)
		}
		err = engine.RegisterWorkflow(e, "r/badcode", func(*engine.WorkflowContext, int) (int, error) { return 0, nil }, engine.WithRetention(d))
		if !errors.Is(err, engine.ErrInvalidTemplate) || !strings.Contains(err.Error(), "r/badcode") || !strings.Contains(err.Error(), "retention") {
			t.Errorf("workflow retention %s: %v", d, err)
		}
	}
	// Given twice with different values (the later won silently); the same
	// value twice is accepted.
	err = engine.RegisterWorkflow(e, "r/badcode", func(*engine.WorkflowContext, int) (int, error) { return 0, nil }, engine.WithRetention(time.Hour), engine.WithRetention(engine.KeepForever))
	if !errors.Is(err, engine.ErrInvalidTemplate) || !strings.Contains(err.Error(), "r/badcode") || !strings.Contains(err.Error(), "WithRetention given 2 times, with 1h0m0s, KeepForever: give one") {
		t.Errorf("WithRetention twice: %v", err)
	}
	must(t, engine.RegisterWorkflow(e, "r/twice", func(*engine.WorkflowContext, int) (int, error) { return 0, nil }, engine.WithRetention(time.Hour), engine.WithRetention(time.Hour)))
	// WithRetention(0) did nothing: the engine's retention applied, where
	// the option reads as "keep nothing once finished".
	err = engine.RegisterWorkflow(e, "r/badcode", func(*engine.WorkflowContext, int) (int, error) { return 0, nil }, engine.WithRetention(0))
	if !errors.Is(err, engine.ErrInvalidTemplate) || !strings.Contains(err.Error(), "r/badcode") || !strings.Contains(err.Error(), "WithRetention(0): ") {
		t.Errorf("WithRetention(0): %v", err)
	}
	if _, err := e.Start(ctx, "r/bad", nil); !errors.Is(err, engine.ErrUnknownTemplate) {
		t.Errorf("a refused template was registered: %v", err)
	}
	if _, err := engine.StartWorkflow[int, int](ctx, e, "r/badcode", 1); !errors.Is(err, engine.ErrUnknownWorkflow) {
		t.Errorf("a refused workflow was registered: %v", err)
	}
}

func TestRetentionInYAML(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "forever": engine.KeepForever, "90m": 90 * time.Minute} {
		tpl, err := engine.ParseTemplate([]byte("namespace: r\nname: y\nretention: "+in+"\nsteps: [{name: a, handler: h}]\n"), "")
		must(t, err)
		if tpl.Retention != want {
			t.Errorf("retention: %s read as %s, want %s", in, tpl.Retention, want)
		}
	}
	for _, in := range []string{"soon", "0d", "-1h", "1.5d", "7"} {
		_, err := engine.ParseTemplate([]byte("namespace: r\nname: y\nsteps: [{name: a, handler: h}]\nretention: "+in+"\n"), "")
		if !errors.Is(err, engine.ErrInvalidTemplate) || !strings.Contains(err.Error(), "line 4") || !strings.Contains(err.Error(), "retention") {
			t.Errorf("retention: %s: %v", in, err)
		}
	}
}

// A retention in YAML that is a duration the engine refuses says why, as
// ParseRetention does; it was reported as "must be a duration such as 720h
// or 30d, or forever, got the string \"0s\"", which it is.
func TestRetentionInYAMLSaysWhatIsWrong(t *testing.T) {
	for in, want := range map[string]string{
		"0s":    `retention: retention "0s": must be at least 1ms`,
		"500us": `retention: retention "500us": must be at least 1ms`,
		"-1h":   `retention: retention "-1h": must be at least 1ms`,
		"0d":    `retention: retention "0d": days must be a whole number from 1 to 36500`,
		"soon":  `retention: retention "soon": not a duration (72h), days (30d) or forever`,
		"7":     `retention: must be a duration such as 720h or 30d, or forever, got the number 7`,
	} {
		_, err := engine.ParseTemplate([]byte("namespace: r\nname: y\nsteps: [{name: a, handler: h}]\nretention: "+in+"\n"), "")
		if !errors.Is(err, engine.ErrInvalidTemplate) || !strings.Contains(err.Error(), want) {
			t.Errorf("retention: %s: %v, want %q", in, err, want)
		}
	}
}

// A negative duration is refused, -1ns included: it is KeepForever's value,
// so "retention: -1ns" kept the workflow's tasks for ever.
func TestParseRetentionRefusesNegative(t *testing.T) {
	for _, in := range []string{"-1ns", "-1h", "-0.000000001s"} {
		d, err := engine.ParseRetention(in)
		if err == nil || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseRetention(%q) = %s, %v; want an error naming it", in, d, err)
		}
	}
}

// A retention with a sign is refused, as the CLI's configuration refuses
// any duration with one: +7d was 7d (strconv.Atoi takes a sign, as
// time.ParseDuration does), text other than the value kept.
func TestParseRetentionRefusesASign(t *testing.T) {
	for in, want := range map[string]string{
		"+7d":   `retention "+7d" has a sign: write "7d"`,
		"+168h": `retention "+168h" has a sign: write "168h"`,
	} {
		if d, err := engine.ParseRetention(in); err == nil || err.Error() != want {
			t.Errorf("ParseRetention(%q) = %s, %v; want %q", in, d, err, want)
		}
		_, err := engine.ParseTemplate([]byte("namespace: r\nname: y\nsteps: [{name: a, handler: h}]\nretention: "+in+"\n"), "")
		if want := "retention: " + want; !errors.Is(err, engine.ErrInvalidTemplate) || !strings.Contains(err.Error(), want) {
			t.Errorf("template retention: %s: %v, want %q", in, err, want)
		}
	}
	if d, err := engine.ParseRetention("7d"); err != nil || d != 7*24*time.Hour {
		t.Errorf("ParseRetention(7d) = %s, %v", d, err)
	}
}

// A retention past the longest time.Duration is refused as too long, not
// as "not a duration": time.ParseDuration's error is the same for both.
func TestParseRetentionTooLongSaysSo(t *testing.T) {
	for _, in := range []string{"3000000h", "200000000m30s", "9999999999999999999ns"} {
		_, err := engine.ParseRetention(in)
		if err == nil || !strings.Contains(err.Error(), "longer than the longest duration") || !strings.Contains(err.Error(), "forever") {
			t.Errorf("ParseRetention(%q): %v; want an error saying it is too long", in, err)
		}
	}
	if _, err := engine.ParseRetention("7x"); err == nil || !strings.Contains(err.Error(), "not a duration") {
		t.Errorf("ParseRetention(7x): %v", err)
	}
}
