package main

import (
	"errors"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tasker-go/tasker/internal/cliconfig"
)

// addConfigFlag gives a command that runs an engine the --config flag.
func addConfigFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "config", "", "YAML configuration file (default TASKER_CONFIG, when set; preset, db, execution, retry, …; TASKER_* variables override it, flags override both; a relative db path is relative to the working directory, not to the file)")
}

// loadSettings reads --config (TASKER_CONFIG when the flag is not given)
// and the TASKER_* variables (see package cliconfig) into the settings of
// an engine configuration, with what the configuration set and where; a
// --db the user did not give takes the configuration's db (TASKER_DB,
// else the file's). Every problem is reported at once. overridden are the
// keys the command's flags replace (see cliconfig.Load). A nil db is a
// command that opens no database (lint): neither the file's db nor
// TASKER_DB, --db's default, is read, as the other commands without --db do
// not read it.
func loadSettings(cmd *cobra.Command, path string, db *string, overridden ...string) (*cliconfig.Settings, error) {
	// Given empty (--config "$CONFIG", the variable unset), it was read as
	// no file: the worker ran on the demo's file, creating it.
	if cmd.Flags().Changed("config") && strings.TrimSpace(path) == "" {
		return nil, errors.New("--config is empty: give the configuration file's path, or leave --config out")
	}
	from := "--config"
	if v, ok := os.LookupEnv("TASKER_CONFIG"); ok && !cmd.Flags().Changed("config") {
		// As TASKER_DB is --db's default; set, it was ignored, and the
		// worker ran on the demo's file with the engine's defaults.
		if strings.TrimSpace(v) == "" {
			return nil, errors.New("TASKER_CONFIG is empty: give the configuration file's path, or unset it")
		}
		path, from = v, "TASKER_CONFIG"
	}
	// A padded path failed reading "open  x.yaml", the space hard to see
	// and its source unnamed.
	if err := padded(from, path); err != nil {
		return nil, err
	}
	var s *cliconfig.Settings
	var err error
	if db == nil {
		s, err = cliconfig.LoadWithoutDB(path, os.Environ())
	} else {
		s, err = cliconfig.Load(path, os.Environ(), overridden...)
	}
	if err != nil {
		return nil, err
	}
	if db != nil && s.DB != "" && !cmd.Flags().Changed("db") {
		// Checked here, to name where it was set: openStore's errors
		// would name --db, which the user did not give.
		if _, err := parseDBFrom(s.DBFrom, s.DB); err != nil {
			return nil, err
		}
		*db = s.DB
	}
	return s, nil
}
