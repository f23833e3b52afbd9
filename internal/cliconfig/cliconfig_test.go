package cliconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"

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
  distributed: "redis://127.0.0.1:6379/0"
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
		c.Retry.Max != time.Minute || c.PredictiveRetry.Max != 2*time.Minute || c.Cache.Distributed != "redis://127.0.0.1:6379/0" {
		t.Fatalf("settings %+v / %+v", s, c.Execution)
	}
	if got := strings.Join(s.SectionsSet("execution", "retry", "cache", "predictive_retry"), ","); got != "execution,retry,cache,predictive_retry" {
		t.Fatalf("SectionsSet = %s", got)
	}
	if s, _ := Parse("c.yaml", []byte("db: x\n"), []string{"TASKER_RETRY_MAX=1m"}); strings.Join(s.Set, ",") != "db,retry.max" || len(s.SectionsSet("execution")) != 0 {
		t.Fatalf("Set = %v, SectionsSet(execution) = %v; want db and retry.max set, no execution", s.Set, s.SectionsSet("execution"))
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
		`conf.yaml:6: execution.retention: "0s" is neither a duration of at least 1ms`,
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
	if err == nil || !strings.Contains(err.Error(), "execution.min_concurrency (c.yaml:2) with execution.max_concurrency (c.yaml:3): config: execution min concurrency 9 exceeds max 2") {
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

// TestCheckEnvRefusesNearMisses: a top-level TASKER_ variable a typing
// slip away from one of the configuration's is refused naming both, and so
// is a name other tools give a database URL (TASKER_DATABASE_URL was
// ignored: the worker ran on the demo's file); the variables of the
// configuration, TASKER_CONFIG (the CLI's --config), and the other TASKER_
// names this repository's scripts, tests and examples use, are not.
func TestCheckEnvRefusesNearMisses(t *testing.T) {
	for typo, want := range map[string]string{
		"TASKER_EXECUTON_QUEUES":    "TASKER_EXECUTION_QUEUES",     // a letter of the section missing
		"TASKER_RETRYBASE":          "TASKER_RETRY_BASE",           // the "_" missing
		"TASKER_PREDICTIVERETRY_MX": "TASKER_PREDICTIVE_RETRY_MAX", // two slips
		"TASKER_WOKRER_ID":          "TASKER_WORKER_ID",            // a swap
		"TASKER_PRESETS":            "TASKER_PRESET",
		"TASKER_BD":                 "TASKER_DB", // a short name: one slip
		"TASKER_CACHE_DISTRIBUTE":   "TASKER_CACHE_DISTRIBUTED",
		// The names other tools give a database URL: no slip away from
		// TASKER_DB, but meant for it.
		"TASKER_DATABASE_URL": "TASKER_DB",
		"TASKER_DATABASE":     "TASKER_DB",
		"TASKER_DB_URL":       "TASKER_DB",
		"TASKER_DSN":          "TASKER_DB",
		"TASKER_POSTGRES_URL": "TASKER_DB",
		"TASKER_URL":          "TASKER_DB",
	} {
		err := CheckEnv([]string{"PATH=/bin", typo + "=x"})
		if err == nil || !strings.HasPrefix(err.Error(), typo+": unknown variable") || !strings.HasSuffix(err.Error(), "; did you mean "+want+"?") {
			t.Errorf("CheckEnv(%s) = %v, want it refused as an unknown variable naming %s", typo, err, want)
		}
		// Load refuses it too, before reading anything.
		if _, err := Parse("", nil, []string{typo + "=x"}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse with %s = %v, want it refused naming %s", typo, err, want)
		}
	}
	if err := CheckEnv([]string{"TASKER_RETRY_BAES=1s"}); err == nil || err.Error() != "TASKER_RETRY_BAES: unknown variable (known under retry: TASKER_RETRY_BASE, TASKER_RETRY_MAX); did you mean TASKER_RETRY_BASE?" {
		t.Errorf("a variable under a known section: %v", err)
	}
	var fine []string
	for _, k := range keys {
		fine = append(fine, EnvName(k.path)+"=1")
	}
	for _, name := range []string{"TASKER_CONFIG", "TASKER_TEST_POSTGRES_URL", "TASKER_FOO_BAR_BAZ", "TASKER_SRC", "TASKER_X", "TASKER_ID", "TASKER_DEBUG",
		"TASKER_TEST_REDIS_URL", "TASKER_TEST_CHROMIUM", "TASKER_TEST_PGCTL", "TASKER_TEST_PG_RESTART", "TASKER_TEST_CLI_ROLE",
		"TASKER_SERVICES_DIR", "TASKER_PG_PORT", "TASKER_PG_BINDIR", "TASKER_PG_CTL", "TASKER_PG_CTL_USER", "TASKER_PG_LOG", "TASKER_PG_DATA",
		"TASKER_CODEC_KEY", "TASKER_BENCH_TASKS", "TASKER_BENCH_WORKER", "TASKER_CHAOS_FULL", "TASKER_CHAOS_CHILD", "TASKER_UPDATE_DOCS_SCREENSHOT",
		"TASKER_SCHEDPROC_ID", "TASKER_SCHEDPROC_ROLE", "TASKER_SCHEDPROC_SCHEMA", "TASKER_MULTIPROC_ID", "TASKER_MULTIPROC_ROLE",
		"TASKER_MULTIPROC_SCHEMA", "TASKER_MULTIPROC_LEDGER", "TASKER_CRASH_CHILD", "TASKER_EAGER_CHILD", "TASKER_POISON_CHILD",
		"TASKER_TRACE_CHILD", "TASKER_TYPED_ERROR_CHILD", "TASKER_WF_CRASH_CHILD", "TASKER_WF_UPDATE_CHILD"} {
		fine = append(fine, name+"=1")
	}
	if err := CheckEnv(fine); err != nil {
		t.Fatalf("CheckEnv refused variables that are the configuration's or belong elsewhere: %v", err)
	}
}

// TestEveryExecutionFieldHasAKey: each field of engine.ExecutionConfig can
// be set from the file and the environment (execution.schedule_interval
// was missing: a worker's schedule interval could not be configured).
func TestEveryExecutionFieldHasAKey(t *testing.T) {
	typ := reflect.TypeFor[engine.ExecutionConfig]()
	for i := range typ.NumField() {
		var snake []rune
		for j, r := range typ.Field(i).Name {
			if unicode.IsUpper(r) && j > 0 {
				snake = append(snake, '_')
			}
			snake = append(snake, unicode.ToLower(r))
		}
		path := "execution." + strings.ReplaceAll(string(snake), "t_t_l", "ttl")
		if _, ok := known(path); !ok {
			t.Errorf("ExecutionConfig.%s has no key %s", typ.Field(i).Name, path)
		}
	}
	s, err := Parse("c.yaml", []byte("execution:\n  schedule_interval: 3s\n"), nil)
	if err != nil || s.Config.Execution.ScheduleInterval != 3*time.Second {
		t.Fatalf("file: %v, settings %+v; want a schedule interval of 3s", err, s)
	}
	s, err = Parse("c.yaml", []byte("execution:\n  schedule_interval: 3s\n"), []string{"TASKER_EXECUTION_SCHEDULE_INTERVAL=250ms"})
	if err != nil || s.Config.Execution.ScheduleInterval != 250*time.Millisecond {
		t.Fatalf("variable: %v, settings %+v; want a schedule interval of 250ms", err, s)
	}
	_, err = Parse("c.yaml", []byte("execution:\n  schedule_interval: 30\n"), nil)
	if err == nil || !strings.Contains(err.Error(), `c.yaml:2: execution.schedule_interval: "30" is not a duration`) {
		t.Fatalf("a bare number: %v", err)
	}
}

// An empty db (TASKER_DB= from an unset variable, db: "") is refused naming
// where it was set: it left --db at its default, the demo's file, which
// the worker then created.
func TestEmptyDBRefused(t *testing.T) {
	_, err := Parse("c.yaml", []byte("preset: test\ndb: \"\"\n"), nil)
	if err == nil || !strings.Contains(err.Error(), `c.yaml:2: db: is empty: give an SQLite file path or a postgres:// URL, or leave db out`) {
		t.Fatalf("db: \"\": %v", err)
	}
	_, err = Parse("", nil, []string{"TASKER_DB= "})
	if err == nil || !strings.Contains(err.Error(), `TASKER_DB: db: is empty`) {
		t.Fatalf("TASKER_DB= : %v", err)
	}
	// db: with no value (null, as db: $DB from an unset variable reads)
	// is refused too: it was taken as left out, and the worker created
	// the demo's file.
	for _, data := range []string{"db:\n", "preset: test\ndb: null\n", "db: ~\n"} {
		if _, err := Parse("c.yaml", []byte(data), nil); err == nil || !strings.Contains(err.Error(), `: db: has no value: give one, or leave db out`) {
			t.Errorf("Parse(%q): %v, want db refused", data, err)
		}
	}
}

// A duration the engine refuses under a millisecond is refused naming its
// key and line: the engine's error named neither and told the user to
// "write 30 * time.Second". retry.base and retry.max too, since the
// engine refuses them under a millisecond.
func TestSubMillisecondDurationsNameTheKey(t *testing.T) {
	_, err := Parse("c.yaml", []byte("execution:\n  lease_ttl: 500us\npredictive_retry:\n  min: 10ns\nretry:\n  base: 500us\n"), []string{"TASKER_EXECUTION_SCHEDULE_INTERVAL=1ns"})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`c.yaml:2: execution.lease_ttl: "500us" is under a millisecond: give 0 (the default) or at least 1ms`,
		`c.yaml:4: predictive_retry.min: "10ns" is under a millisecond`,
		`TASKER_EXECUTION_SCHEDULE_INTERVAL: execution.schedule_interval: "1ns" is under a millisecond`,
		`c.yaml:6: retry.base: "500us" is under a millisecond`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "time.Second") {
		t.Errorf("error gives Go advice for a file:\n%v", err)
	}
	if s, err := Parse("c.yaml", []byte("retry: {base: 1ms, max: 1ms}\nexecution: {lease_ttl: 100ms}\n"), nil); err != nil || s.Config.Retry.Base != time.Millisecond || s.Config.Execution.LeaseTTL != engine.MinLeaseTTL {
		t.Fatalf("retry.base 1ms, lease_ttl 100ms: %+v, %v", s, err)
	}
	// A lease has its own floor (engine.MinLeaseTTL), named at its line.
	_, err = Parse("c.yaml", []byte("execution: {lease_ttl: 1ms}\n"), nil)
	if want := "c.yaml:1: execution.lease_ttl: config: execution lease TTL 1ms is below 100ms (MinLeaseTTL)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("lease_ttl 1ms: %v, want an error saying %q", err, want)
	}
}

