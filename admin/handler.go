package admin

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

// Config configures the admin handler.
type Config struct {
	// Engine is required: the API reads its store and acts through its
	// operations (Cancel, Retry, Resolve, SendEvent, Explain), so an
	// operator action does exactly what the same call in code does.
	Engine *engine.Engine
	// Metrics, when set, is served at /metrics (viewer role): pass the
	// registry the engine's Metrics are registered on. Unset, /metrics
	// answers 404.
	Metrics prometheus.Gatherer
	// AllowAnonymous serves requests without a token as admin (recorded
	// as actor "anonymous") while the database holds no token; once a
	// token exists every request needs one, also after it is revoked
	// (revoking the last token does not open the API again). Set it only when the handler
	// is reachable from this machine alone: CheckListen, which `tasker
	// serve` follows, allows it on a loopback address only.
	AllowAnonymous bool
	// MaxBodyBytes bounds a request body (default 64 KiB); a larger one is
	// answered 413 and nothing is done.
	MaxBodyBytes int64
}

// server holds what the handlers share.
type server struct {
	cfg Config
	e   *engine.Engine
	st  store.Store
	// csrfKey signs the anonymous dashboard's form tokens (random per
	// handler; a token's own secret signs its forms: see csrf).
	csrfKey []byte
}

// Handler returns the admin API as an http.Handler to mount in the
// application's mux (see the package doc for its routes). A Config
// without an Engine, or with a nil registry as Metrics, is refused.
func Handler(cfg Config) (http.Handler, error) {
	if cfg.Engine == nil {
		return nil, errors.New("admin: Config.Engine is required")
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("admin: Config.MaxBodyBytes must not be negative, got %d", cfg.MaxBodyBytes)
	}
	if cfg.Metrics != nil {
		// A nil registry (or GathererFunc) passes "!= nil" and panics at
		// every scrape.
		if v := reflect.ValueOf(cfg.Metrics); (v.Kind() == reflect.Pointer || v.Kind() == reflect.Func) && v.IsNil() {
			return nil, fmt.Errorf("admin: Config.Metrics is a nil %T; pass the registry the engine's Metrics are registered on, or leave it unset", cfg.Metrics)
		}
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	s := &server{cfg: cfg, e: cfg.Engine, st: cfg.Engine.Store(), csrfKey: newKey()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.ready)
	if cfg.Metrics != nil {
		metrics := promhttp.HandlerFor(cfg.Metrics, promhttp.HandlerOpts{})
		mux.Handle("GET /metrics", s.need(store.RoleViewer, func(w http.ResponseWriter, r *http.Request, _ *principal) { metrics.ServeHTTP(w, r) }))
	}
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, s.need(rt.role, onlyParams(queryParams[rt.pattern], rt.h)))
	}
	s.dashboardRoutes(mux)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		// This catch-all takes every method, so the mux's own 405 never
		// came: GET of a POST endpoint read "no such endpoint".
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); m != r.Method && pattern != "/api/" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("%s %s: the endpoint takes %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
			return
		}
		writeError(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	// POSTs from another site (a page the operator's browser visits) are
	// refused: Sec-Fetch-Site, else Origin against Host.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(crossOrigin))
	return s.limits(cop.Handler(mux)), nil
}

// crossOrigin answers a POST http.CrossOriginProtection refused, naming
// the header that refused it: on the API as its every error is, JSON (the
// standard library's answer was a text/plain line, which a client reading
// {"error":…} failed on); on the dashboard as text, as before.
func crossOrigin(w http.ResponseWriter, r *http.Request) {
	why := fmt.Sprintf("Sec-Fetch-Site: %q", r.Header.Get("Sec-Fetch-Site"))
	if r.Header.Get("Sec-Fetch-Site") == "" {
		why = fmt.Sprintf("Origin: %q, not this host %q", r.Header.Get("Origin"), r.Host)
	}
	err := fmt.Errorf("a POST from another site is refused (%s): a page elsewhere may not act through the browser of who visits it", why)
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	writeError(w, http.StatusForbidden, err)
}

