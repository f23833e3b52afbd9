package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/engine"
)

// A whole number written otherwise than in decimal digits — a -0, a
// leading zero (010, which YAML 1.1 readers take for octal 8), 0x10, 0o10,
// 0b1 or 1_000 — is refused at its key, as the CLI's configuration
// refuses it: the parser read each as a number other than its text reads.
func TestYAMLNumbersInDecimalDigitsOnly(t *testing.T) {
	base := "namespace: s\nname: n\n"
	step, pay := "steps:\n  - name: a\n    handler: h\n", "    dependent_system: pay\n"
	checkYAMLProblems(t, []yamlProblem{
		{"priority -0", base + "priority: -0\n" + step, "priority", 3, `"-0" has a sign: write "0"`},
		{"priority hex", base + "priority: 0x10\n" + step, "priority", 3, `"0x10" is not in decimal digits: write "16"`},
		{"priority octal", base + "priority: 0o10\n" + step, "priority", 3, `"0o10" is not in decimal digits: write "8"`},
		{"priority leading zero", base + "priority: 010\n" + step, "priority", 3, `"010" has a leading zero, which reads as octal (8): write "10" or "8", the number meant`},
		{"priority 00", base + "priority: 00\n" + step, "priority", 3, `"00" has a leading zero: write "0"`},
		{"priority underscore", base + "priority: 1_000\n" + step, "priority", 3, `"1_000" is not in decimal digits`},
		{"retry limit", base + step + "    retry: {limit: 0x3}\n", "steps[0].retry.limit", 6, `"0x3" is not in decimal digits: write "3"`},
		{"concurrency max", base + "concurrency: {max: 02, key: k}\n" + step, "concurrency.max", 3, `"02" has a leading zero: write "2"`},
		{"burst", base + "rate_limits: {pay: {per_second: 5, burst: 0b11}}\n" + step + pay, "rate_limits.pay.burst", 3, `"0b11" is not in decimal digits: write "3"`},
		{"environment", base + step + "environments:\n  prod:\n    priority: -0\n", "environments.prod.priority", 8, `"-0" has a sign: write "0"`},
	})
}

// TestYAMLLeadingZeroInConfigAndSchemaRefused: a whole number with a
// leading zero in a step's config or the input schema (zip: 01234,
// minimum: 010) was read as octal (668, 8) and handed to the handler or
// the validator without a word, where the template's own keys refuse it;
// it is refused at its place, saying what it read as and to quote it for
// the text. Other numbers there (0x10, 1_000, +7) read as their text says.
func TestYAMLLeadingZeroInConfigAndSchemaRefused(t *testing.T) {
	base := "namespace: s\nname: n\n"
	step := "steps:\n  - name: a\n    handler: h\n"
	checkYAMLProblems(t, []yamlProblem{
		{"config", base + step + "    config: {zip: 01234}\n", "steps[0].config.zip", 6, `"01234" has a leading zero, which reads as octal (668): write "1234", or quote it ("01234") for the text`},
		{"config list", base + step + "    config: {ids: [1, 010]}\n", "steps[0].config.ids[1]", 6, `"010" has a leading zero, which reads as octal (8)`},
		{"config 00", base + step + "    config: {n: 00}\n", "steps[0].config.n", 6, `"00" has a leading zero: write "0", or quote it ("00") for the text`},
		{"schema", base + "input_schema: {type: object, properties: {n: {minimum: 010}}}\n" + step, "input_schema.properties.n.minimum", 3, `"010" has a leading zero, which reads as octal (8)`},
		{"environment", base + step + "environments:\n  prod:\n    steps: [{name: a, config: {zip: 07}}]\n", "environments.prod.steps[0].config.zip", 8, `"07" has a leading zero: write "7", or quote it ("07") for the text`},
	})
	ps := problems(t, writeTemplate(t, base+step+"    config: {zip: -01234}\n"), "")
	if len(ps) != 1 || ps[0].Template != "s/n" || !strings.Contains(ps[0].Msg, `"-01234" has a leading zero, which reads as octal (-668): write "-1234"`) {
		t.Errorf("negative: %v", ps)
	}
	path := writeTemplate(t, base+step+"    config: {zip: \"01234\", hex: 0x10, n: 1_000, f: 0.5, z: 0, neg: -3}\n")
	tm, err := engine.LoadTemplateFile(path, "")
	must(t, err)
	if got := fmt.Sprint(tm.Steps[0].Config); got != "map[f:0.5 hex:16 n:1000 neg:-3 z:0 zip:01234]" {
		t.Errorf("config %s", got)
	}
}

// TestYAMLNumberOutOfRangeInConfigRefused: a number in a step's config or
// the input schema too large (or too small) for the decoder's numbers
// (id: 99999999999999999999, f: 1.5e400), and one with an exponent but no
// '.' (1e5, a float to YAML 1.2, a string to the parser's YAML 1.1), was
// kept as a string without a word, and reached the handler as one; it is
// refused at its place. Quoted, it is a string as meant.
func TestYAMLNumberOutOfRangeInConfigRefused(t *testing.T) {
	base := "namespace: s\nname: n\n"
	step := "steps:\n  - name: a\n    handler: h\n"
	checkYAMLProblems(t, []yamlProblem{
		{"whole", base + step + "    config: {id: 99999999999999999999}\n", "steps[0].config.id", 6, `"99999999999999999999" is a whole number out of the 64-bit range (it would reach the handler as a string): quote it for the text`},
		{"negative", base + step + "    config: {ids: [-99999999999999999999]}\n", "steps[0].config.ids[0]", 6, `"-99999999999999999999" is a whole number out of the 64-bit range`},
		{"float", base + step + "    config: {f: 1.5e400}\n", "steps[0].config.f", 6, `"1.5e400" is a number out of range of a float64`},
		{"exponent without a dot", base + step + "    config: {f: 1e5}\n", "steps[0].config.f", 6, `"1e5" reads as a string to this parser (it takes an exponent only after a '.'): write "1.0e5" for the number, or quote it for the text`},
		{"schema", base + "input_schema: {properties: {n: {maximum: 99999999999999999999}}}\n" + step, "input_schema.properties.n.maximum", 3, `"99999999999999999999" is a whole number out of the 64-bit range`},
	})
	path := writeTemplate(t, base+step+"    config: {id: \"99999999999999999999\", big: 18446744073709551615, 1e400: key, v: 1.2.3, e: 1.0e5}\n")
	tm, err := engine.LoadTemplateFile(path, "")
	must(t, err)
	if got := fmt.Sprint(tm.Steps[0].Config); got != "map[1e400:key big:18446744073709551615 e:100000 id:99999999999999999999 v:1.2.3]" {
		t.Errorf("config %s", got)
	}
}