// A file of several YAML documents is refused, naming the line of the
// second: only the first was read, so "db: x\n---\nexecution: …" dropped
// the execution section without a word. A "---" that opens the only
// document, or ends it, is fine.
func TestSecondDocumentRefused(t *testing.T) {
	_, err := Parse("c.yaml", []byte("db: x\n---\nexecution:\n  batch_size: 3\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "c.yaml:3: a second YAML document") {
		t.Fatalf("two documents: %v, want the second refused at line 3", err)
	}
	for _, one := range []string{"---\ndb: x\n", "db: x\n---\n", "---\ndb: x\n...\n"} {
		if s, err := Parse("c.yaml", []byte(one), nil); err != nil || s.DB != "x" {
			t.Errorf("%q: %+v, %v; want db x", one, s, err)
		}
	}
}

// An empty worker_id or execution.queues (TASKER_WORKER_ID= from an unset
// variable, queues: []) is refused naming where it was set, as an empty db
// is: the worker took the default (host-pid, the default queue) without a
// word, claiming from a queue it was not meant for.
func TestEmptyWorkerIDAndQueuesRefused(t *testing.T) {
	for _, c := range []struct {
		data string
		env  []string
		want string
	}{
		{"worker_id: \"\"\n", nil, `c.yaml:1: worker_id: is empty`},
		{"", []string{"TASKER_WORKER_ID= "}, `TASKER_WORKER_ID: worker_id: is empty`},
		{"execution:\n  queues: []\n", nil, `c.yaml:2: execution.queues: lists no queue`},
		{"", []string{"TASKER_EXECUTION_QUEUES= , "}, `TASKER_EXECUTION_QUEUES: execution.queues: lists no queue`},
		// A blank item among names, refused as the file's is (it was
		// dropped without a word).
		{"", []string{"TASKER_EXECUTION_QUEUES=a,,b"}, `TASKER_EXECUTION_QUEUES: execution.queues: item 2 of "a,,b" is blank`},
		{"", []string{"TASKER_EXECUTION_QUEUES=mail, "}, `TASKER_EXECUTION_QUEUES: execution.queues: item 2 of "mail, " is blank`},
	} {
		if _, err := Parse("c.yaml", []byte(c.data), c.env); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q, %q): %v, want an error saying %q", c.data, c.env, err, c.want)
		}
	}
	// Null, they are refused as well (worker_id: $ID from an unset
	// variable); left out, they keep their defaults.
	_, err := Parse("c.yaml", []byte("worker_id:\nexecution:\n  queues:\n"), nil)
	for _, want := range []string{`c.yaml:1: worker_id: has no value: give one, or leave worker_id out`, `c.yaml:3: execution.queues: has no value`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("null worker_id and queues: %v, want an error saying %q", err, want)
		}
	}
}

