// Command tasker runs Tasker's demo and benchmarks and inspects and operates
// on the tasks of a store.
//
//	tasker demo [--orders N] [--db PATH] [--concurrency N]
//	tasker tasks ls|show|cancel|retry|resolve …
//	tasker worker [--db PATH]
//	tasker migrate [--db PATH]
//	tasker bench [--db PATH] [--workloads W1,…] [--scale F]
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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tasker:", err)
		os.Exit(1)
	}
}
