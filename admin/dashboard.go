package admin

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// The dashboard: server-rendered pages under /ui/ (html/template, a
// stylesheet and a few lines of JS, all embedded: it works offline).
// Browsers cannot send a bearer header on navigation, so its login form
// takes a token and keeps it in an HttpOnly, SameSite=Strict cookie that
// only /ui/ pages read (the JSON API never does: it takes the header
// alone, so no cookie can act through it). Its forms carry a CSRF token
// bound to the session, and cross-origin POSTs are refused before that.

//go:embed ui
var uiFiles embed.FS

// sessionCookie holds the dashboard's token.
const sessionCookie = "tasker_session"

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"ago":   ago,
	"short": short,
	// stamp says its zone: the pages are read from anywhere.
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000 MST") },
	"pct":   func(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + " %" },
	// dur shows 0 as "-": the report's 0 is a duration it did not
	// measure (no complete task or run, no ready step), not "0s".
	"dur": func(d time.Duration) string {
		if d == 0 {
			return "-"
		}
		if d >= time.Second {
			return d.Round(10 * time.Millisecond).String()
		}
		return d.Round(10 * time.Microsecond).String()
	},
	"stepStates": func() []string {
		return []string{"pending", "in_progress", "complete", "error", "cancelled", "resolved_manually"}
	},
}).ParseFS(uiFiles, "ui/*.html"))

// short is s cut to n runes, the last an ellipsis, when it is longer.
func short(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t).Round(time.Second)
	if d < 0 {
		return "in " + (-d).String()
	}
	return d.String() + " ago"
}

// page is what every template receives.
type page struct {
	Base       string // relative path to /ui/ from this page
	Title      string
	Actor      string
	Role       string
	CSRF       string
	CanOperate bool
	Anonymous  bool
	// Next is the page, relative to /ui/, the sign-in form opens once
	// signed in: the one it was shown for.
	Next string
	// Back, on an error page, is the page (relative to /ui/) the refused
	// form was on: a task's, after a refused action on it.
	Back string
	Data any
}

func (s *server) dashboardRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { seeOther(w, "ui/") })
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, _ *http.Request) { seeOther(w, "ui/") })
	static, _ := fs.Sub(uiFiles, "ui/static")
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	for _, pg := range []struct {
		pattern, role string
		h             func(w http.ResponseWriter, r *http.Request, pg *page)
	}{
		{"GET /ui/{$}", store.RoleViewer, s.overviewPage},
		{"GET /ui/tasks", store.RoleViewer, s.tasksPage},
		{"GET /ui/tasks/{id}", store.RoleViewer, s.taskPage},
		{"GET /ui/workers", store.RoleViewer, s.workersPage},
		{"GET /ui/performance", store.RoleViewer, s.performancePage},
		{"POST /ui/tasks/{id}/cancel", store.RoleOperator, s.cancelForm},
		{"POST /ui/tasks/{id}/retry", store.RoleOperator, s.retryForm},
		{"POST /ui/tasks/{id}/resolve", store.RoleOperator, s.resolveForm},
		{"POST /ui/tasks/{id}/events", store.RoleOperator, s.eventForm},
		// Any other address under /ui/: a page of the dashboard saying so.
		{unknownPage, store.RoleViewer, func(w http.ResponseWriter, r *http.Request, pg *page) {
			s.uiError(w, pg, http.StatusNotFound, fmt.Errorf("there is no page %s: the pages are Overview, Tasks, Workers and Performance, above", r.URL.Path))
		}},
	} {
		mux.HandleFunc(pg.pattern, s.ui(pg.role, pageParams[pg.pattern], pg.h))
	}
	mux.HandleFunc("POST /ui/login", s.login)
	mux.HandleFunc("POST /ui/logout", s.logout)
}

// unknownPage routes any other address under /ui/ to a page saying there
// is none: 404 whatever its query (its parameters are not checked).
const unknownPage = "GET /ui/"

