package engine

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/tasker-go/tasker/internal/editdist"
	"github.com/tasker-go/tasker/retry"
)

// The YAML file format (one template per file):
//
//	namespace: ecommerce
//	name: process_order
//	version: 1.0.0
//	queue: orders        # default "default"; workers serve ExecutionConfig.Queues
//	priority: 5          # 0..1000, higher claimed first; Start's WithPriority overrides
//	concurrency: {max: 1, key: customer_id}   # fleet-wide: 1 running step per customer
//	rate_limits: {payments: {per_second: 50, burst: 10}}  # steps with dependent_system: payments
//	input_schema: {type: object, required: [order_id]}
//	predictive_retry: true  # weigh retry delays (Template.PredictiveRetry)
//	retention: 30d       # keep finished tasks 30 days (a duration, Nd, or forever); default the engine's
//	steps:
//	  - name: charge_payment
//	    handler: ecommerce.charge_payment
//	    depends_on: [validate_cart]
//	    retry: {limit: 5, backoff: exponential, base: 1s, max: 1m}
//	    timeout: 30s
//	    config: {url: https://pay.example/charge}
//	environments:        # steps merge by name; a new name adds a step (it needs a handler)
//	  development:
//	    steps: [{name: charge_payment, config: {url: http://localhost:3000/charge}}]
//
// Decoding is strict: a key the format does not have, a value of the wrong
// kind (a string where a number belongs, "soon" for a duration) and a
// duplicate key are errors that name the key's path and line. Step indexes
// in paths count from 0. A null value ("timeout:") counts as absent; an
// empty string (queue: "") and a zero duration ("timeout: 0s", which
// would mean the default, not "none") are refused: leave the key out. A
// duration or number with a sign ("+30s", "+5", "-0") is refused too:
// write "30s", "5", "0"; and so is a whole number in another form than
// decimal digits ("010", octal 8 to the parser; "0x10", "1_000"). In a
// step's config and the input schema, a whole number with a leading zero
// ("zip: 01234", octal 668) is refused as well, and so is a number the
// parser would keep as a string: one out of range ("99999999999999999999")
// or with an exponent but no '.' ("1e5": write "1.0e5"). Quote it for the
// text.
var (
	templateKeys = []string{"namespace", "name", "version", "description", "queue", "priority", "concurrency", "rate_limits", "input_schema", "predictive_retry", "retention", "steps", "environments"}
	stepKeys     = []string{"name", "handler", "depends_on", "retryable", "retry", "timeout", "skippable", "config", "dependent_system"}
	retryKeys    = []string{"limit", "backoff", "base", "max"}
)

// LoadTemplateFile reads a YAML template; env, when not empty, selects the
// environments.<env> overrides, deep-merged over the base (maps merge key by
// key, steps merge by name, anything else is replaced; a null, absent as
// anywhere in the file, overrides nothing). An environment's
// step overrides the base step of its name; one whose name the base does
// not have is added as a new step, and needs a handler: without one
// (most likely a misspelt name) it is refused, naming it. An env the file
// does not declare is an error that lists those it does.
//
// The template is validated as Template.Validate(nil) does (handlers are
// checked at Engine.Register). Every problem is reported at once: the error
// joins one *TemplateError per problem, each with the file, line and column
// (see TemplateProblems), and matches errors.Is(err, ErrInvalidTemplate).
// Later validation of the returned template (Engine.Register) locates its
// problems in the file too.
func LoadTemplateFile(path, env string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading template: %w", err)
	}
	return parseTemplate(path, data, env)
}

// ParseTemplate parses a YAML template; see LoadTemplateFile. Its errors
// carry lines and columns but no file name.
func ParseTemplate(data []byte, env string) (*Template, error) {
	return parseTemplate("", data, env)
}

// DecodeTemplateFile reads a YAML template as LoadTemplateFile does but
// leaves validation to the caller: the file's own problems (syntax, unknown
// keys, values of the wrong kind, an undeclared env) are reported as
// LoadTemplateFile reports them, and a template that decodes is returned
// without Template.Validate having run, so that a tool can validate it with
// the handlers it knows and look further into an invalid one. Its Validate
// errors, like Position, locate problems in the file.
func DecodeTemplateFile(path, env string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading template: %w", err)
	}
	return decodeTemplate(path, data, env)
}

