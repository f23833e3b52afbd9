// Package cliconfig reads the tasker CLI's configuration: a YAML file
// (--config) and TASKER_* environment variables over an engine preset.
//
//	preset: production          # development, test or production (engine.Preset)
//	db: postgres://localhost/tasker
//	worker_id: api-1
//	execution:
//	  min_concurrency: 1
//	  max_concurrency: 32
//	  tune_interval: 1s
//	  batch_size: 100
//	  lease_ttl: 30s
//	  poll_interval: 1s
//	  rescue_interval: 5s
//	  schedule_interval: 1s
//	  retention: 168h           # or 7d, or "forever"
//	  default_timeout: 15m
//	  queues: [default, mail]
//	retry: {base: 1s, max: 5m}
//	predictive_retry: {min: 1s, max: 5m}
//	cache: {distributed: "redis://127.0.0.1:6379/0"}
//
// Every key has a variable: TASKER_ and its path in capitals with "_" for
// "." (TASKER_EXECUTION_MAX_CONCURRENCY=64, TASKER_EXECUTION_QUEUES=a,b);
// a variable wins over the file. Decoding is strict: an unknown key (in
// the file, or a TASKER_ variable under a known section such as
// TASKER_EXECUTION_, or one a typing slip away from a key's: CheckEnv), a
// value of the wrong kind (a number, duration or preset with spaces around
// it says so, as a number or duration with a sign and a number with a
// leading zero do), an empty db, worker_id, execution.queues or
// cache.distributed, a key or a section (retry:, retry: {}) with nothing in
// it, a preset that does not exist and a second YAML document in the file
// (after ---) are errors, all reported at once, each naming the key and the
// file's line (or the variable).
package cliconfig

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/tasker-go/tasker/cachex"
	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/internal/editdist"
)

// Settings are the configuration read.
type Settings struct {
	// DB is the database (the --db flag's value when the flag is not
	// given); empty when neither the file nor the environment set it. A
	// relative SQLite path is kept as written: relative to the working
	// directory, as --db's is, not to the file's.
	DB string
	// DBFrom says where DB was set, for errors about its value:
	// "FILE:LINE: db" or "TASKER_DB".
	DBFrom string
	// Preset names the preset, when the file or the environment set one.
	Preset string
	// Config is the preset (none: the engine's defaults) with the file's
	// and the environment's values over it; Store is unset.
	Config engine.Config
	// Set lists the paths of the keys the file or the environment set
	// (preset, execution.max_concurrency, …), in the order of the keys.
	Set []string
	// From says where each key of Set was set, for a command's errors
	// about a value its flags contradict: "FILE:LINE" or "TASKER_X".
	From map[string]string
}

// SectionsSet lists those of sections (execution, retry, …) under which
// the file or the environment set a key, in the order given.
func (s *Settings) SectionsSet(sections ...string) []string {
	var out []string
	for _, sec := range sections {
		if slices.ContainsFunc(s.Set, func(p string) bool { return strings.HasPrefix(p, sec+".") }) {
			out = append(out, sec)
		}
	}
	return out
}

type kind int

const (
	kString kind = iota
	kInt
	kDuration
	kRetention // a duration or "forever"
	kList
)

// value is one key's value, with where it came from.
type value struct {
	s     string
	list  []string
	where string // "file.yaml:7" or "TASKER_X"
}

type key struct {
	path string
	kind kind
	set  func(s *Settings, v value) error
}

// spaced refuses a number, duration, preset, worker_id or cache URL with
// spaces around it, saying so: its value is kept as written, as every
// string's is (only a list's items are trimmed), and `" 4" is not a whole
// number` left the reader to spot the spaces
// (TASKER_EXECUTION_MAX_CONCURRENCY=" 4").
func spaced(v value) error {
	if t := strings.TrimSpace(v.s); t != v.s && t != "" {
		return fmt.Errorf("%q has spaces around it: write %q", v.s, t)
	}
	return nil
}

// signed refuses a duration written with a sign, as intField refuses a
// number with one: time.ParseDuration read +30s as 30s and -0s as 0, text
// other than the value stored. d is the value read; a negative one keeps
// its own error.
func signed(v value, d time.Duration) error {
	if v.s != "" && (v.s[0] == '+' || v.s[0] == '-' && d >= 0) {
		return fmt.Errorf("%q has a sign: write %q", v.s, v.s[1:])
	}
	return nil
}