// pageParams lists the query parameters each page reads (the task list
// reads its API endpoint's filters but not key, the idempotency-key
// lookup it does not make; the performance page its endpoint's; a task's
// page what its send-event form sent); the others, and the forms (whose
// fields are in the body), take none.
var pageParams = map[string][]string{
	"GET /ui/{$}":         {"range"},
	"GET /ui/tasks/{id}":  {"sent", "before", "sig"}, // the event the form sent (see eventForm)
	"GET /ui/tasks":       {"state", "workflow", "queue", "since", "until", "cursor", "limit"},
	"GET /ui/performance": queryParams["GET /api/report"],
}

// formFields lists the fields each form of the dashboard sends; another,
// or one given twice, is refused (checkForm), as the API refuses a body's
// unknown or repeated field: cancel's force=true was ignored (the cancel
// done without it), and of two results the first was taken.
var formFields = map[string][]string{
	"POST /ui/tasks/{id}/cancel":  {"csrf", "reason"},
	"POST /ui/tasks/{id}/retry":   {"csrf"},
	"POST /ui/tasks/{id}/resolve": {"csrf", "step", "results"},
	"POST /ui/tasks/{id}/events":  {"csrf", "name", "key", "payload"},
}

// checkForm reports (errBadRequest) the first field of r's form, in name
// order, that its form does not have or that is given more than once.
func checkForm(r *http.Request) error {
	known := formFields[r.Pattern]
	for _, name := range slices.Sorted(maps.Keys(r.PostForm)) {
		switch {
		case !slices.Contains(known, name):
			return badRequest("the form has no field %q (%s %s takes %s)", name, r.Method, r.URL.Path, strings.Join(known, ", "))
		case len(r.PostForm[name]) > 1:
			return badRequest("form field %q given %d times: give it once", name, len(r.PostForm[name]))
		}
	}
	return nil
}

// base is the way from the request's page back to /ui/.
func base(r *http.Request) string {
	rest := strings.TrimPrefix(r.URL.Path, "/ui/")
	if n := strings.Count(rest, "/"); n > 0 {
		return strings.Repeat("../", n)
	}
	return "./"
}

// csrf is the form token of a principal: an HMAC of who it is under the
// secret of the token it signed in with, which only its browser and the
// database's hash of it know. Every handler on the database derives the
// same, so a form stays good across a restart and between replicas
// behind a balancer; a random key per handler refused them all. An
// anonymous principal (loopback, no token yet) has no secret: its forms
// are signed with this handler's random key, and one opened before a
// restart is refused: a task's comes back as typed, to be sent again.
func (s *server) csrf(p *principal) string {
	return s.mac(p, "tasker dashboard form", p.actor)
}

