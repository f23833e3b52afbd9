// Command tasker runs Tasker's demo and benchmarks and inspects and operates
// on the tasks of a store.
//
//	tasker demo [--orders N] [--db PATH] [--concurrency N]
//	tasker tasks ls|show [--json] …   (read-only)
//	tasker tasks cancel|retry|resolve …
//	tasker events send TASK_ID NAME [--key K] [--payload JSON]
//	tasker approval start --amount N [--id EXP]
//	tasker worker [--db PATH] [--drain 30s]
//	tasker migrate [--db PATH]
//	tasker lint [--handlers a,b|--handlers-file F] FILE…
//	tasker bench [--db PATH|URL] [--workloads W1,…,W5c] [--scale F] [--procs 1,3]
//	tasker version [--json]
//
// --db is an SQLite file path (or sqlite://PATH) or a postgres:// URL
// (append ?schema=NAME to use a schema other than the connection's current
// one).
//
// The first SIGINT or SIGTERM asks the running command to stop (a worker
// drains its running steps); a second one exits at once.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tasker-go/tasker/internal/chaos"
)

func main() {
	chaos.RunChildIfAsked() // tasker chaos re-executes this binary as its worker processes
	os.Exit(run(os.Args[1:]))
}

// run executes the command line args and returns the exit status.
func run(args []string) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopSignals := handleSignals(cancel, os.Stderr, os.Exit)
	defer stopSignals()
	root := newRootCmd()
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "tasker:", err)
		return 1
	}
	return 0
}

// handleSignals cancels the command's context on the first SIGINT or
// SIGTERM, and on the second calls exit(128+signal number) at once: a
// worker whose handlers ignore cancellation, or an engine whose Stop does
// not return, must not make the operator reach for kill -9. The returned
// func stops listening.
func handleSignals(cancel context.CancelFunc, stderr io.Writer, exit func(int)) (stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-sigs:
			fmt.Fprintf(stderr, "tasker: second %s: exiting at once\n", s)
			code := 1
			if n, ok := s.(syscall.Signal); ok {
				code = 128 + int(n)
			}
			exit(code)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
		<-finished
	}
}