type route struct {
	pattern string
	role    string
	h       func(w http.ResponseWriter, r *http.Request, p *principal)
}

// routes lists every API endpoint with the role it needs; GETs change
// nothing.
func (s *server) routes() []route {
	return []route{
		{"GET /api/tasks", store.RoleViewer, s.listTasks},
		{"GET /api/tasks/{id}", store.RoleViewer, s.showTask},
		{"GET /api/tasks/{id}/history", store.RoleViewer, s.history},
		{"GET /api/tasks/{id}/explain", store.RoleViewer, s.explain},
		{"GET /api/counts", store.RoleViewer, s.counts},
		{"GET /api/workers", store.RoleViewer, s.workers},
		{"GET /api/workflows", store.RoleViewer, s.workflows},
		{"GET /api/report", store.RoleViewer, s.report},
		{"POST /api/tasks/{id}/cancel", store.RoleOperator, s.cancel},
		{"POST /api/tasks/{id}/retry", store.RoleOperator, s.retry},
		{"POST /api/tasks/{id}/steps/{step}/resolve", store.RoleOperator, s.resolve},
		{"POST /api/tasks/{id}/events", store.RoleOperator, s.sendEvent},
		{"GET /api/tokens", store.RoleAdmin, s.listTokens},
		{"POST /api/tokens/{id}/revoke", store.RoleAdmin, s.revokeToken},
	}
}

// queryParams lists the query parameters each API route reads; the others
// take none.
var queryParams = map[string][]string{
	"GET /api/tasks":  {"state", "workflow", "queue", "since", "until", "key", "cursor", "limit"},
	"GET /api/report": {"since", "namespace", "workflow"},
}

// onlyParams refuses a query parameter h does not read, or one given
// twice, and a GET's body: a misspelt filter (?stat=error), a POST's
// option put in the query (?force=true) or a filter put in a GET's body
// would otherwise be ignored, the request served as if it were not there.
func onlyParams(known []string, h func(w http.ResponseWriter, r *http.Request, p *principal)) func(w http.ResponseWriter, r *http.Request, p *principal) {
	return func(w http.ResponseWriter, r *http.Request, p *principal) {
		if err := checkParams(r, known); err != nil {
			fail(w, err)
			return
		}
		// A GET's body is never read: a filter sent there (curl -X GET
		// -d '{"state":"error"}') was ignored, every task listed.
		if r.Method == http.MethodGet {
			if n, _ := io.ReadFull(r.Body, make([]byte, 1)); n > 0 {
				where := ""
				if len(known) > 0 {
					where = fmt.Sprintf(": give its filters as query parameters (%s)", strings.Join(known, ", "))
				}
				fail(w, badRequest("%s %s takes no body%s", r.Method, r.URL.Path, where))
				return
			}
		}
		h(w, r, p)
	}
}

// checkParams reports (errBadRequest) a part of r's query that is not a
// parameter (see below), else the first query parameter of r, in name
// order, that is not one of known or is given more than once. The
// API (onlyParams) and the dashboard's pages (ui) both call it.
func checkParams(r *http.Request, known []string) error {
	// r.URL.Query drops a part it cannot read (a ';' between parameters,
	// a '%' without two hex digits) and says nothing: ?state=error;limit=5
	// listed every task, and a POST's ?force=true;x was not refused.
	for part := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if _, err := url.ParseQuery(part); err != nil {
			return badRequest("query %q: %v (join parameters with &, and write %% as %%25)", part, err)
		}
	}
	q := r.URL.Query()
	for _, name := range slices.Sorted(maps.Keys(q)) {
		switch {
		case !slices.Contains(known, name) && len(known) == 0:
			return badRequest("%s %s takes no query parameter, got %q", r.Method, r.URL.Path, name)
		case !slices.Contains(known, name):
			return badRequest("unknown query parameter %q (%s %s takes %s)", name, r.Method, r.URL.Path, strings.Join(known, ", "))
		case len(q[name]) > 1:
			hint := ""
			if name == "state" {
				hint = " (state=a,b lists several states)"
			}
			return badRequest("query parameter %q given %d times: give it once%s", name, len(q[name]), hint)
		}
	}
	return nil
}