// Position returns the line and column, in the YAML file t was loaded
// from, of path (as TemplateError.Path names it: "steps[1].depends_on"):
// those of its key, or of its nearest parent in the file. With --env, a
// value an environment overrode is placed in the environment. It returns 0,
// 0 for a template not loaded from YAML.
func (t *Template) Position(path string) (line, col int) {
	if t.src == nil {
		return 0, 0
	}
	return t.src.locate(path)
}

// templateSource is where a YAML template came from: the file, the
// position of every node, and where the values an environment overrode
// came from.
type templateSource struct {
	file   string
	nodes  []nodePos
	origin map[string]string // merged path → document path
	keys   map[ast.Node]bool // the mapping keys seen (positions)
}

type nodePos struct {
	path      string // "steps[1].retry.limit"; "" for the document
	line, col int
	number    string // a number's text as written ("+5"), else ""
	whole     string // a whole number's value in decimal digits ("16" for 0x10), else ""
	// big is a value written as a number that the parser keeps as a
	// string, out of range for its numbers ("99999999999999999999",
	// "1e400"), else "".
	big string
}

// locate returns the position of path (a path of the merged template): the
// first token under the document path it came from (for a key, the key
// itself), or under its nearest parent that has one.
func (s *templateSource) locate(path string) (line, col int) {
	p := s.docPath(path)
	for {
		for _, n := range s.nodes {
			if n.path == p || p == "" || strings.HasPrefix(n.path, p+".") || strings.HasPrefix(n.path, p+"[") {
				if line == 0 || n.line < line || n.line == line && n.col < col {
					line, col = n.line, n.col
				}
			}
		}
		if line > 0 || p == "" {
			return line, col
		}
		p = parentPath(p)
	}
}

// docPath maps a path of the merged template to the document path its value
// came from (the environment's override, or the base).
func (s *templateSource) docPath(path string) string {
	for q := path; ; q = parentPath(q) {
		if o, ok := s.origin[q]; ok {
			return o + path[len(q):]
		}
		if q == "" {
			return path
		}
	}
}

// parentPath is p without its last key or index; a quoted key (see join)
// is one key, whatever it holds.
func parentPath(p string) string {
	i, quoted := -1, false
	for j := range len(p) {
		switch {
		case p[j] == '\'':
			quoted = !quoted
		case !quoted && (p[j] == '.' || p[j] == '['):
			i = j
		}
	}
	if i < 0 {
		return ""
	}
	return p[:i]
}

// decoder collects the problems of one file.
type decoder struct {
	src      *templateSource
	template string
	problems []*TemplateError
}

func (d *decoder) add(path, format string, args ...any) {
	p := &TemplateError{Template: d.template, File: d.src.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	p.Line, p.Column = d.src.locate(path)
	d.problems = append(d.problems, p)
}

// unique drops the problems reported twice: an environment's override is
// checked on its own and again once merged. The two are one problem when
// they are at the same place in the file and the same document path,
// whatever their words: an unknown key's message lists the keys it could
// be, and the merged template's list has environments.
func (d *decoder) unique() []*TemplateError {
	type key struct {
		line, col int
		path      string
	}
	seen := map[key]bool{}
	var out []*TemplateError
	for _, p := range d.problems {
		k := key{p.Line, p.Column, d.src.docPath(p.Path)}
		if p.Line > 0 && seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, p)
	}
	sortProblems(out)
	return out
}

// sortProblems puts a file's problems in the order of their positions.
func sortProblems(ps []*TemplateError) {
	slices.SortStableFunc(ps, func(a, b *TemplateError) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
}

// yamlError turns a YAML syntax error into a problem at its token.
func (d *decoder) yamlError(err error) {
	p := &TemplateError{File: d.src.file, Msg: err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		p.Msg = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil {
			p.Line, p.Column = tk.Position.Line, tk.Position.Column
		}
	}
	d.problems = append(d.problems, p)
}

// duplicatePath gives the last problem, a key given twice in one mapping
// (the parser refuses it before any path is known), the key's path: the
// file is parsed again allowing the duplicate, and the node at the
// problem's position names it.
func (d *decoder) duplicatePath(data []byte) {
	p := d.problems[len(d.problems)-1]
	if p.Line == 0 || !strings.Contains(p.Msg, "already defined") {
		return
	}
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return
	}
	src := &templateSource{}
	for _, doc := range f.Docs {
		if doc.Body != nil {
			ast.Walk(positions{src}, doc.Body)
		}
	}
	for _, n := range src.nodes {
		if n.line == p.Line && n.col == p.Column && n.path != "" {
			p.Path = n.path
			return
		}
	}
}

