package admin

import (
	"net/http"
	"strings"
	"time"

	"github.com/tasker-go/tasker/engine"
)

// report: GET /api/report?since=1h&namespace=&workflow=: engine.Report of
// the tasks created in the last since (default 1h). The window ends at
// the end of the current minute, so the requests of one minute share one
// computation through the engine's cache (tasks created after it within
// that minute wait for the next one): generated_at says when it was
// computed, cached whether this answer came from the cache.
func (s *server) report(w http.ResponseWriter, r *http.Request, _ *principal) {
	rep, err := s.makeReport(r)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// makeReport is the report a request asks for (see report), for the API
// and the dashboard's performance page alike.
func (s *server) makeReport(r *http.Request) (*engine.Report, error) {
	q := r.URL.Query()
	since := time.Hour
	if v := q.Get("since"); q.Has("since") {
		d, err := time.ParseDuration(v)
		// At most engine.MaxReportWindow, which the engine refuses past.
		if err != nil || d < time.Minute || d > engine.MaxReportWindow {
			return nil, badRequest("since %q is not a duration between 1m and %s (say 1h or 30m)", v, engine.MaxReportWindow)
		}
		// time.ParseDuration takes a sign, which a cursor or limit may
		// not have (as the configuration's durations may not).
		if v[0] == '+' {
			return nil, badRequest("since %q has a sign: write %q", v, v[1:])
		}
		since = d
	}
	// Given empty (?workflow=$W with W unset), a filter was taken as
	// absent: the report covered every workflow. No form sends them.
	for _, f := range []struct{ name, want string }{{"namespace", "a namespace"}, {"workflow", "namespace/name"}} {
		if v := q.Get(f.name); q.Has(f.name) && strings.TrimSpace(v) == "" {
			return nil, badRequest("%s %q is empty: give %s, or leave %s out for every workflow", f.name, v, f.want, f.name)
		}
	}
	if err := padded(q, "namespace", "workflow"); err != nil {
		return nil, err
	}
	// A namespace has no '/' or '@' (engine.Template): one with them
	// matches nothing, and is most likely a workflow given as namespace.
	ns := q.Get("namespace")
	if strings.ContainsAny(ns, "/@") {
		return nil, badRequest("namespace %q: a namespace has no '/' or '@' (for one workflow, say workflow=namespace/name)", ns)
	}
	// Checked here to name the parameters: the engine's error named
	// neither ("workflow filter … (of namespace "" when both are set)").
	if wf := q.Get("workflow"); wf != "" {
		wns, name, ok := strings.Cut(wf, "/")
		switch {
		case strings.Contains(wf, "@"):
			return nil, badRequest("workflow %q: want namespace/name, without the version", wf)
		case !ok || wns == "" || name == "" || strings.Contains(name, "/"):
			return nil, badRequest("workflow %q: want namespace/name", wf)
		case ns != "" && ns != wns:
			return nil, badRequest("namespace %q and workflow %q disagree (its namespace is %q): give workflow alone", ns, wf, wns)
		}
	}
	to := time.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	return s.e.Report(r.Context(), to.Add(-since), to, engine.ReportFilter{Namespace: q.Get("namespace"), Workflow: q.Get("workflow")})
}