// limits bounds request bodies.
func (s *server) limits(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxBodyBytes {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is %d bytes; the limit is %d", r.ContentLength, s.cfg.MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		h.ServeHTTP(w, r)
	})
}

// schemaChecker is a store that can say whether its schema is current.
type schemaChecker interface {
	CheckSchema(ctx context.Context) error
}

// ready answers 200 while the database answers and holds the schema this
// code needs, 503 otherwise (with the reason).
func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	err := s.st.DB().PingContext(ctx)
	if sc, ok := s.st.(schemaChecker); ok && err == nil {
		err = sc.CheckSchema(ctx)
	}
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// fail answers with the status the error calls for.
func fail(w http.ResponseWriter, err error) {
	// A body sent without its length is cut at the limit, and the error
	// said only "http: request body too large".
	if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
		err = fmt.Errorf("the body is over the limit of %d bytes (Config.MaxBodyBytes): %w", tooBig.Limit, err)
	}
	writeError(w, status(err), err)
}

// status is the HTTP status an error calls for, for the API and the
// dashboard's forms alike.
func status(err error) int {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errBadRequest), errors.Is(err, store.ErrInvalid), errors.Is(err, engine.ErrInvalidInput), errors.Is(err, engine.ErrPayloadTooLarge):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrIllegalTransition), errors.Is(err, store.ErrConflict), errors.Is(err, engine.ErrRefused), errors.Is(err, engine.ErrEventRefused):
		return http.StatusConflict
	case errors.Is(err, store.ErrRetryable):
		// The database dropped the connection or is restarting after
		// the token was checked: try again, as the token's check says.
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// decode reads a JSON body into v; an empty body leaves v as it is (a
// body of null is refused). The body is one JSON value: anything after it
// (a second object, stray text) is refused, not ignored; and so is a field
// not spelt as v's JSON names are, or given twice (see fieldsAsSpelt).
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	var raw json.RawMessage
	var tooBig *http.MaxBytesError
	switch err := dec.Decode(&raw); {
	case errors.Is(err, io.EOF):
		return nil
	case errors.As(err, &tooBig):
		return err
	case err != nil:
		// A form's fields (reason=x&force=true) read "invalid character
		// 'r'": say what was sent. JSON sent with a form's type (curl -d)
		// is taken, its text being the API's.
		if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data") {
			want := "send no body: the route takes none"
			if names := jsonNames(v); len(names) > 0 {
				want = "send it as JSON, an object with the fields " + strings.Join(names, ", ")
			}
			return badRequest("the body is sent as a form (Content-Type: %s): %s", ct, want)
		}
		return badRequest("the body is not the JSON expected: %v", err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if errors.As(err, &tooBig) {
			return err
		}
		return badRequest("the body is not the JSON expected: more follows its value (after byte %d); send one JSON value", end)
	}
	// encoding/json replaces a byte that is not UTF-8 in a string with
	// U+FFFD: {"name":"appr\xffoval"} sent the event "appr\ufffdoval", and
	// a key or reason was recorded as another than the one sent, where
	// the same call in code is refused (the store takes no invalid UTF-8).
	if i := invalidUTF8(raw); i >= 0 {
		return badRequest("the body is not valid UTF-8 (byte %d): JSON text is UTF-8; send its strings so encoded", end-int64(len(raw))+int64(i))
	}
	// encoding/json reads null into a struct as nothing: a body of null
	// was taken as none, where "x" or [1] are refused.
	if string(raw) == "null" {
		return badRequest("the body is null: send a JSON object, or no body")
	}
	if err := fieldsAsSpelt(raw, v); err != nil {
		return err
	}
	if err := noLoneSurrogate(raw); err != nil {
		return err
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		if typ := (*json.UnmarshalTypeError)(nil); errors.As(err, &typ) {
			return badRequest("the body is not the JSON expected: %s", typeError(typ, v))
		}
		return badRequest("the body is not the JSON expected: %v", err)
	}
	return nil
}

