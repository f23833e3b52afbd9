package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionInfo is what `tasker version` reports, from the build information
// the Go toolchain embeds.
type versionInfo struct {
	Module   string `json:"module"`
	Version  string `json:"version"`  // "(devel)" for a build from a checkout
	Revision string `json:"revision"` // "" for a build without VCS information
	Time     string `json:"time"`
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func buildVersion() versionInfo {
	v := versionInfo{Module: "github.com/tasker-go/tasker", Version: "unknown", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Path != "" {
		v.Module = bi.Main.Path
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "print tasker's module version and the Go version it was built with",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildVersion()
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			line := fmt.Sprintf("tasker %s (%s)", v.Version, v.Module)
			if v.Revision != "" {
				line += ", commit " + v.Revision
				if v.Modified {
					line += " (modified)"
				}
				if v.Time != "" {
					line += " of " + v.Time
				}
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\nbuilt with %s for %s\n", line, v.Go, v.Platform)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print JSON: {"module", "version", "revision", "time", "modified", "go", "platform"} (revision and time "" for a build without VCS information)`)
	return cmd
}
