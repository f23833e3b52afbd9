// Command tasker runs Tasker's demo and benchmarks and inspects and operates
// on the tasks of a store.
//
//	tasker demo [--orders N] [--db PATH] [--concurrency N]
//	tasker tasks ls|show|cancel|retry|resolve …
//	tasker events send TASK_ID NAME [--key K] [--payload JSON]
//	tasker approval start --amount N [--id EXP]
//	tasker worker [--db PATH]
//	tasker migrate [--db PATH]
//	tasker bench [--db PATH|URL] [--workloads W1,…,W5c] [--scale F] [--procs 1,3]
//
// --db is an SQLite file path or a postgres:// URL (append ?schema=NAME to
// use a schema other than the connection's current one).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() { os.Exit(run(os.Args[1:])) }

// run executes the command line args and returns the exit status.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "tasker:", err)
		return 1
	}
	return 0
}