func intField(p func(*engine.Config) *int) func(*Settings, value) error {
	return func(s *Settings, v value) error {
		if err := spaced(v); err != nil {
			return err
		}
		n, err := strconv.Atoi(v.s)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a whole number ≥ 0", v.s)
		}
		// Digits only, as written in the variable and the file alike:
		// 010 is 8 to a YAML 1.1 reader and was 10 here, and +4 or -0
		// reads as another text than the number stored.
		if v.s[0] == '+' || v.s[0] == '-' {
			return fmt.Errorf("%q has a sign: write %d", v.s, n)
		}
		if len(v.s) > 1 && v.s[0] == '0' {
			return fmt.Errorf("%q has a leading zero: write %d", v.s, n)
		}
		*p(&s.Config) = n
		return nil
	}
}

func durField(p func(*engine.Config) *time.Duration) func(*Settings, value) error {
	return func(s *Settings, v value) error {
		if err := spaced(v); err != nil {
			return err
		}
		d, err := time.ParseDuration(v.s)
		if err != nil || d < 0 {
			return fmt.Errorf("%q is not a duration ≥ 0 (say 30s, 5m, 168h)", v.s)
		}
		if err := signed(v, d); err != nil {
			return err
		}
		*p(&s.Config) = d
		return nil
	}
}

// msField is durField for a duration the engine takes as 0 (its default)
// or at least a millisecond, refused here naming the key and its line.
func msField(p func(*engine.Config) *time.Duration) func(*Settings, value) error {
	set := durField(p)
	return func(s *Settings, v value) error {
		if err := set(s, v); err != nil {
			return err
		}
		if d := *p(&s.Config); d > 0 && d < time.Millisecond {
			return fmt.Errorf("%q is under a millisecond: give 0 (the default) or at least 1ms", v.s)
		}
		return nil
	}
}

// keys lists every key; preset first, since it is the base the others
// change.
var keys = []key{
	{"preset", kString, func(s *Settings, v value) error {
		if err := spaced(v); err != nil {
			return err
		}
		c, err := engine.Preset(v.s)
		if err != nil {
			return fmt.Errorf("%q is not a preset (one of %s, %s, %s)", v.s, engine.PresetDevelopment, engine.PresetTest, engine.PresetProduction)
		}
		s.Config, s.Preset = c, v.s
		return nil
	}},
	{"db", kString, func(s *Settings, v value) error {
		// An empty db would leave --db at its default, the demo's file: a
		// worker meant for a database would create one of its own.
		if strings.TrimSpace(v.s) == "" {
			return errors.New("is empty: give an SQLite file path or a postgres:// URL, or leave db out")
		}
		s.DB, s.DBFrom = v.s, v.where
		if !strings.HasPrefix(v.where, "TASKER_") {
			s.DBFrom += ": db"
		}
		return nil
	}},
	{"worker_id", kString, func(s *Settings, v value) error {
		// Empty, the engine names the process host-pid: a variable left
		// unset would drop the name meant for it without a word.
		if strings.TrimSpace(v.s) == "" {
			return errors.New("is empty: give this process's name, or leave worker_id out (host-pid)")
		}
		// " w1" would name the process in leases and the registry by
		// another name than meant, as a padded --db opened another file.
		if err := spaced(v); err != nil {
			return err
		}
		s.Config.WorkerID = v.s
		// What the engine refuses in it is reported here, naming where
		// it was set: Validate of the whole configuration cannot.
		return Validate(engine.Config{WorkerID: v.s})
	}},
	{"execution.min_concurrency", kInt, intField(func(c *engine.Config) *int { return &c.Execution.MinConcurrency })},
	{"execution.max_concurrency", kInt, intField(func(c *engine.Config) *int { return &c.Execution.MaxConcurrency })},
	{"execution.batch_size", kInt, intField(func(c *engine.Config) *int { return &c.Execution.BatchSize })},
	{"execution.tune_interval", kDuration, msField(func(c *engine.Config) *time.Duration { return &c.Execution.TuneInterval })},
	{"execution.lease_ttl", kDuration, msField(func(c *engine.Config) *time.Duration { return &c.Execution.LeaseTTL })},
	{"execution.poll_interval", kDuration, msField(func(c *engine.Config) *time.Duration { return &c.Execution.PollInterval })},
	{"execution.rescue_interval", kDuration, msField(func(c *engine.Config) *time.Duration { return &c.Execution.RescueInterval })},
	{"execution.schedule_interval", kDuration, msField(func(c *engine.Config) *time.Duration { return &c.Execution.ScheduleInterval })},
	{"execution.default_timeout", kDuration, msField(func(c *engine.Config) *time.Duration { return &c.Execution.DefaultTimeout })},
	{"execution.retention", kRetention, func(s *Settings, v value) error {
		if err := spaced(v); err != nil {
			return err
		}
		// A sign is refused in the words of every duration key (ParseRetention
		// refuses it in its own).
		if strings.HasPrefix(v.s, "+") {
			return signed(v, 0)
		}
		// Read as a YAML template's retention is: the same words mean
		// the same in both files.
		d, err := engine.ParseRetention(v.s)
		if err != nil {
			return fmt.Errorf("%q is neither a duration of at least 1ms (say 168h), whole days (30d) nor \"forever\"", v.s)
		}
		s.Config.Execution.Retention = d
		return nil
	}},
	{"execution.queues", kList, func(s *Settings, v value) error {
		// Empty, the engine claims from the default queue: not the ones
		// meant, and not none.
		if len(v.list) == 0 {
			return errors.New("lists no queue: name at least one, or leave execution.queues out (the default queue)")
		}
		s.Config.Execution.Queues = v.list
		return Validate(engine.Config{Execution: engine.ExecutionConfig{Queues: v.list}}) // as worker_id's
	}},
	{"retry.base", kDuration, msField(func(c *engine.Config) *time.Duration { return &c.Retry.Base })},
	{"retry.max", kDuration, msField(func(c *engine.Config) *time.Duration { return &c.Retry.Max })},
	{"predictive_retry.min", kDuration, msField(func(c *engine.Config) *time.Duration { return &c.PredictiveRetry.Min })},
	{"predictive_retry.max", kDuration, msField(func(c *engine.Config) *time.Duration { return &c.PredictiveRetry.Max })},
	{"cache.distributed", kString, func(s *Settings, v value) error {
		// Empty, every worker caches for itself alone: a variable left
		// unset would drop the shared Redis without a word.
		if strings.TrimSpace(v.s) == "" {
			return errors.New("is empty: give a redis:// URL, or leave cache.distributed out (each process caches alone)")
		}
		if err := spaced(v); err != nil {
			return err
		}
		s.Config.Cache.Distributed = v.s
		return Validate(engine.Config{Cache: cachex.Config{Distributed: v.s}}) // as worker_id's
	}},
}