func parseTemplate(file string, data []byte, env string) (*Template, error) {
	t, err := decodeTemplate(file, data, env)
	if err != nil {
		return nil, err
	}
	if err := t.Validate(nil); err != nil {
		return nil, err
	}
	return t, nil
}

// decodeTemplate is parseTemplate without the validation.
func decodeTemplate(file string, data []byte, env string) (*Template, error) {
	// YAML allows a byte order mark at the start of a stream (some Windows
	// editors save UTF-8 with one); the parser took it as part of the
	// first key, an unknown "\ufeffnamespace".
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	d := &decoder{src: &templateSource{file: file, origin: map[string]string{}}}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		d.yamlError(err)
		d.duplicatePath(data)
		return nil, joinProblems(d.problems)
	}
	docs := 0
	for _, doc := range f.Docs {
		if doc.Body != nil {
			docs++
		}
	}
	if docs > 1 {
		d.add("", "a template file holds one YAML document, this one has %d", docs)
		return nil, joinProblems(d.problems)
	}
	for _, doc := range f.Docs {
		if doc.Body != nil {
			ast.Walk(positions{d.src}, doc.Body)
		}
	}
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		d.yamlError(err)
		return nil, joinProblems(d.problems)
	}
	if raw == nil {
		d.add("", "the file is empty")
		return nil, joinProblems(d.problems)
	}
	doc, ok := raw.(map[string]any)
	if !ok {
		d.add("", "a template is a mapping (namespace, name, steps, …), got %s", describeValue(raw))
		return nil, joinProblems(d.problems)
	}
	if s, ok := doc["namespace"].(string); ok && s != "" {
		if n, ok := doc["name"].(string); ok && n != "" {
			d.template = s + "/" + n
		}
	}
	d.numbersInData()

	envs := map[string]map[string]any{}
	if v, ok := doc["environments"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			d.add("environments", "must be a mapping of environment names to overrides, got %s", describeValue(v))
		}
		for _, name := range sortedKeys(m) {
			path := join("environments", name)
			switch over := m[name].(type) {
			case nil:
				envs[name] = nil
			case map[string]any:
				envs[name] = over
				d.decode(over, path, true) // every environment is checked, not only the one selected
				d.envSteps(doc["steps"], name, over["steps"])
			default:
				d.add(path, "an environment is a mapping of overrides, got %s", describeValue(over))
			}
		}
	}
	delete(doc, "environments")
	if env != "" {
		over, ok := envs[env]
		switch {
		case !ok && len(envs) == 0:
			d.add("", "environment %s is not in the file, which declares no environments", quoteName(env))
		case !ok:
			d.add("environments", "environment %s is not in the file; it declares %s", quoteName(env), strings.Join(sortedKeys(envs), ", "))
		default:
			mergeTemplate(doc, over, join("environments", env), d.src)
		}
	}
	t := d.decode(doc, "", false)
	if len(d.problems) > 0 {
		return nil, joinProblems(d.unique())
	}
	t.src = d.src
	return t, nil
}

// positions records the position of every node by path.
type positions struct{ src *templateSource }

func (v positions) Visit(n ast.Node) ast.Visitor {
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return v
	}
	path := strings.TrimPrefix(strings.TrimPrefix(n.GetPath(), "$"), ".")
	pos := nodePos{path: path, line: tk.Position.Line, col: tk.Position.Column}
	switch x := n.(type) {
	case *ast.IntegerNode:
		pos.number = tk.Value // the parser gives the value without its sign
		pos.whole = fmt.Sprint(x.Value)
	case *ast.FloatNode:
		pos.number = tk.Value
	case *ast.MappingValueNode:
		if v.src.keys == nil {
			v.src.keys = map[ast.Node]bool{}
		}
		v.src.keys[x.Key] = true // (visited before its key)
	case *ast.StringNode:
		if tk.Type == token.StringType && !v.src.keys[x] && numberShape.MatchString(tk.Value) {
			pos.big = tk.Value
		}
	}
	v.src.nodes = append(v.src.nodes, pos)
	return v
}

