package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/uptrace/bun"

	"github.com/tasker-go/tasker/store/sqlite"
)

// recorder is a query hook that keeps the statements it sees.
type recorder struct {
	mu    sync.Mutex
	query []string
}

func (r *recorder) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }
func (r *recorder) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.query = append(r.query, e.Query)
}

// take returns the statements seen since the last take.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.query
	r.query = nil
	return q
}

func anyContains(qs []string, s string) bool {
	for _, q := range qs {
		if strings.Contains(q, s) {
			return true
		}
	}
	return false
}

// Options.QueryHooks see the statements of the writer (migrations), of the
// read pool and of a read-only store.
func TestQueryHooksSeeEveryPool(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hooks.db")
	r := &recorder{}
	st, err := sqlite.Open(ctx, path, &sqlite.Options{QueryHooks: []bun.QueryHook{r}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if qs := r.take(); !anyContains(qs, "CREATE TABLE") {
		t.Fatalf("the writer's migrations were not seen: %q", qs)
	}
	st.GetStep(ctx, 1) // not found; what matters is the statement on the read pool
	if qs := r.take(); !anyContains(qs, "tasker_steps") {
		t.Fatalf("the read pool's SELECT was not seen: %q", qs)
	}

	ro, err := sqlite.Open(ctx, path, &sqlite.Options{ReadOnly: true, QueryHooks: []bun.QueryHook{r}})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if qs := r.take(); !anyContains(qs, "sqlite_master") {
		t.Fatalf("the read-only store's schema check was not seen: %q", qs)
	}
}
