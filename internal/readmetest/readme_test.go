package readmetest

import (
	"errors"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const root = "../.."

func TestReadmeSnippetsMirrorExamples(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	snippets, errs := check(root, "README.md", string(readme))
	for _, err := range errs {
		t.Error(err)
	}
	if snippets < 4 {
		t.Errorf("checked %d Go snippets; the README has at least 4", snippets)
	}
}

// The examples' READMEs are held to the same rule: their snippets were
// checked by nothing, and the codec's did not compile (c, err := …; e,
// err := … with neither e nor the first err read).
func TestExampleReadmesSnippetsMirrorExamples(t *testing.T) {
	readmes, err := filepath.Glob(filepath.Join(root, "examples", "*", "README.md"))
	if err != nil || len(readmes) == 0 {
		t.Fatalf("no examples/*/README.md (%v)", err)
	}
	total := 0
	for _, path := range readmes {
		readme, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(root, path)
		n, errs := check(root, filepath.ToSlash(name), string(readme))
		for _, err := range errs {
			t.Error(err)
		}
		total += n
	}
	if total < 3 {
		t.Errorf("checked %d Go snippets in the examples' READMEs; they have at least 3", total)
	}
}

// The checker must notice a snippet that drifts from its function, a
// missing marker, a marker naming nothing, and a compile-only claim that
// is not true.
func TestCheckerCatchesDrift(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	for _, c := range []struct {
		name, from, to, want string
	}{
		{"edited line", "h.Wait(ctx)", "h.Wait(context.TODO())", "differs from the body"},
		{"no marker", "<!-- snippet: engine/example_quickstart_test.go quickStart -->", "", "no snippet marker"},
		{"unknown function", "example_quickstart_test.go quickStart -->", "example_quickstart_test.go quickStop -->", "no function quickStop"},
		{"false compile-only", "quickStart -->", "quickStart compile-only -->", "compile-only"},
		{"missing compile-only", "openOnPostgres compile-only -->", "openOnPostgres -->", "has no // Output"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(text, c.from) {
				t.Fatalf("README has no %q to change", c.from)
			}
			_, errs := check(root, "README.md", strings.Replace(text, c.from, c.to, 1))
			if !strings.Contains(errors.Join(errs...).Error(), c.want) {
				t.Fatalf("errors %v, want one saying %q", errs, c.want)
			}
		})
	}
}

var (
	fence  = regexp.MustCompile("(?m)^```go\n((?s:.*?))^```\n")
	marker = regexp.MustCompile(`<!-- snippet: (\S+) (\w+)( compile-only)? -->\s*$`)
)

// check returns how many ```go blocks text, the README named name, has and
// every problem with them.
func check(root, name, text string) (int, []error) {
	var errs []error
	blocks := fence.FindAllStringSubmatchIndex(text, -1)
	for _, b := range blocks {
		line := 1 + strings.Count(text[:b[0]], "\n")
		snippet := text[b[2]:b[3]]
		m := marker.FindStringSubmatch(strings.TrimRight(text[:b[0]], "\n"))
		if m == nil {
			errs = append(errs, fmt.Errorf("%s:%d: no snippet marker (<!-- snippet: FILE FUNC -->) before this ```go block", name, line))
			continue
		}
		if err := checkSnippet(root, m[1], m[2], m[3] != "", snippet); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", name, line, err))
		}
	}
	return len(blocks), errs
}

func checkSnippet(root, file, fn string, compileOnly bool, snippet string) error {
	path := filepath.Join(root, filepath.FromSlash(file))
	if !strings.HasSuffix(file, "_test.go") {
		return fmt.Errorf("%s: snippets mirror functions in _test.go files, beside their Examples", file)
	}
	fset := token.NewFileSet()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	var src []byte
	var decl *ast.FuncDecl
	var files []*ast.File // the package's test files: where its Examples are
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		name := filepath.Join(filepath.Dir(path), e.Name())
		text, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, name, text, parser.ParseComments)
		if err != nil {
			return err
		}
		files = append(files, f)
		if e.Name() != filepath.Base(path) {
			continue
		}
		src = text
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == fn {
				decl = fd
			}
		}
	}
	if decl == nil {
		return fmt.Errorf("%s has no function %s", file, fn)
	}
	body := src[fset.Position(decl.Body.Lbrace).Offset+1 : fset.Position(decl.Body.Rbrace).Offset]
	want, err := dedent(string(body))
	if err != nil {
		return fmt.Errorf("%s %s: %w", file, fn, err)
	}
	if got := strings.TrimSpace(snippet); got != strings.TrimSpace(want) {
		return fmt.Errorf("the snippet differs from the body of %s in %s:\n%s", fn, file, diff(got, strings.TrimSpace(want)))
	}

	// Some Example in the package runs it: is it, or calls it.
	ran, checked := false, false
	for _, ex := range doc.Examples(files...) {
		if "Example"+ex.Name != fn && !calls(ex.Code, fn) {
			continue
		}
		ran = true
		checked = checked || ex.Output != "" || ex.EmptyOutput
	}
	switch {
	case !ran:
		return fmt.Errorf("%s in %s is not an Example and no Example calls it: go test would not build or run it", fn, file)
	case checked && compileOnly:
		return fmt.Errorf("the marker for %s says compile-only, but its Example checks its output: drop compile-only", fn)
	case !checked && !compileOnly:
		return fmt.Errorf("the Example that runs %s has no // Output: go test compiles it only; say compile-only in the marker, or check its output", fn)
	}
	return nil
}

func calls(n ast.Node, fn string) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			if id, ok := c.Fun.(*ast.Ident); ok && id.Name == fn {
				found = true
			}
		}
		return !found
	})
	return found
}

// dedent removes the one tab that indents a function body.
func dedent(body string) (string, error) {
	lines := strings.Split(strings.Trim(body, "\n"), "\n")
	for i, l := range lines {
		switch {
		case l == "":
		case strings.HasPrefix(l, "\t"):
			lines[i] = l[1:]
		default:
			return "", fmt.Errorf("line %q of the body is not indented by a tab", l)
		}
	}
	return strings.Join(lines, "\n"), nil
}

// diff shows the first line where got and want differ.
func diff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("  line %d of the snippet: %q\n  line %d of the body:    %q", i+1, gl, i+1, wl)
		}
	}
	return "  (they differ only in length)"
}
