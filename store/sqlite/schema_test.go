package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/store/sqlite"
)

// TestForeignKeysFindTheirRowsByIndex: deleting a row that other tables
// refer to makes SQLite look up the referring rows (to cascade to them, or
// to refuse), by the query below. Without an index on the referring
// columns each deleted row scans the referring table whole: DeleteFinished
// deleting 50 tasks took 118 ms beside 38,000 step transitions, whose key
// to their task had lost its index (migration 017); 020 dropped that key.
func TestForeignKeysFindTheirRowsByIndex(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "tasker.db"))
	ctx := context.Background()
	db := s.DB()
	var tables []string
	if err := db.NewRaw("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'tasker%' ORDER BY name").Scan(ctx, &tables); err != nil {
		t.Fatal(err)
	}
	keys := 0
	for _, table := range tables {
		var fks []struct {
			ID    int    `bun:"id"`
			Seq   int    `bun:"seq"`
			Table string `bun:"table"`
			From  string `bun:"from"`
		}
		if err := db.NewRaw("SELECT id, seq, \"table\", \"from\" FROM pragma_foreign_key_list(?)", table).Scan(ctx, &fks); err != nil {
			t.Fatal(err)
		}
		cols := map[int][]string{}
		parent := map[int]string{}
		for _, fk := range fks {
			cols[fk.ID] = append(cols[fk.ID], fk.From+" = 1")
			parent[fk.ID] = fk.Table
		}
		for id, where := range cols {
			keys++
			var plan []struct {
				ID      int    `bun:"id"`
				Parent  int    `bun:"parent"`
				NotUsed int    `bun:"notused"`
				Detail  string `bun:"detail"`
			}
			q := fmt.Sprintf("EXPLAIN QUERY PLAN SELECT 1 FROM %s WHERE %s", table, strings.Join(where, " AND "))
			if err := db.NewRaw(q).Scan(ctx, &plan); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			for _, p := range plan {
				if strings.HasPrefix(p.Detail, "SCAN") {
					t.Errorf("the key of %s to %s (%s) has no index: deleting a row of %s scans %s (%s)",
						table, parent[id], strings.Join(where, " AND "), parent[id], table, p.Detail)
				}
			}
		}
	}
	if keys == 0 {
		t.Fatal("found no foreign key at all")
	}
}

// TestTransitionsKeptAcrossMigration020: the migration that rebuilds the
// transition tables keeps every row, with its id, and ids given after it
// come after the old ones.
func TestTransitionsKeptAcrossMigration020(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tasker.db")
	if err := sqlite.MigrateTo(ctx, path, 19); err != nil {
		t.Fatal(err)
	}
	s := openRaw(t, path)
	for _, q := range []string{
		`INSERT INTO tasker_tasks (id, namespace, name, version, kind, identity_key, input_hash, context, state, created_at, updated_at)
			VALUES (7, 'ns', 'wf', '1.0.0', 'dag', 'k', 'h', '{}', 'error', '2026-01-01 00:00:00', '2026-01-01 00:00:00')`,
		`INSERT INTO tasker_steps (id, task_id, name, handler, state, next_attempt_at, created_at, updated_at)
			VALUES (9, 7, 'a', 'h', 'error', '2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00')`,
		`INSERT INTO tasker_step_transitions (id, step_id, task_id, from_state, to_state, sort_key, metadata, created_at)
			VALUES (40, 9, 7, 'pending', 'in_progress', 1, NULL, '2026-01-01 00:00:01'),
			       (41, 9, 7, 'in_progress', 'error', 2, '{"m":1}', '2026-01-01 00:00:02')`,
		`INSERT INTO tasker_task_transitions (id, task_id, from_state, to_state, sort_key, metadata, created_at)
			VALUES (30, 7, 'in_progress', 'error', 1, '{"e":2}', '2026-01-01 00:00:02')`,
	} {
		if _, err := s.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Close()

	st := open(t, path) // applies 020
	db := st.DB()
	var got []string
	if err := db.NewRaw(`SELECT id || ' ' || step_id || ' ' || task_id || ' ' || coalesce(from_state, '-') || ' ' || to_state || ' ' || sort_key || ' ' || coalesce(metadata, '-') || ' ' || created_at
		FROM tasker_step_transitions ORDER BY id`).Scan(ctx, &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"40 9 7 pending in_progress 1 - 2026-01-01 00:00:01", `41 9 7 in_progress error 2 {"m":1} 2026-01-01 00:00:02`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("step transitions after 020:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var task []string
	if err := db.NewRaw(`SELECT id || ' ' || task_id || ' ' || to_state || ' ' || coalesce(metadata, '-') FROM tasker_task_transitions ORDER BY id`).Scan(ctx, &task); err != nil {
		t.Fatal(err)
	}
	if strings.Join(task, "\n") != `30 7 error {"e":2}` {
		t.Errorf("task transitions after 020: %q", task)
	}
	var next int64
	if err := db.NewRaw(`INSERT INTO tasker_step_transitions (step_id, task_id, from_state, to_state, sort_key, created_at)
		VALUES (9, 7, 'error', 'pending', 3, '2026-01-01 00:00:03') RETURNING id`).Scan(ctx, &next); err != nil {
		t.Fatal(err)
	}
	if next != 42 {
		t.Errorf("the next step transition's id is %d, want 42 (after the old ones)", next)
	}
	var failedIdx int
	if err := db.NewRaw(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'tasker_task_transitions_failed'`).Scan(ctx, &failedIdx); err != nil || failedIdx != 1 {
		t.Errorf("tasker_task_transitions_failed after 020: %d (%v)", failedIdx, err)
	}
}

// openRaw opens the file at path with database/sql alone (no migration).
func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
