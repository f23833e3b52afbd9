package main

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
)

func newLintCmd() *cobra.Command {
	var env, handlers, handlersFile, config string
	cmd := &cobra.Command{
		Use:   "lint FILE…",
		Short: "check YAML workflow templates (for CI): file:line:col: message per problem",
		Long: `lint reads each YAML template with the engine's loader (as
engine.LoadTemplateFile does, with --env's overrides merged in), validates it
as engine.Register would (a step's retry base is weighed against the retry
max of --config, TASKER_CONFIG and the TASKER_* variables, as a worker's
engine has it: 5m by default; the file's db and TASKER_DB are not read,
whatever their value, lint opening no database), and reports steps that
can never run (they
wait, directly or not, for a step that is missing or in a cycle). Given the
handler names a binary registers (--handlers or --handlers-file), it reports
handlers a template uses that are not among them. A file that does not decode
(bad YAML, an unknown key, a value of the wrong kind) is reported as such,
without the checks that need the decoded template.

Each problem is one line, file:line:col: path: message, at the key the
problem is about, sorted by position (1:1 when the problem has no place in
the file). The exit status is 1 when there is any problem; with none, lint
prints nothing and exits 0.`,
		Example: `  tasker lint workflows/*.yaml
  tasker lint --env production --handlers-file handlers.txt workflows/*.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			// Given empty (--env "$ENV" with ENV unset), each was taken as
			// not given: the files were checked without the overrides, or
			// without the handler list, and passed.
			var blank []error
			if f := cmd.Flags().Lookup("env"); f.Changed && strings.TrimSpace(env) == "" {
				blank = append(blank, fmt.Errorf("--env is empty (got %q): give the name of an environment the files declare (environments.NAME), or leave --env out to check them without overrides", env))
			}
			if f := cmd.Flags().Lookup("handlers-file"); f.Changed && strings.TrimSpace(handlersFile) == "" {
				blank = append(blank, fmt.Errorf("--handlers-file is empty (got %q): give a file of handler names, one per line, or leave --handlers-file out", handlersFile))
			}
			// lint "$TEMPLATE" with the variable unset: reported as the
			// problem ":1:1: cannot read the file", naming no file.
			for i, f := range files {
				if strings.TrimSpace(f) == "" {
					blank = append(blank, fmt.Errorf("FILE argument %d is empty (got %q): give a template file's path", i+1, f))
				}
			}
			if err := errors.Join(blank...); err != nil {
				return err
			}
			known, err := handlerList(cmd, handlers, handlersFile)
			if err != nil {
				return err
			}
			// Register weighs a step's retry base against the engine's
			// Config.Retry.Max: read it as a worker would, but for the
			// file's db and TASKER_DB (lint opens no database: set empty
			// or malformed in a CI job, they failed lint, the templates
			// good).
			settings, err := loadSettings(cmd, config, nil)
			if err != nil {
				return err
			}
			var all []lintProblem
			for _, f := range files {
				all = append(all, lintFile(f, env, known, settings.Config.Retry)...)
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
	addConfigFlag(cmd, &config)
	// The worker's file: its db names the worker's database, not read here.
	cmd.Flags().Lookup("config").Usage = "the worker's YAML configuration file (default TASKER_CONFIG, when set), for its retry max; TASKER_* variables override it; its db, and TASKER_DB, are not read"
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
	// A list of none (--handlers "$HANDLERS" with HANDLERS unset) had
	// every handler of every file reported unknown.
	if cmd.Flags().Changed("handlers") && len(known) == 0 {
		return nil, fmt.Errorf("--handlers names no handler (got %q): give the handler names the binary registers, comma-separated, or leave --handlers out", list)
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--handlers-file: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		named := false
		for sc.Scan() {
			line, _, _ := strings.Cut(sc.Text(), "#")
			if line = strings.TrimSpace(line); line != "" {
				known[line], named = true, true
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("--handlers-file %s: %w", file, err)
		}
		if !named {
			return nil, fmt.Errorf("--handlers-file %s names no handler: give the names the binary registers, one per line, or leave --handlers-file out", file)
		}
	}
	return known, nil
}

type lintProblem struct {
	file      string
	line, col int
	msg       string
}

// lintFile returns the problems of one template file, in file order. The
// loader's problems come first: a file that does not decode (syntax, unknown
// keys, values of the wrong kind) is reported as such; one that does is
// validated with the handler list and the engine's retry policy
// (engineRetry, its Config.Retry), and checked for steps that can never run.
func lintFile(file, env string, known map[string]bool, engineRetry retry.Policy) []lintProblem {
	var out []lintProblem
	add := func(line, col int, path, msg string) {
		if path != "" {
			msg = path + ": " + msg
		}
		out = append(out, lintProblem{file: file, line: max(line, 1), col: max(col, 1), msg: msg})
	}
	addAll := func(err error) {
		for _, p := range engine.TemplateProblems(err) {
			add(p.Line, p.Column, p.Path, p.Msg)
		}
	}
	t, err := engine.DecodeTemplateFile(file, env)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			msg := "cannot read the file: " + pe.Err.Error()
			if t := strings.TrimSpace(file); t != file && errors.Is(err, fs.ErrNotExist) {
				if _, serr := os.Stat(t); serr == nil {
					msg += fmt.Sprintf(" (the name has spaces around it: %q exists)", t)
				}
			}
			add(1, 1, "", msg)
		} else if len(engine.TemplateProblems(err)) == 0 {
			add(1, 1, "", err.Error())
		}
		addAll(err)
		return sortProblems(out)
	}
	var isKnown func(string) bool
	if known != nil {
		isKnown = func(h string) bool { return known[h] }
	}
	err = t.Validate(isKnown)
	addAll(err)
	addAll(t.CheckBackoff(engineRetry))
	for _, u := range unreachable(t, engine.TemplateProblems(err)) {
		line, col := t.Position(u.path)
		add(line, col, u.path, u.msg)
	}
	return sortProblems(out)
}

func sortProblems(ps []lintProblem) []lintProblem {
	slices.SortStableFunc(ps, func(a, b lintProblem) int {
		return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.col, b.col))
	})
	return ps
}

// unreachable names the steps that can never run because they wait,
// directly or through others, for a step that is missing or in a cycle,
// each at its depends_on. Steps whose own problem is among reported (an
// unknown dependency, the cycle) are not named again.
func unreachable(t *engine.Template, reported []*engine.TemplateError) []lintProblemAt {
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
	already := func(name, path string) bool {
		for _, r := range reported {
			if r.Path == path && strings.Contains(r.Msg, " depends on ") { // an unknown step, itself
				return true
			}
			if cycle, ok := strings.CutPrefix(r.Msg, "dependency cycle: "); ok && slices.Contains(strings.Split(cycle, " → "), name) {
				return true
			}
		}
		return false
	}
	var out []lintProblemAt
	for i, s := range t.Steps {
		path := fmt.Sprintf("steps[%d].depends_on", i)
		if runs[s.Name] || already(s.Name, path) {
			continue
		}
		for _, d := range s.DependsOn {
			if byName[d] != nil && !runs[d] {
				out = append(out, lintProblemAt{
					path: path,
					msg:  fmt.Sprintf("step %q can never run: it waits for step %q, which can never run", s.Name, d),
				})
				break
			}
		}
	}
	return out
}

// lintProblemAt is a problem at a path of the template.
type lintProblemAt struct{ path, msg string }