// mac is the HMAC of parts under p's key (see csrf), hex-encoded.
func (s *server) mac(p *principal, parts ...string) string {
	key := s.csrfKey
	if p.secret != "" {
		key = []byte(p.secret)
	}
	m := hmac.New(sha256.New, key)
	for _, part := range parts {
		m.Write([]byte(part + "\x00"))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// sentSig signs the report of the send-event form (q's sent and before)
// for task id, so that the page says an event was sent only when the
// form said so: a link with ?sent= made by hand is refused.
func (s *server) sentSig(p *principal, id int64, q url.Values) string {
	return s.mac(p, "tasker event sent", strconv.FormatInt(id, 10), q.Get("sent"), strconv.FormatBool(q.Has("before")), q.Get("before"))
}

func newKey() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// ui wraps a dashboard handler: the session is resolved (a login page
// when there is none), the role checked, the query parameters (known,
// each once: else a 400 page naming the one refused), and on POST the
// CSRF token.
func (s *server) ui(role string, known []string, h func(w http.ResponseWriter, r *http.Request, pg *page)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg := &page{Base: base(r)}
		p, err := s.authenticate(r, true)
		switch {
		case errors.Is(err, errUnauthorized):
			pg.Title = "Sign in"
			if r.Method == http.MethodGet {
				pg.Next = strings.TrimPrefix(r.URL.Path, "/ui/")
				if r.URL.RawQuery != "" {
					pg.Next += "?" + r.URL.RawQuery
				}
			} else if id, err := taskID(r); err == nil {
				// A task's form sent once the session ended (its token
				// revoked, the cookie expired): signing in opens the
				// task's page, where the form is, not the overview.
				pg.Next = "tasks/" + strconv.FormatInt(id, 10)
				pg.Data = "The form was not sent: your session ended (its token revoked, or the sign-in expired). Sign in, and send it again from the task's page."
			}
			s.render(w, http.StatusUnauthorized, "login", pg)
			return
		case err != nil:
			s.uiError(w, pg, http.StatusServiceUnavailable, fmt.Errorf("checking the token: %w", err))
			return
		}
		pg.Actor, pg.Role, pg.CSRF = p.actor, p.role, s.csrf(p)
		pg.CanOperate, pg.Anonymous = rank(p.role) >= rank(store.RoleOperator), p.actor == "anonymous"
		if rank(p.role) < rank(role) {
			s.uiError(w, pg, http.StatusForbidden, fmt.Errorf("this needs the %s role; you are signed in as %s (%s)", role, p.actor, p.role))
			return
		}
		if err := checkParams(r, known); err != nil && r.Pattern != unknownPage {
			s.uiError(w, pg, http.StatusBadRequest, err)
			return
		}
		if r.Method == http.MethodPost {
			// A task's form refused here (a body that is not a form, a
			// field it does not have) links back to the task's page.
			if id, err := taskID(r); err == nil {
				pg.Back = "tasks/" + strconv.FormatInt(id, 10)
			}
			if err := r.ParseForm(); err != nil {
				s.formError(w, pg, err)
				return
			}
			if !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(pg.CSRF)) {
				err := errors.New("the form's CSRF token is missing or wrong (the page was drawn before a restart, or for another sign-in), so it was not sent: send it again")
				// A task's form comes back on the task's page as typed,
				// with this session's token: sent again, it is done.
				if id, ierr := taskID(r); ierr == nil && formFields[r.Pattern] != nil {
					f := r.PostForm
					s.refused(w, r, pg, id, http.StatusForbidden, err, typed{Reason: f.Get("reason"), Step: f.Get("step"), Results: f.Get("results"),
						Event: f.Get("name"), Key: f.Get("key"), Payload: f.Get("payload")})
					return
				}
				s.uiError(w, pg, http.StatusForbidden, err)
				return
			}
			if err := checkForm(r); err != nil {
				s.uiError(w, pg, http.StatusBadRequest, err)
				return
			}
		}
		r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		h(w, r, pg)
	}
}

type principalKey struct{}

func (s *server) render(w http.ResponseWriter, code int, name string, pg *page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = pages.ExecuteTemplate(w, name, pg)
}

func (s *server) uiError(w http.ResponseWriter, pg *page, code int, err error) {
	pg.Title, pg.Data = http.StatusText(code), err.Error()
	s.render(w, code, "error", pg)
}

// formError answers a form body that could not be read: 413 when it is
// over Config.MaxBodyBytes, 400 when it is not a form (a bad %-escape).
func (s *server) formError(w http.ResponseWriter, pg *page, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.uiError(w, pg, http.StatusRequestEntityTooLarge, err)
		return
	}
	s.uiError(w, pg, http.StatusBadRequest, fmt.Errorf("the form's body is not a form: %w", err))
}

// login checks a pasted token and keeps it in the session cookie, then
// opens the page the form was shown for (field next, relative to /ui/;
// the overview when there is none or it leaves /ui/).
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	pg := &page{Base: base(r), Title: "Sign in"}
	if err := r.ParseForm(); err != nil {
		s.formError(w, pg, err)
		return
	}
	if next := r.PostForm.Get("next"); localPage(next) {
		pg.Next = next
	}
	secret := strings.TrimSpace(r.PostForm.Get("token"))
	if _, err := s.bySecret(r.Context(), secret); err != nil {
		pg.Data = "That token is not valid (revoked, mistyped, or from another database)."
		s.render(w, http.StatusUnauthorized, "login", pg)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: overTLS(r), MaxAge: 12 * 3600})
	seeOther(w, "./"+pg.Next)
}

