package main

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/engine"
)

func newLintCmd() *cobra.Command {
	var env, handlers, handlersFile string
	cmd := &cobra.Command{
		Use:   "lint FILE…",
		Short: "check YAML workflow templates (for CI): file:line:col: message per problem",
		Long: `lint loads each YAML template with the engine's loader (engine.LoadTemplateFile),
validates it as engine.Register would, and reports steps that can never run
(they wait, directly or not, for a step that is missing or in a cycle).
Given the handler names a binary registers (--handlers or --handlers-file),
it also reports handlers a template uses that are not among them.

Each problem is one line, file:line:col: message (1:1 when the problem has no
place in the file). The exit status is 1 when there is any problem; with none,
lint prints nothing and exits 0.`,
		Example: `  tasker lint workflows/*.yaml
  tasker lint --env production --handlers-file handlers.txt workflows/*.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			known, err := handlerList(cmd, handlers, handlersFile)
			if err != nil {
				return err
			}
			var all []lintProblem
			for _, f := range files {
				all = append(all, lintFile(f, env, known)...)
			}
			if len(all) == 0 {
				return nil
			}
			out := cmd.OutOrStdout()
			for _, p := range all {
				fmt.Fprintf(out, "%s:%d:%d: %s\n", p.file, p.line, p.col, p.msg)
			}
			n := map[string]bool{}
			for _, p := range all {
				n[p.file] = true
			}
			return fmt.Errorf("lint: %d problem(s) in %d of %d file(s)", len(all), len(n), len(files))
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "check the template with the overrides of environments.NAME merged in")
	cmd.Flags().StringVar(&handlers, "handlers", "", "handler names the binary registers (comma-separated); handlers not among them are problems")
	cmd.Flags().StringVar(&handlersFile, "handlers-file", "", "file of handler names the binary registers, one per line (# comments)")
	return cmd
}

// handlerList reads --handlers and --handlers-file; nil when neither was
// given (every handler is then taken as registered).
func handlerList(cmd *cobra.Command, list, file string) (map[string]bool, error) {
	if !cmd.Flags().Changed("handlers") && file == "" {
		return nil, nil
	}
	known := map[string]bool{}
	for h := range strings.SplitSeq(list, ",") {
		if h = strings.TrimSpace(h); h != "" {
			known[h] = true
		}
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--handlers-file: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line, _, _ := strings.Cut(sc.Text(), "#")
			if line = strings.TrimSpace(line); line != "" {
				known[line] = true
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("--handlers-file %s: %w", file, err)
		}
	}
	return known, nil
}

type lintProblem struct {
	file      string
	line, col int
	msg       string
}

// lintFile returns the problems of one template file, in file order.
func lintFile(file, env string, known map[string]bool) []lintProblem {
	data, err := os.ReadFile(file)
	if err != nil {
		return []lintProblem{{file: file, line: 1, col: 1, msg: "cannot read the file: " + pathErrorText(err)}}
	}
	loc := newLocator(data)
	var out []lintProblem
	add := func(line, col int, msg string) {
		out = append(out, lintProblem{file: file, line: max(line, 1), col: max(col, 1), msg: msg})
	}
	t, err := engine.LoadTemplateFile(file, env)
	if err != nil {
		for _, p := range loadProblems(err, file) {
			line, col := p.line, p.col
			if line == 0 {
				line, col = loc.find(p.msg)
			}
			add(line, col, p.msg)
		}
		return sortProblems(out)
	}
	var isKnown func(string) bool
	if known != nil {
		isKnown = func(h string) bool { return known[h] }
	}
	var reported []string
	if err := t.Validate(isKnown); err != nil {
		for _, p := range loadProblems(err, file) {
			line, col := p.line, p.col
			if line == 0 {
				line, col = loc.find(p.msg)
			}
			add(line, col, p.msg)
			reported = append(reported, p.msg)
		}
	}
	for _, u := range unreachable(t, reported) {
		line, col := loc.find(u)
		add(line, col, u)
	}
	return sortProblems(out)
}

func sortProblems(ps []lintProblem) []lintProblem {
	slices.SortStableFunc(ps, func(a, b lintProblem) int {
		return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.col, b.col))
	})
	return ps
}

// pathErrorText is err without the path a *os.PathError repeats.
func pathErrorText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// loadProblems splits what the loader or Validate returned into single
// problems, each with its place in the file when the error carries one (0
// when not).
func loadProblems(err error, file string) []lintProblem {
	if ps := engine.TemplateProblems(err); len(ps) > 0 {
		var out []lintProblem
		for _, p := range ps {
			msg := p.Msg
			if p.Path != "" {
				msg = p.Path + ": " + msg
			}
			line, col := p.Line, p.Column
			if line == 0 {
				line, col, msg = positionInText(msg)
			}
			out = append(out, lintProblem{line: line, col: col, msg: msg})
		}
		return out
	}
	if line, col, msg, ok := positionInChain(err); ok {
		return []lintProblem{{line: line, col: col, msg: trimFile(msg, file)}}
	}
	line, col, msg := positionInText(trimFile(err.Error(), file))
	return []lintProblem{{line: line, col: col, msg: msg}}
}

// trimFile drops the "file: " the loader puts before its errors.
func trimFile(msg, file string) string {
	return strings.TrimPrefix(msg, file+": ")
}

var (
	// goccy/go-yaml writes "[3:5] message"; others "line 3, column 5".
	bracketPos = regexp.MustCompile(`\[(\d+):(\d+)\]\s*`)
	wordPos    = regexp.MustCompile(`\bline (\d+)(?:, column |:)(\d+):?\s*`)
)

// positionInText finds a line and column written in an error's text, and
// returns the text without them (line 0 when there is none).
func positionInText(msg string) (line, col int, rest string) {
	for _, re := range []*regexp.Regexp{bracketPos, wordPos} {
		if m := re.FindStringSubmatchIndex(msg); m != nil {
			line, _ = strconv.Atoi(msg[m[2]:m[3]])
			col, _ = strconv.Atoi(msg[m[4]:m[5]])
			return line, col, strings.TrimSpace(msg[:m[0]] + msg[m[1]:])
		}
	}
	return 0, 0, msg
}

// positionInChain looks through err's chain for an error that knows where
// it happened: goccy/go-yaml's (GetToken) or any struct with int fields
// Line and Column (or Col), as a strict decoder's typed error may have.
func positionInChain(err error) (line, col int, msg string, ok bool) {
	var found bool
	walkErrors(err, func(e error) bool {
		if te, is := e.(interface {
			GetToken() *token.Token
			GetMessage() string
		}); is && te.GetToken() != nil {
			line, col, msg, found = te.GetToken().Position.Line, te.GetToken().Position.Column, te.GetMessage(), true
			return true
		}
		v := reflect.ValueOf(e)
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
			if v.IsNil() {
				return false
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return false
		}
		l, c := v.FieldByName("Line"), v.FieldByName("Column")
		if !c.IsValid() {
			c = v.FieldByName("Col")
		}
		if l.IsValid() && c.IsValid() && l.CanInt() && c.CanInt() && l.Int() > 0 {
			line, col, found = int(l.Int()), int(c.Int()), true
			_, _, msg = positionInText(e.Error())
			return true
		}
		return false
	})
	return line, col, msg, found
}

// walkErrors calls f on err and everything it wraps or joins, depth first,
// until f returns true.
func walkErrors(err error, f func(error) bool) bool {
	if err == nil {
		return false
	}
	if f(err) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return walkErrors(u.Unwrap(), f)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if walkErrors(e, f) {
				return true
			}
		}
	}
	return false
}

// unreachable names the steps that can never run because they wait,
// directly or through others, for a step that is missing or in a cycle.
// Steps whose own problem is among reported (an unknown dependency, the
// cycle) are not named again.
func unreachable(t *engine.Template, reported []string) []string {
	byName := map[string]*engine.StepTemplate{}
	for i := range t.Steps {
		byName[t.Steps[i].Name] = &t.Steps[i]
	}
	runs := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, s := range t.Steps {
			if runs[s.Name] {
				continue
			}
			ok := true
			for _, d := range s.DependsOn {
				if byName[d] == nil || !runs[d] {
					ok = false
					break
				}
			}
			if ok {
				runs[s.Name], changed = true, true
			}
		}
	}
	already := func(name string) bool {
		q := strconv.Quote(name)
		for _, r := range reported {
			if strings.HasPrefix(r, "step "+q+" depends on") {
				return true
			}
			if cycle, ok := strings.CutPrefix(r, "dependency cycle: "); ok && slices.Contains(strings.Split(cycle, " → "), name) {
				return true
			}
		}
		return false
	}
	var out []string
	for _, s := range t.Steps {
		if runs[s.Name] || already(s.Name) {
			continue
		}
		for _, d := range s.DependsOn {
			if byName[d] != nil && !runs[d] {
				out = append(out, fmt.Sprintf("step %q can never run: it waits for step %q, which can never run", s.Name, d))
				break
			}
		}
	}
	return out
}

// locator finds where a problem's subject is written in a template file.
type locator struct {
	file *ast.File // nil when the file does not parse
}

func newLocator(data []byte) *locator {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return &locator{}
	}
	return &locator{file: f}
}

var (
	stepByName   = regexp.MustCompile(`^step ("(?:[^"\\]|\\.)*")`)
	stepByNumber = regexp.MustCompile(`^step #(\d+)`)
)