// A section with no keys (retry:, retry: {}, as retry: $RETRY reads with
// RETRY unset) is refused naming it and its line, as a key with no value
// is: it set nothing, without a word.
func TestEmptySectionRefused(t *testing.T) {
	for _, c := range []struct{ data, want string }{
		{"retry:\n", `c.yaml:1: retry: is empty: give base or max, or leave retry out`},
		{"db: x\nretry: {}\n", `c.yaml:2: retry: is empty`},
		{"execution:\n", `c.yaml:1: execution: is empty: give min_concurrency, max_concurrency, batch_size, `},
		{"predictive_retry: ~\n", `c.yaml:1: predictive_retry: is empty`},
		{"cache: {}\n", `c.yaml:1: cache: is empty: give distributed, or leave cache out`},
	} {
		if _, err := Parse("c.yaml", []byte(c.data), nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q): %v, want an error saying %q", c.data, err, c.want)
		}
	}
	// With a key, a section is read.
	if s, err := Parse("c.yaml", []byte("retry:\n  base: 2s\n"), nil); err != nil || s.Config.Retry.Base != 2*time.Second {
		t.Fatalf("retry with base: %+v, %v", s, err)
	}
}

// An empty cache.distributed (TASKER_CACHE_DISTRIBUTED= from an unset
// variable, distributed: "") is refused naming where it was set, as an
// empty db or worker_id is: the workers cached locally only, each its own,
// without a word, where the shared Redis was meant.
func TestEmptyDistributedCacheRefused(t *testing.T) {
	for _, c := range []struct {
		data string
		env  []string
		want string
	}{
		{"cache:\n  distributed: \"\"\n", nil, `c.yaml:2: cache.distributed: is empty: give a redis:// URL, or leave cache.distributed out`},
		{"", []string{"TASKER_CACHE_DISTRIBUTED= "}, `TASKER_CACHE_DISTRIBUTED: cache.distributed: is empty`},
	} {
		if _, err := Parse("c.yaml", []byte(c.data), c.env); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q, %q): %v, want an error saying %q", c.data, c.env, err, c.want)
		}
	}
}