// decode reads a template (or, partial, an environment's overrides) from
// doc strictly, reporting each problem at its path.
func (d *decoder) decode(doc map[string]any, at string, partial bool) *Template {
	t := &Template{}
	keys := templateKeys
	if partial {
		keys = templateKeys[:len(templateKeys)-1] // environments do not nest
	}
	d.known(doc, at, "a template", keys)
	t.Namespace = d.str(doc, at, "namespace")
	t.Name = d.str(doc, at, "name")
	t.Version = d.str(doc, at, "version")
	t.Description = d.str(doc, at, "description")
	t.Queue = d.str(doc, at, "queue")
	switch c := doc["concurrency"].(type) {
	case nil:
	case map[string]any:
		path := join(at, "concurrency")
		d.known(c, path, "concurrency", []string{"max", "key"})
		t.Concurrency = &Concurrency{Key: d.str(c, path, "key")}
		if n, ok := asInt(c["max"]); ok {
			d.signed(join(path, "max"))
			t.Concurrency.Max = n
		} else if d.has(c, path, "max", partial, "concurrency: {max: 1, key: customer_id}") {
			d.add(join(path, "max"), "must be an integer, got %s", describeValue(c["max"]))
		}
	default:
		d.add(join(at, "concurrency"), "must be a mapping (max, key), got %s", describeValue(c))
	}
	switch r := doc["rate_limits"].(type) {
	case nil:
	case map[string]any:
		if len(r) == 0 {
			d.add(join(at, "rate_limits"), "is empty: give a system's limit (rate_limits: {payments: {per_second: 50, burst: 10}}), or leave rate_limits out")
		}
		t.RateLimits = map[string]RateLimit{}
		for _, sys := range sortedKeys(r) {
			path := join(join(at, "rate_limits"), sys)
			m, ok := r[sys].(map[string]any)
			if !ok {
				d.add(path, "must be a mapping (per_second, burst), got %s", describeValue(r[sys]))
				continue
			}
			d.known(m, path, "a rate limit", []string{"per_second", "burst"})
			var rl RateLimit
			switch v := m["per_second"].(type) {
			case float64:
				d.signed(join(path, "per_second"))
				rl.PerSecond = v
			default:
				if n, ok := asInt(v); ok {
					d.signed(join(path, "per_second"))
					rl.PerSecond = float64(n)
				} else if d.has(m, path, "per_second", partial, "{per_second: 50, burst: 10}") {
					d.add(join(path, "per_second"), "must be a number, got %s", describeValue(v))
				}
			}
			if n, ok := asInt(m["burst"]); ok {
				d.signed(join(path, "burst"))
				rl.Burst = n
			} else if d.has(m, path, "burst", partial, "{per_second: 50, burst: 10}") {
				d.add(join(path, "burst"), "must be an integer, got %s", describeValue(m["burst"]))
			}
			t.RateLimits[sys] = rl
		}
	default:
		d.add(join(at, "rate_limits"), "must be a mapping of system to rate limit, got %s", describeValue(r))
	}
	if v, ok := doc["priority"]; ok && v != nil {
		if n, ok := asInt(v); ok {
			d.signed(join(at, "priority"))
			t.Priority = n
		} else {
			d.add(join(at, "priority"), "must be an integer, got %s", describeValue(v))
		}
	}
	if p := d.bool(doc, at, "predictive_retry"); p != nil {
		t.PredictiveRetry = *p
	}
	if v := doc["retention"]; v != nil {
		r, ok := v.(string)
		var err error
		if ok {
			t.Retention, err = ParseRetention(r)
		}
		switch {
		case !ok:
			d.add(join(at, "retention"), "must be a duration such as 720h or 30d, or forever, got %s", describeValue(v))
		case err != nil:
			d.add(join(at, "retention"), "%v", err) // what is wrong with it ("0s": under 1ms)
		}
	}
	if v := doc["input_schema"]; v != nil {
		switch v.(type) {
		case map[string]any, bool:
			t.InputSchema, _ = json.Marshal(v)
			if v == false {
				d.add(join(at, "input_schema"), "false accepts no input, so no start could pass it: give a schema, true, or leave input_schema out")
			}
		default:
			d.add(join(at, "input_schema"), "must be a JSON Schema (a mapping), got %s", describeValue(v))
		}
	}
	steps, ok := doc["steps"].([]any)
	if v := doc["steps"]; v != nil && !ok {
		d.add(join(at, "steps"), "must be a list of steps, got %s", describeValue(v))
	}
	for i, v := range steps {
		path := fmt.Sprintf("%s[%d]", join(at, "steps"), i)
		m, ok := v.(map[string]any)
		if !ok {
			d.add(path, "a step is a mapping (name, handler, …), got %s", describeValue(v))
			continue
		}
		t.Steps = append(t.Steps, d.step(m, path))
	}
	return t
}