// find returns the line and column a problem message is about: the step it
// names (its handler, depends_on, retry or timeout when the message is
// about those), the top-level key it starts with; 1:1 when none applies.
func (l *locator) find(msg string) (line, col int) {
	if l.file == nil {
		return 1, 1
	}
	var step ast.Node
	if m := stepByName.FindStringSubmatch(msg); m != nil {
		if name, err := strconv.Unquote(m[1]); err == nil {
			// A duplicate is the second step of that name; else the first.
			skip := 0
			if strings.Contains(msg, "duplicate step name") {
				skip = 1
			}
			step = l.step(func(i int, n ast.Node) bool {
				if scalar(field(n, "name")) != name {
					return false
				}
				skip--
				return skip < 0
			})
		}
	} else if m := stepByNumber.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		step = l.step(func(i int, _ ast.Node) bool { return i == n-1 })
	} else if cycle, ok := strings.CutPrefix(msg, "dependency cycle: "); ok {
		first, _, _ := strings.Cut(cycle, " → ")
		step = l.step(func(i int, n ast.Node) bool { return scalar(field(n, "name")) == first })
	}
	if step != nil {
		rest := msg[strings.IndexByte(msg, ' ')+1:]
		for _, key := range []string{"handler", "depends on", "retry", "timeout", "config"} {
			if strings.Contains(rest, key) {
				if n := field(step, strings.ReplaceAll(key, " ", "_")); n != nil {
					return position(n)
				}
			}
		}
		if n := field(step, "name"); n != nil {
			return position(n)
		}
		return position(step)
	}
	for _, key := range []string{"namespace", "name", "version", "input schema", "steps"} {
		if strings.HasPrefix(msg, key) {
			if n := field(l.root(), strings.ReplaceAll(key, " ", "_")); n != nil {
				return position(n)
			}
		}
	}
	return 1, 1
}

