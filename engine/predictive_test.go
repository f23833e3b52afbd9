package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
	"github.com/tasker-go/tasker/testkit"
)

// pressureFactors are the plan's weights by level name.
var pressureFactors = map[string]float64{"low": 0.8, "moderate": 1, "high": 1.5, "critical": 2.5, "not_assessed": 1}

// failOnce fails the first attempt of every task with err.
func failOnce(err error) engine.HandlerFunc {
	return func(sc *engine.StepContext) (any, error) {
		if sc.Attempt == 1 {
			return nil, err
		}
		return "ok", nil
	}
}

// lastFailure is the recorded failure of a step (its last_error).
func lastFailure(t *testing.T, env *testkit.Env, id int64) *engine.StepError {
	t.Helper()
	o, err := env.Wait(context.Background(), id)
	if err == nil {
		err = o.Err()
	}
	var te *engine.TaskError
	if errors.As(err, &te) && te.Failure != nil {
		return te.Failure
	}
	ex, xerr := env.Explain(context.Background(), id)
	if xerr != nil {
		t.Fatal(xerr)
	}
	t.Fatalf("task %d has no failure (explain: %+v)", id, ex)
	return nil
}

func TestPredictiveRetryWeighsAndRecordsTheDelay(t *testing.T) {
	policy := retry.Policy{Base: 10 * time.Second, Max: time.Hour, NoJitter: true}
	var at []time.Time
	env := testkit.NewEngine(t, nil)
	must(t, env.HandleFunc("h", func(sc *engine.StepContext) (any, error) {
		at = append(at, env.Clock.Now())
		return failOnce(errors.New("upstream: 503 Service Unavailable"))(sc)
	}))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "p", PredictiveRetry: true,
		Steps: []engine.StepTemplate{{Name: "call", Handler: "h", Backoff: policy}}}))
	hd, err := env.Start(context.Background(), "t/p", nil)
	must(t, err)
	// Stop after the failure, to read the decision the retry waits on.
	if _, err := env.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	ex, err := env.Explain(context.Background(), hd.TaskID)
	must(t, err)
	b := ex.Steps[0].Backoff
	if b == nil {
		t.Fatalf("no backoff decision in Explain: %+v", ex.Steps[0])
	}
	pf, ok := pressureFactors[b.Pressure]
	if !ok || b.PressureFactor != pf {
		t.Fatalf("pressure %q factor %v", b.Pressure, b.PressureFactor)
	}
	want := time.Duration(math.Round(float64(10*time.Second) * 1.3 * pf * 1))
	if b.Base != 10*time.Second || b.ErrorClass != "http_5xx" || b.ErrorFactor != 1.3 || b.HistoryAttempts != 0 || b.HistoryFactor != 1 || b.Final != want {
		t.Fatalf("decision %+v, want final %s", b, want)
	}
	if !strings.Contains(ex.Steps[0].Reason, "predicted delay") {
		t.Errorf("Explain's reason does not mention the prediction: %s", ex.Steps[0].Reason)
	}
	// The decision is in the retry's transition metadata.
	h, err := env.Store.History(context.Background(), hd.TaskID)
	must(t, err)
	var retryMeta string
	for _, tr := range h.Steps {
		if tr.FromState != nil && *tr.FromState == "in_progress" && tr.ToState == "pending" {
			retryMeta = string(tr.Metadata)
		}
	}
	if !strings.Contains(retryMeta, `"backoff":{"base_ms":10000`) || !strings.Contains(retryMeta, `"error_class":"http_5xx"`) {
		t.Fatalf("retry transition metadata %s lacks the decision", retryMeta)
	}
	env.RunUntilDone(hd.TaskID)
	if len(at) != 2 || at[1].Sub(at[0]) < want {
		t.Fatalf("attempts at %v: want the second %s after the first", at, want)
	}
}

func TestPredictiveRetryToggle(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	must(t, env.HandleFunc("h", failOnce(errors.New("dial tcp 10.0.0.1:443: connect: connection refused"))))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "p",
		Steps: []engine.StepTemplate{{Name: "call", Handler: "h", Backoff: retry.Policy{Base: 4 * time.Second, NoJitter: true}}}}))
	n := 0
	run := func() *engine.BackoffDecision {
		t.Helper()
		n++
		hd, err := env.Start(context.Background(), "t/p", map[string]int{"n": n})
		must(t, err)
		if _, err := env.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		ex, err := env.Explain(context.Background(), hd.TaskID)
		must(t, err)
		if ex.Steps[0].Diagnosis == nil || !slices.Contains(ex.Steps[0].Diagnosis.Rules, "connection_refused") {
			t.Fatalf("every failure is diagnosed: %+v", ex.Steps[0].Diagnosis)
		}
		b := ex.Steps[0].Backoff
		env.RunUntilDone(hd.TaskID)
		return b
	}
	if b := run(); b != nil {
		t.Fatalf("predicted with the toggle off and no template flag: %+v", b)
	}
	must(t, env.SetToggle(context.Background(), cachex.TogglePredictiveRetry, true))
	b := run()
	if b == nil || b.ErrorClass != "connection_refused" || b.ErrorFactor != 2 {
		t.Fatalf("with the toggle on: %+v", b)
	}
}