func (d *decoder) step(m map[string]any, at string) StepTemplate {
	d.known(m, at, "a step", stepKeys)
	st := StepTemplate{
		Name:            d.str(m, at, "name"),
		Handler:         d.str(m, at, "handler"),
		DependsOn:       d.strs(m, at, "depends_on"),
		Timeout:         d.duration(m, at, "timeout"),
		Config:          m["config"],
		DependentSystem: d.str(m, at, "dependent_system"),
	}
	if b := d.bool(m, at, "skippable"); b != nil {
		st.Skippable = *b
	}
	if r := d.bool(m, at, "retryable"); r != nil {
		st.NotRetryable = !*r
	}
	switch r := m["retry"].(type) {
	case nil:
	case map[string]any:
		path := join(at, "retry")
		d.known(r, path, "retry", retryKeys)
		if len(r) == 0 {
			d.add(path, "is empty: give limit, base or max, or leave retry out")
		}
		if v, ok := r["limit"]; ok && v != nil {
			n, ok := asInt(v)
			switch {
			case !ok:
				d.add(join(path, "limit"), "must be an integer, got %s", describeValue(v))
			case d.signed(join(path, "limit")):
			case n < 1:
				d.add(join(path, "limit"), "retry limit must be at least 1, got %d", n)
			default:
				st.RetryLimit = n
			}
		}
		switch b := d.str(r, path, "backoff"); b {
		case "", "exponential":
		default:
			d.add(join(path, "backoff"), "backoff %s is not supported (exponential)", quoteName(b))
		}
		st.Backoff = retry.Policy{Base: d.duration(r, path, "base"), Max: d.duration(r, path, "max")}
	default:
		d.add(join(at, "retry"), "must be a mapping (limit, backoff, base, max), got %s", describeValue(r))
	}
	return st
}

// known reports the keys of m that what does not have.
func (d *decoder) known(m map[string]any, at, what string, keys []string) {
	for _, k := range sortedKeys(m) {
		if slices.Contains(keys, k) {
			continue
		}
		msg := fmt.Sprintf("unknown key %s in %s", quoteName(k), what)
		if s := closest(k, keys); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else {
			msg += " (it takes " + strings.Join(keys, ", ") + ")"
		}
		d.add(join(at, k), "%s", msg)
	}
}

func (d *decoder) str(m map[string]any, at, key string) string {
	v := m[key]
	if v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		d.add(join(at, key), "must be a string, got %s (quote it)", describeValue(v))
	} else if s == "" && slices.Contains([]string{"namespace", "name", "handler"}, key) {
		d.add(join(at, key), "is empty: it is required")
	} else if s == "" {
		d.add(join(at, key), "is empty: give it a value, or leave the key out for the default")
	}
	return s
}

func (d *decoder) strs(m map[string]any, at, key string) []string {
	v := m[key]
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		d.add(join(at, key), "must be a list of strings, got %s", describeValue(v))
		return nil
	}
	out := make([]string, 0, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			d.add(fmt.Sprintf("%s[%d]", join(at, key), i), "must be a string, got %s", describeValue(e))
			continue
		}
		out = append(out, s)
	}
	return out
}

