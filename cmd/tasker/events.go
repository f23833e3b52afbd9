package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/store"
)

func newEventsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "send events to code-first workflows",
	}
	cmd.AddCommand(newEventsSendCmd())
	return cmd
}

func newEventsSendCmd() *cobra.Command {
	var db, key, payload string
	cmd := &cobra.Command{
		Use:   "send TASK_ID NAME",
		Short: "send event NAME to a code-first workflow task (once per --key)",
		Long: `send records event NAME for a code-first workflow task and wakes the task, in
one transaction: a workflow waiting for NAME (engine.WaitEvent) resumes on
the next worker that claims it; one not waiting yet finds the event when it
gets there. Sending again with the same --key changes nothing (the first
payload stays) and is reported as a duplicate; without --key every send is a
new event. A NAME beginning with "update:" is refused: such events carry the
updates sent with engine.Update. A new event for a finished task is refused;
for a run that continued as new, naming the chain's last run, which reads
the workflow's events now.`,
		Example: `  tasker events send 12 approval --key manager-decision --payload '{"approved":true,"by":"bob"}'`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseTaskID(args[0])
			if err != nil {
				return err
			}
			name := args[1]
			if strings.TrimSpace(name) == "" {
				return errors.New("the event NAME is empty: give the name the workflow's WaitEvent waits for")
			}
			// (engine.SendEvent refuses it too, once the database is open)
			if strings.HasPrefix(name, "update:") {
				return fmt.Errorf("the event NAME %q begins with \"update:\", reserved for the events that carry updates (engine.Update): give the name the workflow's WaitEvent waits for", name)
			}
			// An empty --key would send the event with none: sent again,
			// it would be another event, not a duplicate.
			if strings.TrimSpace(key) == "" && cmd.Flags().Changed("key") {
				return errors.New("--key is empty: give the idempotency key, or leave --key out for an event sent every time")
			}
			if err := errors.Join(padded("the event NAME", name), padded("--key", key)); err != nil {
				return err
			}
			// The payload is checked here, before anything is opened: the
			// engine would otherwise carry it as an opaque document to a
			// WaitEvent that fails decoding it.
			var doc json.RawMessage // nil: the event has a JSON null payload
			if cmd.Flags().Changed("payload") {
				if !json.Valid([]byte(payload)) {
					var v any
					jerr := json.Unmarshal([]byte(payload), &v)
					return fmt.Errorf("--payload is not valid JSON (%v): %q", jerr, payload)
				}
				var buf bytes.Buffer
				if err := json.Compact(&buf, []byte(payload)); err != nil {
					return fmt.Errorf("--payload: %w", err)
				}
				doc = buf.Bytes()
			}
			return operate(cmd, db, id, func(e *engine.Engine, _ store.Store, d *store.TaskDetail) error {
				t := d.Task
				if t.Kind != store.KindCode {
					return fmt.Errorf("cannot send event %s to task %d: it is a %s workflow (%s/%s), and only code-first workflows wait for events", name, id, t.Kind, t.Namespace, t.Name)
				}
				var p any = doc
				if doc == nil {
					p = nil
				}
				// A finished task is left to the engine, which refuses a
				// new event but reports a key sent before as a duplicate:
				// a sender repeating a send that succeeded (its workflow
				// finished since) is told so, not failed.
				created, err := e.SendEvent(cmd.Context(), id, name, key, p)
				if errors.Is(err, engine.ErrEventRefused) && t.State.Terminal() {
					// A run that continued as new: the workflow goes on, and
					// reads its events, in the chain's last run.
					if links, rerr := e.Runs(cmd.Context(), id); rerr != nil {
						return rerr // (it names the task)
					} else if links.ContinuedAs != 0 {
						// The command that sends the same event there: its
						// key, payload and database too.
						again := fmt.Sprintf("tasker events send %d %s", links.Last, shellQuote(name))
						if cmd.Flags().Changed("key") {
							again += " --key " + shellQuote(key)
						}
						if cmd.Flags().Changed("payload") {
							again += " --payload " + shellQuote(payload)
						}
						again += dbFlag(db)
						return fmt.Errorf("cannot send event %s to task %d: it continued as new as task %d; the workflow reads its events in the chain's last run, task %d: %s", name, id, links.ContinuedAs, links.Last, again)
					}
					return fmt.Errorf("cannot send event %s to task %d: it is %s, and no wait would ever consume the event", name, id, t.State)
				}
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				shown := "null"
				if doc != nil {
					shown = string(doc)
				}
				switch {
				case created && key == "":
					fmt.Fprintf(out, "event %s sent to task %d (new; no --key, so every send is another event): %s\n", name, id, clip(shown, 200))
				case created:
					fmt.Fprintf(out, "event %s sent to task %d (new, key %s): %s\n", name, id, key, clip(shown, 200))
				default:
					fmt.Fprintf(out, "event %s to task %d is a duplicate: key %s was already sent; nothing changed (the first payload stays)\n", name, id, key)
				}
				if t.State == store.TaskError {
					fmt.Fprintf(out, "task %d is in error: it reads the event after `tasker tasks retry %d%s`\n", id, id, dbFlag(db))
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "idempotency key: sending the same (task, name, key) again changes nothing (default: none, every send is new)")
	cmd.Flags().StringVar(&payload, "payload", "", "the event's payload (JSON) that WaitEvent decodes (default: null)")
	addDBFlag(cmd, &db)
	return cmd
}