// TestPredictiveRetryUsesHistory: ten tasks whose step succeeded at its
// second attempt make the eleventh's retry come sooner (factor 0.8), and
// the history is read through the cache.
func TestPredictiveRetryUsesHistory(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	must(t, env.HandleFunc("h", failOnce(errors.New("boom"))))
	must(t, env.Register(&engine.Template{Namespace: "t", Name: "p",
		Steps: []engine.StepTemplate{{Name: "call", Handler: "h", Backoff: retry.Policy{Base: 20 * time.Second, NoJitter: true}}}}))
	var ids []int64
	for i := range 10 {
		hd, err := env.Start(context.Background(), "t/p", map[string]int{"n": i})
		must(t, err)
		ids = append(ids, hd.TaskID)
	}
	env.RunUntilDone(ids...)
	must(t, env.SetToggle(context.Background(), cachex.TogglePredictiveRetry, true))
	var last *engine.BackoffDecision
	for i := range 2 {
		hd, err := env.Start(context.Background(), "t/p", map[string]int{"n": 100 + i})
		must(t, err)
		if _, err := env.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		ex, err := env.Explain(context.Background(), hd.TaskID)
		must(t, err)
		last = ex.Steps[0].Backoff
		if last == nil || last.HistoryAttempts != 10 || last.HistorySucceeded != 10 || last.HistoryFactor != 0.8 {
			t.Fatalf("decision %+v, want 10/10 at attempt 2 and factor 0.8", last)
		}
	}
	var fam *engine.CacheFamily
	for _, f := range env.Status().Cache {
		if f.Family == "step_history" {
			fam = &f
		}
	}
	if fam == nil || fam.Misses != 1 || fam.Hits != 1 || fam.HitRate != 0.5 || fam.TTL != 30*time.Second || fam.Adaptive {
		t.Fatalf("history cache %+v, want one miss then one hit, fixed TTL 30s", fam)
	}
	must(t, env.SetToggle(context.Background(), cachex.ToggleAdaptiveTTL, true))
	for _, f := range env.Status().Cache {
		if f.Family == "step_history" && (!f.Adaptive || f.TTL == 30*time.Second) {
			t.Fatalf("with adaptive_ttl on the TTL should adapt: %+v", f)
		}
	}
}

func TestPredictiveRetryConfig(t *testing.T) {
	for _, c := range []struct {
		p    engine.PredictiveRetryConfig
		want string
	}{
		{engine.PredictiveRetryConfig{Min: -time.Second}, "must not be negative"},
		{engine.PredictiveRetryConfig{Min: 10 * time.Minute}, "min 10m0s exceeds the default max 5m0s: set max too"},
		// Max alone under the default Min: the error said "min 1s exceeds
		// max 500ms", naming a min that was never set.
		{engine.PredictiveRetryConfig{Max: 500 * time.Millisecond}, "the default min 1s exceeds max 500ms: set min too"},
		{engine.PredictiveRetryConfig{Min: 2 * time.Second, Max: time.Second}, "min 2s exceeds max 1s"},
		// A bare number is nanoseconds: Min: 2 bounded delays at 2 ns.
		{engine.PredictiveRetryConfig{Min: 2}, "predictive retry: min 2ns is under a millisecond: a bare number is nanoseconds"},
		{engine.PredictiveRetryConfig{Max: 300}, "predictive retry: max 300ns is under a millisecond"},
	} {
		cfg := engine.Config{Store: testkit.NewEngine(t, nil).Store, PredictiveRetry: c.p}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.p, err, c.want)
		}
	}
	for _, p := range []engine.PredictiveRetryConfig{{}, {Min: time.Millisecond, Max: time.Millisecond}} {
		cfg := engine.Config{Store: testkit.NewEngine(t, nil).Store, PredictiveRetry: p}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
}

func TestRetentionChoices(t *testing.T) {
	s := testkit.NewEngine(t, nil).Store
	for _, c := range []struct {
		r  time.Duration
		ok bool
	}{{0, true}, {engine.KeepForever, true}, {time.Hour, true}, {-2 * time.Second, false}} {
		cfg := engine.Config{Store: s, Execution: engine.ExecutionConfig{Retention: c.r}}
		if err := cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("retention %s: %v", c.r, err)
		}
	}
	if engine.DefaultRetention != 7*24*time.Hour {
		t.Fatalf("default retention %s", engine.DefaultRetention)
	}
}