// sections are the keys that hold mappings.
var sections = []string{"execution", "retry", "predictive_retry", "cache"}

// EnvName is the variable of a key's path.
func EnvName(path string) string {
	return "TASKER_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// Load reads the file at path (none when empty) and env ("KEY=VALUE", as
// os.Environ returns it). The keys overridden names (paths, such as
// execution.max_concurrency) are those the command's flags replace: the
// checks of two keys together leave them out, the command making its own
// with the flag's value.
func Load(path string, env []string, overridden ...string) (*Settings, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("reading the configuration: %w", err)
		}
	}
	return Parse(path, data, env, overridden...)
}

// LoadWithoutDB is Load for a command that opens no database (lint): the
// file's db and TASKER_DB are not read, whatever their value. They name
// the worker's database, the file being the worker's: db: "" (db: $DB with
// DB unset in a CI job) failed the command with a database error.
func LoadWithoutDB(path string, env []string) (*Settings, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("reading the configuration: %w", err)
		}
	}
	return parse(path, data, env, true, nil)
}

// Parse is Load of data, named file in errors.
func Parse(file string, data []byte, env []string, overridden ...string) (*Settings, error) {
	return parse(file, data, env, false, overridden)
}

// parse is Parse, without the db key when noDB (LoadWithoutDB).
func parse(file string, data []byte, env []string, noDB bool, overridden []string) (*Settings, error) {
	var problems []error
	vals := map[string]value{}
	if len(data) > 0 {
		problems = append(problems, parseFile(file, data, vals, noDB)...)
	}
	if noDB {
		env = slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, EnvName("db")+"=") })
	}
	problems = append(problems, parseEnv(env, vals)...)
	s := &Settings{From: map[string]string{}}
	for _, k := range keys {
		v, ok := vals[k.path]
		if !ok {
			continue
		}
		if err := k.set(s, v); err != nil {
			problems = append(problems, fmt.Errorf("%s: %s: %w", v.where, k.path, err))
		} else if err := refusedAlone(k, v); err != nil {
			problems = append(problems, fmt.Errorf("%s: %s: %w", v.where, k.path, err))
		}
		s.Set = append(s.Set, k.path)
		s.From[k.path] = v.where
	}
	if len(problems) == 0 {
		if err := Validate(s.Config); err != nil {
			for _, e := range unjoin(err) {
				if paths, ok := crossKeyPaths(e); ok && (slices.Contains(overridden, paths[0]) || slices.Contains(overridden, paths[1])) {
					continue
				}
				problems = append(problems, crossKeyError(file, e, vals))
			}
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return s, nil
}

// Validate is c.Validate without the check of Store, which a command sets
// only once it has opened the database: a command whose flags change the
// configuration read checks the result with it before it opens (and
// perhaps creates) anything.
func Validate(c engine.Config) error {
	var problems []error
	for _, e := range unjoin(c.Validate()) {
		if e != nil && e.Error() != "config: Store is required" {
			problems = append(problems, e)
		}
	}
	return errors.Join(problems...)
}

// refusedAlone is what the engine refuses in k's value v on its own (a
// number above its bound), for Parse to report naming where it was set:
// Validate of the whole configuration named the file, without the key or
// its line, even when a variable had set it. The checks of two keys
// together are left to Parse, which names both sources.
func refusedAlone(k key, v value) error {
	if k.path == "preset" {
		return nil
	}
	t := &Settings{From: map[string]string{}}
	if err := k.set(t, v); err != nil {
		return nil // reported already
	}
	var problems []error
	err := Validate(t.Config)
	if err == nil {
		return nil
	}
	for _, e := range unjoin(err) {
		if _, cross := crossKeyPaths(e); !cross {
			problems = append(problems, e)
		}
	}
	return errors.Join(problems...)
}

func orStdin(file string) string {
	if file == "" {
		return "configuration"
	}
	return file
}

// unjoin flattens err, joined errors of joined errors as engine.Config's
// Validate returns them, into its single errors: taken one level down,
// the engine's settings were one error, reported with the sources of the
// first check of two keys among them, whatever the others were about.
func unjoin(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, unjoin(e)...)
	}
	return out
}