// A worker_id, execution.queues, cache.distributed or number the engine
// refuses is refused naming the variable (or the file's line) and the key: the
// engine's error was reported as the file's ("c.yaml: config: cache:
// distributed: …"), when the variable had set it, or as the
// "configuration's" without a file.
func TestEngineRefusalsNameWhereTheValueWasSet(t *testing.T) {
	for _, c := range []struct {
		data string
		env  []string
		want string
	}{
		{"db: x\n", []string{"TASKER_CACHE_DISTRIBUTED=http://cache:6379"}, `TASKER_CACHE_DISTRIBUTED: cache.distributed: config: cache: distributed: "http://cache:6379": scheme must be redis:// or rediss://`},
		{"cache: {distributed: \"http://cache:6379\"}\n", nil, `c.yaml:1: cache.distributed: config: cache: distributed: "http://cache:6379": scheme must be`},
		{"", []string{"TASKER_WORKER_ID=a\x00b"}, `TASKER_WORKER_ID: worker_id: config: worker ID "a\x00b" contains a NUL byte`},
		{"db: x\n", []string{"TASKER_EXECUTION_QUEUES=mail,mail"}, `TASKER_EXECUTION_QUEUES: execution.queues: config: execution queues[1] "mail" is listed twice`},
		// A number above the engine's bound was reported as the file's,
		// without its line or key, and so when a variable had set it.
		{"db: x\n", []string{"TASKER_EXECUTION_MAX_CONCURRENCY=99999999999"}, `TASKER_EXECUTION_MAX_CONCURRENCY: execution.max_concurrency: config: execution max concurrency 99999999999 is above 1048576`},
		{"db: x\nexecution:\n  min_concurrency: 2000000\n", nil, `c.yaml:3: execution.min_concurrency: config: execution min concurrency 2000000 is above 1048576`},
		{"db: x\nexecution:\n  batch_size: 3000000000\n", nil, `c.yaml:3: execution.batch_size: config: execution batch size 3000000000 is above 2147483647`},
	} {
		if _, err := Parse("c.yaml", []byte(c.data), c.env); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q, %q): %v, want an error saying %q", c.data, c.env, err, c.want)
		}
	}
}