// overTLS reports whether the browser reached the dashboard over HTTPS:
// directly, or through a proxy that ends TLS (`tasker serve` speaks plain
// HTTP), as the form's Origin or the proxy's X-Forwarded-Proto says. The
// session cookie holds the token's secret: without Secure the browser
// would send it over plain HTTP to the same host too. A header that lies
// only makes its own sender's cookie Secure.
func overTLS(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(r.Header.Get("Origin"), "https://") ||
		strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// localPage reports whether next names a dashboard page relative to /ui/
// (tasks/4, tasks?state=error): no scheme, host or leading slash, no ..,
// no backslash, space or control character (which browsers drop or read
// as a slash).
func localPage(next string) bool {
	if strings.ContainsFunc(next, func(c rune) bool { return c <= ' ' || c == '\\' || c == 0x7f }) ||
		strings.HasPrefix(next, "/") || strings.Contains(next, "..") {
		return false
	}
	u, err := url.Parse(next)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: overTLS(r), MaxAge: -1})
	seeOther(w, "./")
}

// stateOrder lists states in the order the overview shows them.
var taskStates = []store.TaskState{store.TaskPending, store.TaskInProgress, store.TaskComplete, store.TaskError, store.TaskCancelled, store.TaskResolvedManually}

type stateCount struct {
	State string
	N     int
}

func (s *server) overviewPage(w http.ResponseWriter, r *http.Request, pg *page) {
	ctx := r.Context()
	c, err := s.st.CountByState(ctx)
	if err != nil {
		s.uiError(w, pg, http.StatusServiceUnavailable, err)
		return
	}
	lags, err := s.st.QueueLags(ctx, time.Time{})
	if err != nil {
		s.uiError(w, pg, http.StatusServiceUnavailable, err)
		return
	}
	workers, err := s.e.Workers(ctx)
	if err != nil {
		s.uiError(w, pg, http.StatusServiceUnavailable, err)
		return
	}
	// The latest failures, however old the tasks.
	failed, err := s.st.ListTasks(ctx, &store.ListTasksParams{Order: store.OrderByFailed, Limit: 10})
	if err != nil {
		s.uiError(w, pg, http.StatusServiceUnavailable, err)
		return
	}
	rng, ok := activityRanges[0], true
	if r.URL.Query().Has("range") {
		rng, ok = rangeOf(r.URL.Query().Get("range"))
	}
	if !ok {
		s.uiError(w, pg, http.StatusBadRequest, fmt.Errorf("range %q is not one of 1h, 24h and 7d", r.URL.Query().Get("range")))
		return
	}
	charts, err := s.activity(ctx, rng, time.Now())
	if err != nil {
		s.uiError(w, pg, http.StatusServiceUnavailable, err)
		return
	}
	var tasks []stateCount
	total := 0
	for _, st := range taskStates {
		tasks = append(tasks, stateCount{string(st), c.Tasks[st]})
		total += c.Tasks[st]
	}
	var steps []stateCount
	for _, st := range []store.StepState{store.StepPending, store.StepInProgress, store.StepComplete, store.StepError, store.StepCancelled, store.StepResolvedManually} {
		steps = append(steps, stateCount{string(st), c.Steps[st]})
	}
	type lag struct {
		Queue string
		Ready int
		Age   string
	}
	var queues []lag
	for _, l := range lags {
		queues = append(queues, lag{l.Queue, l.Ready, ago(l.OldestDueAt)})
	}
	pg.Title = "Overview"
	pg.Data = map[string]any{"Tasks": tasks, "Total": total, "Steps": steps, "Queues": queues, "Workers": len(workers), "Failed": summaries(failed.Tasks), "InError": c.Tasks[store.TaskError],
		"Charts": charts, "Range": rng, "Ranges": activityRanges}
	s.render(w, http.StatusOK, "overview", pg)
}

func summaries(ts []*store.Task) []taskSummary {
	out := make([]taskSummary, len(ts))
	for i, t := range ts {
		out[i] = summary(t)
	}
	return out
}

