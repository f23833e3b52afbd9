package engine

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tasker-go/tasker/engine/internal/pressure"
	"github.com/tasker-go/tasker/store"
)

// The recommendation rules' thresholds.
const (
	retryHeavyRate   = 0.2  // a step retried in 20 % of its runs…
	minRunsForRate   = 10   // …over at least 10 runs
	errorRateAlarm   = 0.05 // 5 % of finished tasks in error
	bottleneckShare  = 0.5  // a step that is half its workflow's time
	lowConcurrency   = 5    // the plan's "recommended concurrency < 5"
	maxBottlenecks   = 5
	reportPercentile = 0.95
)

// buildReport computes a report from the window's data and the previous
// window's; it is pure (health is read by the caller).
func buildReport(cur, prev *store.ReportData, from, to, now time.Time, h SystemHealth) *Report {
	r := &Report{From: from.UTC(), To: to.UTC(), Sampled: len(cur.Tasks), Health: h}
	end := to
	if now.Before(to) {
		end = now
	}
	r.Summary = summarise(cur, end.Sub(from))
	r.Steps = stepReports(cur)
	r.Bottlenecks = bottlenecks(cur)
	r.Recommendations = recommend(r)
	r.Trends = trends(summarise(prev, to.Sub(from)), r.Summary)
	// Lists are [] in JSON when empty, as steps' already was, not null: a
	// dashboard or script iterating them needs no nil check.
	emptyNotNil(&r.Bottlenecks)
	emptyNotNil(&r.Recommendations)
	emptyNotNil(&r.Summary.Workflows)
	emptyNotNil(&r.Steps)
	return r
}

// emptyNotNil makes a nil list an empty one.
func emptyNotNil[T any](list *[]T) {
	if *list == nil {
		*list = []T{}
	}
}

func workflowOf(ns, name string) string { return ns + "/" + name }

// stepName is the name a step is reported under: for a code-first task's
// durable step, the name its code gave it, whatever its sequence in the
// run (its row is name#seq), as the metrics label it; else its name. A
// durable step the code named as the driver keeps its row's name, apart
// from the driver's runs.
func stepName(code bool, s *store.ReportStep) string {
	if code && s.Name != DriverStep {
		if name, _, ok := store.ParseDurableStepName(s.Name); ok && name != DriverStep {
			return name
		}
	}
	return s.Name
}

func summarise(d *store.ReportData, window time.Duration) ReportSummary {
	var s ReportSummary
	byWf := map[string]*WorkflowSummary{}
	wf := func(name string) *WorkflowSummary {
		w := byWf[name]
		if w == nil {
			w = &WorkflowSummary{Workflow: name}
			byWf[name] = w
		}
		return w
	}
	for _, c := range d.Counts {
		w := wf(workflowOf(c.Namespace, c.Name))
		s.Tasks += c.Count
		w.Tasks += c.Count
		switch c.State {
		case store.TaskComplete:
			s.Complete += c.Count
			w.Complete += c.Count
		case store.TaskError:
			s.Failed += c.Count
			w.Failed += c.Count
		case store.TaskCancelled:
			s.Cancelled += c.Count
		case store.TaskResolvedManually:
			s.Resolved += c.Count
		default:
			s.Running += c.Count
		}
	}
	if finished := s.finished(); finished > 0 {
		s.CompletionRate = float64(s.Complete) / float64(finished)
		s.ErrorRate = float64(s.Failed) / float64(finished)
	}
	if window > 0 {
		s.ThroughputPerHour = float64(s.Complete) / window.Hours()
	}
	durations := map[string][]time.Duration{}
	for _, t := range d.Tasks {
		if t.State == store.TaskComplete && t.CompletedAt != nil {
			name := workflowOf(t.Namespace, t.Name)
			durations[name] = append(durations[name], t.CompletedAt.Sub(t.CreatedAt))
		}
	}
	for name, w := range byWf {
		w.P50, w.P95 = percentile(durations[name], 0.5), percentile(durations[name], reportPercentile)
		w.timed = len(durations[name])
		s.Workflows = append(s.Workflows, *w)
	}
	slices.SortFunc(s.Workflows, func(a, b WorkflowSummary) int { return cmp.Compare(a.Workflow, b.Workflow) })
	return s
}