// A list's items are trimmed in the file as in its variable (the doc of
// spaced says so): queues: [" mail"] had the worker claim from a queue
// " mail", which no task of queue mail is in, while
// TASKER_EXECUTION_QUEUES=" mail" claimed from mail. A blank item is
// refused as an empty one is.
func TestListItemsTrimmedInTheFileAsInTheEnv(t *testing.T) {
	s, err := Parse("c.yaml", []byte("execution:\n  queues: [\" mail\", \"default \"]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Config.Execution.Queues, ","); got != "mail,default" {
		t.Fatalf("queues %q, want [mail default]", s.Config.Execution.Queues)
	}
	if _, err := Parse("c.yaml", []byte("execution:\n  queues: [mail, \" \"]\n"), nil); err == nil || !strings.Contains(err.Error(), `c.yaml:2: execution.queues: lists names, got " "`) {
		t.Fatalf("a blank queue: %v", err)
	}
}

// A name that YAML reads as a number keeps its text as written:
// worker_id: 007 named the worker "7" (the number's text), and db: 0x1F
// opened the file "31".
func TestNamesKeepTheirText(t *testing.T) {
	s, err := Parse("c.yaml", []byte("worker_id: 007\ndb: 0x1F\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Config.WorkerID != "007" || s.DB != "0x1F" {
		t.Fatalf("worker_id %q, db %q; want \"007\" and \"0x1F\" as written", s.Config.WorkerID, s.DB)
	}
}

// A number, duration or preset with spaces around it
// (TASKER_EXECUTION_MAX_CONCURRENCY=" 4", a quoted " 30s" in the file) was
// refused as `" 4" is not a whole number ≥ 0`, leaving the reader to spot
// the spaces; it is now refused saying so. Values are kept as written, as
// strings are (db), so it is not trimmed silently.
func TestSpacesAroundAValueAreNamed(t *testing.T) {
	_, err := Parse("c.yaml", []byte("preset: \"test \"\nexecution:\n  lease_ttl: \" 30s\"\n  retention: \"forever \"\n"),
		[]string{"TASKER_EXECUTION_MAX_CONCURRENCY= 4", "TASKER_RETRY_BASE=2s\t"})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`c.yaml:1: preset: "test " has spaces around it: write "test"`,
		`c.yaml:3: execution.lease_ttl: " 30s" has spaces around it: write "30s"`,
		`c.yaml:4: execution.retention: "forever " has spaces around it: write "forever"`,
		`TASKER_EXECUTION_MAX_CONCURRENCY: execution.max_concurrency: " 4" has spaces around it: write "4"`,
		`TASKER_RETRY_BASE: retry.base: "2s\t" has spaces around it: write "2s"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// A worker_id so padded named the process " w1" in leases and the
	// worker registry, another name than meant (as a padded --db, event
	// name or key is refused for); a padded cache.distributed was refused
	// as a URL whose "first path segment … cannot contain colon".
	_, err = Parse("c.yaml", []byte("worker_id: \"w1\\n\"\n"), []string{"TASKER_CACHE_DISTRIBUTED= redis://cache:6379/0"})
	if err == nil {
		t.Fatal("padded worker_id and cache.distributed accepted")
	}
	for _, want := range []string{
		`c.yaml:1: worker_id: "w1\n" has spaces around it: write "w1"`,
		`TASKER_CACHE_DISTRIBUTED: cache.distributed: " redis://cache:6379/0" has spaces around it: write "redis://cache:6379/0"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// A blank number still reads as not a number.
	if _, err := Parse("", nil, []string{"TASKER_EXECUTION_BATCH_SIZE= "}); err == nil || !strings.Contains(err.Error(), `" " is not a whole number`) {
		t.Fatalf("blank batch size: %v", err)
	}
}

// execution.retention reads as a YAML template's retention does
// (engine.ParseRetention): "30d" was refused here while a template took it.
func TestRetentionTakesDaysAsTemplatesDo(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "72h": 72 * time.Hour, "forever": engine.KeepForever} {
		s, err := Parse("", nil, []string{"TASKER_EXECUTION_RETENTION=" + in})
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := s.Config.Execution.Retention; got != want {
			t.Errorf("%s: retention %s, want %s", in, got, want)
		}
	}
	for _, in := range []string{"-1ns", "0d", "500us"} {
		if _, err := Parse("", nil, []string{"TASKER_EXECUTION_RETENTION=" + in}); err == nil || !strings.Contains(err.Error(), "execution.retention") {
			t.Errorf("%s: %v, want a refusal naming execution.retention", in, err)
		}
	}
}

// An error about two keys names where each value came from: min above max
// concurrency was reported as the file's ("c.yaml: config: …") when a
// variable had set one of them, or neither (the preset's value).
func TestCrossKeyErrorsNameEachSource(t *testing.T) {
	for _, c := range []struct {
		data string
		env  []string
		want string
	}{
		{"execution:\n  max_concurrency: 2\n", []string{"TASKER_EXECUTION_MIN_CONCURRENCY=9"},
			"execution.min_concurrency (TASKER_EXECUTION_MIN_CONCURRENCY) with execution.max_concurrency (c.yaml:2): config: execution min concurrency 9 exceeds max 2"},
		{"execution:\n  min_concurrency: 9\n  max_concurrency: 2\n", nil,
			"execution.min_concurrency (c.yaml:2) with execution.max_concurrency (c.yaml:3): config: execution min concurrency 9 exceeds max 2"},
		{"preset: development\n", []string{"TASKER_EXECUTION_MIN_CONCURRENCY=64"},
			"execution.min_concurrency (TASKER_EXECUTION_MIN_CONCURRENCY) with execution.max_concurrency (the preset's, c.yaml:1): config: execution min concurrency 64 exceeds max"},
		{"retry: {max: 1s}\n", []string{"TASKER_RETRY_BASE=1m"},
			"retry.base (TASKER_RETRY_BASE) with retry.max (c.yaml:1): config: retry max 1s is below base 1m0s"},
		{"", []string{"TASKER_PREDICTIVE_RETRY_MIN=1h"},
			"predictive_retry.min (TASKER_PREDICTIVE_RETRY_MIN) with predictive_retry.max (the default): config: predictive retry: min 1h0m0s exceeds the default max 5m0s: set max too"},
		// Two at once: the engine's errors came as one, reported with
		// the sources of the first, the retry's as the concurrency keys'.
		{"execution: {min_concurrency: 9, max_concurrency: 2}\nretry: {base: 1m, max: 1s}\n", nil,
			"retry.base (c.yaml:2) with retry.max (c.yaml:2): config: retry max 1s is below base 1m0s"},
	} {
		_, err := Parse("c.yaml", []byte(c.data), c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q, %q): %v, want an error saying %q", c.data, c.env, err, c.want)
		}
	}
}

