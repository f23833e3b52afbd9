package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineBuffer collects output and reports its first line.
type lineBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	first chan string
	once  sync.Once
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, _ := b.buf.Write(p)
	if line, _, ok := strings.Cut(b.buf.String(), "\n"); ok {
		b.once.Do(func() { b.first <- line })
	}
	return n, nil
}

// TestTokensAndServe: serve refuses an address beyond loopback while no
// token exists; tokens create prints the secret once (ls never does);
// serve on loopback then needs the token, and a revoked one is refused.
func TestTokensAndServe(t *testing.T) {
	db := filepath.Join(t.TempDir(), "serve.db")
	mustExecute(t, "migrate", "--db", db)
	// With none, ls printed its header alone, where tasks ls, workers and
	// schedules list say there is nothing.
	if ls := mustExecute(t, "tokens", "ls", "--db", db); ls != "no tokens (`tasker tokens create --name NAME --role ROLE` creates one)\n" {
		t.Fatalf("tokens ls without tokens:\n%s", ls)
	}
	mustFail(t, "tasker tokens create", "serve", "--db", db, "--listen", "0.0.0.0:0")
	mustFail(t, "--role", "tokens", "create", "--db", db, "--name", "x", "--role", "root")
	mustFail(t, "--name is required", "tokens", "create", "--db", db, "--role", "viewer")
	out := mustExecute(t, "tokens", "create", "--db", db, "--name", "ci", "--role", "viewer")
	secret := wantMatch(t, out, `(?m)^(tasker_[A-Za-z0-9_-]{43})$`)[1]
	if ls := mustExecute(t, "tokens", "ls", "--db", db); strings.Contains(ls, secret) || !regexp.MustCompile(`(?m)^1\s+ci\s+viewer\s`).MatchString(ls) {
		t.Fatalf("tokens ls:\n%s", ls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out2 := &lineBuffer{first: make(chan string, 1)}
	cmd := newRootCmd()
	cmd.SetOut(out2)
	cmd.SetErr(out2)
	cmd.SetArgs([]string{"serve", "--db", db, "--listen", "127.0.0.1:0", "--log-format", "json"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	var line string
	select {
	case line = <-out2.first:
	case err := <-done:
		t.Fatalf("serve ended at once: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("serve printed nothing")
	}
	url := wantMatch(t, line, `(http://127\.0\.0\.1:\d+) \(every request needs a token\)`)[1]
	get := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", url+"/api/tasks", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := get(""); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", code)
	}
	if code := get(secret); code != http.StatusOK {
		t.Fatalf("viewer token: %d, want 200", code)
	}
	mustExecute(t, "tokens", "revoke", "--db", db, "1")
	if code := get(secret); code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d, want 401", code)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve after the signal: %v", err)
	}
	mustFail(t, "token id", "tokens", "revoke", "--db", db, "abc")
	mustFail(t, `token id "0": want a positive number (see `+"`tasker tokens ls`)", "tokens", "revoke", "--db", db, "0")
	mustFail(t, `token id "-1": want a positive number`, "tokens", "revoke", "--db", db, "--", "-1")
	mustFail(t, "no token 99 (`tasker tokens ls` lists them)", "tokens", "revoke", "--db", db, "99")
	// Revoking again changes nothing and says so (it said "token 1
	// revoked", as if it had just been).
	if out := mustExecute(t, "tokens", "revoke", "--db", db, "1"); !strings.Contains(out, `token 1 "ci" was already revoked at `) || !strings.Contains(out, "nothing changed") {
		t.Fatalf("revoking twice: %q", out)
	}
}

func TestLogFlagsAreChecked(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	mustFail(t, "--log-level", "migrate", "--db", db, "--log-level", "loud")
	mustFail(t, "--log-format", "migrate", "--db", db, "--log-format", "xml")
	mustFail(t, "--log-level", "migrate", "--db", db, "--log-level", "info+2")
	// The flags reach the engine: debug lines, as JSON, on the command's
	// standard error.
	out := mustExecute(t, "demo", "--db", db, "--orders", "2", "--log-level", "debug", "--log-format", "json")
	if !regexp.MustCompile(`(?m)^\{"time":"[^"]+","level":"DEBUG","msg":"step completed"`).MatchString(out) {
		t.Fatalf("demo --log-level debug --log-format json printed no JSON debug line:\n%s", out)
	}
	if out := mustExecute(t, "demo", "--db", db, "--orders", "2"); strings.Contains(out, "step completed") {
		t.Fatalf("the default level (warn) printed debug lines:\n%s", out)
	}
	// A command that runs no engine logging through them refuses them,
	// naming the flag and the command: it took them and logged nothing.
	mustFail(t, "--log-level does nothing for `tasker tasks ls`", "tasks", "ls", "--db", db, "--log-level", "debug")
	mustFail(t, "--log-format does nothing for `tasker chaos`", "chaos", "--log-format", "json")
	mustFail(t, "--log-level does nothing for `tasker bench`", "bench", "--log-level", "info")
	// Every command named as logging exists.
	for _, path := range engineLogged {
		if c, _, err := newRootCmd().Find(strings.Fields(path)); err != nil || c.CommandPath() != "tasker "+path {
			t.Errorf("engineLogged names %q, which is no command (found %v, %v)", path, c, err)
		}
	}
}

// startServe runs serve with args until it prints where it listens, and
// returns that line, what it wrote to standard error by then, and a stop
// that cancels it and returns its error.
func startServe(t *testing.T, args ...string) (line, stderr string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	out := &lineBuffer{first: make(chan string, 1)}
	errs := &lineBuffer{first: make(chan string, 1)}
	cmd := newRootCmd()
	cmd.SetOut(out)
	cmd.SetErr(errs)
	cmd.SetArgs(append([]string{"serve"}, args...))
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	select {
	case line = <-out.first:
	case err := <-done:
		t.Fatalf("serve ended at once: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("serve printed nothing")
	}
	errs.mu.Lock()
	stderr = errs.buf.String()
	errs.mu.Unlock()
	return line, stderr, func() error { cancel(); return <-done }
}

// TestServeWarnsOfWorkerSections: one configuration serves worker and
// serve; serve runs no workers, so when the file or the environment sets
// execution, retry or predictive_retry (or a preset, which sets only
// those), or worker_id, it says, once at startup, that it does not use
// them and that tasker worker reads them. A configuration without them
// gets no warning. worker_id was said to label serve's pool metrics,
// which only a running engine exports: serve exported none.
func TestServeWarnsOfWorkerSections(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "serve.db")
	mustExecute(t, "migrate", "--db", db)
	both := filepath.Join(dir, "both.yaml")
	if err := os.WriteFile(both, []byte("db: "+db+"\nexecution:\n  max_concurrency: 8\nretry: {base: 2s}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TASKER_PREDICTIVE_RETRY_MAX", "2m")
	line, stderr, stop := startServe(t, "--config", both, "--listen", "127.0.0.1:0")
	if !strings.Contains(line, "admin API on http://127.0.0.1:") {
		t.Fatalf("serve printed %q", line)
	}
	want := `level=WARN msg="serve runs no workers, so it does not use these sections of the configuration; tasker worker reads them" sections="execution, retry, predictive_retry"`
	if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Fatalf("serve's standard error at startup:\n%s\nwant one line containing %s", stderr, want)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve after the signal: %v", err)
	}

	os.Unsetenv("TASKER_PREDICTIVE_RETRY_MAX") // t.Setenv restores it (unset) at the end
	named := filepath.Join(dir, "named.yaml")
	if err := os.WriteFile(named, []byte("db: "+db+"\nworker_id: api-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, stop = startServe(t, "--config", named, "--listen", "127.0.0.1:0")
	want = `level=WARN msg="serve runs no workers, so it does not use the configuration's worker_id (a worker's name in leases, logs and its pool metrics); tasker worker reads it" worker_id=api-1 from=` + named + ":2"
	if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Fatalf("serve's standard error at startup with worker_id:\n%s\nwant one line containing %s", stderr, want)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve after the signal: %v", err)
	}

	only := filepath.Join(dir, "serve.yaml")
	if err := os.WriteFile(only, []byte("db: "+db+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, stop = startServe(t, "--config", only, "--listen", "127.0.0.1:0")
	if stderr != "" {
		t.Fatalf("serve warned with a configuration of db only:\n%s", stderr)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve after the signal: %v", err)
	}

	// A preset sets only those sections: serve ignored it without a word.
	t.Setenv("TASKER_PRESET", "production")
	_, stderr, stop = startServe(t, "--config", only, "--listen", "127.0.0.1:0")
	want = `level=WARN msg="serve runs no workers, so it does not use the configuration's preset (it sets execution, retry and predictive_retry); tasker worker reads it" preset=production from=TASKER_PRESET`
	if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Fatalf("serve's standard error at startup with a preset:\n%s\nwant one line containing %s", stderr, want)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve after the signal: %v", err)
	}
}

// tokens create --name " " is refused before anything is opened: only ""
// was, so a token named by blanks was created, its actions recorded under
// an actor no one can read (`tokens ls` shows an empty NAME).
func TestTokensCreateRefusesABlankName(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	mustFail(t, `--name is required`, "tokens", "create", "--name", "  ", "--role", "viewer", "--db", db)
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("a refused command created %s (%v)", db, err)
	}
}

// A token name with spaces around it (or a control character) is refused:
// " ops" was created beside "ops", the check that names are unique let it
// through, and the audit trail's actor token: ops read as the other.
func TestTokensCreateRefusesPaddedNames(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	mustExecute(t, "migrate", "--db", db)
	mustExecute(t, "tokens", "create", "--name", "ops", "--role", "operator", "--db", db)
	for _, name := range []string{" ops", "ops ", "ops\nadmin", "o\tps"} {
		mustFail(t, fmt.Sprintf("creating admin token %q: the name has spaces around it or a control character", name), "tokens", "create", "--name", name, "--role", "admin", "--db", db)
	}
	if r := rows(mustExecute(t, "tokens", "ls", "--db", db)); len(r) != 1 {
		t.Fatalf("tokens ls lists %d tokens after the refused ones, want 1:\n%v", len(r), r)
	}
}

// serve --listen without a port is refused naming the flag, before the
// database is opened (no file appears): it failed after opening it, with
// the listener's "missing port in address" and no flag named.
func TestServeRefusesAListenWithoutPort(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	mustFail(t, `--listen "localhost" is not host:port`, "serve", "--db", db, "--listen", "localhost")
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("a refused serve touched %s (stat: %v)", db, err)
	}
}

// serve --listen with spaces around it (--listen "$ADDR " of a padded
// variable) is refused naming the flag, before the database is opened:
// " 127.0.0.1:7007" passed as host:port and was refused as reachable from
// other machines without tokens, or failed at the listener, the spaces
// unnamed.
func TestServeRefusesAPaddedListen(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	mustFail(t, `--listen " 127.0.0.1:7007" has spaces around it: write "127.0.0.1:7007"`, "serve", "--db", db, "--listen", " 127.0.0.1:7007")
	mustFail(t, `--listen "127.0.0.1:0 " has spaces around it: write "127.0.0.1:0"`, "serve", "--db", db, "--listen", "127.0.0.1:0 ")
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("a refused serve touched %s (stat: %v)", db, err)
	}
}

// serve --listen with a port that is no port (:abc, 127.0.0.1:70070) is
// refused naming the flag and the port, before the database is opened:
// on an address beyond loopback it was refused for the lack of tokens,
// the port unnamed, and on loopback it failed at the listener.
func TestServeRefusesAListenWithABadPort(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	mustFail(t, `--listen ":abc": port "abc" is not a port number`, "serve", "--db", db, "--listen", ":abc")
	mustFail(t, `--listen "127.0.0.1:70070": port "70070" is not a port number`, "serve", "--db", db, "--listen", "127.0.0.1:70070")
	mustFail(t, `--listen "127.0.0.1:-1": port "-1" is not a port number`, "serve", "--db", db, "--listen", "127.0.0.1:-1")
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("a refused serve touched %s (stat: %v)", db, err)
	}
}
