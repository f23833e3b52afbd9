package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/store"
)

// ReportFilter narrows a Report to one namespace, or one workflow
// ("namespace/name", every version; one with a version is refused). The
// zero filter covers every workflow.
type ReportFilter struct {
	Namespace string `json:"namespace,omitempty"`
	Workflow  string `json:"workflow,omitempty"`
}

// Report is the performance report of a window (the original plan's 3.1):
// what ran, how long it took, where the time went, how the system is, what
// to do about it, and how it compares with the window before.
type Report struct {
	From        time.Time    `json:"from"`
	To          time.Time    `json:"to"`
	Filter      ReportFilter `json:"filter"`
	GeneratedAt time.Time    `json:"generated_at"`
	// Cached: this report was computed earlier (at GeneratedAt) and
	// served from the cache.
	Cached bool `json:"cached"`
	// Sampled is how many of the window's tasks the durations, steps and
	// bottlenecks come from (the most recent ones, at most 1000); the
	// summary's counts are exact.
	Sampled         int              `json:"sampled"`
	Summary         ReportSummary    `json:"summary"`
	Steps           []StepReport     `json:"steps"`
	Bottlenecks     []Bottleneck     `json:"bottlenecks"`
	Health          SystemHealth     `json:"health"`
	Recommendations []Recommendation `json:"recommendations"`
	Trends          []Trend          `json:"trends"`
}

// ReportSummary is the executive summary: tasks created in the window and
// how they stand.
type ReportSummary struct {
	Tasks     int `json:"tasks"`
	Complete  int `json:"complete"`
	Failed    int `json:"failed"` // in error
	Cancelled int `json:"cancelled"`
	Resolved  int `json:"resolved"` // resolved by an operator (resolved_manually)
	Running   int `json:"running"`  // not finished yet
	// CompletionRate and ErrorRate are shares of the finished tasks
	// (complete, failed, cancelled and resolved).
	CompletionRate float64 `json:"completion_rate"`
	ErrorRate      float64 `json:"error_rate"`
	// ThroughputPerHour is complete tasks per hour of the window.
	ThroughputPerHour float64           `json:"throughput_per_hour"`
	Workflows         []WorkflowSummary `json:"workflows"`
}

// WorkflowSummary is one workflow's share of the summary; P50 and P95 are
// the durations (creation to completion) of its sampled complete tasks (0
// when the sample holds none, and then no p95 trend is made of them).
type WorkflowSummary struct {
	Workflow string        `json:"workflow"`
	Tasks    int           `json:"tasks"`
	Complete int           `json:"complete"`
	Failed   int           `json:"failed"`
	P50      time.Duration `json:"p50"`
	P95      time.Duration `json:"p95"`
	timed    int           // the sampled complete tasks P50 and P95 come from
}

// StepReport is one step name's runs in the sample: how long its last
// attempt took (complete runs), and how often it needed more than one. A
// code-first workflow's waits (Sleep, WaitEvent, Child, Select) are timed
// from the wait's start to its end, as the bottlenecks charge them.
type StepReport struct {
	Workflow  string        `json:"workflow"`
	Step      string        `json:"step"`
	Runs      int           `json:"runs"`
	Attempts  int           `json:"attempts"`
	Retried   int           `json:"retried"`    // runs that took more than one attempt
	RetryRate float64       `json:"retry_rate"` // Retried / Runs
	Failed    int           `json:"failed"`
	Mean      time.Duration `json:"mean"`
	P50       time.Duration `json:"p50"`
	P95       time.Duration `json:"p95"`
	durable   bool          // a code-first workflow's durable step (the recommendation's words)
	timed     int           // the complete runs Mean, P50 and P95 come from
}

// Bottleneck is a step on its workflow's critical path (the chain of
// steps, each the last of its dependencies to finish, that ends the
// task): Share is its part of the sampled complete tasks' durations,
// waiting and retries included.
type Bottleneck struct {
	Workflow string        `json:"workflow"`
	Step     string        `json:"step"`
	Share    float64       `json:"share"`
	Mean     time.Duration `json:"mean"` // its mean time on the path
	Tasks    int           `json:"tasks"`
	wait     string        // a code-first workflow's wait: its kind (the recommendation's words)
}

// SystemHealth is the state of the process that made the report, and of
// its store, when it made it (Report.GeneratedAt): a report served from
// the cache was made earlier, and with a distributed cache (Redis) maybe
// by another process sharing it, whose pool, handlers and limit these are.
// Pressure is the pool's level (low, moderate, high, critical;
// not_assessed on SQLite): high at least when callers waited for a
// connection since the reading before, however few are in use.
type SystemHealth struct {
	Pressure        string  `json:"pressure"`
	PoolInUse       int     `json:"pool_in_use"`
	PoolMax         int     `json:"pool_max"`
	PoolUtilisation float64 `json:"pool_utilisation"`
	Running         int     `json:"running"`
	MaxConcurrency  int     `json:"max_concurrency"`
	// Concurrency is the handlers' limit now: MaxConcurrency, or where
	// the dynamic_concurrency tuner holds it (Status().Concurrency).
	Concurrency int `json:"concurrency"`
	// ReadySteps wait unclaimed; OldestReady is how long the oldest has.
	ReadySteps  int           `json:"ready_steps"`
	OldestReady time.Duration `json:"oldest_ready"`
	poolWaits   int64         // callers that waited for a connection (the recommendation's words)
	// concurrencyWhy is why the tuner last changed the limit
	// (ConcurrencyStatus.Reason), the recommendation's words.
	concurrencyWhy string
}

// Recommendation is one of the plan's rules that fired.
type Recommendation struct {
	Priority string `json:"priority"` // high, medium, low
	Category string `json:"category"` // database, concurrency, retries, errors, workflow
	Finding  string `json:"finding"`
	Action   string `json:"action"`
}