func (s *server) tasksPage(w http.ResponseWriter, r *http.Request, pg *page) {
	q := r.URL.Query()
	var states []string
	for _, st := range taskStates {
		states = append(states, string(st))
	}
	pg.Title = "Tasks"
	// The form's since and until, left empty, are no filter, as its
	// other fields.
	for _, k := range []string{"since", "until"} {
		if q.Has(k) && strings.TrimSpace(q.Get(k)) == "" {
			q.Del(k)
		}
	}
	// The form keeps what the address filters by that it has no field
	// for: since and until (shown once given), several states (an
	// option of their own) and the page's size (once the list took it:
	// a hidden field cannot be corrected).
	form := map[string]any{"States": states, "State": q.Get("state"), "Workflow": q.Get("workflow"), "Queue": q.Get("queue"),
		"OtherState": q.Get("state") != "" && !slices.Contains(states, q.Get("state")),
		"Since":      q.Get("since"), "Until": q.Get("until")}
	// A filter refused is answered above the form as it was filled in.
	refuse := func(err error) {
		form["Error"] = err.Error()
		pg.Data = form
		s.render(w, http.StatusBadRequest, "tasks", pg)
	}
	p, err := listParams(q)
	if err != nil {
		refuse(err)
		return
	}
	form["Limit"] = q.Get("limit")
	if p.Limit == 0 {
		p.Limit = 50
	}
	page, err := s.st.ListTasks(r.Context(), p)
	if err != nil {
		refuse(err)
		return
	}
	next := ""
	if page.NextCursor > 0 {
		q.Set("cursor", strconv.FormatInt(page.NextCursor, 10))
		next = "tasks?" + q.Encode()
	}
	form["Tasks"], form["Next"] = summaries(page.Tasks), next
	pg.Data = form
	s.render(w, http.StatusOK, "tasks", pg)
}

// stepRow is a step on the task page.
type stepRow struct {
	store.Step
	Label string // stepLabel
	Error string
	// Resolvable: an operator may resolve it (a failed step, or a
	// pending one of a task that timed out; not of a finished task, as a
	// failure its code-first workflow handled before completing; a
	// code-first workflow's driver only once the task is in error, which
	// closes it, and then none of its durable steps if it timed out: a
	// retry of the task is refused; else only the durable step whose
	// failure it returned, not one it caught).
	Resolvable bool
	// Closes: it is the driver of a code-first workflow in error, whose
	// resolve closes the workflow with the results as its return value.
	Closes bool
}

// typed is what an operator typed into a task page's form, shown again
// in it when the form is refused.
type typed struct {
	Reason              string // the cancel form's
	Step, Results       string // a resolve form's
	Event, Key, Payload string // the send-event form's
}

func (s *server) taskPage(w http.ResponseWriter, r *http.Request, pg *page) {
	id, err := taskID(r)
	if err != nil {
		s.uiError(w, pg, http.StatusBadRequest, err)
		return
	}
	data, err := s.taskData(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.uiError(w, pg, http.StatusNotFound, err)
		return
	}
	if err != nil {
		s.uiError(w, pg, http.StatusServiceUnavailable, err)
		return
	}
	// After the send-event form: what it sent, and whether it was new,
	// as it signed it for the one who sent it.
	if q := r.URL.Query(); q.Has("sent") || q.Has("before") || q.Has("sig") {
		p := r.Context().Value(principalKey{}).(*principal)
		if !hmac.Equal([]byte(q.Get("sig")), []byte(s.sentSig(p, id, q))) {
			s.uiError(w, pg, http.StatusBadRequest, fmt.Errorf("sent, before and sig report an event the task's send-event form sent, signed for whoever sent it; these are not (the address was changed, or another token sent it): open the task's page without them"))
			return
		}
		data["Sent"] = map[string]string{"Name": q.Get("sent"), "Before": q.Get("before")}
	}
	pg.Title, pg.Data = fmt.Sprintf("Task %d", id), data
	s.render(w, http.StatusOK, "task", pg)
}

