package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestForeignKeysFindTheirRowsByIndex: deleting a row that other tables
// refer to makes Postgres look up the referring rows (to cascade to them,
// set them NULL, or refuse), one query per deleted row. Without an index on
// the referring columns each of those scans the referring table whole
// (SQLite's tasker_step_transitions did until its migration 020). With
// sequential scans priced out, the plan of that lookup names an index when
// one serves it.
func TestForeignKeysFindTheirRowsByIndex(t *testing.T) {
	t.Parallel()
	s := open(t, "", nil)
	ctx := context.Background()
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	var keys []struct {
		Child  string `bun:"child"`
		Parent string `bun:"parent"`
		Cols   string `bun:"cols"`
	}
	if err := conn.NewRaw(`SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent,
			string_agg(quote_ident(a.attname), ',' ORDER BY k.n) AS cols
		FROM pg_constraint c
		CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
		WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace
		GROUP BY c.oid, c.conrelid, c.confrelid`).Scan(ctx, &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("found no foreign key at all")
	}
	for _, k := range keys {
		cols := strings.Split(k.Cols, ",")
		where := make([]string, len(cols))
		for i, c := range cols {
			where[i] = c + " = 1"
		}
		q := fmt.Sprintf("EXPLAIN SELECT 1 FROM %s WHERE %s", k.Child, strings.Join(where, " AND "))
		var plan []string
		if err := conn.NewRaw(q).Scan(ctx, &plan); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if text := strings.Join(plan, "\n"); strings.Contains(text, "Seq Scan") {
			t.Errorf("the key of %s to %s (%s) has no index: deleting a row of %s scans %s:\n%s", k.Child, k.Parent, k.Cols, k.Parent, k.Child, text)
		}
	}
}