func known(path string) (key, bool) {
	for _, k := range keys {
		if k.path == path {
			return k, true
		}
	}
	return key{}, false
}

// parseFile decodes the YAML strictly into vals; without the db key,
// whatever its value, when noDB.
func parseFile(file string, data []byte, vals map[string]value, noDB bool) []error {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return []error{fmt.Errorf("%s: %s", orStdin(file), yaml.FormatError(err, false, false))}
	}
	// The configuration is one document: Unmarshal reads the first, so
	// the keys of any other would be dropped unread.
	var bodies []ast.Node
	for _, doc := range f.Docs {
		if doc.Body != nil {
			bodies = append(bodies, doc.Body)
		}
	}
	if len(bodies) > 1 {
		line := 0
		if tk := bodies[1].GetToken(); tk != nil && tk.Position != nil {
			line = tk.Position.Line
		}
		return []error{fmt.Errorf("%s:%d: a second YAML document (after ---): the configuration is one document; merge it into the first", orStdin(file), line)}
	}
	lines := map[string]int{}
	texts := map[string]string{}
	for _, b := range bodies {
		ast.Walk(lineVisitor(lines), b)
		ast.Walk(scalarTexts(texts), b)
	}
	foldMerged(lines)
	foldMerged(texts)
	at := func(path string) string { return fmt.Sprintf("%s:%d", orStdin(file), lines[path]) }
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return []error{fmt.Errorf("%s: %s", orStdin(file), yaml.FormatError(err, false, false))}
	}
	if raw == nil {
		return nil
	}
	doc, ok := raw.(map[string]any)
	if !ok {
		return []error{fmt.Errorf("%s: the configuration is a mapping of keys (preset, db, execution, …)", orStdin(file))}
	}
	var problems []error
	var walk func(m map[string]any, prefix string)
	walk = func(m map[string]any, prefix string) {
		for _, name := range sortedKeys(m) {
			path := prefix + name
			v := m[name]
			if noDB && path == "db" {
				continue
			}
			if prefix == "" && slices.Contains(sections, name) {
				sub, ok := v.(map[string]any)
				if !ok && v != nil {
					problems = append(problems, fmt.Errorf("%s: %s: is a mapping of keys", at(path), path))
					continue
				}
				if len(sub) == 0 {
					// retry: or retry: {} (retry: $RETRY with RETRY
					// unset) set nothing, without a word: refused as a
					// key with no value is, and in the words of a
					// template's empty retry.
					problems = append(problems, fmt.Errorf("%s: %s: is empty: give %s, or leave %s out",
						at(path), path, orList(knownUnder(path+".")), path))
					continue
				}
				walk(sub, path+".")
				continue
			}
			k, ok := known(path)
			if !ok {
				problems = append(problems, fmt.Errorf("%s: %s: unknown key (known here: %s)", at(path), path, strings.Join(knownUnder(prefix), ", ")))
				continue
			}
			if v == nil {
				// "db:" with nothing after it (db: $DB from an unset
				// variable) was taken as left out: the worker then
				// created the demo's file, as db: "" did before it was
				// refused; a section with no keys is refused above.
				problems = append(problems, fmt.Errorf("%s: %s: has no value: give one, or leave %s out", at(path), path, path))
				continue
			}
			val := value{where: at(path)}
			switch x := v.(type) {
			case []any:
				if k.kind != kList {
					problems = append(problems, fmt.Errorf("%s: %s: is a single value, got a list", at(path), path))
					continue
				}
				for _, e := range x {
					// Trimmed as a variable's items are: " mail" is
					// queue mail in both.
					s, ok := e.(string)
					if !ok || strings.TrimSpace(s) == "" {
						got := fmt.Sprint(e)
						if ok {
							got = strconv.Quote(s)
						}
						problems = append(problems, fmt.Errorf("%s: %s: lists names, got %s", at(path), path, got))
						continue
					}
					val.list = append(val.list, strings.TrimSpace(s))
				}
			case map[string]any:
				problems = append(problems, fmt.Errorf("%s: %s: is a single value, got a mapping", at(path), path))
				continue
			default:
				if k.kind == kList {
					problems = append(problems, fmt.Errorf("%s: %s: is a list ([a, b]), got %v", at(path), path, x))
					continue
				}
				val.s = fmt.Sprint(x)
				if _, isString := x.(string); !isString && (k.kind == kString || k.kind == kInt) {
					// A name that reads as a number keeps its text:
					// worker_id: 007 is "007", not the number's "7". A
					// number is read from its text as its variable's
					// is: YAML took 010 as octal 8 (refused, as its
					// variable is), and 0x10, 1_000 and 4.0 as
					// numbers a variable is refused for.
					if t, ok := texts[path]; ok {
						val.s = t
					}
				}
			}
			vals[path] = val
		}
	}
	walk(doc, "")
	return problems
}

