package engine

import (
	"fmt"
	"time"

	"github.com/tasker-go/tasker/retry"
)

// Presets are starting configurations (the original plan's 1.4) for
// Preset: set Store (and anything else) on the result.
const (
	// PresetDevelopment: a laptop. Few handlers, quick polling, retries
	// capped at a minute (predicted ones too) so a broken step shows
	// soon, finished tasks kept a day.
	PresetDevelopment = "development"
	// PresetTest: tests against a real database. Short leases and polls,
	// millisecond retries, so failures and rescues happen within a test's
	// time; finished tasks kept an hour.
	PresetTest = "test"
	// PresetProduction: the defaults, and a 15 min bound on an attempt (a
	// handler stuck forever holds its slot and its lease forever).
	PresetProduction = "production"
)

// Preset returns the named configuration, validated but for Store (which
// the caller sets). An unknown name is an error that lists the presets.
func Preset(name string) (Config, error) {
	var c Config
	switch name {
	case PresetDevelopment:
		c.Execution = ExecutionConfig{MaxConcurrency: 8, PollInterval: 500 * time.Millisecond, Retention: 24 * time.Hour}
		c.Retry = retry.Policy{Base: time.Second, Max: time.Minute}
		c.PredictiveRetry = PredictiveRetryConfig{Max: time.Minute} // (its default is 5 min)
	case PresetTest:
		c.Execution = ExecutionConfig{MaxConcurrency: 4, PollInterval: 50 * time.Millisecond, RescueInterval: time.Second,
			LeaseTTL: 5 * time.Second, TuneInterval: 100 * time.Millisecond, Retention: time.Hour}
		c.Retry = retry.Policy{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond}
		c.PredictiveRetry = PredictiveRetryConfig{Min: 10 * time.Millisecond, Max: time.Second}
	case PresetProduction:
		c.Execution = ExecutionConfig{DefaultTimeout: 15 * time.Minute, Retention: DefaultRetention}
	default:
		return Config{}, fmt.Errorf("config: unknown preset %q (one of %s, %s, %s)", name, PresetDevelopment, PresetTest, PresetProduction)
	}
	if err := c.validateSettings(); err != nil {
		return Config{}, fmt.Errorf("preset %s: %w", name, err) // a bug in the table above
	}
	return c, nil
}
