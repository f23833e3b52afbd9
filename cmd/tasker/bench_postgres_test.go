package main

import (
	"testing"

	"github.com/tasker-go/tasker/internal/pgtest"
)

// The bench on PostgreSQL at a tiny scale, in this process and with three
// worker processes. Skips without TASKER_TEST_POSTGRES_URL (fails in CI).
func TestBenchPostgresTinyScale(t *testing.T) {
	db := pgtest.URL(t)
	// Scale 0.005: 50 one-step workflows for W1 and W4, 5 chains of 10,
	// one fan-out, 5 sequential chains; twice each (1 and 3 processes).
	// W2, W2c, W5c: TestBenchPostgresCodeFirst (one test for all would
	// take over 10 s under -race).
	out := mustExecute(t, "bench", "--scale", "0.005", "--procs", "1,3", "--db", db, "--workloads", "W1,W3,W4,W4c,W5")
	t.Log("\n" + out)
	for _, w := range []string{"W1", "W3", "W4", "W4c", "W5"} {
		for _, procs := range []string{"1", "3"} {
			m := wantMatch(t, out, `(?m)^`+w+`\s+`+procs+`\s.*\s(\d+)/(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s`)
			if m[1] != m[2] || m[1] == "0" {
				t.Errorf("%s with %s process(es): %s of %s workflows complete", w, procs, m[1], m[2])
			}
			if m[3] == "0" {
				t.Errorf("%s with %s process(es): peak pool connections 0", w, procs)
			}
		}
	}
	wantMatch(t, out, `(?m)^W1\s+3\s.*workers ready after .*peak conns per process \d+/\d+/\d+`)
	wantMatch(t, out, `(?m)^W4\s+1\s.*15 retries \(want 15\)`)
	wantMatch(t, out, `(?m)^W4\s+3\s.*15 retries \(want 15\)`)
	wantMatch(t, out, `(?m)^W4c\s+1\s.*15 retries \(want 15\)`)
	wantMatch(t, out, `(?m)^W4c\s+3\s.*15 retries \(want 15\)`)
	wantMatch(t, out, `(?m)^W5\s+3\s.*latency p50 [\d.]+ ms, p99 [\d.]+ ms`)

	wantMatch(t, out, `ceiling: \d+ commits/s from 1 connection .*; \d+ commits/s from 8 goroutines`)
	wantMatch(t, out, `every workload complete`)

	mustFail(t, `--procs: "0" is not a process count`, "bench", "--db", db, "--procs", "0")
}

// The code-first workloads on PostgreSQL next to their DAG twins, in this
// process and with three worker processes (which register the code-first
// workflows too), and the footer comparing their cost per step.
func TestBenchPostgresCodeFirst(t *testing.T) {
	db := pgtest.URL(t)
	out := mustExecute(t, "bench", "--scale", "0.005", "--procs", "1,3", "--db", db, "--workloads", "W2,W2c,W5,W5c")
	t.Log("\n" + out)
	for _, w := range []string{"W2", "W2c", "W5", "W5c"} {
		for _, procs := range []string{"1", "3"} {
			m := wantMatch(t, out, `(?m)^`+w+`\s+`+procs+`\s.*\s(\d+)/(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s`)
			if m[1] != m[2] || m[1] == "0" {
				t.Errorf("%s with %s process(es): %s of %s workflows complete", w, procs, m[1], m[2])
			}
		}
	}
	wantMatch(t, out, `(?m)^W2c\s+3\s.*workers ready after .*; 5 driver runs$`)
	wantMatch(t, out, `(?m)^W5c\s+3\s.*latency p50 [\d.]+ ms, p99 [\d.]+ ms.*; 5 driver runs$`)
	for _, procs := range []string{"1", "3"} {
		wantMatch(t, out, `(?m)^code-first/DAG step cost \(`+procs+` process\(es\)\): W2c/W2: wall per step [\d.]+x .*; W5c/W5: p50 [\d.]+x, p99 [\d.]+x; (within|OVER) the 1.5x target$`)
	}
	wantMatch(t, out, `every workload complete`)
}