// parseEnv reads the TASKER_ variables of the keys, after refusing the
// ones envProblems finds.
func parseEnv(env []string, vals map[string]value) []error {
	problems := envProblems(env)
	byName := envNames()
	for _, kv := range env {
		name, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		k, ok := byName[name]
		if !ok {
			continue
		}
		val := value{s: v, where: name}
		if k.kind == kList && strings.TrimSpace(strings.ReplaceAll(v, ",", "")) != "" {
			// A blank item among names (a,,b; a,) is refused, as the
			// file's [a, "", b] is; only blanks is a list of none.
			items := strings.Split(v, ",")
			if i := slices.IndexFunc(items, func(e string) bool { return strings.TrimSpace(e) == "" }); i >= 0 {
				problems = append(problems, fmt.Errorf("%s: %s: item %d of %q is blank: give a name there, or drop the comma", name, k.path, i+1, v))
				continue
			}
			for _, e := range items {
				val.list = append(val.list, strings.TrimSpace(e))
			}
		}
		vals[k.path] = val
	}
	return problems
}

func envNames() map[string]key {
	byName := map[string]key{}
	for _, k := range keys {
		byName[EnvName(k.path)] = k
	}
	return byName
}

// CheckEnv refuses, naming them, the TASKER_ variables of env ("KEY=VALUE")
// that look meant for the configuration but name none of its keys: one
// under a known section (TASKER_EXECUTION_…, TASKER_RETRY_…) that is no
// key of it, and one a typing slip away from a key's variable — within
// two edits of it after "TASKER_" (one when that part has four letters or
// fewer, as TASKER_DB's does), a swap of neighbouring letters counting as
// one edit: TASKER_EXECUTON_QUEUES, TASKER_RETRYBASE, TASKER_BD — and
// the names other tools give a database's URL (TASKER_DATABASE_URL,
// TASKER_DSN, …: did you mean TASKER_DB?). Any other TASKER_ variable
// (TASKER_CONFIG, the CLI's; TASKER_TEST_POSTGRES_URL, TASKER_SRC, …) belongs
// to something else and is left alone. The variables come from keys, the
// one list; the CLI calls CheckEnv before any command runs, and Load
// makes the same check.
func CheckEnv(env []string) error {
	return errors.Join(envProblems(env)...)
}