// taskData is what the task page shows of task id.
func (s *server) taskData(ctx context.Context, id int64) (map[string]any, error) {
	d, err := s.st.GetTask(ctx, id)
	if err != nil {
		return nil, err
	}
	x, err := s.e.Explain(ctx, id)
	if err != nil {
		return nil, err
	}
	h, err := s.st.History(ctx, id)
	if err != nil {
		return nil, err
	}
	// A task that failed its WithWorkflowTimeout is not retried (Retry
	// refuses it: no step starts after its deadline): no button, a note;
	// its pending steps may be resolved too, the one way it finishes.
	timedOut := d.Task.State == store.TaskError && failureKind(d.Task.LastError) == engine.KindWorkflowTimeout
	failed := 0 // the durable step whose failure a code-first workflow returned
	if d.Task.Kind == store.KindCode && d.Task.State == store.TaskError {
		failed = failedSequence(d)
	}
	names := map[int64]string{}
	rows := make([]stepRow, len(d.Steps))
	for i, st := range d.Steps {
		names[st.ID] = stepLabel(st)
		rows[i] = stepRow{Step: *st, Label: stepLabel(st), Error: errorText(st.LastError, false)}
		open := st.State == store.StepError || st.State == store.StepPending
		switch code := d.Task.Kind == store.KindCode; {
		case code && st.Name == engine.DriverStep:
			rows[i].Closes = d.Task.State == store.TaskError && open
			rows[i].Resolvable = rows[i].Closes
		case code && timedOut: // its run is over: resolving its driver closes it
		case code && st.Sequence != nil:
			// A durable step: once the workflow failed, the one whose
			// failure it returned; a failure it caught and went on from
			// is Resolve's to refuse (see Engine.Resolve).
			rows[i].Resolvable = d.Task.State == store.TaskError && st.State == store.StepError && (failed == 0 || *st.Sequence == failed)
		default:
			rows[i].Resolvable = (st.State == store.StepError || timedOut && st.State == store.StepPending) && !d.Task.State.Terminal()
		}
	}
	slices.SortStableFunc(rows, func(a, b stepRow) int { return seq(a.Sequence) - seq(b.Sequence) })
	type event struct {
		At                time.Time
		What, From, To, M string
	}
	var timeline []event
	for _, t := range h.Task {
		timeline = append(timeline, event{t.CreatedAt, "task", str(t.FromState), t.ToState, metaText(t.Metadata)})
	}
	for _, t := range h.Steps {
		timeline = append(timeline, event{t.CreatedAt, names[t.StepID], str(t.FromState), t.ToState, metaText(t.Metadata)})
	}
	slices.SortStableFunc(timeline, func(a, b event) int { return a.At.Compare(b.At) })
	t := d.Task
	// The task's error is shown while it is in error: a retried task (or
	// one complete after a resolve) keeps its last error, which Last
	// errors lists.
	taskErr := ""
	if t.State == store.TaskError {
		taskErr = errorText(t.LastError, true)
	}
	return map[string]any{"Task": summary(t), "Error": taskErr, "Steps": rows, "Graph": layout(d), "Explain": x,
		"Timeline": timeline, "Cancellable": !t.State.Done(), "Retryable": t.State == store.TaskError && !timedOut, "TimedOut": timedOut,
		"LastErrors": lastErrors(d, h),
		// Events: code-first workflows read them; a finished one takes
		// none (SendEvent refuses them), nor one that timed out (no run
		// starts after its deadline); one in error may after a retry.
		"Eventable": t.Kind == store.KindCode && !t.State.Terminal() && !timedOut, "Typed": typed{}}, nil
}

// failureKind is the kind of a recorded failure (engine.Kind…), "" when
// it has none.
func failureKind(doc store.JSON) string {
	var f struct {
		Kind string `json:"kind"`
	}
	_ = json.Unmarshal(doc, &f)
	return f.Kind
}

