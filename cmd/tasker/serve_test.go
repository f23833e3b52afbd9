package main

import (
	"bytes"
	"context"
	"net/http"
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
}