func (d *decoder) bool(m map[string]any, at, key string) *bool {
	v := m[key]
	if v == nil {
		return nil
	}
	b, ok := v.(bool)
	if !ok {
		d.add(join(at, key), "must be true or false, got %s", describeValue(v))
		return nil
	}
	return &b
}

func (d *decoder) duration(m map[string]any, at, key string) time.Duration {
	v := m[key]
	if v == nil {
		return 0
	}
	s, ok := v.(string)
	if !ok {
		d.add(join(at, key), "must be a duration such as 30s or 1m, got %s", describeValue(v))
		return 0
	}
	dur, err := time.ParseDuration(s)
	switch {
	case err != nil && durationShape.MatchString(s):
		d.add(join(at, key), "%s is out of range: a duration is at most %dh (about 292 years)", quoteName(s), int64(math.MaxInt64/time.Hour))
	case err != nil:
		d.add(join(at, key), "must be a duration such as 30s or 1m, got %s", quoteName(s))
	case s[0] == '+' || s[0] == '-' && dur >= 0:
		// time.ParseDuration read +30s as 30s and -0s as 0, text other than
		// the value kept; refused as the CLI's configuration refuses it. A
		// negative one keeps its own error (the template's check).
		d.add(join(at, key), "%s has a sign: write %s", quoteName(s), quoteName(s[1:]))
		return 0
	case dur == 0:
		// 0 is the Go field's default (the engine's timeout, the default
		// backoff), not "none" or "no wait", which is what the file says.
		d.add(join(at, key), "%s is zero, which is not \"none\" but the default: leave the key out for the default, or give a duration such as 30s", quoteName(s))
	}
	return dur
}

// durationShape matches what time.ParseDuration reads: a duration it
// refuses in this shape is out of range, not misspelt.
var durationShape = regexp.MustCompile(`^[-+]?((\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$`)

// bigInteger matches what may be a whole number too large for the
// decoder's integers, which it gives as a string (a quoted one that fits
// is a string all the same).
var bigInteger = regexp.MustCompile(`^[-+]?\d{19,}$`)

// signed refuses the number at path (a path of the merged template) when
// its text reads otherwise than the value kept, as the CLI's configuration
// refuses it: with a '+' (the parser gave +5 as 5, as time.ParseDuration
// took +30s, see duration), and for a whole number -0, a leading zero (010
// was 8, octal) and any form but decimal digits (0x10 was 16, 0o10 8, 0b11
// 3, 1_000 1000). A negative whole number keeps its own error.
func (d *decoder) signed(path string) bool {
	p := d.src.docPath(path)
	for _, n := range d.src.nodes {
		if n.path != p || n.number == "" {
			continue
		}
		s := n.number
		digits := strings.TrimPrefix(s, "-")
		switch {
		case s[0] == '+':
			d.add(path, "%s has a sign: write %s", quoteName(s), quoteName(s[1:]))
		case n.whole == "":
			return false // a fraction (per_second: 2.5)
		case strings.Trim(digits, "0123456789") != "":
			d.add(path, "%s is not in decimal digits: write %s", quoteName(s), quoteName(n.whole))
		case s[0] == '-' && n.whole == "0":
			d.add(path, "%s has a sign: write %s", quoteName(s), quoteName("0"))
		case len(digits) > 1 && digits[0] == '0':
			meant := cmp.Or(strings.TrimLeft(digits, "0"), "0")
			if s[0] == '-' {
				meant = "-" + meant
			}
			if meant == n.whole {
				d.add(path, "%s has a leading zero: write %s", quoteName(s), quoteName(n.whole))
			} else { // 010 is 8 to the parser, octal
				d.add(path, "%s has a leading zero, which reads as octal (%s): write %s or %s, the number meant", quoteName(s), n.whole, quoteName(meant), quoteName(n.whole))
			}
		default:
			return false
		}
		return true
	}
	return false
}

// numberShape matches a plain scalar that YAML reads as a decimal number.
var numberShape = regexp.MustCompile(`^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$`)

// dataPath matches the paths of a step's config and of the input schema,
// in the base or in an environment: data the format does not check key by
// key.
var dataPath = regexp.MustCompile(`(^|\.)(steps\[\d+\]\.config|input_schema)([.\[]|$)`)