// failedSequence is the sequence of the durable step of d, a code-first
// workflow, whose failure the workflow returned, as its error records it
// (0: none of its own steps, a child's failure or its own error).
func failedSequence(d *store.TaskDetail) int {
	var f struct {
		Step     string `json:"step"`
		Sequence int    `json:"sequence"`
	}
	if json.Unmarshal(d.Task.LastError, &f) != nil || f.Sequence <= 0 {
		return 0
	}
	for _, s := range d.Steps {
		if s.Sequence != nil && *s.Sequence == f.Sequence && s.UserName() == f.Step {
			return f.Sequence
		}
	}
	return 0
}

// stepLabel names a step as the task's page shows it: a durable step as
// its code names it, after its sequence ("2. charge", its row charge#2,
// as the task's error says "durable step charge (sequence 2)"); any
// other by its name.
func stepLabel(s *store.Step) string {
	if s.Sequence == nil {
		return s.Name
	}
	return strconv.Itoa(*s.Sequence) + ". " + s.UserName()
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *server) workersPage(w http.ResponseWriter, r *http.Request, pg *page) {
	ws, err := s.e.Workers(r.Context())
	if err != nil {
		s.uiError(w, pg, http.StatusServiceUnavailable, err)
		return
	}
	pg.Title = "Workers"
	pg.Data = ws
	s.render(w, http.StatusOK, "workers", pg)
}

// performancePage shows engine.Report of the last hour (?since=30m, 24h…):
// the same report, through the same cache, as GET /api/report.
func (s *server) performancePage(w http.ResponseWriter, r *http.Request, pg *page) {
	rep, err := s.makeReport(r)
	if err != nil {
		code := http.StatusServiceUnavailable
		if errors.Is(err, errBadRequest) || errors.Is(err, store.ErrInvalid) {
			code = http.StatusBadRequest
		}
		s.uiError(w, pg, code, err)
		return
	}
	// The links to other windows keep the page's filter.
	type window struct{ Label, Href string }
	var windows []window
	for _, w := range []struct{ label, since string }{{"1h", "1h"}, {"24h", "24h"}, {"7d", "168h"}} {
		q := url.Values{"since": {w.since}}
		for _, f := range []string{"namespace", "workflow"} {
			if v := r.URL.Query().Get(f); v != "" {
				q.Set(f, v)
			}
		}
		windows = append(windows, window{w.label, "performance?" + q.Encode()})
	}
	pg.Title = "Performance"
	pg.Data = struct {
		*engine.Report
		Windows []window
	}{rep, windows}
	s.render(w, http.StatusOK, "performance", pg)
}

// formAction runs an operator action from a dashboard form, with the
// session's actor, and goes back to the task's page; refused, it answers
// with the task's page, the reason above it and what was typed (in) kept
// in its form.
func (s *server) formAction(w http.ResponseWriter, r *http.Request, pg *page, in typed, do func(ctx context.Context, id int64) error) {
	id, err := taskID(r)
	if err != nil {
		s.uiError(w, pg, http.StatusBadRequest, err)
		return
	}
	p := r.Context().Value(principalKey{}).(*principal)
	if err := do(engine.WithActor(r.Context(), p.actor), id); err != nil {
		// The status the API answers for the same error: results the
		// store refuses are a bad request, not a conflict.
		s.refused(w, r, pg, id, status(err), err, in)
		return
	}
	seeOther(w, "../"+strconv.FormatInt(id, 10))
}

// refused answers a task's form refused with code: the task's page, the
// reason above it, its forms keeping what was typed (the pages are not
// cached: going back reloaded them empty). A task that cannot be shown
// gets the error page, with its link back.
func (s *server) refused(w http.ResponseWriter, r *http.Request, pg *page, id int64, code int, err error, in typed) {
	data, derr := s.taskData(r.Context(), id)
	if derr != nil {
		pg.Back = "tasks/" + strconv.FormatInt(id, 10)
		s.uiError(w, pg, code, err)
		return
	}
	data["Refused"], data["Typed"] = err.Error(), in
	pg.Title, pg.Data = fmt.Sprintf("Task %d", id), data
	s.render(w, code, "task", pg)
}

