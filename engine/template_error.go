package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tasker-go/tasker/store"
)

// TemplateError is one problem with a template (or with a workflow or
// handler being registered). Validation and loading report every problem at
// once: the error they return joins one *TemplateError per problem
// (errors.Join), and TemplateProblems lists them. Each matches
// errors.Is(err, ErrInvalidTemplate).
//
// A template loaded from YAML carries its file and the line and column of
// the offending key, so that
//
//	for _, p := range engine.TemplateProblems(err) { fmt.Println(p) }
//
// prints "file:line:col: path: message" lines, one per problem.
type TemplateError struct {
	// Template is "namespace/name" when known.
	Template string
	// File is the YAML file the template came from ("" for templates
	// declared in Go).
	File string
	// Line and Column locate the problem in File (1-based; 0 when unknown).
	Line, Column int
	// Path is where in the template the problem is, in YAML terms
	// ("steps[1].retry.limit", "namespace"); "" for the template as a whole.
	// Step indexes count from 0; a key holding $ * . [ or ] is quoted as
	// the YAML parser quotes it ("rate_limits.'pay.v2'.burst").
	Path string
	// Msg says what is wrong.
	Msg string
}

func (e *TemplateError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d:%d: ", e.File, e.Line, e.Column)
	case e.File != "":
		b.WriteString(e.File + ": ")
	default:
		if e.Template != "" && e.Template != "/" {
			b.WriteString("template " + cutName(e.Template) + ": ")
		}
		if e.Line > 0 {
			fmt.Fprintf(&b, "line %d, column %d: ", e.Line, e.Column)
		}
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is makes errors.Is(err, ErrInvalidTemplate) true.
func (e *TemplateError) Is(target error) bool { return target == ErrInvalidTemplate }

// TemplateProblems lists the *TemplateError values in err (one per problem,
// in the order found); nil when err holds none.
func TemplateProblems(err error) []*TemplateError {
	var out []*TemplateError
	var walk func(error)
	walk = func(err error) {
		switch x := err.(type) {
		case nil:
		case *TemplateError:
			out = append(out, x)
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		}
	}
	walk(err)
	return out
}

// joinProblems returns nil, or the problems joined (see TemplateError).
func joinProblems(problems []*TemplateError) error {
	if len(problems) == 0 {
		return nil
	}
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// quoteName quotes a name the user passed for an error message, cut to its
// first 40 characters: an error must not repeat a 10 KB value.
func quoteName(s string) string {
	if c := cutName(s); len(c) < len(s) {
		return strconv.Quote(strings.TrimSuffix(c, "…")) + "…"
	}
	return strconv.Quote(s)
}

// cutName cuts s to its first 40 characters, marking the cut with "…".
func cutName(s string) string {
	const keep = 40
	n := 0
	for i := range s {
		if n == keep {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// checkName applies the store's limits on names (checkStoreName) at
// registration, in Config and in start options, so that what registers
// also starts, and refuses a name with spaces around it: the admin API
// refuses such a filter (?queue=%20default), so a task on queue " default"
// could never be listed by it, and "shop " is another namespace than
// "shop". The store keeps taking them, so rows stored before stay readable.
// what names the field as the user knows it ("namespace", "handler name").
func checkName(what, s string) string {
	if msg := checkStoreName(what, s); msg != "" {
		return msg
	}
	return spacesAround(what, s)
}

// spacesAround says why s, named what, is blank or has spaces around it
// ("" when it is neither): the half of checkName the store does not apply.
func spacesAround(what, s string) string {
	switch t := strings.TrimSpace(s); {
	case t == "":
		return fmt.Sprintf("%s %s is blank", what, quoteName(s))
	case t != s:
		return fmt.Sprintf("%s %s has spaces around it: write %s", what, quoteName(s), quoteName(t))
	}
	return ""
}

// checkStoreName applies the store's limits on names (store.MaxNameLen
// bytes, no NUL byte) and requires valid UTF-8 (Postgres refuses anything
// else in a text column). It alone checks the names a running workflow
// meets in a history recorded before (a durable step, change id, event or
// update wait replayed as it was recorded: refusing spaces there would
// fail, on replay, the tasks in flight whose code used them), the names its
// callers give (SendEvent, Update and Query reach what such a workflow
// waits for or published) and values that are data (a concurrency group,
// an update id). A running workflow's new operations take checkName.
func checkStoreName(what, s string) string {
	switch {
	case s == "":
		return what + " is required"
	case len(s) > store.MaxNameLen:
		return fmt.Sprintf("%s %s is %d bytes long; the limit is %d", what, quoteName(s), len(s), store.MaxNameLen)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Sprintf("%s %s contains a NUL byte", what, quoteName(s))
	case !utf8.ValidString(s):
		return fmt.Sprintf("%s %s is not valid UTF-8", what, quoteName(s))
	}
	return ""
}

// systemNameProblem says why a dependent system's name cannot be carried
// by a step's policy ("" when it can; "" is no system): the policy is
// stored as JSON, where a NUL would be refused and invalid UTF-8 replaced
// (another system than the one named). A name blank or with spaces around
// it is refused too, as a step's or a handler's is: "payments " is another
// system than "payments", sharing neither its breaker, its pauses nor its
// rate limit. StepTemplate.DependentSystem and WithStepDependentSystem are
// checked alike.
func systemNameProblem(sys string) string {
	if msg := systemStoreProblem(sys); msg != "" || sys == "" {
		return msg
	}
	return spacesAround("dependent system", sys)
}

// systemStoreProblem is the half of systemNameProblem a policy's JSON
// needs: all a durable step recorded before with its system is checked
// for, as it was taken then.
func systemStoreProblem(sys string) string {
	if strings.IndexByte(sys, 0) >= 0 || !utf8.ValidString(sys) {
		return checkStoreName("dependent system", sys)
	}
	return ""
}