// A key the command's flag overrides is left out of the checks of two keys
// together: TASKER_EXECUTION_MIN_CONCURRENCY=40 with `worker --concurrency
// 64` was refused as "min 40 exceeds max 32", the default the flag
// replaces. Without the override, it still is.
func TestOverriddenKeysLeftOutOfCrossKeyChecks(t *testing.T) {
	env := []string{"TASKER_EXECUTION_MIN_CONCURRENCY=40"}
	if _, err := Parse("", nil, env, "execution.max_concurrency"); err != nil {
		t.Fatalf("with max_concurrency overridden: %v", err)
	}
	if _, err := Parse("", nil, env); err == nil || !strings.Contains(err.Error(), "min concurrency 40 exceeds max 32") {
		t.Fatalf("without the override: %v, want min above max refused", err)
	}
	if _, err := Parse("", nil, []string{"TASKER_RETRY_BASE=1m", "TASKER_RETRY_MAX=1s"}, "execution.max_concurrency"); err == nil {
		t.Fatal("an override of another key let retry max below base through")
	}
}

// A whole number in the file is read from its text, as its variable's is:
// YAML took 0x10, 0b11, 1_000 and 4.0 as numbers a variable of the same
// text is refused for.
func TestNumbersReadAsTheirVariablesAre(t *testing.T) {
	for _, v := range []string{"0x10", "0b11", "1_000", "4.0"} {
		_, err := Parse("c.yaml", []byte("execution:\n  batch_size: "+v+"\n"), nil)
		if want := `c.yaml:2: execution.batch_size: "` + v + `" is not a whole number ≥ 0`; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("batch_size: %s: %v, want an error saying %q", v, err, want)
		}
		if _, err := Parse("", nil, []string{"TASKER_EXECUTION_BATCH_SIZE=" + v}); err == nil {
			t.Errorf("TASKER_EXECUTION_BATCH_SIZE=%s accepted", v)
		}
	}
}

