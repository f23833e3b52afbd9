package cliconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tasker-go/tasker/engine"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const good = `preset: development
db: postgres://localhost/tasker
worker_id: api-1
execution:
  max_concurrency: 16
  lease_ttl: 45s
  retention: forever
  queues: [default, mail]
retry: {base: 2s, max: 1m}
predictive_retry:
  max: 2m
cache:
  distributed: ""
`

func TestGoodFileAndEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasker.yaml")
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path, []string{"TASKER_EXECUTION_MAX_CONCURRENCY=64", "TASKER_EXECUTION_QUEUES=a, b", "TASKER_TEST_POSTGRES_URL=x", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config
	if s.DB != "postgres://localhost/tasker" || c.WorkerID != "api-1" || c.Execution.MaxConcurrency != 64 || c.Execution.LeaseTTL != 45*time.Second ||
		c.Execution.Retention != engine.KeepForever || strings.Join(c.Execution.Queues, ",") != "a,b" || c.Retry.Base != 2*time.Second ||
		c.Retry.Max != time.Minute || c.PredictiveRetry.Max != 2*time.Minute {
		t.Fatalf("settings %+v / %+v", s, c.Execution)
	}
	// The development preset's poll interval stays where the file says nothing.
	if c.Execution.PollInterval != 500*time.Millisecond {
		t.Fatalf("preset not applied: poll %s", c.Execution.PollInterval)
	}
	// No file, no variables: the engine's defaults.
	if s, err := Load("", nil); err != nil || s.DB != "" || s.Config.Execution.MaxConcurrency != 0 {
		t.Fatalf("empty: %+v %v", s, err)
	}
}

func TestBadFileListsEveryProblem(t *testing.T) {
	bad := `preset: staging
db: x
execution:
  max_concurrncy: 4
  lease_ttl: soon
  retention: 0s
  queues: mail
  batch_size: -3
retry:
  base: [1s]
colour: blue
`
	_, err := Parse("conf.yaml", []byte(bad), []string{"TASKER_RETRY_BAES=1s", "TASKER_EXECUTION_POLL_INTERVAL=fast"})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`conf.yaml:1: preset: "staging" is not a preset (one of development, test, production)`,
		`conf.yaml:4: execution.max_concurrncy: unknown key (known here: min_concurrency, max_concurrency,`,
		`conf.yaml:5: execution.lease_ttl: "soon" is not a duration`,
		`conf.yaml:6: execution.retention: "0s" is neither a positive duration`,
		`conf.yaml:7: execution.queues: is a list ([a, b]), got mail`,
		`conf.yaml:8: execution.batch_size: "-3" is not a whole number`,
		`conf.yaml:10: retry.base: is a single value, got a list`,
		`conf.yaml:11: colour: unknown key`,
		`TASKER_RETRY_BAES: unknown variable (known under retry: TASKER_RETRY_BASE, TASKER_RETRY_MAX)`,
		`TASKER_EXECUTION_POLL_INTERVAL: execution.poll_interval: "fast" is not a duration`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestCrossFieldAndSyntax(t *testing.T) {
	_, err := Parse("c.yaml", []byte("execution:\n  min_concurrency: 9\n  max_concurrency: 2\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "c.yaml: config: execution min concurrency 9 exceeds max 2") {
		t.Fatalf("cross-field: %v", err)
	}
	if _, err := Parse("c.yaml", []byte("execution: [\n"), nil); err == nil || !strings.Contains(err.Error(), "c.yaml") {
		t.Fatalf("syntax: %v", err)
	}
	if _, err := Parse("c.yaml", []byte("db: a\ndb: b\n"), nil); err == nil {
		t.Fatal("a duplicate key was accepted")
	}
	if _, err := Parse("c.yaml", []byte("- a\n"), nil); err == nil || !strings.Contains(err.Error(), "is a mapping of keys") {
		t.Fatalf("not a mapping: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil {
		t.Fatal("a missing file was accepted")
	}
}
