package admin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/ids"
	"github.com/tasker-go/tasker/store"
)

// taskSummary is a task in a listing: no input, results or error (see
// GET /api/tasks/{id} for those).
type taskSummary struct {
	ID          int64           `json:"id"`
	Workflow    string          `json:"workflow"`
	Version     string          `json:"version"`
	Kind        store.Kind      `json:"kind"`
	State       store.TaskState `json:"state"`
	Queue       string          `json:"queue"`
	Priority    int             `json:"priority"`
	ParentID    *int64          `json:"parent_id,omitempty"`
	Unfinished  int             `json:"unfinished"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	CompletedAt *time.Time      `json:"completed_at,omitempty"`
}

func summary(t *store.Task) taskSummary {
	return taskSummary{ID: t.ID, Workflow: t.Namespace + "/" + t.Name, Version: t.Version, Kind: t.Kind, State: t.State, Queue: t.Queue,
		Priority: t.Priority, ParentID: t.ParentID, Unfinished: t.Unfinished, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, CompletedAt: t.CompletedAt}
}

// listTasks: GET /api/tasks?state=a,b&workflow=ns/name&queue=q&since=T&until=T&key=K&cursor=N&limit=N,
// newest first; next_cursor (0 on the last page) is the next page's cursor.
func (s *server) listTasks(w http.ResponseWriter, r *http.Request, _ *principal) {
	q := r.URL.Query()
	// Given empty (?key=$KEY with KEY unset), a filter was taken as
	// absent: every task was listed, or ?key=&workflow= listed the
	// workflow's tasks instead of finding one. The task list's form,
	// which sends its empty fields, is the dashboard's (listParams).
	for _, f := range []struct{ name, want string }{
		{"state", "a state (state=a,b for several)"}, {"workflow", "namespace/name"},
		{"queue", "a queue's name"}, {"key", "an idempotency key, with workflow"},
	} {
		if v := q.Get(f.name); q.Has(f.name) && strings.TrimSpace(v) == "" {
			fail(w, badRequest("%s %q is empty: give %s, or leave %s out", f.name, v, f.want, f.name))
			return
		}
	}
	p, err := listParams(q)
	if err != nil {
		fail(w, err)
		return
	}
	workflow := q.Get("workflow")
	if key := q.Get("key"); key != "" {
		if workflow == "" {
			fail(w, badRequest("key needs workflow: an idempotency key is scoped by its workflow"))
			return
		}
		for _, other := range []string{"state", "queue", "since", "until", "cursor", "limit"} {
			if q.Has(other) {
				fail(w, badRequest("key finds one task by workflow and key: %s does not apply", other))
				return
			}
		}
		t, err := s.e.TaskByKey(r.Context(), workflow, key)
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"tasks": []taskSummary{summary(t)}, "next_cursor": 0})
		return
	}
	page, err := s.st.ListTasks(r.Context(), p)
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]taskSummary, len(page.Tasks))
	for i, t := range page.Tasks {
		out[i] = summary(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": out, "next_cursor": page.NextCursor})
}

// taskID reads the {id} of the path, as the API writes it (ids.Parse).
func taskID(r *http.Request) (int64, error) {
	v := r.PathValue("id")
	id, ok := ids.Parse(v)
	if !ok {
		return 0, badRequest("task id %q: want a positive number in decimal digits, without sign or leading zero", v)
	}
	return id, nil
}

// maxShown is the most bytes of a JSON document (an input, a result, an
// error) a response carries; a larger one is replaced by a note with its
// size and the start of its text.
const maxShown = 4 << 10

func clip(doc store.JSON) store.JSON {
	if len(doc) <= maxShown {
		return doc
	}
	note, _ := json.Marshal(map[string]any{"truncated": true, "bytes": len(doc), "preview": strings.ToValidUTF8(string(doc[:512]), "")})
	return note
}

// showTask: GET /api/tasks/{id}: the task, its steps (a code-first
// workflow's durable steps in sequence order after the others), edges by
// step name; documents over 4 KiB truncated with a note of their size;
// diagnoses: each failed step's diagnosis and predicted backoff, by name.
func (s *server) showTask(w http.ResponseWriter, r *http.Request, _ *principal) {
	id, err := taskID(r)
	if err != nil {
		fail(w, err)
		return
	}
	d, err := s.st.GetTask(r.Context(), id)
	if err != nil {
		fail(w, err)
		return
	}
	t := *d.Task
	t.Context, t.Results, t.LastError = clip(t.Context), clip(t.Results), clip(t.LastError)
	steps := make([]store.Step, len(d.Steps))
	names := make(map[int64]string, len(d.Steps))
	// A step's last failure's diagnosis (and predicted backoff), read
	// before the clip: a panic's stack can push the document past it.
	type diagnosis struct {
		Diagnosis json.RawMessage `json:"diagnosis,omitempty"`
		Backoff   json.RawMessage `json:"backoff,omitempty"`
	}
	diagnoses := map[string]diagnosis{}
	for i, st := range d.Steps {
		steps[i] = *st
		steps[i].Results, steps[i].LastError, steps[i].Config = clip(st.Results), clip(st.LastError), clip(st.Config)
		names[st.ID] = st.Name
		var dg diagnosis
		if len(st.LastError) > 0 && json.Unmarshal(st.LastError, &dg) == nil && (len(dg.Diagnosis) > 0 || len(dg.Backoff) > 0) {
			diagnoses[st.Name] = dg
		}
	}
	slices.SortStableFunc(steps, func(a, b store.Step) int {
		return cmp.Compare(seq(a.Sequence), seq(b.Sequence))
	})
	type edge struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	edges := make([]edge, len(d.Edges))
	for i, e := range d.Edges {
		edges[i] = edge{names[e.FromStepID], names[e.ToStepID]}
	}
	writeJSON(w, http.StatusOK, map[string]any{"task": t, "workflow": t.Namespace + "/" + t.Name, "steps": steps, "edges": edges, "diagnoses": diagnoses})
}

func seq(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// history: GET /api/tasks/{id}/history: the task's and its steps'
// transitions in the order they were written.
func (s *server) history(w http.ResponseWriter, r *http.Request, _ *principal) {
	id, err := taskID(r)
	if err != nil {
		fail(w, err)
		return
	}
	if _, err := s.st.GetTask(r.Context(), id); err != nil {
		fail(w, err)
		return
	}
	h, err := s.st.History(r.Context(), id)
	if err != nil {
		fail(w, err)
		return
	}
	// Lists, never null (no step has moved yet): a client iterating over
	// them would fail on null.
	if h.Task == nil {
		h.Task = []*store.TaskTransition{}
	}
	if h.Steps == nil {
		h.Steps = []*store.StepTransition{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"task": h.Task, "steps": h.Steps})
}

// explain: GET /api/tasks/{id}/explain: engine.Explain.
func (s *server) explain(w http.ResponseWriter, r *http.Request, _ *principal) {
	id, err := taskID(r)
	if err != nil {
		fail(w, err)
		return
	}
	x, err := s.e.Explain(r.Context(), id)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, x)
}

// counts: GET /api/counts: tasks and steps by state.
func (s *server) counts(w http.ResponseWriter, r *http.Request, _ *principal) {
	c, err := s.st.CountByState(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	lags, err := s.st.QueueLags(r.Context(), time.Time{})
	if err != nil {
		fail(w, err)
		return
	}
	type queue struct {
		Ready       int       `json:"ready"`
		OldestDueAt time.Time `json:"oldest_due_at"`
	}
	queues := map[string]queue{}
	for _, l := range lags {
		queues[l.Queue] = queue{l.Ready, l.OldestDueAt}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": c.Tasks, "steps": c.Steps, "ready_by_queue": queues})
}

// workers: GET /api/workers: the worker registry (engine.Workers).
func (s *server) workers(w http.ResponseWriter, r *http.Request, _ *principal) {
	ws, err := s.e.Workers(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"workers": ws})
}

// workflows: GET /api/workflows: what this process has registered.
func (s *server) workflows(w http.ResponseWriter, r *http.Request, _ *principal) {
	// Lists, never null (serve registers nothing): a client iterating
	// over them would fail on null.
	writeJSON(w, http.StatusOK, map[string]any{"templates": append([]string{}, s.e.Templates()...), "handlers": append([]string{}, s.e.Handlers()...)})
}

// act runs an operator action with the principal as its actor and
// answers with the task as it is afterwards.
func (s *server) act(w http.ResponseWriter, r *http.Request, p *principal, body any, do func(ctx context.Context, id int64) error) {
	s.actAnd(w, r, p, body, func(ctx context.Context, id int64) (map[string]any, error) { return nil, do(ctx, id) })
}

// actAnd is act for an action whose answer says more than the task and
// the actor: do's fields are added to it.
func (s *server) actAnd(w http.ResponseWriter, r *http.Request, p *principal, body any, do func(ctx context.Context, id int64) (map[string]any, error)) {
	id, err := taskID(r)
	if err != nil {
		fail(w, err)
		return
	}
	if err := decode(r, body); err != nil {
		fail(w, err)
		return
	}
	answer, err := do(engine.WithActor(r.Context(), p.actor), id)
	if err != nil {
		fail(w, err)
		return
	}
	d, err := s.st.GetTask(r.Context(), id)
	if err != nil {
		fail(w, err)
		return
	}
	if answer == nil {
		answer = map[string]any{}
	}
	answer["task"], answer["actor"] = summary(d.Task), p.actor
	writeJSON(w, http.StatusOK, answer)
}

// cancel: POST /api/tasks/{id}/cancel {"reason": "…", "force": false}.
func (s *server) cancel(w http.ResponseWriter, r *http.Request, p *principal) {
	var body struct {
		Reason string `json:"reason"`
		Force  bool   `json:"force"`
	}
	s.act(w, r, p, &body, func(ctx context.Context, id int64) error {
		// A blank reason was recorded as it was: the default is for one
		// left out, and the timeline said nothing of why.
		if body.Reason != "" && strings.TrimSpace(body.Reason) == "" {
			return badRequest("the reason is blank (got %q): give one, or leave reason out", body.Reason)
		}
		var opts []engine.CancelOption
		if body.Force {
			opts = append(opts, engine.Force())
		}
		err := s.e.Cancel(ctx, id, cmp.Or(body.Reason, "cancelled through the admin API"), opts...)
		// The state machine says "only an operator may force it" to a
		// caller who may well be one: say how.
		if err != nil && !body.Force && errors.Is(err, store.ErrIllegalTransition) {
			if d, gerr := s.st.GetTask(ctx, id); gerr == nil && d.Task.State.Terminal() && d.Task.State != store.TaskCancelled {
				err = fmt.Errorf("%w; the task is %s, and a finished task is withdrawn only with {\"force\":true} in the body", err, d.Task.State)
			}
		}
		return err
	})
}

// retry: POST /api/tasks/{id}/retry.
func (s *server) retry(w http.ResponseWriter, r *http.Request, p *principal) {
	var body struct{}
	s.act(w, r, p, &body, func(ctx context.Context, id int64) error { return s.e.Retry(ctx, id) })
}

// resolve: POST /api/tasks/{id}/steps/{step}/resolve {"results": …}.
func (s *server) resolve(w http.ResponseWriter, r *http.Request, p *principal) {
	var body struct {
		Results json.RawMessage `json:"results"`
	}
	s.act(w, r, p, &body, func(ctx context.Context, id int64) error {
		step, results := r.PathValue("step"), body.Results
		if len(results) == 0 {
			if err := s.needsResults(ctx, id, step); err != nil {
				return err
			}
			results = json.RawMessage("null")
		}
		return s.e.Resolve(ctx, id, step, results)
	})
}

// needsResults refuses a resolve of a failed code-first workflow's driver
// with its results left out: they are the workflow's return value, and
// null was recorded as it, the task closed with a result no one gave
// (`tasker tasks resolve` refuses it too). Null given is a value.
func (s *server) needsResults(ctx context.Context, id int64, step string) error {
	if step != engine.DriverStep {
		return nil
	}
	d, err := s.st.GetTask(ctx, id)
	if err != nil || d.Task.Kind != store.KindCode || d.Task.State != store.TaskError {
		return nil // (Resolve says what is wrong, or refuses the driver)
	}
	return badRequest("the results of step %s of task %d are the workflow's return value: give them (null for none)", step, id)
}

// sendEvent: POST /api/tasks/{id}/events {"name": "…", "key": "…", "payload": …}.
func (s *server) sendEvent(w http.ResponseWriter, r *http.Request, p *principal) {
	var body struct {
		Name    string          `json:"name"`
		Key     string          `json:"key"`
		Payload json.RawMessage `json:"payload"`
	}
	s.actAnd(w, r, p, &body, func(ctx context.Context, id int64) (map[string]any, error) {
		if msg := cmp.Or(eventNameProblem(body.Name), eventKeyProblem(body.Key)); msg != "" {
			return nil, badRequest("%s", msg)
		}
		var payload any
		if len(body.Payload) > 0 {
			payload = body.Payload
		}
		created, err := s.e.SendEvent(ctx, id, body.Name, body.Key, payload)
		if err != nil {
			return nil, err
		}
		// A key sent before changes nothing (its first payload stays):
		// the answer says so, as `tasker events send` does; it was the
		// same 200 as a new event's.
		return map[string]any{"duplicate": !created}, nil
	})
}

// eventNameProblem says what is wrong with an event's name sent by the
// API or the dashboard's form, or "". A blank name was recorded, and a
// padded one too: no WaitEvent waits for either (the name is matched
// exactly), so they are refused as a padded filter is and as `tasker
// events send` refuses them.
func eventNameProblem(name string) string {
	switch t := strings.TrimSpace(name); {
	case t == "":
		return fmt.Sprintf("the event needs a name (got %q): the name the workflow's WaitEvent waits for", name)
	case t != name:
		return fmt.Sprintf("name %q has spaces around it: write %q", name, t)
	}
	return ""
}

// eventKeyProblem says what is wrong with an event's idempotency key sent
// by the API or the dashboard's form, or "". An empty key is none (every
// send is another event). A key of spaces, or with spaces around it, was
// recorded as given: the same decision sent again with the key typed
// without them was another event. Refused, as `tasker events send --key`
// refuses it.
func eventKeyProblem(key string) string {
	switch t := strings.TrimSpace(key); {
	case key == "":
		return ""
	case t == "":
		return fmt.Sprintf("key %q is blank: give the idempotency key, or leave key empty for an event sent every time", key)
	case t != key:
		return fmt.Sprintf("key %q has spaces around it: write %q", key, t)
	}
	return ""
}

// listTokens: GET /api/tokens (admin): the tokens, never their secrets.
func (s *server) listTokens(w http.ResponseWriter, r *http.Request, _ *principal) {
	ts, err := s.st.ListAdminTokens(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
}

// revokeToken: POST /api/tokens/{id}/revoke (admin).
func (s *server) revokeToken(w http.ResponseWriter, r *http.Request, _ *principal) {
	// 0 or -1 was answered 404, as if such a token could exist, and
	// "01" revoked token 1.
	id, ok := ids.Parse(r.PathValue("id"))
	if !ok {
		fail(w, badRequest("token id %q: want a positive number in decimal digits, without sign or leading zero", r.PathValue("id")))
		return
	}
	// It takes no body; one is refused rather than ignored (as retry's).
	var body struct{}
	if err := decode(r, &body); err != nil {
		fail(w, err)
		return
	}
	// Revoking again changes nothing (the store keeps the first time):
	// say so, as `tasker tokens revoke` does, rather than answer as if it
	// had just been.
	ts, err := s.st.ListAdminTokens(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	if i := slices.IndexFunc(ts, func(t *store.AdminToken) bool { return t.ID == id }); i >= 0 && ts[i].RevokedAt != nil {
		writeJSON(w, http.StatusOK, map[string]any{"revoked": id, "already_revoked_at": ts[i].RevokedAt})
		return
	}
	if err := s.st.RevokeAdminToken(r.Context(), id, time.Time{}); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"revoked": id})
}

// listParams reads a task listing's filters from a query (see listTasks).
// An empty state, workflow or queue is no filter (the dashboard's task
// list form sends them so; the API refuses them before); since, until, cursor and limit given empty are refused,
// not taken as absent.
func listParams(q url.Values) (*store.ListTasksParams, error) {
	if err := padded(q, "workflow", "queue"); err != nil {
		return nil, err
	}
	p := &store.ListTasksParams{Queue: q.Get("queue")}
	var err error
	if v := q.Get("state"); v != "" {
		for st := range strings.SplitSeq(v, ",") {
			p.States = append(p.States, store.TaskState(st))
		}
	}
	if workflow := q.Get("workflow"); workflow != "" {
		// Both parts, neither with '/' or '@' (as a workflow's name is
		// registered): "shop/" or "/fanout" would widen the filter to a
		// whole namespace or name, "shop/fanout@1.0" match nothing.
		var ok bool
		p.Namespace, p.Name, ok = strings.Cut(workflow, "/")
		switch {
		case strings.Contains(workflow, "@"):
			return nil, badRequest("workflow %q: want namespace/name, without the version", workflow)
		case !ok || p.Namespace == "" || p.Name == "" || strings.Contains(p.Name, "/"):
			return nil, badRequest("workflow %q: want namespace/name", workflow)
		}
	}
	for _, f := range []struct {
		key string
		to  *time.Time
	}{{"since", &p.CreatedAfter}, {"until", &p.CreatedBefore}} {
		if v := q.Get(f.key); q.Has(f.key) {
			if *f.to, err = time.Parse(time.RFC3339Nano, v); err != nil {
				// A '+' in a query is a space: ?since=…T10:00:00+02:00
				// read "…T10:00:00 02:00", which the client never sent.
				hint := ""
				if strings.Contains(v, " ") {
					hint = " (a + in a query is read as a space: write it %2B, or give the time in UTC with Z)"
				}
				return nil, badRequest("%s %q: want an RFC 3339 time%s", f.key, v, hint)
			}
		}
	}
	// since is inclusive and until exclusive: the same instant matches
	// nothing either (the store refused it in its own fields' names).
	if !p.CreatedBefore.IsZero() && !p.CreatedAfter.Before(p.CreatedBefore) {
		return nil, badRequest("since %s is not before until %s: no task can match", q.Get("since"), q.Get("until"))
	}
	for _, f := range []struct {
		key string
		to  *int64
		max int64
	}{{"cursor", &p.Before, 1<<63 - 1}, {"limit", nil, 1000}} {
		if !q.Has(f.key) {
			continue
		}
		// As an id is written (ids.Parse): "+2" or "02" is no cursor
		// the API gives, nor a limit it documents.
		v := q.Get(f.key)
		n, ok := ids.Parse(v)
		if !ok || n > f.max {
			return nil, badRequest("%s %q: want a number from 1 to %d, in decimal digits without sign or leading zero", f.key, v, f.max)
		}
		if f.to != nil {
			*f.to = n
		} else {
			p.Limit = int(n)
		}
	}
	for _, st := range p.States {
		if !st.Valid() {
			return nil, badRequest("state %q: want one of pending, in_progress, complete, error, cancelled, resolved_manually", st)
		}
	}
	return p, nil
}

// padded refuses (errBadRequest) the first of names given in q with spaces
// around it, as a padded since or cursor is: a name filter matches exactly,
// so ?queue=%20default listed nothing, answered 200. Only blanks is refused
// too; the dashboard's forms reach it, the API refusing it as empty before.
func padded(q url.Values, names ...string) error {
	for _, name := range names {
		v := q.Get(name)
		switch t := strings.TrimSpace(v); {
		case t == v:
		case t == "":
			return badRequest("%s %q is blank: leave it empty for any %s", name, v, name)
		default:
			return badRequest("%s %q has spaces around it: write %q", name, v, t)
		}
	}
	return nil
}