// typeError says in JSON's words what a body or a field of the wrong type
// was and what it takes: encoding/json names Go's types ("Go value of
// type struct { Reason string …}", "Go struct field .reason").
func typeError(e *json.UnmarshalTypeError, v any) string {
	if e.Field == "" {
		return fmt.Sprintf("%s, where the route takes an object (fields: %s)", jsonValue(e.Value), cmp.Or(strings.Join(jsonNames(v), ", "), "none"))
	}
	takes := "a value of another type"
	switch e.Type.Kind() {
	case reflect.String:
		takes = "a string"
	case reflect.Bool:
		takes = "true or false"
	case reflect.Struct, reflect.Map:
		takes = "an object"
	case reflect.Slice, reflect.Array:
		takes = "an array"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		takes = "a number"
	}
	return fmt.Sprintf("field %q is %s, where it takes %s", e.Field, jsonValue(e.Value), takes)
}

// jsonValue is encoding/json's name of a JSON value's kind ("number",
// "bool", "object") with its article.
func jsonValue(kind string) string {
	switch kind, _, _ = strings.Cut(kind, " "); kind {
	case "bool":
		return "true or false"
	case "array", "object":
		return "an " + kind
	}
	return "a " + kind
}

// jsonNames are the JSON names of the fields of the struct v points to.
func jsonNames(v any) []string {
	t := reflect.TypeOf(v)
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for f := range t.Elem().Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); f.IsExported() && name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

// fieldsAsSpelt refuses a field of the body's object that is not one of
// v's JSON names as spelt, or that is given twice. encoding/json matches
// a name without regard to case and keeps the last of two, which
// DisallowUnknownFields lets through: {"Force":true} was taken as force,
// and {"name":"approval","Name":"cancel"} sent the event "cancel".
// Only the body's own fields are checked (a payload or results is the
// caller's document).
func fieldsAsSpelt(raw json.RawMessage, v any) error {
	if t := reflect.TypeOf(v); t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	names := jsonNames(v)
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil // not an object: the decode says what is wrong
	}
	var keys []string
	count := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := tok.(string)
		if err := dec.Decode(new(json.RawMessage)); err != nil {
			return nil
		}
		keys = append(keys, key)
		count[key]++
	}
	takes := "none"
	if len(names) > 0 {
		takes = strings.Join(names, ", ")
	}
	for _, key := range keys {
		if slices.Contains(names, key) {
			continue
		}
		if i := slices.IndexFunc(names, func(n string) bool { return strings.EqualFold(n, key) }); i >= 0 {
			return badRequest("the body is not the JSON expected: unknown field %q (did you mean %q? the body takes %s)", key, names[i], takes)
		}
		return badRequest("the body is not the JSON expected: unknown field %q (the body takes %s)", key, takes)
	}
	for _, key := range keys {
		if count[key] > 1 {
			return badRequest("the body is not the JSON expected: field %q given %d times: give it once", key, count[key])
		}
	}
	return nil
}

// invalidUTF8 is the offset of the first byte of b that is not UTF-8, -1
// when all are.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// noLoneSurrogate refuses a \uD800-\uDFFF escape that is not half of a
// pair in a field of the body's object, naming the field: encoding/json
// replaces it with U+FFFD, so {"name":"a\ud800b"} sent the event
// "a\ufffdb" and a key was recorded as another key. (The store refuses
// one in a document, a payload or results, naming no field.)
func noLoneSurrogate(raw json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil // not an object: the decode says what is wrong
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil
		}
		if i := loneSurrogate(val); i >= 0 {
			return badRequest("the body is not the JSON expected: field %q: %s is half of a UTF-16 surrogate pair, without the other half (it would be read as U+FFFD, another text than the one sent)", key, val[i:i+6])
		}
	}
	return nil
}

// loneSurrogate is the offset in a JSON value of the first \u escape of a
// UTF-16 surrogate that is not half of a pair, -1 when there is none (a
// NUL escape is left to the checks of the field it is in).
func loneSurrogate(b []byte) int {
	for at, nul := store.UnstorableAt(b, 0); at >= 0; at, nul = store.UnstorableAt(b, at+6) {
		if !nul {
			return at
		}
	}
	return -1
}