// A whole number is written as one, digits without a sign or a leading
// zero, in the file and in a variable alike: max_concurrency: 010 was read
// as 10 here where a YAML 1.1 reader takes it as octal 8, and +4 as 4.
func TestNonCanonicalNumbersRefused(t *testing.T) {
	for _, c := range []struct{ v, want string }{
		{"010", `"010" has a leading zero: write 10`},
		{"00", `"00" has a leading zero: write 0`},
		{"+4", `"+4" has a sign: write 4`},
		{"-0", `"-0" has a sign: write 0`},
		{"+010", `"+010" has a sign: write 10`},
	} {
		_, err := Parse("c.yaml", []byte("execution:\n  max_concurrency: "+c.v+"\n"), nil)
		if want := "c.yaml:2: execution.max_concurrency: " + c.want; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("max_concurrency: %s: %v, want an error saying %q", c.v, err, want)
		}
		_, err = Parse("", nil, []string{"TASKER_EXECUTION_BATCH_SIZE=" + c.v})
		if want := "TASKER_EXECUTION_BATCH_SIZE: execution.batch_size: " + c.want; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("TASKER_EXECUTION_BATCH_SIZE=%s: %v, want an error saying %q", c.v, err, want)
		}
	}
	// 0 and numbers written plainly are read.
	s, err := Parse("c.yaml", []byte("execution:\n  min_concurrency: 0\n  max_concurrency: 10\n"), []string{"TASKER_EXECUTION_BATCH_SIZE=100"})
	if err != nil || s.Config.Execution.MinConcurrency != 0 || s.Config.Execution.MaxConcurrency != 10 || s.Config.Execution.BatchSize != 100 {
		t.Fatalf("plain numbers: %+v, %v", s, err)
	}
	// A negative number is still out of range, as it was.
	if _, err := Parse("", nil, []string{"TASKER_EXECUTION_BATCH_SIZE=-4"}); err == nil || !strings.Contains(err.Error(), `"-4" is not a whole number ≥ 0`) {
		t.Fatalf("batch size -4: %v", err)
	}
}