func envProblems(env []string) []error {
	var problems []error
	byName := envNames()
	for _, kv := range env {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "TASKER_") {
			continue
		}
		if _, ok := byName[name]; ok {
			continue
		}
		msg := name + ": unknown variable"
		sec, under := sectionOf(name)
		if under {
			msg += fmt.Sprintf(" (known under %s: %s)", sec, strings.Join(envUnder(sec), ", "))
		}
		near := nearest(name)
		if near != "" {
			msg += "; did you mean " + near + "?"
		}
		if under || near != "" {
			problems = append(problems, errors.New(msg))
		}
	}
	return problems
}

func sectionOf(name string) (string, bool) {
	for _, sec := range sections {
		if strings.HasPrefix(name, EnvName(sec)+"_") {
			return sec, true
		}
	}
	return "", false
}

// meantForDB are the names other tools give a database's URL: no slip
// away from TASKER_DB, but meant for it (set, they were ignored, and a
// worker ran on the demo's file).
var meantForDB = []string{"TASKER_DATABASE_URL", "TASKER_DATABASE", "TASKER_DB_URL", "TASKER_DSN", "TASKER_POSTGRES_URL", "TASKER_URL"}

// nearest is the key variable name is a slip away from (see CheckEnv), or
// meant for (meantForDB), or "" when there is none.
func nearest(name string) string {
	if slices.Contains(meantForDB, name) {
		return EnvName("db")
	}
	got := strings.TrimPrefix(name, "TASKER_")
	best, bestD := "", 3
	for _, k := range keys {
		want := strings.TrimPrefix(EnvName(k.path), "TASKER_")
		limit := 2
		if len(want) <= 4 {
			limit = 1
		}
		if d := editdist.Distance(got, want); d <= limit && d < bestD {
			best, bestD = EnvName(k.path), d
		}
	}
	return best
}

func knownUnder(prefix string) []string {
	var out []string
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k.path, prefix)
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '.'); i >= 0 {
			rest = rest[:i]
		}
		if !slices.Contains(out, rest) {
			out = append(out, rest)
		}
	}
	if prefix == "" {
		for _, s := range sections {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// orList is names as "a", "a or b", "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func envUnder(section string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(k.path, section+".") {
			out = append(out, EnvName(k.path))
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// scalarTexts records the text of every scalar value as written, by its
// path.
type scalarTexts map[string]string

func (v scalarTexts) Visit(n ast.Node) ast.Visitor {
	if m, ok := n.(*ast.MappingValueNode); ok && m.Value != nil {
		// Behind an anchor or a tag, the scalar's own token: theirs are
		// "&" and "!!int", which the value was read as. An alias has no
		// text of its own here: its value is read as decoded.
		val := m.Value
		for {
			if a, ok := val.(*ast.AnchorNode); ok {
				val = a.Value
			} else if t, ok := val.(*ast.TagNode); ok {
				val = t.Value
			} else {
				break
			}
		}
		switch val.(type) {
		case nil, *ast.MappingNode, *ast.SequenceNode, *ast.AliasNode:
		default:
			if tk := val.GetToken(); tk != nil {
				v[strings.TrimPrefix(strings.TrimPrefix(m.GetPath(), "$"), ".")] = tk.Value
			}
		}
	}
	return v
}

// foldMerged gives a key set through a YAML merge (<<: {…}), recorded
// under the merge's path (execution.<<.batch_size), the path it is read
// at, unless the mapping sets that key itself: then its own value wins.
func foldMerged[V any](m map[string]V) {
	paths := make([]string, 0, len(m))
	for path := range m {
		paths = append(paths, path)
	}
	slices.Sort(paths) // the same one of two merges every time
	for _, path := range paths {
		x := m[path]
		parts := strings.Split(path, ".")
		kept := slices.DeleteFunc(slices.Clone(parts), func(p string) bool { return p == "<<" })
		if len(kept) == len(parts) || len(kept) == 0 {
			continue
		}
		if _, ok := m[strings.Join(kept, ".")]; !ok {
			m[strings.Join(kept, ".")] = x
		}
	}
}

// lineVisitor records the line of every node by its path.
type lineVisitor map[string]int

func (v lineVisitor) Visit(n ast.Node) ast.Visitor {
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return v
	}
	path := strings.TrimPrefix(strings.TrimPrefix(n.GetPath(), "$"), ".")
	if _, seen := v[path]; !seen {
		v[path] = tk.Position.Line
	}
	return v
}
