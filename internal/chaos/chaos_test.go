package chaos_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tasker-go/tasker/internal/chaos"
	"github.com/tasker-go/tasker/internal/pgtest"
)

func TestMain(m *testing.M) {
	chaos.RunChildIfAsked() // the process scenarios' workers are this binary
	goleak.VerifyTestMain(m)
}

// The quick form of every scenario on both databases: each keeps every
// invariant (nothing lost, nothing completed twice) and the table has a
// row for each.
func TestQuick(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil && os.Getenv("CI") == "" {
		t.Skip("redis-server is not installed (the Redis scenario starts one): source scripts/redis.sh")
	}
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			target := db
			if db == "postgres" {
				target = pgtest.URL(t)
			}
			var out bytes.Buffer
			rows, err := chaos.Run(context.Background(), &out, chaos.Options{DB: target, Quick: true})
			t.Logf("\n%s", out.String())
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) < 8 {
				t.Fatalf("%d rows, want every scenario", len(rows))
			}
			for _, r := range rows {
				if r.Database != db || r.Workflows == 0 || !strings.Contains(out.String(), r.Scenario) {
					t.Errorf("row %+v", r)
				}
			}
		})
	}
}

// A database that is neither is refused before anything runs.
func TestBadDB(t *testing.T) {
	if _, err := chaos.Run(context.Background(), &bytes.Buffer{}, chaos.Options{DB: "mysql://x"}); err == nil || !strings.Contains(err.Error(), "mysql://x") {
		t.Fatalf("got %v", err)
	}
	// An empty one too, naming the flag, as every other command does (it
	// ran on SQLite); --only keeps an accepted one from running anything.
	for _, db := range []string{"", " "} {
		if _, err := chaos.Run(context.Background(), &bytes.Buffer{}, chaos.Options{DB: db, Only: "no such scenario"}); err == nil || !strings.Contains(err.Error(), "--db is empty") {
			t.Fatalf("DB %q: got %v", db, err)
		}
	}
}

// A short soak on SQLite: workers killed and replaced while workflows
// start, every workflow completes, and the steady worker's samples are
// reported.
func TestSoakShort(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	rows, err := chaos.Run(context.Background(), &out, chaos.Options{DB: "sqlite", Soak: 4 * time.Second})
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Workflows == 0 || !strings.Contains(out.String(), "steady worker") || !strings.Contains(out.String(), "workers killed and replaced") {
		t.Fatalf("rows %+v", rows)
	}
}

// A negative soak is refused before anything runs.
func TestNegativeSoak(t *testing.T) {
	if _, err := chaos.Run(context.Background(), &bytes.Buffer{}, chaos.Options{DB: "sqlite", Soak: -time.Second}); err == nil || !strings.Contains(err.Error(), "--soak") {
		t.Fatalf("got %v", err)
	}
}

// An --only that names no scenario is refused: a misspelt one would run
// nothing and pass (exit status 0 in CI). With --soak it would be ignored.
func TestOnlyMatchesNothing(t *testing.T) {
	var out bytes.Buffer
	_, err := chaos.Run(context.Background(), &out, chaos.Options{DB: "sqlite", Only: "no such scenario", Quick: true})
	if err == nil || !strings.Contains(err.Error(), `--only "no such scenario"`) || !strings.Contains(err.Error(), "they are: ") {
		t.Fatalf("got %v", err)
	}
	if out.Len() != 0 {
		t.Fatalf("printed %q before refusing", out.String())
	}
	if _, err := chaos.Run(context.Background(), &out, chaos.Options{DB: "sqlite", Only: "kill", Soak: time.Second}); err == nil || !strings.Contains(err.Error(), "--soak") {
		t.Fatalf("--only with --soak: got %v", err)
	}
}