// finished counts the summary's finished tasks.
func (s *ReportSummary) finished() int { return s.Complete + s.Failed + s.Cancelled + s.Resolved }

// percentile is the nearest-rank percentile (0 for no values).
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func stepReports(d *store.ReportData) []StepReport {
	wfOf, code := map[int64]string{}, map[int64]bool{}
	for _, t := range d.Tasks {
		wfOf[t.ID], code[t.ID] = workflowOf(t.Namespace, t.Name), t.Kind == store.KindCode
	}
	type key struct{ wf, step string }
	acc := map[key]*StepReport{}
	durs := map[key][]time.Duration{}
	for _, s := range d.Steps {
		if s.Attempts == 0 {
			continue // never ran
		}
		k := key{wfOf[s.TaskID], stepName(code[s.TaskID], &s)}
		r := acc[k]
		if r == nil {
			r = &StepReport{Workflow: k.wf, Step: k.step, durable: code[s.TaskID] && s.Name != DriverStep}
			acc[k] = r
		}
		r.Runs++
		r.Attempts += s.Attempts
		if s.Attempts > 1 {
			r.Retried++
		}
		if s.State == store.StepError {
			r.Failed++
		}
		if s.State == store.StepComplete && s.StartedAt != nil && s.CompletedAt != nil {
			since := *s.StartedAt
			if code[s.TaskID] && isWait(s.Handler) {
				since = s.CreatedAt // the row is written complete when the wait ends
			}
			durs[k] = append(durs[k], max(s.CompletedAt.Sub(since), 0))
		}
	}
	out := make([]StepReport, 0, len(acc))
	for k, r := range acc {
		r.RetryRate = float64(r.Retried) / float64(r.Runs)
		if ds := durs[k]; len(ds) > 0 {
			var sum time.Duration
			for _, d := range ds {
				sum += d
			}
			r.Mean, r.P50, r.P95 = sum/time.Duration(len(ds)), percentile(ds, 0.5), percentile(ds, reportPercentile)
			r.timed = len(ds)
		}
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b StepReport) int {
		return cmp.Or(cmp.Compare(a.Workflow, b.Workflow), cmp.Compare(a.Step, b.Step))
	})
	return out
}

// isWait reports whether a code-first workflow's durable row of this kind
// (its handler) is a wait, recorded when it began and completed when it
// ended, rather than an attempt that ran.
func isWait(kind string) bool {
	switch kind {
	case kindSleep, kindEvent, kindChild, kindSelect:
		return true
	}
	return false
}

// bottlenecks walks each complete sampled task's critical path back from
// its last step to finish: each step on it is charged the time from its
// predecessor's completion (or the task's creation) to its own. A DAG
// step's predecessor is the last of its dependencies to finish; a
// code-first task's durable step's is the durable step recorded before it
// that finished last by the time it was reached (the code's order), its
// driver step, which spans the whole run, left out.
func bottlenecks(d *store.ReportData) []Bottleneck {
	stepsOf := map[int64][]*store.ReportStep{}
	byID := map[int64]*store.ReportStep{}
	for i := range d.Steps {
		s := &d.Steps[i]
		stepsOf[s.TaskID] = append(stepsOf[s.TaskID], s)
		byID[s.ID] = s
	}
	deps := map[int64][]int64{}
	for _, e := range d.Edges {
		deps[e.ToStepID] = append(deps[e.ToStepID], e.FromStepID)
	}
	type key struct{ wf, step string }
	charged := map[key]time.Duration{}
	tasks := map[key]int{}
	waits := map[key]string{} // the kind of the waits charged
	total := map[string]time.Duration{}
	for _, t := range d.Tasks {
		if t.State != store.TaskComplete || t.CompletedAt == nil {
			continue
		}
		wf := workflowOf(t.Namespace, t.Name)
		total[wf] += t.CompletedAt.Sub(t.CreatedAt)
		steps := stepsOf[t.ID]
		code := t.Kind == store.KindCode
		if code {
			steps = slices.DeleteFunc(slices.Clone(steps), func(s *store.ReportStep) bool { return s.Name == DriverStep })
		}
		cur := lastDone(steps)
		onPath := map[key]bool{} // a durable step's name may be on it more than once
		for cur != nil {
			var pred *store.ReportStep
			later := func(p *store.ReportStep) bool {
				return p != nil && p.CompletedAt != nil && (pred == nil || p.CompletedAt.After(*pred.CompletedAt))
			}
			if code {
				for _, p := range steps { // recorded before cur (ids grow), done when cur was reached
					if p.ID < cur.ID && later(p) && !p.CompletedAt.After(cur.CreatedAt) {
						pred = p
					}
				}
			}
			for _, id := range deps[cur.ID] {
				if p := byID[id]; later(p) {
					pred = p
				}
			}
			since := t.CreatedAt
			if pred != nil {
				since = *pred.CompletedAt
			}
			k := key{wf, stepName(code, cur)}
			charged[k] += max(cur.CompletedAt.Sub(since), 0)
			if code && isWait(cur.Handler) {
				waits[k] = cur.Handler
			}
			if !onPath[k] {
				onPath[k] = true
				tasks[k]++
			}
			cur = pred
		}
	}
	var out []Bottleneck
	for k, c := range charged {
		b := Bottleneck{Workflow: k.wf, Step: k.step, Tasks: tasks[k], Mean: c / time.Duration(tasks[k]), wait: waits[k]}
		if tt := total[k.wf]; tt > 0 {
			b.Share = float64(c) / float64(tt)
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Bottleneck) int {
		return cmp.Or(cmp.Compare(b.Share, a.Share), cmp.Compare(a.Workflow, b.Workflow), cmp.Compare(a.Step, b.Step))
	})
	return out[:min(len(out), maxBottlenecks)]
}