// A number written behind an anchor, an alias or a tag is its value: the
// text recorded for it was the anchor's "&", the alias's "*" or the tag,
// refused as `"&" is not a whole number ≥ 0`.
func TestAnchoredNumbersRead(t *testing.T) {
	s, err := Parse("c.yaml", []byte("execution:\n  min_concurrency: &n 4\n  max_concurrency: *n\n  batch_size: !!int 50\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := s.Config.Execution; e.MinConcurrency != 4 || e.MaxConcurrency != 4 || e.BatchSize != 50 {
		t.Fatalf("read min %d, max %d, batch %d; want 4, 4 and 50", e.MinConcurrency, e.MaxConcurrency, e.BatchSize)
	}
	if s, err := Parse("c.yaml", []byte("worker_id: &w 007\nexecution:\n  queues: [x]\n"), nil); err != nil || s.Config.WorkerID != "007" {
		t.Fatalf("worker_id: &w 007 read as %q (%v), want 007", s.Config.WorkerID, err)
	}
}

// A key set through a YAML merge (<<: {…}) is reported at the merge's line:
// it was "c.yaml:0", no line at all. A key written beside the merge keeps
// its own line, and its value wins, as YAML says.
func TestMergedKeysNameTheirLine(t *testing.T) {
	_, err := Parse("c.yaml", []byte("db: x\n<<: {worker_id: \"\"}\nexecution:\n  <<: {max_concurrency: -1}\n"), nil)
	for _, want := range []string{"c.yaml:2: worker_id: is empty", `c.yaml:4: execution.max_concurrency: "-1" is not`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse: %v, want an error saying %q", err, want)
		}
	}
	_, err = Parse("c.yaml", []byte("execution:\n  <<: {batch_size: 5}\n  batch_size: -2\n"), nil)
	if want := `c.yaml:3: execution.batch_size: "-2" is not`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Parse: %v, want an error saying %q", err, want)
	}
}

// A duration with a sign is refused naming the key and the value, as a
// whole number with one is: time.ParseDuration took +30s as 30s, and -0s
// as 0. A negative duration keeps its error (not a duration ≥ 0).
func TestSignedDurationsRefused(t *testing.T) {
	for _, c := range []struct{ v, want string }{
		{"+30s", `"+30s" has a sign: write "30s"`},
		{"-0s", `"-0s" has a sign: write "0s"`},
		{"+1m30s", `"+1m30s" has a sign: write "1m30s"`},
	} {
		_, err := Parse("c.yaml", []byte("execution:\n  lease_ttl: "+c.v+"\n"), nil)
		if want := "c.yaml:2: execution.lease_ttl: " + c.want; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("lease_ttl: %s: %v, want an error saying %q", c.v, err, want)
		}
		_, err = Parse("", nil, []string{"TASKER_RETRY_BASE=" + c.v})
		if want := "TASKER_RETRY_BASE: retry.base: " + c.want; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("TASKER_RETRY_BASE=%s: %v, want an error saying %q", c.v, err, want)
		}
	}
	// A retention is a duration too (or days, or "forever").
	for _, v := range []string{"+168h", "+7d"} {
		_, err := Parse("", nil, []string{"TASKER_EXECUTION_RETENTION=" + v})
		if want := fmt.Sprintf("TASKER_EXECUTION_RETENTION: execution.retention: %q has a sign: write %q", v, v[1:]); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("TASKER_EXECUTION_RETENTION=%s: %v, want an error saying %q", v, err, want)
		}
	}
	// A negative duration is still out of range, as it was.
	if _, err := Parse("", nil, []string{"TASKER_RETRY_BASE=-1s"}); err == nil || !strings.Contains(err.Error(), `"-1s" is not a duration ≥ 0`) {
		t.Fatalf("retry base -1s: %v", err)
	}
	if s, err := Parse("", nil, []string{"TASKER_RETRY_BASE=2s", "TASKER_EXECUTION_RETENTION=7d"}); err != nil || s.Config.Retry.Base != 2*time.Second || s.Config.Execution.Retention != 7*24*time.Hour {
		t.Fatalf("plain durations: %+v, %v", s, err)
	}
}
