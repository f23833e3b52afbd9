// Package readmetest keeps the READMEs' Go snippets honest. Each ```go
// block in README.md and in examples/*/README.md is preceded by a marker
// naming a Go function:
//
//	<!-- snippet: engine/example_quickstart_test.go quickStart -->
//
// and must equal that function's body (dedented by one tab). The function
// is an Example, or is called by one in its package, so `go test` compiles
// the snippet and, when the Example has an "// Output:" comment, runs it
// and checks what it prints. A marker ending in "compile-only" (for
// snippets that need a server) is required exactly when the Example has no
// output to check. The prose is held to less: every name it qualifies
// with one of the module's packages (engine.Retryable, store.ErrInvalid)
// must be exported there (idents_test.go). The README's CLI table is
// checked against the commands in cmd/tasker (readme_test.go there). The
// tests live in readme_test.go and idents_test.go; this package has no
// other code.
package readmetest
