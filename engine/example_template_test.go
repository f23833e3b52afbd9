package engine_test

import (
	"fmt"

	"github.com/tasker-go/tasker/engine"
)

// A template with mistakes: every problem is reported at once, each with
// its place in the YAML. LoadTemplateFile prefixes each line with the file
// name ("order.yaml:6:5: …"), which is what `tasker lint` prints.
func ExampleTemplateProblems() {
	src := []byte(`namespace: shop
name: order
steps:
  - name: charge
    handler: shop.charge
    depends_ob: [validate]
    retry: {limit: "five"}
    timeout: soon
`)
	_, err := engine.ParseTemplate(src, "")
	for _, p := range engine.TemplateProblems(err) {
		fmt.Printf("%d:%d: %s: %s\n", p.Line, p.Column, p.Path, p.Msg)
	}
	// Output:
	// 6:5: steps[0].depends_ob: unknown key "depends_ob" in a step (did you mean "depends_on"?)
	// 7:13: steps[0].retry.limit: must be an integer, got the string "five"
	// 8:5: steps[0].timeout: must be a duration such as 30s or 1m, got "soon"
}