// numbersInData refuses a number the parser kept as a string (too large
// or too small for its numbers: the handler would get the text), and a whole number with a leading zero in a step's
// config or the input schema, as signed refuses it in the template's own
// keys: the parser reads 01234 as octal 668, which the handler or the
// validator then gets, while YAML 1.2 and most readers take it as 1234 (a
// zip code, an account number). Other forms (0x10, 1_000, +7) read as
// their text says and are kept.
func (d *decoder) numbersInData() {
	for _, n := range d.src.nodes {
		if n.big != "" && dataPath.MatchString(n.path) {
			msg := fmt.Sprintf("%s is a number out of range of a float64 (it would reach the handler as a string): quote it for the text", quoteName(n.big))
			if mant, exp, ok := strings.Cut(strings.ToLower(n.big), "e"); ok && !strings.Contains(mant, ".") {
				// YAML 1.1, which the parser follows here, reads an
				// exponent only after a '.'; YAML 1.2 reads 1e5 as 100000.
				msg = fmt.Sprintf("%s reads as a string to this parser (it takes an exponent only after a '.'): write %s for the number, or quote it for the text", quoteName(n.big), quoteName(mant+".0e"+exp))
			} else if !ok && !strings.Contains(n.big, ".") {
				msg = fmt.Sprintf("%s is a whole number out of the 64-bit range (it would reach the handler as a string): quote it for the text", quoteName(n.big))
			}
			d.problems = append(d.problems, &TemplateError{Template: d.template, File: d.src.file, Line: n.line, Column: n.col, Path: n.path, Msg: msg})
			continue
		}
		digits := strings.TrimPrefix(n.number, "-")
		if n.whole == "" || len(digits) < 2 || digits[0] != '0' || strings.Trim(digits, "0123456789") != "" || !dataPath.MatchString(n.path) {
			continue
		}
		msg := fmt.Sprintf("%s has a leading zero: write %s, or quote it (%s) for the text", quoteName(n.number), quoteName(n.whole), strconv.Quote(n.number))
		if meant := strings.TrimLeft(digits, "0"); meant != "" && meant != strings.TrimPrefix(n.whole, "-") {
			if n.number[0] == '-' {
				meant = "-" + meant
			}
			msg = fmt.Sprintf("%s has a leading zero, which reads as octal (%s): write %s, or quote it (%s) for the text", quoteName(n.number), n.whole, quoteName(meant), strconv.Quote(n.number))
		}
		// (At the node itself: an environment's override of an enclosing
		// key would move d.add's place there.)
		d.problems = append(d.problems, &TemplateError{Template: d.template, File: d.src.file, Line: n.line, Column: n.col, Path: n.path, Msg: msg})
	}
}

func asInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), n == int64(int(n))
	case uint64:
		return int(n), n <= uint64(int(^uint(0)>>1))
	}
	return 0, false
}

// has reports whether m has key. When it has not, a template is refused
// naming the key as required, with example (the mapping as it should
// read): it was refused as "must be an integer, got null", a null the file
// did not have. An environment's overrides (partial) may leave it out, as
// maps merge key by key: an environment's rate_limits: {payments: {burst:
// 20}} keeps the base's per_second, and was refused.
func (d *decoder) has(m map[string]any, at, key string, partial bool, example string) bool {
	if _, ok := m[key]; ok {
		return true
	}
	if !partial {
		d.add(join(at, key), "is required (say %s)", example)
	}
	return false
}

// describeValue names a decoded YAML value's kind for an error, without Go
// type names.
func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if bigInteger.MatchString(x) {
			if _, err := strconv.ParseInt(x, 10, 64); errors.Is(err, strconv.ErrRange) {
				return "the number " + x + ", which is out of range"
			}
		}
		return "the string " + quoteName(x)
	case uint64:
		if x > math.MaxInt64 {
			return fmt.Sprintf("the number %d, which is out of range", x)
		}
		return fmt.Sprintf("the number %d", x)
	case bool:
		return fmt.Sprintf("the boolean %t", x)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e21 {
			// 5.0 where an integer belongs: %v would print 5, an
			// integer, in the error that refuses it as not one.
			return fmt.Sprintf("the number %.1f", x)
		}
		return fmt.Sprintf("the number %v", x)
	case int, int64:
		return fmt.Sprintf("the number %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case map[any]any:
		return "a mapping with keys that are not strings"
	}
	return "a value of another kind"
}