func (l *locator) root() ast.Node {
	if len(l.file.Docs) == 0 {
		return nil
	}
	return l.file.Docs[0].Body
}

// step returns the first node of steps: for which match holds.
func (l *locator) step(match func(i int, n ast.Node) bool) ast.Node {
	p, err := yaml.PathString("$.steps")
	if err != nil {
		return nil
	}
	n, err := p.FilterFile(l.file)
	if err != nil {
		return nil
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		return nil
	}
	for i, v := range seq.Values {
		if match(i, v) {
			return v
		}
	}
	return nil
}

// field returns the value of key in a mapping node (nil when absent).
func field(n ast.Node, key string) ast.Node {
	var pairs []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		pairs = m.Values
	case *ast.MappingValueNode: // a one-key mapping
		pairs = []*ast.MappingValueNode{m}
	}
	for _, p := range pairs {
		if p.Key != nil && p.Key.String() == key {
			return p.Value
		}
	}
	return nil
}

func scalar(n ast.Node) string {
	if n == nil {
		return ""
	}
	if s, ok := n.(*ast.StringNode); ok {
		return s.Value
	}
	return n.String()
}

func position(n ast.Node) (line, col int) {
	if n == nil || n.GetToken() == nil {
		return 1, 1
	}
	p := n.GetToken().Position
	return p.Line, p.Column
}