// lastDone is the step that finished last (nil when none did).
func lastDone(steps []*store.ReportStep) *store.ReportStep {
	var last *store.ReportStep
	for _, s := range steps {
		if s.CompletedAt != nil && (last == nil || s.CompletedAt.After(*last.CompletedAt)) {
			last = s
		}
	}
	return last
}

// recommend applies the plan's rules, and ours, to a computed report.
func recommend(r *Report) []Recommendation {
	var out []Recommendation
	h := r.Health
	if h.Pressure == pressure.High.String() || h.Pressure == pressure.Critical.String() {
		use := fmt.Sprintf("%d of %d connections in use", h.PoolInUse, h.PoolMax)
		if h.poolWaits > 0 { // (what made it high, however few are in use)
			use += fmt.Sprintf("; %s waited for one since the reading before", plural(int(min(h.poolWaits, math.MaxInt32)), "caller", "callers"))
		}
		out = append(out, Recommendation{Priority: "high", Category: "database",
			Finding: fmt.Sprintf("the connection pool is under %s pressure (%s)", h.Pressure, use),
			Action:  "grow the database pool by 25–50 %, or lower Execution.MaxConcurrency"})
	}
	// The plan's rule is about the limit the tuner holds low (a low
	// MaxConcurrency is the operator's choice). The tuner cuts it for a
	// busy pool or for CPU-bound handlers: its own reason says which.
	if h.Concurrency < lowConcurrency && h.Concurrency < h.MaxConcurrency && h.ReadySteps > 0 {
		finding := fmt.Sprintf("the dynamic concurrency limit is down to %d (of %d) while %d steps wait (the oldest for %s)", h.Concurrency, h.MaxConcurrency, h.ReadySteps, h.OldestReady.Round(time.Millisecond))
		if h.concurrencyWhy != "" {
			finding += "; the tuner's last change: " + h.concurrencyWhy
		}
		out = append(out, Recommendation{Priority: "medium", Category: "concurrency", Finding: finding,
			Action: "held down by the pool: look at the queries the steps make and at the pool's size; by CPU-bound handlers: more at once would only wait for the CPU, so add processes or cores"})
	}
	if s := r.Summary; s.finished() >= minRunsForRate && s.ErrorRate >= errorRateAlarm {
		out = append(out, Recommendation{Priority: "high", Category: "errors",
			Finding: fmt.Sprintf("%.0f %% of the finished tasks failed (%d)", 100*s.ErrorRate, s.Failed),
			Action:  "read a failed task's diagnosis (tasker tasks show <id>) and retry the tasks once the cause is fixed"})
	}
	for _, s := range r.Steps {
		if s.Runs >= minRunsForRate && s.RetryRate >= retryHeavyRate {
			out = append(out, Recommendation{Priority: "medium", Category: "retries",
				Finding: fmt.Sprintf("step %s of %s needed a retry in %.0f %% of %d runs", s.Step, s.Workflow, 100*s.RetryRate, s.Runs),
				Action:  retriesAction(s.durable)})
		}
	}
	for _, b := range r.Bottlenecks {
		if b.Share >= bottleneckShare {
			what, action := "step", "speed that step up, or split it so part of its work runs alongside the others"
			i := slices.IndexFunc(r.Steps, func(s StepReport) bool { return s.Workflow == b.Workflow && s.Step == b.Step })
			switch {
			case b.wait != "":
				what, action = "wait", waitAction(b.wait)
			case i >= 0 && r.Steps[i].timed > 0 && 2*r.Steps[i].Mean < b.Mean:
				// Its time on the path is mostly not its run: speeding
				// the step up would change little.
				s := r.Steps[i]
				action = fmt.Sprintf("its last attempt runs %s on average of the %s it spends on the path: the rest is waiting, for its retries (%.0f %% of its runs retried: read their diagnoses) or for a worker to claim it (the queue's lag)",
					s.Mean.Round(time.Millisecond), b.Mean.Round(time.Millisecond), 100*s.RetryRate)
			}
			out = append(out, Recommendation{Priority: "low", Category: "workflow",
				Finding: fmt.Sprintf("%s %s takes %.0f %% of %s's time on its critical path", what, b.Step, 100*b.Share, b.Workflow),
				Action:  action})
		}
	}
	return out
}