func (s *server) cancelForm(w http.ResponseWriter, r *http.Request, pg *page) {
	in := typed{Reason: r.PostForm.Get("reason")}
	reason := strings.TrimSpace(in.Reason)
	if reason == "" {
		reason = "cancelled from the dashboard"
	}
	s.formAction(w, r, pg, in, func(ctx context.Context, id int64) error { return s.e.Cancel(ctx, id, reason) })
}

func (s *server) retryForm(w http.ResponseWriter, r *http.Request, pg *page) {
	s.formAction(w, r, pg, typed{}, func(ctx context.Context, id int64) error { return s.e.Retry(ctx, id) })
}

// resolveForm resolves a failed step (form fields step and results, a
// JSON document; empty: null, but for a failed workflow's driver, whose
// results are its return value: see needsResults).
func (s *server) resolveForm(w http.ResponseWriter, r *http.Request, pg *page) {
	in := typed{Step: r.PostForm.Get("step"), Results: r.PostForm.Get("results")}
	results := strings.TrimSpace(in.Results)
	if results == "" {
		results = "null"
	}
	if in.Step == "" || !json.Valid([]byte(results)) {
		err := fmt.Errorf("resolving needs the step's name and results that are JSON (or nothing, for null); got step %q and results %.80q", in.Step, results)
		if id, ierr := taskID(r); ierr == nil {
			s.refused(w, r, pg, id, http.StatusBadRequest, err, in)
			return
		}
		s.uiError(w, pg, http.StatusBadRequest, err)
		return
	}
	s.formAction(w, r, pg, in, func(ctx context.Context, id int64) error {
		if strings.TrimSpace(in.Results) == "" { // a driver's are the workflow's return value
			if err := s.needsResults(ctx, id, in.Step); err != nil {
				return err
			}
		}
		return s.e.Resolve(ctx, id, in.Step, json.RawMessage(results))
	})
}

// eventForm sends a code-first workflow an event (fields name, key and
// payload, a JSON document; empty: none), as POST /api/tasks/{id}/events
// does, and goes back to the task's page, which says it was sent, or that
// its key was sent before and nothing changed.
func (s *server) eventForm(w http.ResponseWriter, r *http.Request, pg *page) {
	id, err := taskID(r)
	if err != nil {
		s.uiError(w, pg, http.StatusBadRequest, err)
		return
	}
	in := typed{Event: r.PostForm.Get("name"), Key: r.PostForm.Get("key"), Payload: r.PostForm.Get("payload")}
	var payload any
	switch doc, msg := strings.TrimSpace(in.Payload), cmp.Or(eventNameProblem(in.Event), eventKeyProblem(in.Key)); {
	case msg != "":
		// A blank or padded name: no WaitEvent waits for it; a blank or
		// padded key: its repeat typed without the spaces is another
		// event.
		s.refused(w, r, pg, id, http.StatusBadRequest, errors.New(msg), in)
		return
	case doc != "" && !json.Valid([]byte(doc)):
		s.refused(w, r, pg, id, http.StatusBadRequest, fmt.Errorf("the event's payload is not JSON (got %.80q): type a JSON document, or nothing for none", doc), in)
		return
	case doc != "":
		payload = json.RawMessage(doc)
	}
	p := r.Context().Value(principalKey{}).(*principal)
	created, err := s.e.SendEvent(engine.WithActor(r.Context(), p.actor), id, in.Event, in.Key, payload)
	if err != nil {
		s.refused(w, r, pg, id, status(err), err, in)
		return
	}
	q := url.Values{"sent": {in.Event}}
	if !created {
		q.Set("before", in.Key)
	}
	q.Set("sig", s.sentSig(p, id, q))
	seeOther(w, "../"+strconv.FormatInt(id, 10)+"?"+q.Encode())
}

// seeOther redirects to a location relative to the request's URL as the
// browser sees it (http.Redirect would resolve it against the path after
// any prefix the application stripped when mounting the handler).
func seeOther(w http.ResponseWriter, location string) {
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusSeeOther)
}