// join is the path of key under at. A key holding a character of path
// syntax ($ * . [ ]), such as a system "pay.v2", is single-quoted as the
// YAML parser quotes it in the paths of its nodes (see positions), so
// that the two name it alike: unquoted, it named no node and was located
// at its mapping.
func join(at, key string) string {
	if strings.ContainsAny(key, "$*.[]") {
		key = "'" + key + "'"
	}
	if at == "" {
		return key
	}
	return at + "." + key
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// closest returns the key within two edits of k, if one is.
func closest(k string, keys []string) string { return editdist.Closest(k, keys) }

// envSteps reports the steps of environment env (over, its steps) that
// name no step of the base and have no handler: such a step would be added
// to the template, and is most likely a misspelt override.
func (d *decoder) envSteps(base any, env string, over any) {
	bl, ok := base.([]any)
	if base != nil && !ok {
		return // reported by decode
	}
	var names []string
	for _, b := range bl {
		if bm, ok := b.(map[string]any); ok {
			if n, ok := bm["name"].(string); ok {
				names = append(names, n)
			}
		}
	}
	ol, _ := over.([]any)
	for j, o := range ol {
		om, ok := o.(map[string]any)
		if !ok || om["handler"] != nil {
			continue
		}
		path := fmt.Sprintf("%s.steps[%d]", join("environments", env), j)
		name, ok := om["name"].(string)
		switch {
		case om["name"] != nil && !ok:
			// a name of the wrong kind is reported by decode
		case name == "":
			d.add(path, "environment %s: the step names no step of the base to override, and a step it adds needs a name and a handler", quoteName(env))
		case !slices.Contains(names, name):
			msg := fmt.Sprintf("environment %s overrides step %s, which the base does not have", quoteName(env), quoteName(name))
			if s := closest(name, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else if len(names) > 0 {
				msg += " (it has " + strings.Join(names, ", ") + ")"
			}
			d.add(path+".name", "%s; a step it adds needs a handler", msg)
		}
	}
}

// mergeTemplate deep-merges an environment's overrides (at document path
// from) over the base: maps merge key by key, steps merge by name,
// everything else is replaced. A null counts as absent, as in the base: it
// overrides nothing ("steps:" left empty dropped every step). It records
// where each replaced or added value came from, so that problems point
// into the environment.
func mergeTemplate(base, over map[string]any, from string, src *templateSource) {
	for _, k := range sortedKeys(over) {
		if over[k] == nil {
			continue
		}
		if k == "steps" {
			base[k] = mergeSteps(base[k], over[k], from+".steps", src)
			continue
		}
		base[k] = deepMerge(base[k], over[k], join("", k), join(from, k), src)
	}
}

func mergeSteps(base, over any, from string, src *templateSource) any {
	bl, ok1 := base.([]any)
	ol, ok2 := over.([]any)
	if !ok1 || !ok2 {
		src.origin["steps"] = from
		return over
	}
	for j, o := range ol {
		om, _ := o.(map[string]any)
		found := false
		for i, b := range bl {
			if bm, ok := b.(map[string]any); ok && om != nil && bm["name"] == om["name"] {
				bl[i] = deepMerge(bm, om, fmt.Sprintf("steps[%d]", i), fmt.Sprintf("%s[%d]", from, j), src)
				found = true
			}
		}
		if !found {
			src.origin[fmt.Sprintf("steps[%d]", len(bl))] = fmt.Sprintf("%s[%d]", from, j)
			bl = append(bl, o)
		}
	}
	return bl
}

func deepMerge(base, over any, at, from string, src *templateSource) any {
	bm, ok1 := base.(map[string]any)
	om, ok2 := over.(map[string]any)
	if !ok1 || !ok2 {
		src.origin[at] = from
		return over
	}
	for _, k := range sortedKeys(om) {
		if om[k] == nil {
			continue // (see mergeTemplate)
		}
		bm[k] = deepMerge(bm[k], om[k], join(at, k), join(from, k), src)
	}
	return bm
}
