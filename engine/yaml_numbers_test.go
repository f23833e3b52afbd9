package engine_test

import (
	"testing"
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
