package cliconfig

import (
	"fmt"
	"strings"

	"github.com/tasker-go/tasker/engine"
)

// crossKeys are the engine's checks of two keys together, by the start of
// their error: such an error is reported naming where each value came
// from (a line of the file, a variable, the preset or the default), as
// one about a single key names its own. Reported as the file's, min
// above max concurrency sent the reader to a file that did not set the
// value at fault, a variable having set it.
var crossKeys = []struct {
	prefix string
	// has, when set, is in the error too: the engine's error about one of
	// the two alone (min concurrency above its limit) starts alike.
	has   string
	paths [2]string
	// inPreset says which of the two a preset sets.
	inPreset func(engine.Config) [2]bool
}{
	{"config: execution min concurrency ", " exceeds max ", [2]string{"execution.min_concurrency", "execution.max_concurrency"}, func(c engine.Config) [2]bool {
		return [2]bool{c.Execution.MinConcurrency != 0, c.Execution.MaxConcurrency != 0}
	}},
	{"config: retry ", "", [2]string{"retry.base", "retry.max"}, func(c engine.Config) [2]bool {
		return [2]bool{c.Retry.Base != 0, c.Retry.Max != 0}
	}},
	{"config: predictive retry: ", "", [2]string{"predictive_retry.min", "predictive_retry.max"}, func(c engine.Config) [2]bool {
		return [2]bool{c.PredictiveRetry.Min != 0, c.PredictiveRetry.Max != 0}
	}},
}

// crossKeyPaths are the two keys e, an error of Validate of the whole
// configuration, is about; false for an error about something else.
func crossKeyPaths(e error) ([2]string, bool) {
	for _, c := range crossKeys {
		if strings.HasPrefix(e.Error(), c.prefix) && strings.Contains(e.Error(), c.has) {
			return c.paths, true
		}
	}
	return [2]string{}, false
}

// crossKeyError is e, an error of Validate of the whole configuration,
// with where each of the keys it is about came from; e with file (the
// configuration's name when none) for any other.
func crossKeyError(file string, e error, vals map[string]value) error {
	for _, c := range crossKeys {
		if !strings.HasPrefix(e.Error(), c.prefix) || !strings.Contains(e.Error(), c.has) {
			continue
		}
		var preset [2]bool
		if p, ok := vals["preset"]; ok {
			if pc, err := engine.Preset(p.s); err == nil {
				preset = c.inPreset(pc)
			}
		}
		var from [2]string
		for i, path := range c.paths {
			switch v, ok := vals[path]; {
			case ok:
				from[i] = v.where
			case preset[i]:
				from[i] = "the preset's, " + vals["preset"].where
			default:
				from[i] = "the default"
			}
		}
		return fmt.Errorf("%s (%s) with %s (%s): %w", c.paths[0], from[0], c.paths[1], from[1], e)
	}
	return fmt.Errorf("%s: %w", orStdin(file), e)
}