// Trend compares a figure with the previous window of the same length: the
// tasks, the completion and error rates where both windows have finished
// tasks, the throughput, and each workflow's p95 ("p95_seconds
// namespace/name") where both windows' samples hold complete tasks of it.
type Trend struct {
	Metric   string  `json:"metric"`
	Previous float64 `json:"previous"`
	Current  float64 `json:"current"`
	// Change is (Current-Previous)/Previous, 0 when Previous is 0.
	Change float64 `json:"change"`
}

// MaxReportWindow is the longest window Report takes: it reads the window
// and the one before it, so a longer one reads (and caches) more than a
// report is for, and one from the zero time every task twice. The admin
// API's since and the CLI's report --since are held to it.
const MaxReportWindow = 31 * 24 * time.Hour

// Report computes the performance report of the tasks created in
// [from, to). Reports go through the engine's cache (family "report"):
// the same window and filter asked again within the TTL is served from it
// (Cached, with its GeneratedAt), so callers that want sharing align
// their windows (the admin API ends its at the end of the current minute).
// A window that ends in the future counts its throughput over the part
// that has passed; one that starts in the future, or is longer than
// MaxReportWindow, is refused (store.ErrInvalid).
func (e *Engine) Report(ctx context.Context, from, to time.Time, filter ReportFilter) (*Report, error) {
	p := &store.ReportParams{From: from, To: to, Namespace: filter.Namespace}
	// A namespace has no '/' or '@' (Template refuses them): one with them
	// matches nothing, and is most likely a workflow given as namespace.
	if strings.ContainsAny(filter.Namespace, "/@") {
		return nil, fmt.Errorf("report: namespace filter %q has a '/' or '@', which no namespace has (for one workflow, set Workflow to \"namespace/name\"): %w", filter.Namespace, store.ErrInvalid)
	}
	if filter.Workflow != "" {
		ns, name, ok := splitWorkflow(filter.Workflow)
		if !ok || strings.Contains(ns, "@") || strings.ContainsAny(name, "/@") || (filter.Namespace != "" && filter.Namespace != ns) {
			return nil, fmt.Errorf("report: workflow filter %q is not \"namespace/name\" (no version; of namespace %q when both are set): %w", filter.Workflow, filter.Namespace, store.ErrInvalid)
		}
		p.Namespace, p.Name = ns, name
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	// Refused here as the admin API and the CLI refuse the since that
	// would make them (their windows end now, or with the current minute).
	window := fmt.Sprintf("window %s to %s", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	if d := to.Sub(from); d > MaxReportWindow {
		return nil, fmt.Errorf("report: %s is longer than %s (MaxReportWindow): it is read with the window before it; report on a shorter one: %w", window, MaxReportWindow, store.ErrInvalid)
	}
	if now := e.clk.Now(); from.After(now) {
		return nil, fmt.Errorf("report: %s is entirely in the future (now %s): no task was created in it yet: %w", window, now.UTC().Format(time.RFC3339), store.ErrInvalid)
	}
	co := e.coordinate(ctx)
	var c cachex.Cache
	adaptive := false
	if co != nil {
		c, adaptive = co.cache, co.toggles.Enabled(ctx, cachex.ToggleAdaptiveTTL)
	}
	key := fmt.Sprintf("%d:%d:%s:%s", from.UnixNano(), to.UnixNano(), p.Namespace, p.Name)
	doc, hit, err := e.vals.Fetch(ctx, c, adaptive, familyReport.Name, key, func(ctx context.Context) ([]byte, error) {
		r, err := e.computeReport(ctx, p)
		if err != nil {
			return nil, err
		}
		return json.Marshal(r)
	})
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(doc, &r); err != nil {
		return nil, fmt.Errorf("report: decoding the cached report: %w", err)
	}
	// The caller's filter: the key is the normalised one, which filters
	// written otherwise share.
	r.Cached, r.Filter = hit, filter
	return &r, nil
}

// computeReport reads the window and the one before it, and the system.
func (e *Engine) computeReport(ctx context.Context, p *store.ReportParams) (*Report, error) {
	cur, err := e.st.ReportData(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	prevP := *p
	prevP.From, prevP.To = p.From.Add(-p.To.Sub(p.From)), p.From
	prev, err := e.st.ReportData(ctx, &prevP)
	if err != nil {
		return nil, fmt.Errorf("report: previous window: %w", err)
	}
	r, assessed := e.pool()
	h := SystemHealth{Pressure: r.Level.String(), PoolInUse: r.InUse, PoolMax: r.MaxOpen, PoolUtilisation: r.Utilisation,
		Running: e.inflight.Len(), MaxConcurrency: e.cfg.Execution.MaxConcurrency, poolWaits: r.Waits}
	cs, _ := e.tuningStatus()
	h.Concurrency, h.concurrencyWhy = cs.Limit, cs.Reason
	if !assessed {
		h.Pressure = "not_assessed"
	}
	now := e.clk.Now()
	if lags, err := e.st.QueueLags(ctx, e.clk.StoreNow()); err == nil {
		for _, l := range lags {
			h.ReadySteps += l.Ready
			if age := now.Sub(l.OldestDueAt); age > h.OldestReady {
				h.OldestReady = age
			}
		}
	}
	out := buildReport(cur, prev, p.From, p.To, now, h)
	out.GeneratedAt = now.UTC()
	return out, nil
}

// splitWorkflow splits "namespace/name".
func splitWorkflow(w string) (ns, name string, ok bool) {
	for i := range len(w) {
		if w[i] == '/' {
			return w[:i], w[i+1:], i > 0 && i < len(w)-1
		}
	}
	return "", "", false
}
