package readmetest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// packages are the packages whose names the READMEs' prose qualifies
// (engine.Retryable, store.ErrInvalid), by directory.
var packages = map[string]string{
	"engine": "engine", "testkit": "testkit", "retry": "retry", "store": "store",
	"sqlite": "store/sqlite", "postgres": "store/postgres", "cachex": "cachex", "admin": "admin",
	"orderflow": "examples/orderflow", "approval": "examples/approval", "saga": "examples/saga", "codec": "examples/codec",
}

var qualified = regexp.MustCompile(`\b(` + strings.Join(keys(packages), "|") + `)\.([A-Z][A-Za-z0-9_]*)`)

// Every exported name the READMEs' prose gives with its package
// (engine.WithIdempotencyKey, testkit.RunStepAs) exists there: the
// snippets compile, but the prose around them was read by nothing, so a
// renamed or removed API could stay in it.
func TestReadmeProseNamesExist(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(root, "examples", "*", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, filepath.Join(root, "README.md"))
	exported := map[string]map[string]bool{}
	checked := 0
	for _, path := range paths {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, err := range missingNames(string(text), filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), exported, &checked) {
			t.Error(err)
		}
	}
	if checked < 50 {
		t.Errorf("checked %d qualified names; the READMEs have more", checked)
	}
}

func TestProseCheckCatchesAMissingName(t *testing.T) {
	errs := missingNames("call `engine.StartWorkflow` then `engine.StartWorkflowz`", "x", map[string]map[string]bool{}, new(int))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "engine.StartWorkflowz") {
		t.Fatalf("errors %v, want one naming engine.StartWorkflowz", errs)
	}
}

// missingNames returns an error per qualified name in text that its
// package does not export; exported caches each package's names.
func missingNames(text, name string, exported map[string]map[string]bool, checked *int) []error {
	var errs []error
	seen := map[string]bool{}
	for _, m := range qualified.FindAllStringSubmatchIndex(text, -1) {
		pkg, ident := text[m[2]:m[3]], text[m[4]:m[5]]
		if seen[pkg+"."+ident] {
			continue
		}
		seen[pkg+"."+ident] = true
		names, ok := exported[pkg]
		if !ok {
			var err error
			if names, err = exportedNames(filepath.Join(root, filepath.FromSlash(packages[pkg]))); err != nil {
				return append(errs, err)
			}
			exported[pkg] = names
		}
		*checked++
		if !names[ident] {
			line := 1 + strings.Count(text[:m[0]], "\n")
			errs = append(errs, fmt.Errorf("%s:%d: %s.%s: package %s has no exported %s", name, line, pkg, ident, packages[pkg], ident))
		}
	}
	return errs
}

// exportedNames returns the exported top-level names of the package in
// dir (its non-test files).
func exportedNames(dir string) (map[string]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	names := map[string]bool{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					names[d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						names[s.Name.Name] = true
					case *ast.ValueSpec:
						for _, n := range s.Names {
							names[n.Name] = true
						}
					}
				}
			}
		}
	}
	return names, nil
}

func keys(m map[string]string) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}