// waitAction is the bottleneck rule's action for a code-first workflow's
// wait, which runs nothing to speed up.
func waitAction(kind string) string {
	switch kind {
	case kindEvent:
		return "the workflow waits there for an event: the time is its sender's; send the event sooner, or give the wait a shorter timeout"
	case kindChild:
		return "the workflow waits there for its child workflow: read the child workflow's own report (its steps and bottlenecks)"
	case kindSelect:
		return "the workflow waits there in a Select for the first of its cases (an event, a timer, a step): look at which one it waits for"
	}
	return "the workflow waits there by design (a Sleep): shorten the Sleep if it need not be that long"
}

// retriesAction is the retries rule's action for a step: a code-first
// workflow's durable step has no template to set.
func retriesAction(durable bool) string {
	if durable {
		return "read its failures' diagnoses (tasker tasks show); consider the predictive retry (the predictive_retry toggle) or naming its system (WithStepDependentSystem)"
	}
	return "read its failures' diagnoses (tasker tasks show); consider the predictive retry (Template.PredictiveRetry) or a DependentSystem"
}

func trends(prev, cur ReportSummary) []Trend {
	t := func(metric string, p, c float64) Trend {
		tr := Trend{Metric: metric, Previous: p, Current: c}
		if p != 0 {
			tr.Change = (c - p) / p
		}
		return tr
	}
	out := []Trend{t("tasks", float64(prev.Tasks), float64(cur.Tasks))}
	// The rates are shares of the finished tasks: a window with none has
	// no rate (its 0 read as a fall to 0, or a rise from nothing as no
	// change).
	if prev.finished() > 0 && cur.finished() > 0 {
		out = append(out, t("completion_rate", prev.CompletionRate, cur.CompletionRate), t("error_rate", prev.ErrorRate, cur.ErrorRate))
	}
	out = append(out, t("throughput_per_hour", prev.ThroughputPerHour, cur.ThroughputPerHour))
	// Only p95s measured in both windows: one whose sample holds no
	// complete task of the workflow has none (its 0 read as a fall of
	// 100 %, or a rise from nothing as no change).
	prevP95 := map[string]time.Duration{}
	for _, w := range prev.Workflows {
		if w.timed > 0 {
			prevP95[w.Workflow] = w.P95
		}
	}
	for _, w := range cur.Workflows {
		if p, ok := prevP95[w.Workflow]; ok && w.timed > 0 {
			out = append(out, t("p95_seconds "+w.Workflow, p.Seconds(), w.P95.Seconds()))
		}
	}
	return out
}