func TestPresets(t *testing.T) {
	s := testkit.NewEngine(t, nil).Store
	for _, name := range []string{engine.PresetDevelopment, engine.PresetTest, engine.PresetProduction} {
		c, err := engine.Preset(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.Execution.Retention <= 0 {
			t.Errorf("%s keeps finished tasks forever", name)
		}
		c.Store = s
		e, err := engine.New(c)
		if err != nil {
			t.Fatalf("%s: New: %v", name, err)
		}
		_ = e.Close()
	}
	if c, _ := engine.Preset(engine.PresetTest); c.Execution.LeaseTTL != 5*time.Second || c.Retry.Max != 100*time.Millisecond {
		t.Errorf("test preset %+v", c.Execution)
	}
	if _, err := engine.Preset("staging"); err == nil || !strings.Contains(err.Error(), `unknown preset "staging" (one of development, test, production)`) {
		t.Fatalf("unknown preset: %v", err)
	}
}

// The development preset caps retries at a minute (its doc), predicted
// ones included: under Template.PredictiveRetry (or the predictive_retry
// toggle) a delay was bounded by the predictive retry's default 5 min, so
// a refused connection at the capped backoff waited 2 min (1 min x 2).
func TestDevelopmentPresetCapsPredictedRetries(t *testing.T) {
	c, err := engine.Preset(engine.PresetDevelopment)
	must(t, err)
	c.Retry.NoJitter = true // the full backoff every time: the test is deterministic
	env := testkit.NewEngine(t, &testkit.Options{Config: c})
	t.Cleanup(func() { _ = env.Close() })
	var at []time.Time
	must(t, env.HandleFunc("dial", func(*engine.StepContext) (any, error) {
		at = append(at, env.Clock.Now())
		return nil, errors.New("dial tcp 10.0.0.1:5432: connect: connection refused")
	}))
	must(t, env.Register(&engine.Template{Namespace: "p", Name: "dev", PredictiveRetry: true,
		Steps: []engine.StepTemplate{{Name: "a", Handler: "dial", RetryLimit: 10}}}))
	h, err := env.Start(context.Background(), "p/dev", nil)
	must(t, err)
	env.RunUntilDone(h.TaskID)
	if len(at) != 10 {
		t.Fatalf("%d attempts, want 10", len(at))
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap > time.Minute {
			t.Fatalf("attempt %d came %s after the one before: over the preset's minute", i+1, gap)
		}
	}
	if f := lastFailure(t, env, h.TaskID); f.Diagnosis == nil || f.Diagnosis.Class != "connection_refused" {
		t.Fatalf("failure %+v, want a refused connection", f)
	}
}

// A durable step's history is that of its rows, named name#seq: the
// predictive retry asked for steps named "call", which only a DAG step
// is, so a code-first workflow's steps never had a history (0 attempts,
// factor 1) however often they had run.
func TestPredictiveRetryUsesADurableStepsHistory(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	registerFailsOnce(t, env.Engine, "t/dur", engine.WithStepBackoff(retry.Policy{Base: 20 * time.Second, NoJitter: true}))
	env.RunUntilDone(startInts(t, env.Engine, "t/dur", 10)...)
	must(t, env.SetToggle(context.Background(), cachex.TogglePredictiveRetry, true))
	w, err := engine.StartWorkflow[int, int](context.Background(), env.Engine, "t/dur", 100)
	must(t, err)
	if _, err := env.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Backoff *struct {
			HistoryAttempts  int     `json:"history_attempts"`
			HistorySucceeded int     `json:"history_succeeded"`
			HistoryFactor    float64 `json:"history_factor"`
		} `json:"backoff"`
	}
	for _, s := range env.Task(w.TaskID).Steps {
		if s.Name == "call#1" {
			must(t, json.Unmarshal(s.LastError, &doc))
		}
	}
	if b := doc.Backoff; b == nil || b.HistoryAttempts != 10 || b.HistorySucceeded != 10 || b.HistoryFactor != 0.8 {
		t.Fatalf("decision %+v, want the step's 10 runs, all complete at attempt 2 (factor 0.8)", b)
	}
}

// Explain's reason for a durable step's retry names the predicted delay,
// as a DAG step's does: it carried the decision (Backoff) but said
// nothing of it.
func TestExplainNamesADurableStepsPredictedDelay(t *testing.T) {
	env := testkit.NewEngine(t, nil)
	t.Cleanup(func() { _ = env.Close() })
	must(t, env.SetToggle(context.Background(), cachex.TogglePredictiveRetry, true))
	must(t, engine.RegisterWorkflow(env.Engine, "t/retry", func(wctx *engine.WorkflowContext, _ struct{}) (string, error) {
		return engine.Step(wctx, "fetch", func(ctx context.Context) (string, error) { return "", errors.New("upstream down") })
	}))
	ctx := context.Background()
	h, err := engine.StartWorkflow[struct{}, string](ctx, env.Engine, "t/retry", struct{}{})
	must(t, err)
	_, err = env.RunOnce(ctx)
	must(t, err)
	s := explainStep(t, env.Engine, h.TaskID, engine.DriverStep)
	if s.Kind != engine.ExplainRetry || s.Backoff == nil {
		t.Fatalf("durable retry explained as %+v, want a retry with its decision", s)
	}
	if want := "; predicted delay " + s.Backoff.String(); !strings.HasSuffix(s.Reason, want) {
		t.Fatalf("reason %q does not end with %q", s.Reason, want)
	}
}
