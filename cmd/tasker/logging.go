package main

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// logFlags are the root's --log-level and --log-format.
type logFlags struct {
	level, format string
}

func (f *logFlags) add(root *cobra.Command) {
	root.PersistentFlags().StringVar(&f.level, "log-level", "warn", "engine log level: debug, info, warn or error (warn: only what the engine cannot report another way)")
	root.PersistentFlags().StringVar(&f.format, "log-format", "text", "engine log format on standard error: text or json")
}

// engineLogged are the commands that run an engine on this process's
// standard error (cliLogger): --log-level and --log-format set its log.
// Given to another command (tasks ls, migrate, bench, chaos), they are
// refused: that command would take them and log nothing (bench's and
// chaos's engines keep their own logs, counted or at warn).
var engineLogged = []string{
	"approval start", "demo", "events send", "explain", "report",
	"schedules delete", "schedules pause", "schedules resume", "schedules trigger",
	"serve", "tasks cancel", "tasks resolve", "tasks retry", "worker",
}

// checkUsed refuses --log-level or --log-format given to a command that
// runs no engine logging through them.
func (f *logFlags) checkUsed(cmd *cobra.Command) error {
	path := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	if slices.Contains(engineLogged, path) {
		return nil
	}
	for _, name := range []string{"log-level", "log-format"} {
		if fl := cmd.Flags().Lookup(name); fl != nil && fl.Changed {
			return fmt.Errorf("--%s does nothing for `%s`: it runs no engine logging here (it applies to %s)", name, cmd.CommandPath(), strings.Join(engineLogged, ", "))
		}
	}
	return nil
}

// check refuses a level or format that is not one of the choices.
func (f *logFlags) check() error {
	switch strings.ToLower(f.level) {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", f.level)
	}
	if f.format != "text" && f.format != "json" {
		return fmt.Errorf("--log-format %q: want text or json", f.format)
	}
	return nil
}

// logger is the slog logger the flags describe, writing to w.
func (f *logFlags) logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(f.level)) // checked by check
	opts := &slog.HandlerOptions{Level: lvl}
	if f.format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// cliLogger is the logger the root's flags ask for, on the command's
// standard error.
func cliLogger(cmd *cobra.Command) *slog.Logger {
	f := &logFlags{level: "warn", format: "text"}
	if v, err := cmd.Flags().GetString("log-level"); err == nil {
		f.level = v
	}
	if v, err := cmd.Flags().GetString("log-format"); err == nil {
		f.format = v
	}
	return f.logger(cmd.ErrOrStderr())
}
